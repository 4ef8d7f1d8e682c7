"""The one consumer of the upstream feed, and who may be it: leadership of the lease on the bus.

`Consumer(app, hub=...)` is the embedded shape: this process consumes and its own hub fans out.
`Consumer(app, bus=...)` is the deployed shape (`flask feed consume`): it campaigns for the lease
on the bus, consumes only while it holds it, and publishes every message to the bus; without the
lease it is a hot standby, the app loaded and its database pool ready. `start()` and `stop()` are
the same for both, and for the gunicorn hook, the CLI and the tests.

Leadership is a lease in Redis (see feed/bus/transport.py): held by renewing it every fifth of
its length, lost to a standby when it lapses. Each new holder takes a new epoch, and Redis refuses
a publish from any other epoch, so a leader that was paused past its lease cannot publish over its
successor; it steps down (disconnects upstream) as soon as it notices. A new leader starts from
what its predecessor published on the bus (which its store may not have written: the BetStops it
heard last above all), then from the database. It has missed whatever the upstream sent while no
consumer was connected, so every line it restores as active reads suspended ("feed gap") until
the upstream reopens it.

What one stretch of consuming holds is a Term (feed/term.py); a leader's messages go onto the
bus through its outlet (feed/bus/outlet.py).
"""

import logging
import os
import random
import socket
import threading
import time

from feed.bus.outlet import BusOutlet
from feed.bus.transport import MESSAGE, BusError
from feed.market import published as board_published
from feed.store.write_behind import FeedStore
from feed.term import Term
from feed.upstream.client import backoff_delay
from infra.clock import wall_ms
from ops import metrics

log = logging.getLogger(__name__)

DOING_MEANWHILE = {
    "leader": "consuming and persisting on, publishing nothing",
    "standby": "standing by",
}
RESTORE_RETRY_CAP_S = 30  # the longest wait between tries to load the last known board
RESTORE_WAIT_S = 2.0  # how long a start waits for it before it connects without it


def identity():
    """Who this process is, for logs and /feed/status: the platform's dyno name, or host:pid."""
    return os.environ.get("DYNO") or f"{socket.gethostname()}:{os.getpid()}"


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
            self._begin(self.term, board_published.NOTHING)
            self.store.start()
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
        self._begin(term, self._published())
        term.relay.seq = max(term.relay.seq, seq)  # sequence numbers go on from the last leader
        self.outlet.attach(term.relay)
        self.term, self.role = term, "leader"
        self.outlet.start()
        self.store.start()  # once: it goes on writing (and pruning) if this process stands down
        term.start()
        log.warning("leading the feed: epoch %s from seq %s", epoch, term.relay.seq)

    def _published(self):
        """What the last leader published on the bus, read back; nothing when it cannot be read.

        Its store may not have written its last changes (it may have been killed first): the
        BetStops it heard last above all.
        """
        try:
            snapshot = self.bus.snapshot()
        except BusError as exc:
            log.warning("could not read the last leader's board from the bus (%s)", exc)
            return board_published.NOTHING
        texts = [
            envelope.text
            for envelope in snapshot.messages
            if envelope.kind == MESSAGE and envelope.seq > snapshot.seq
        ]
        published = board_published.read(snapshot.text, texts)
        if published.unread:
            log.warning("%s parts of the last leader's board did not read", published.unread)
        return published

    def _begin(self, term, published):
        """Start `term` from what the last process left: what it published on the bus, the
        BetStops it kept on disk while the database was down, then the database's board."""
        published = term.relay.begin(published)
        if not self._restore_in_background(term, published).wait(RESTORE_WAIT_S):
            # The database is slow: what needs no database goes in now, before the upstream is
            # heard, and the database's board joins it when it answers.
            gap = term.relay.take_over(published)
            log.warning("last known BetStops and board taken on: %s lines suspended", len(gap))

    def _restore_in_background(self, term, published=board_published.NOTHING):
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
                    gap = term.relay.restore(published)
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

    def wait_sent(self, seq, timeout):
        return True
