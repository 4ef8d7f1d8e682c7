"""The one consumer of the upstream feed: its client, the market rules, persistence, and its output.

`Consumer(app, hub=...)` is the embedded shape: this process consumes and its own hub fans out.
`Consumer(app, bus=...)` is the deployed shape (`flask feed consume`): it campaigns for the lease
on the bus, consumes only while it holds it, and publishes every message to the bus; without the
lease it is a hot standby, the app loaded and its database pool ready. `start()` and `stop()` are
the same for both, and for the gunicorn hook, the CLI and the tests.

Leadership is a lease in Redis (see feed/bus.py): held by renewing it every fifth of its length,
lost to a standby when it lapses. Each new holder takes a new epoch, and Redis refuses a publish
from any other epoch, so a leader that was paused past its lease cannot publish over its
successor; it steps down (disconnects upstream) as soon as it notices. A leader that starts from
the database has missed whatever the upstream sent while no consumer was connected, so every line
it restores as active reads suspended ("feed gap") until the upstream reopens it.
"""

import collections
import logging
import os
import random
import socket
import threading
import time

from feed.bus.transport import BusError
from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.retention import Retention
from feed.market.rules import MarketState
from feed.relay import Relay
from feed.store.write_behind import FeedStore
from feed.upstream.client import UpstreamClient, backoff_delay
from ops import metrics

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 0.25  # the web workers count the link down after a second without one
CHECKPOINT_EVERY = 500  # messages; well inside the hub's backlog, which new boards replay
CHECKPOINT_MIN_BYTES = 1 << 20  # and no later than when the log outweighs the snapshot
DOING_MEANWHILE = {
    "leader": "consuming and persisting on, publishing nothing",
    "standby": "standing by",
}
QUEUE_LIMIT = 10_000  # messages waiting for the bus; past it they are dropped and boards resync
RESTORE_RETRY_CAP_S = 30  # the longest wait between tries to load the last known board
RESTORE_WAIT_S = 2.0  # how long a start waits for it before it connects without it


def wall_ms():
    return int(time.time() * 1000)


def monotonic_ms():
    return int(time.monotonic() * 1000)


def identity():
    """Who this process is, for logs and /feed/status: the platform's dyno name, or host:pid."""
    return os.environ.get("DYNO") or f"{socket.gethostname()}:{os.getpid()}"


class Term:
    """What one stretch of consuming holds: state, health, relay and upstream client."""

    def __init__(self, app, store, outlet, clock, elapsed=monotonic_ms):
        config = app.config
        self.state = MarketState(MarketDescriptions.load(config["FEED_MARKETS_FILE"] or None))
        self.health = FeedHealth()
        max_frame_bytes = config["FEED_MAX_FRAME_BYTES"]
        self.relay = Relay(
            self.state, self.health, outlet, store, clock, max_frame_bytes, elapsed=elapsed
        )
        self.client = None
        if config["FEED_URL"]:
            self.client = UpstreamClient(
                config["FEED_URL"],
                on_frame=self.relay.receive,
                on_connection=self.relay.connection,
                subscriptions=self.subscriptions,
                token=config["FEED_TOKEN"],
                lang=config["FEED_LANG"],
                on_refused=self.relay.refuse,
                max_message_bytes=max_frame_bytes,
            )
        self.subscribe_also = config["FEED_SUBSCRIBE"]
        self.retention = Retention(int(config["FEED_CLOSED_GRACE_SECONDS"] * 1000))
        self.clock = clock
        self.stopped = threading.Event()

    def subscriptions(self):
        """Every event we know of, and those the operator listed in FEED_SUBSCRIBE."""
        return sorted(set(self.subscribe_also) | set(self.state.events))

    def start(self):
        if self.client is not None:
            threading.Thread(target=self.client.run, name="feed-client", daemon=True).start()
        else:
            log.warning("no FEED_URL: the board shows the last known state, suspended")
        threading.Thread(target=self._every_second, name="feed-ticker", daemon=True).start()

    def stop(self):
        self.stopped.set()
        if self.client is not None:
            self.client.stop()

    def _every_second(self):
        # Health and memory only: the database has a thread of its own (FeedStore.start), so a
        # write that waits never holds back the news that the feed went down.
        sweep_every = min(60_000, max(1000, self.retention.grace_ms))
        next_sweep = self.clock() + sweep_every
        while not self.stopped.wait(1):
            try:
                self.relay.tick()
                if self.clock() >= next_sweep:
                    next_sweep = self.clock() + sweep_every
                    self.relay.prune(self.retention, self.clock())
            except Exception:
                log.exception("feed housekeeping failed")


