"""The app's metrics in Prometheus' text format, added up over every gunicorn worker.

Under gunicorn each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py before the workers start) and /metrics reads them all: prometheus_client's
multiprocess mode. Elsewhere (tests, the CLI) the values stay in the process.

Other modules report through the small functions below, never through the metric objects.
"""

import hmac
import ipaddress
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
CALLBACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

UPSTREAM_DELAY = Histogram(
    "dashboard_feed_upstream_delay_seconds",
    "From the upstream's timestamp on a message to the relay receiving it.",
    buckets=DELAY_BUCKETS,
)
BOARD_DELAY = Histogram(
    "dashboard_board_delay_seconds",
    "From the relay receiving a message to its write to a board.",
    buckets=DELAY_BUCKETS,
)
FRAMES = Counter("dashboard_feed_frames_total", "Upstream frames received, by cmd.", ["cmd"])
SKIPPED = Counter(
    "dashboard_feed_frames_skipped_total",
    "Upstream frames skipped: malformed, or of an unknown cmd; by kind.",
    ["kind"],
)
FEED_UP = Gauge(
    "dashboard_feed_up",
    "1 while the product's odds are trustworthy (socket up, alives on time), else 0.",
    ["product"],
    multiprocess_mode="livemax",
)
BOARDS = Gauge("dashboard_boards_connected", "Board sockets open.", multiprocess_mode="livesum")
BOARDS_CUT_OFF = Counter(
    "dashboard_boards_cut_off_total",
    "Board sockets the server closed: fell behind, silent, session ended; by reason.",
    ["reason"],
)
BACKLOG = Gauge(
    "dashboard_relay_backlog_messages",
    "Relay messages held for boards that have not taken them yet.",
    multiprocess_mode="livemax",
)
WRITE_BEHIND_LAG = Gauge(
    "dashboard_db_write_behind_lag_seconds",
    "Age of the oldest feed change not yet written to the database.",
    multiprocess_mode="livemax",
)
SET_ASIDE = Gauge(
    "dashboard_db_set_aside_rows",
    "Feed rows the database refused, kept aside.",
    multiprocess_mode="livesum",
)
CALLBACKS = Counter(
    "dashboard_wallet_callbacks_total",
    "Wallet callbacks answered, by callback and answer code.",
    ["callback", "code"],
)
CALLBACK_SECONDS = Histogram(
    "dashboard_wallet_callback_seconds",
    "Time to answer a wallet callback, by callback.",
    ["callback"],
    buckets=CALLBACK_BUCKETS,
)
POOL_WAIT = Histogram(
    "dashboard_db_pool_wait_seconds",
    "Time spent waiting for a database connection from the pool.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)


# What the rest of the app calls ----------------------------------------------------------------


def frame_received(cmd, upstream_ms=None, received_ms=None):
    """An upstream frame of `cmd`; with its upstream timestamp, the delay to us."""
    FRAMES.labels(cmd=str(cmd)).inc()
    if upstream_ms is not None and received_ms is not None:
        UPSTREAM_DELAY.observe(max(received_ms - upstream_ms, 0) / 1000)


def frame_skipped(kind):
    SKIPPED.labels(kind=kind).inc()


def sent_to_board(received_ms, now_ms):
    """A relay message received upstream at `received_ms` written to a board at `now_ms`."""
    BOARD_DELAY.observe(max(now_ms - received_ms, 0) / 1000)


def feed_health(verdict):
    """The up/down of each product: {product: bool}."""
    for product, up in verdict.items():
        FEED_UP.labels(product=str(product)).set(1 if up else 0)


def board_opened():
    BOARDS.inc()


def board_closed():
    BOARDS.dec()


def board_cut_off(reason):
    BOARDS_CUT_OFF.labels(reason=reason).inc()


def relay_backlog(messages):
    BACKLOG.set(messages)


def write_behind(lag_seconds, set_aside_rows):
    WRITE_BEHIND_LAG.set(lag_seconds)
    SET_ASIDE.set(set_aside_rows)


def wallet_callback(name, code, seconds):
    CALLBACKS.labels(callback=name, code=code).inc()
    CALLBACK_SECONDS.labels(callback=name).observe(seconds)


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


def exposition():
    """(body, content type) of every metric, every worker's values added up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


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
