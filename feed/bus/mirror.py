"""A web worker's view of the relay when the feed process runs elsewhere: it follows the bus.

It passes each message, as the leader serialised it, to this worker's hub in order, and keeps the
board a new browser starts from: the leader's last checkpoint, followed by the messages since
(the hub's backlog holds them). The hub numbers its entries itself (`position`): they go up by one
per entry whatever happens to the leader's sequence numbers, which restart with a new leader, and
whatever this worker adds on its own (a "relay link down" notice, a fresh snapshot).

What it guards against:
- a gap in the leader's sequence (Redis pub/sub drops what is published while a subscriber
  reconnects, and a heartbeat shows a gap even when nothing follows it): resync from the bus's
  snapshot. When the checkpoint's log still covers the gap, the missed messages are passed on and
  the boards never know; otherwise every board gets the new snapshot in-band, as a `snapshot`
  message, and repaints from it.
- a new leader (a higher epoch): the same in-band snapshot, from the board the new leader wrote.
- a stale leader (a lower epoch): its messages are dropped.
- the link down (Redis unreachable, or no heartbeat from the leader): boards keep their board and
  get a health message saying every product is down since then, with the reason "relay link
  down"; the worker reconnects with backoff and jitter and, once back, resyncs the boards in-band.
"""

import json
import logging
import threading
import time

from feed.bus.transport import CHECKPOINT, HEARTBEAT, MESSAGE, BusError
from feed.market.model import PRODUCTS
from feed.upstream.client import backoff_delay
from infra.clock import wall_ms
from infra.gevent_waits import loop_turn

log = logging.getLogger(__name__)

LINK_DOWN = "relay link down"
SILENCE_S = 1.0  # the leader heartbeats four times a second: boards learn of its death within 1 s
RECONNECT_CAP_S = 2  # few web workers reconnect: a short cap brings boards back soon
POLL_S = 0.1  # how often the follower looks at the clock while nothing arrives
SLICE_S = 0.005  # seconds the follower passes messages on before it lets the worker's loop in


def link_down_health(since=None):
    """The health a board shows while this worker hears nothing from the feed process, down
    `since` (ms since the epoch) when known."""
    product = {"up": False, "alive_age_ms": None, "offset_s": 0}
    if since is not None:
        product["down_since"] = since
    return {
        "connected": False,
        "reason": LINK_DOWN,
        "products": {str(p): dict(product) for p in PRODUCTS},
    }


def dumps(message):
    return json.dumps(message, separators=(",", ":"))