class Consumer:
    """Consumes the upstream feed: straight into `hub`, or onto `bus` while holding its lease."""

    def __init__(self, app, hub=None, bus=None, clock=wall_ms):
        if (hub is None) == (bus is None):
            raise ValueError("a consumer publishes to a hub or to a bus")
        self.app, self.config, self.clock = app, app.config, clock
        self.hub, self.bus = hub, bus
        self.store = FeedStore(app, clock)
        self.identity = identity()
        self.token = f"{self.identity}:{random.getrandbits(64):016x}"
        self.lease_s = float(app.config["FEED_LEASE_SECONDS"])
        self.role = "leader" if bus is None else "standby"
        self.epoch = 0  # the highest epoch this process has held
        self.outlet = None
        self.term = Term(app, self.store, hub or _Discard(), clock)
        self.fenced = threading.Event()  # the bus refused a publish: look at the lease now
        self.stopped = threading.Event()
        self.started = False
        self.bus_up = bus is not None
        self.hold_off = 0.0  # a standby tries for the lease from then on
        self.lock = threading.Lock()  # leadership changes

    # The current term's parts, as the views and the tests know them
    @property
    def relay(self):
        return self.term.relay

    @property
    def state(self):
        return self.term.state

    @property
    def health(self):
        return self.term.health

    @property
    def client(self):
        return self.term.client

    def health_report(self):
        return self.term.relay.health_report()

    # What the views ask of the board (embedded shape; feed/mirror.py is the deployed one)
    def snapshot(self):
        """(seq, text) of the whole board: the hub holds every message after it."""
        return self.term.relay.snapshot()

    def subscribe(self, after):
        return self.hub.subscribe(after)

    @property
    def closing(self):
        return self.hub.closed

    def start(self):
        """Embedded: load the last known board and connect. Deployed: campaign for the lease."""
        if self.started:
            return
        self.started = True
        if self.bus is None:
            self.store.start()
            self._restore_in_background(self.term).wait(RESTORE_WAIT_S)
            self.term.start()
        else:
            threading.Thread(target=self._campaign, name="feed-lease", daemon=True).start()

    def stop(self):
        """Disconnect and write what is pending; a leader then hands the lease over at once."""
        self.stopped.set()
        self.fenced.set()
        with self.lock:
            self.term.stop()
            if self.outlet is not None:
                self.outlet.stop(drain=True)
            try:
                self.store.stop()
            finally:
                if self.bus is not None and self.role == "leader":
                    self.role = "standby"
                    try:
                        self.bus.release(self.token)
                        log.info("lease released: a standby takes over")
                    except BusError as exc:
                        log.warning("could not release the lease (%s): it lapses by itself", exc)

    def status(self):
        """Role, link, and how far the bus is behind this consumer."""
        outlet = self.outlet
        return {
            "role": self.role,
            "id": self.identity,
            "epoch": self.epoch if self.role == "leader" else None,
            "link": "none" if self.bus is None else ("up" if self.bus_up else "down"),
            "boards": self.hub.subscribers if self.hub is not None else 0,
            "lag": outlet.lag() if outlet is not None else {"messages": 0, "ms": 0},
            "upstream": bool(self.term.client and self.term.client.ws is not None)
            if self.role == "leader"
            else False,
            "at": self.clock(),
            "store": self.store.status(),
            "snapshot": self.term.relay.board.last_built,  # the latest a board was sent
        }

    # Leadership ------------------------------------------------------------------------------

    def _campaign(self):
        renew_every = self.lease_s / 5
        attempt = 0
        while not self.stopped.is_set():
            try:
                self._lease_step()
                self.bus.report(self.identity, self.status() | self._counts())
                if not self.bus_up:
                    log.info("bus reachable again")
                self.bus_up, attempt = True, 0
                wait = renew_every if self.role == "leader" else min(0.5, renew_every)
            except BusError as exc:
                if self.bus_up:
                    log.warning("bus unreachable (%s); %s", exc, DOING_MEANWHILE[self.role])
                self.bus_up = False
                # When Redis comes back, the leader it had gets the first chance to take its lease
                # back: it was consuming all along, a standby would start from the database.
                self.hold_off = time.monotonic() + 2 * renew_every
                attempt += 1
                wait = backoff_delay(attempt, cap=renew_every)
            except Exception:
                log.exception("leadership step failed")
                wait = renew_every
            self.fenced.wait(wait)
            self.fenced.clear()

    def _counts(self):
        return {
            "health": self.health_report(),
            "counts": dict(self.term.relay.counts),
            "names": self.term.state.descriptions.report(),
            "metrics": metrics.feed_side_text(),  # for /metrics of every web worker
        }

    def _lease_step(self):
        with self.lock:
            if self.stopped.is_set():
                return
            if self.role == "standby":
                if time.monotonic() < self.hold_off:
                    return
                granted = self.bus.acquire(self.token, self.lease_s, self.epoch + 1)
                if granted is not None:
                    self._lead(*granted)
                return
            if self.bus.renew(self.token, self.lease_s) and not self.outlet.fenced:
                return
            # The lease is gone or not ours, or the bus refused our epoch. Take it back if it is
            # free (a Redis that lost its data); else someone else leads: stand down.
            granted = self.bus.acquire(self.token, self.lease_s, self.epoch + 1)
            if granted is None:
                self._stand_down()
                return
            self.epoch = granted[0]
            log.warning("lease lost and taken back: epoch %s", self.epoch)
            self.outlet.restart(self.epoch)

    def _lead(self, epoch, seq):
        self.epoch = epoch
        self.outlet = BusOutlet(self.bus, epoch, self.fenced)
        term = Term(self.app, self.store, self.outlet, self.clock)
        self._restore_in_background(term).wait(RESTORE_WAIT_S)
        term.relay.seq = max(term.relay.seq, seq)  # sequence numbers go on from the last leader
        self.outlet.attach(term.relay)
        self.term, self.role = term, "leader"
        self.outlet.start()
        self.store.start()  # once: it goes on writing (and pruning) if this process stands down
        term.start()
        log.warning("leading the feed: epoch %s from seq %s", epoch, term.relay.seq)

    def _restore_in_background(self, term):
        """Load the last known board behind the relay, trying again until it comes; return an
        event set once it did.

        The relay never waits on the database, at a start neither: a database that refuses or
        hangs leaves the boards on an empty board (nothing on it bettable) until it answers.
        """
        done = threading.Event()

        def restore():
            attempt = 0
            while not (self.stopped.is_set() or term.stopped.is_set()):
                try:
                    gap = term.relay.restore()
                except Exception as exc:
                    if attempt == 0:
                        log.warning("could not load the last known board (%s): retrying", exc)
                    attempt += 1
                    term.stopped.wait(backoff_delay(attempt, cap=RESTORE_RETRY_CAP_S))
                    continue
                log.warning("last known board loaded: %s lines suspended for the gap", len(gap))
                done.set()
                return

        threading.Thread(target=restore, name="feed-restore", daemon=True).start()
        return done

    def _stand_down(self):
        log.warning("lease lost to another consumer: standing by")
        self.role = "standby"
        self.term.stop()
        self.outlet.stop(drain=False)
        self.outlet = None
        self.store.write()  # never raises: a failure is logged once, the rows wait
        self.term = Term(self.app, self.store, _Discard(), self.clock)


