"""The app's metrics in Prometheus' text format, added up over every gunicorn worker.

Under gunicorn each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py before the workers start) and /metrics reads them all: prometheus_client's
multiprocess mode. Elsewhere (tests, the CLI) the values stay in the process.

Other modules report through the small functions below, never through the metric objects.
"""

import functools
import glob
import hmac
import ipaddress
import itertools
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CALLBACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

UPSTREAM_DELAY = Histogram(
    "dashboard_feed_upstream_delay_seconds",
    "From the upstream's timestamp on a message to the relay receiving it.",
    buckets=DELAY_BUCKETS,
)
BOARD_DELAY = Histogram(
    "dashboard_board_delay_seconds",
    "From a message reaching this worker's hub to its write to a board; one write in "
    "BOARD_DELAY_SAMPLE.",
    buckets=DELAY_BUCKETS,
)
# A histogram's observation costs about as much as writing a message to a board: every write
# observed would double the fan-out's CPU. One in this many is plenty for its quantiles.
BOARD_DELAY_SAMPLE = 16
FRAMES = Counter(
    "dashboard_feed_frames_total",
    "Upstream frames received, by cmd: a name of the feed's, or other.",
    ["cmd"],
)
SKIPPED = Counter(
    "dashboard_feed_frames_skipped_total",
    "Upstream frames skipped: malformed, or of an unknown cmd; by kind.",
    ["kind"],
)
BOARDS = Gauge("dashboard_boards_connected", "Board sockets open.", multiprocess_mode="livesum")
BOARDS_CUT_OFF = Counter(
    "dashboard_boards_cut_off_total",
    "Board sockets the server closed: fell behind, silent, session ended; by reason.",
    ["reason"],
)
BOARDS_CAUGHT_UP = Counter(
    "dashboard_boards_caught_up_total",
    "Boards that fell a whole backlog behind and were sent the board as it is now, in band.",
)
BACKLOG = Gauge(
    "dashboard_relay_backlog_messages",
    "Relay messages the furthest-behind board of a worker has not taken yet.",
    multiprocess_mode="livemax",
)
# Written by the feed's consumer, which is another process when deployed: /metrics of a web
# worker then shows the consumer's values (from its report on the bus) instead of its own.
FEED_SIDE = (
    "dashboard_feed_upstream_delay_seconds",
    "dashboard_feed_frames",
    "dashboard_feed_frames_skipped",
)
CALLBACKS = Counter(
    "dashboard_wallet_callbacks_total",
    "Wallet callbacks answered, by callback, answer code and failure (its name, or none).",
    ["callback", "code", "failure"],
)
NO_FAILURE = "none"  # the failure label of a success
CALLBACK_SECONDS = Histogram(
    "dashboard_wallet_callback_seconds",
    "Time to answer a wallet callback, by callback.",
    ["callback"],
    buckets=CALLBACK_BUCKETS,
)
# prometheus_client's ProcessCollector reads only the process that answers the scrape, so in
# multiprocess mode it is left out. Instead each worker sets these from its own reading, every
# WORKER_VITALS_SECONDS (gunicorn.conf.py): "liveall" shows one series per live worker, labelled
# with its pid, and drops a worker's once gunicorn reports it gone (gunicorn.conf.py's
# child_exit, multiprocess.mark_process_dead). In one process they are read at the scrape.
WORKER_VITALS_SECONDS = 5
WORKER_CPU = Gauge(
    "dashboard_worker_cpu_seconds",
    "User and system CPU time the worker process has used, by pid.",
    multiprocess_mode="liveall",
)
WORKER_MEMORY = Gauge(
    "dashboard_worker_resident_memory_bytes",
    "Resident memory of the worker process, by pid.",
    multiprocess_mode="liveall",
)
WORKER_OPEN_FDS = Gauge(
    "dashboard_worker_open_fds",
    "File descriptors (sockets included) the worker process has open, by pid.",
    multiprocess_mode="liveall",
)
WORKER_MAX_FDS = Gauge(
    "dashboard_worker_max_fds",
    "The most file descriptors the worker process may open, by pid.",
    multiprocess_mode="liveall",
)
# ProcessCollector's families (read from /proc) and the gauge each sets.
WORKER_VITALS = {
    "process_cpu_seconds": WORKER_CPU,
    "process_resident_memory_bytes": WORKER_MEMORY,
    "process_open_fds": WORKER_OPEN_FDS,
    "process_max_fds": WORKER_MAX_FDS,
}
POOL_WAIT = Histogram(
    "dashboard_db_pool_wait_seconds",
    "Time spent waiting for a database connection from the pool.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)


# What the rest of the app calls ----------------------------------------------------------------


def frame_received(name, upstream_ms=None, received_ms=None):
    """An upstream frame of the cmd `name` (as the feed names it, a bounded set); with its
    upstream timestamp, the delay to us."""
    _frames_series(name).inc()
    if upstream_ms is not None and received_ms is not None:
        UPSTREAM_DELAY.observe(max(received_ms - upstream_ms, 0) / 1000)


@functools.cache
def _frames_series(label):
    # At most one per name the feed gives a cmd: labels() looks each up once.
    return FRAMES.labels(cmd=label)


def frame_skipped(kind):
    SKIPPED.labels(kind=kind).inc()


_board_writes = itertools.count()


def sent_to_board(published):
    """A write to a board whose oldest message reached the hub at `published` (monotonic)."""
    if next(_board_writes) % BOARD_DELAY_SAMPLE == 0:
        BOARD_DELAY.observe(max(time.monotonic() - published, 0))


def board_opened():
    BOARDS.inc()


def board_closed():
    BOARDS.dec()


def board_cut_off(reason):
    BOARDS_CUT_OFF.labels(reason=reason).inc()


def board_caught_up():
    BOARDS_CAUGHT_UP.inc()


def relay_backlog(messages):
    BACKLOG.set(messages)


def wallet_callback(name, code, failure, seconds):
    """A wallet callback `name` answered `code` after `seconds`: the failure of that name, or
    (None) a success."""
    counted, timed = _wallet_callback_series(name, code, failure or NO_FAILURE)
    counted.inc()
    timed.observe(seconds)


def wallet_answers(callbacks, answers):
    """Show every callback's series for each (code, failure name or None) of `answers` at zero
    from the start, before its first answer."""
    # A series that appears with its first event has no zero before it: rate() and increase()
    # miss that first answer, and an alert on a failure that never happened has nothing to read.
    for name in callbacks:
        for code, failure in answers:
            _wallet_callback_series(name, code, failure or NO_FAILURE)


@functools.cache
def _wallet_callback_series(name, code, failure):
    # labels() finds a series by its label values under a lock, ~2 µs each time, twice a
    # callback. A few callbacks times a few answers: each is looked up once.
    return (
        CALLBACKS.labels(callback=name, code=code, failure=failure),
        CALLBACK_SECONDS.labels(callback=name),
    )


def worker_vitals():
    """{ProcessCollector family name: value} of this process's CPU time, memory and open file
    descriptors, read from /proc (Linux; elsewhere nothing)."""
    # No metric is touched here: the worker reads this on a native thread (gunicorn.conf.py).
    return {
        family.name: family.samples[0].value
        for family in _own_process().collect()
        if family.name in WORKER_VITALS and family.samples
    }


def show_worker_vitals(vitals):
    """Set this worker's gauges to `vitals` (worker_vitals())."""
    for name, value in vitals.items():
        WORKER_VITALS[name].set(value)


@functools.cache
def _own_process():
    return ProcessCollector(registry=None)


def watch_pool(pool):
    """Time every wait for a connection of `pool` (a SQLAlchemy QueuePool)."""
    get = pool._do_get  # the pool's own checkout; SQLAlchemy has no event before it

    def timed_get():
        started = time.perf_counter()
        try:
            return get()
        finally:
            POOL_WAIT.observe(time.perf_counter() - started)

    pool._do_get = timed_get


# The endpoint -----------------------------------------------------------------------------------


def exposition(vitals):
    """(body, content type) of every metric, every worker's values added up.

    `vitals` is the feed's state of the moment (`FeedRuntime.vitals()`): its products' health
    and the database writer's backlog become gauges, and the consumer's own metrics (deployed)
    stand in for this process's feed-side ones.
    """
    registry = CollectorRegistry()
    if path := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        local = CollectorRegistry()
        _WorkersFiles(local, path)
    else:
        # One process: nothing else reads its vitals (a worker does, gunicorn.conf.py).
        show_worker_vitals(worker_vitals())
        local = REGISTRY
    consumer = vitals.get("metrics")
    registry.register(_Families(local.collect, skip=FEED_SIDE if consumer is not None else ()))
    if consumer:
        registry.register(_Families(lambda: text_string_to_metric_families(consumer)))
    registry.register(_Families(lambda: _vital_families(vitals)))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def feed_side_text():
    """This process's feed-side metrics, for the consumer's report on the bus."""
    registry = CollectorRegistry()
    registry.register(_Families(REGISTRY.collect, keep=FEED_SIDE))
    return generate_latest(registry).decode()


class _WorkersFiles(multiprocess.MultiProcessCollector):
    """Every worker's file added up, but for a file of 0 bytes.

    prometheus_client creates a worker's file before it sizes it: a scrape in that moment, or
    after a worker was killed in it (which leaves the file so for good), would fail whole, every
    other worker's values with it (prometheus/client_python#1199). Such a file holds nothing."""

    def __init__(self, registry, path):
        super().__init__(registry, path)
        self.path = path

    def collect(self):
        return self.merge([f for f in glob.glob(os.path.join(self.path, "*.db")) if _sized(f)])


def _sized(path):
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # a dead worker's live gauges, removed meanwhile
        return False


class _Families:
    """A collector of the metric families another one yields, some names left out or kept."""

    def __init__(self, collect, skip=(), keep=None):
        self.source, self.skip, self.keep = collect, skip, keep

    def collect(self):
        for family in self.source():
            if family.name not in self.skip and (self.keep is None or family.name in self.keep):
                yield family


def _vital_families(vitals):
    # Read at the scrape, not kept in each worker's files: a gauge set by whichever worker last
    # answered a scrape would go on showing an old value from the others.
    up = GaugeMetricFamily(
        "dashboard_feed_up",
        "1 while the product's odds are trustworthy (socket up, alives on time), else 0.",
        labels=["product"],
    )
    for product, health in sorted(vitals.get("products", {}).items()):
        up.add_metric([str(product)], 1 if health.get("up") else 0)
    yield up
    store = vitals.get("store")
    if store is not None:
        yield GaugeMetricFamily(
            "dashboard_db_write_behind_lag_seconds",
            "Age of the oldest feed change not yet written to the database.",
            value=store.get("lag_ms", 0) / 1000,
        )
        yield GaugeMetricFamily(
            "dashboard_db_set_aside_rows",
            "Feed rows the database refused, kept aside.",
            value=store.get("set_aside", 0),
        )


def scrape_allowed(authorization, address, token, allowed):
    """METRICS_TOKEN as a bearer token, or an address in METRICS_ALLOWED_IPS; with neither set,
    this machine only."""
    sent = authorization.removeprefix("Bearer ").encode()
    if token and authorization.startswith("Bearer ") and hmac.compare_digest(sent, token.encode()):
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if allowed:
        return any(ip in ipaddress.ip_network(net, strict=False) for net in allowed)
    return not token and ip.is_loopback