class Mirror:
    """Follows the bus and fans out through `hub`; what the views ask for a board."""

    def __init__(self, bus, hub, clock=time.monotonic, silence=SILENCE_S, turn=None):
        self.bus, self.hub, self.clock, self.silence = bus, hub, clock, silence
        # One turn of the worker's loop (gevent_waits.loop_turn), looked up once run() starts in
        # the patched worker; a test may give its own.
        self.turn = turn
        self.turned = clock()  # when the loop last ran while this follower passed messages on
        self.lock = threading.Lock()
        self.position = 0  # of the last entry this mirror gave the hub
        self.entry = None  # (position, text): the snapshot a new board starts from
        self.epoch = 0  # of the leader followed
        self.seq = 0  # the leader's seq of the last message given to the hub
        self.offset = None  # position - seq while the stream is unbroken; None until synced
        self.start_seq = 0  # the seq of the snapshot that began the unbroken stretch
        self.diverged = True  # the boards got something the leader did not send: resync in full
        self.link = "down"
        self.reason = "starting"
        self.down_since = wall_ms()  # when the link last went down: what the boards say
        self.heard = None  # clock() of the last envelope
        self.delay_ms = None  # bus delay of the last message: its receipt less its send (ms)
        self.resyncs = 0
        self.wanted_checkpoint = None  # seq of a checkpoint to start new boards from, once passed
        self.fetching = False
        # (epoch, seq, text) of a checkpoint fetched before this worker passed its seq: a worker
        # behind its leader by more than a checkpoint's interval fetches nothing else. Taken once
        # passed, where its place in the hub is known.
        self.ahead = None
        self.stopped = threading.Event()
        self.thread = None

    # What the views use ----------------------------------------------------------------------

    def snapshot(self):
        """(position, text) a board starts from, or catches up on; the hub holds everything
        after it. (None, text) when there is no such board: the position is then the hub's
        latest, and the text a board with everything down."""
        entry = self.entry
        if entry is None or self.hub.evicted > entry[0]:
            # Not synced yet, or the checkpoint is older than the hub's backlog: everything
            # down, until the next sync. A new board goes on from the latest message; one that
            # fell behind cannot be caught up on it (views.catch_up) and resyncs.
            return None, self._placeholder()
        return entry

    def subscribe(self, after):
        return self.hub.subscribe(after)

    @property
    def closing(self):
        return self.hub.closed

    def status(self):
        """Role, link, boards and how far behind the leader this worker is."""
        behind = None
        try:
            epoch, seq = self.bus.last()
            behind = max(0, seq - self.seq) if epoch == self.epoch else None
        except BusError:
            pass
        return {
            "role": "web",
            "link": self.link,
            "link_reason": None if self.link == "up" else self.reason,
            "boards": self.hub.subscribers,
            "epoch": self.epoch,
            "seq": self.seq,
            "lag": {"messages": behind, "bus_ms": self.delay_ms},
            "resyncs": self.resyncs,
        }

    # Running ---------------------------------------------------------------------------------

    def start(self):
        self.thread = threading.Thread(target=self.run, name="feed-mirror", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped.set()

    def run(self):
        """Follow the bus until stop(); reconnect with backoff and jitter; never raise."""
        if self.turn is None:
            self.turn = loop_turn()
        attempt = 0
        while not self.stopped.is_set():
            try:
                with self.bus.listen() as listener:
                    attempt = 0
                    self._follow(listener)
            except BusError as exc:
                self._link_down(f"bus unreachable: {exc}")
            except Exception:  # a bug must not end the follower: every board would go stale
                log.exception("the relay mirror failed; starting over")
                self._link_down("mirror failed")
            if not self.stopped.is_set():
                self.stopped.wait(backoff_delay(attempt, cap=RECONNECT_CAP_S))
                attempt += 1

    def _follow(self, listener):
        # Nothing is passed on before the leader is heard (its heartbeat comes every second): the
        # board in Redis may be a dead leader's, and its health would read as up.
        synced = False
        self.heard = self.turned = self.clock()
        while not self.stopped.is_set():
            envelope = listener.next(timeout=POLL_S)
            now = self.clock()
            if envelope is None:  # it waited: the rest of the worker ran meanwhile
                self.turned = now
                if now - self.heard > self.silence:
                    self._link_down("no heartbeat from the feed process")
                    synced = False
                continue
            self.heard = now
            self._turn_when_due()  # for the envelopes skipped below too
            if synced and envelope.epoch < self.epoch:
                continue  # a stale leader: Redis refuses its writes; this is belt and braces
            if not synced or envelope.epoch > self.epoch:
                synced = self._sync()
                continue
            if envelope.kind == MESSAGE:
                if envelope.seq <= self.seq:
                    continue  # already in the snapshot this worker synced from
                if envelope.seq != self.seq + 1:
                    synced = self._sync()
                    continue
                self._pass(envelope)
            elif envelope.kind == HEARTBEAT and envelope.seq > self.seq:
                synced = self._sync()  # messages went missing and nothing else would say so
            elif envelope.kind == CHECKPOINT:
                self.wanted_checkpoint = envelope.seq
            self._refresh_when_due()

    # Keeping in step -------------------------------------------------------------------------

    def _sync(self):
        """Catch up from the bus's snapshot; False when it has no board to give yet."""
        snapshot = self.bus.snapshot()
        messages = snapshot.messages
        expected = list(range(snapshot.seq + 1, snapshot.seq + 1 + len(messages)))
        if (
            snapshot.text is None
            or snapshot.board_epoch != snapshot.epoch
            or [m.seq for m in messages] != expected
        ):
            # The current leader has not written its board yet (or Redis lost it): wait for its
            # checkpoint, whose notice comes on the stream.
            self._link_down("no board from the feed process yet")
            return False
        resyncs = self.resyncs
        with self.lock:
            seamless = (
                not self.diverged
                and snapshot.epoch == self.epoch
                and snapshot.seq <= self.seq <= snapshot.seq + len(messages)
            )
            if not seamless:
                self.position += 1
                self.entry = (self.position, snapshot.text)
                self.epoch, self.seq = snapshot.epoch, snapshot.seq
                self.offset = self.position - self.seq
                self.start_seq = snapshot.seq
                self.ahead = None  # of the stretch before: this one starts from a board of its own
                self.resyncs += 1
            self.diverged = False
            self.link, self.reason = "up", None
        if not seamless:
            self.hub.publish(self.position, snapshot.text)  # every board repaints from it
        for message in messages:
            if message.seq > self.seq:
                self._pass(message)
                self._turn_when_due()
        if self.resyncs != resyncs:
            log.info("relay resynced at epoch %s seq %s", self.epoch, self.seq)
        return True

    # Only the follower's thread gives the hub entries, in order, and never under the lock: the
    # hub may yield to other greenlets while it publishes, and the views take the lock.
    def _pass(self, envelope):
        self.position += 1
        self.seq = envelope.seq
        self.hub.publish(self.position, envelope.text)
        self.delay_ms = wall_ms() - envelope.sent
        if self.ahead is not None and self.ahead[1] <= self.seq:
            with self.lock:
                ahead = self.ahead
                if ahead is not None and ahead[1] <= self.seq:
                    self.ahead = None
                    epoch, seq, text = ahead
                    if self._follows(epoch, seq):
                        self.entry = (seq + self.offset, text)

    def _turn_when_due(self):
        # Once per envelope read, and per message a resync replays from the log. While there
        # is more, reading and passing it on never waits: under gevent, nothing else of the
        # worker (/health, the wallet, the boards' handlers) would run until a whole burst has
        # passed. A turn of the loop every 5 ms.
        if self.clock() - self.turned >= SLICE_S:
            self.turn()
            self.turned = self.clock()

    def _link_down(self, reason):
        with self.lock:
            self.reason = reason
            if self.link == "down" and self.diverged:
                return
            log.warning("relay link down: %s", reason)
            if self.link == "up":
                self.down_since = wall_ms()
            self.link = "down"
            self.diverged = True
            # Every board of this worker has had every message up to self.seq: one more, in
            # sequence, tells them all. Whatever comes next from the leader goes out as a fresh
            # snapshot (diverged), never as a message that would reuse this number.
            self.position += 1
            health = link_down_health(self.down_since)
            notice = {"type": "health", "seq": self.seq + 1, "health": health, "outages": []}
        self.hub.publish(self.position, dumps(notice))

    def _placeholder(self):
        board = {
            "type": "snapshot",
            "seq": self.seq,
            "events": [],
            "lines": [],
            "health": link_down_health(self.down_since),
            "bet_stops": [],
            "outages": [],
        }
        return dumps(board)

    def _refresh_when_due(self):
        # A new board starts from the latest checkpoint: fetch it once this worker has passed
        # its seq (so its place in the hub is known), off the follower's path.
        due = self.wanted_checkpoint
        if due is None or self.seq < due or self.fetching:
            return
        self.wanted_checkpoint, self.fetching = None, True
        threading.Thread(target=self._refresh, name="feed-mirror-refresh", daemon=True).start()

    def _refresh(self):
        try:
            snapshot = self.bus.snapshot()
            with self.lock:
                if snapshot.text is not None and self._follows(snapshot.epoch, snapshot.seq):
                    if snapshot.seq <= self.seq:
                        self.entry = (snapshot.seq + self.offset, snapshot.text)
                    elif self.ahead is None or not self._follows(*self.ahead[:2]):
                        # The leader is further on: taken once this worker gets there. One
                        # already waiting is kept: a worker more than two checkpoints behind
                        # would otherwise swap each for a later one and never reach any.
                        self.ahead = (snapshot.epoch, snapshot.seq, snapshot.text)
        except BusError:
            pass  # the follower notices the link by itself
        finally:
            self.fetching = False

    def _follows(self, epoch, seq):
        """Under the lock: whether a checkpoint at `seq` of `epoch` belongs to the unbroken
        stretch this worker follows."""
        return not self.diverged and epoch == self.epoch and self.start_seq <= seq