class _Discard:
    """A standby's relay publishes nowhere (it never runs; the views still ask it)."""

    subscribers = 0

    def publish(self, seq, text):
        pass


class BusOutlet:
    """Puts the relay's messages on the bus in order, from its own thread, and checkpoints.

    The relay hands over each message and goes on: it never waits on Redis. What cannot be
    published (Redis away, or too slow for too long) is dropped, and a fresh checkpoint follows
    as soon as the bus takes writes again, so every web worker resyncs from it.
    """

    def __init__(self, bus, epoch, fenced_event):
        self.bus, self.epoch, self.fenced_event = bus, epoch, fenced_event
        self.relay = None
        self.queue = collections.deque()
        self.ready = threading.Condition()
        self.stopped = threading.Event()
        self.fenced = False
        self.published = None  # seq of the last message on the bus (None: nothing yet)
        self.broken = True  # the bus needs a checkpoint before any message: start with one
        self.due = None  # (seq, text) of a checkpoint to write once `seq` is published
        self.since_checkpoint = 0
        self.bytes_since = 0
        self.checkpoint_bytes = 0
        self.last_sent = time.monotonic()
        self.thread = None

    def attach(self, relay):
        self.relay = relay

    def start(self):
        self.thread = threading.Thread(target=self._run, name="feed-bus", daemon=True)
        self.thread.start()

    def publish(self, seq, text):
        """Called by the relay, in sequence order, outside its lock."""
        with self.ready:
            if len(self.queue) >= QUEUE_LIMIT:
                self.queue.clear()
                self.broken = True
            self.queue.append((seq, text, time.monotonic()))
            self.ready.notify()

    def restart(self, epoch):
        """A new epoch for the same leader (Redis lost the lease): checkpoint before anything."""
        with self.ready:
            self.epoch, self.fenced, self.broken = epoch, False, True
            self.ready.notify()

    def stop(self, drain=False):
        if drain and self.thread is not None:
            deadline = time.monotonic() + 2
            while self.queue and not self.fenced and time.monotonic() < deadline:
                time.sleep(0.01)
        self.stopped.set()
        with self.ready:
            self.ready.notify()

    def lag(self):
        queue = self.queue
        oldest = queue[0][2] if queue else None
        return {
            "messages": len(queue),
            "ms": 0 if oldest is None else int((time.monotonic() - oldest) * 1000),
        }

    def _run(self):
        attempt = 0
        while not self.stopped.is_set():
            with self.ready:
                if (not self.queue and not self.broken) or self.fenced:
                    self.ready.wait(HEARTBEAT_EVERY_S)
                batch = list(self.queue)
                self.queue.clear()
                broken = self.broken
            if self.fenced or self.stopped.is_set():
                continue
            try:
                if broken:
                    self._checkpoint_now()
                    attempt = 0
                self._send(batch)
                if not self.fenced and time.monotonic() - self.last_sent >= HEARTBEAT_EVERY_S:
                    self._check(self.bus.heartbeat(self.epoch, self.published or 0))
                    self.last_sent = time.monotonic()
            except BusError as exc:
                if not self.broken:
                    log.warning("publishing to the bus failed (%s): dropping until it is back", exc)
                self.broken = True
                attempt += 1
                self.stopped.wait(backoff_delay(attempt, cap=2))

    def _checkpoint_now(self):
        seq, text = self.relay.snapshot()
        self._check(self.bus.checkpoint(self.epoch, seq, text))
        with self.ready:
            self.broken = False
            # Whatever is older than the checkpoint is in it: never publish it after.
            while self.queue and self.queue[0][0] <= seq:
                self.queue.popleft()
        self.published, self.due = seq, None
        self._counted_checkpoint(text)

    def _send(self, batch):
        batch = [(seq, text) for seq, text, _ in batch if seq > (self.published or 0)]
        while batch and not self.fenced:
            if self.published is not None and batch[0][0] != self.published + 1:
                # The relay skipped a number on purpose (a change it could not tell the boards):
                # they resync, from a checkpoint that must exist first.
                self._checkpoint_now()
                batch = [m for m in batch if m[0] > self.published]
                continue
            # Up to the next gap; and a due checkpoint goes right after the message it was taken at.
            first = batch[0][0]
            cut = next((i for i, m in enumerate(batch) if m[0] != first + i), len(batch))
            if self.due is not None:
                cut = min(cut, next((i for i, m in enumerate(batch) if m[0] > self.due[0]), cut))
            chunk, batch = batch[:cut], batch[cut:]
            if chunk:
                self._check(self.bus.publish(self.epoch, chunk))
                self.published = chunk[-1][0]
                self.last_sent = time.monotonic()
                self.since_checkpoint += len(chunk)
                self.bytes_since += sum(len(text) for _, text in chunk)
            self._checkpoint_when_due()

    def _checkpoint_when_due(self):
        if self.due is None and (
            self.since_checkpoint >= CHECKPOINT_EVERY
            or self.bytes_since >= max(self.checkpoint_bytes, CHECKPOINT_MIN_BYTES)
        ):
            self.due = self.relay.snapshot()
        if self.due is not None and not self.fenced and (self.published or 0) >= self.due[0]:
            seq, text = self.due
            self._check(self.bus.checkpoint(self.epoch, seq, text))
            self.due = None
            self._counted_checkpoint(text)

    def _counted_checkpoint(self, text):
        self.since_checkpoint, self.bytes_since, self.checkpoint_bytes = 0, 0, len(text)

    def _check(self, accepted):
        if not accepted:
            # Redis holds another epoch: another leader, or a Redis that lost our lease.
            log.warning("the bus refused epoch %s: publishing stops", self.epoch)
            self.fenced = True
            self.fenced_event.set()
