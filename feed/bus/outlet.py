"""The leader's outlet onto the bus: the relay's messages in order, from a thread of its own,
with checkpoints; it never makes the relay wait."""

import collections
import logging
import threading
import time

from feed.bus.transport import BusError
from feed.upstream.client import backoff_delay

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 0.25  # the web workers count the link down after a second without one
CHECKPOINT_EVERY = 500  # messages; well inside the hub's backlog, which new boards replay
CHECKPOINT_MIN_BYTES = 1 << 20  # and no later than when the log outweighs the snapshot
QUEUE_LIMIT = 10_000  # messages waiting for the bus; past it they are dropped and boards resync
# Messages a publish carries at most: each is heard by the web workers once it has all gone,
# so a burst goes in pieces, each heard at once, never a silence they read as the link down.
PUBLISH_PIECE = 200


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
        self.sent = threading.Condition()  # notified as `published` moves on
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

    def wait_sent(self, seq, timeout):
        """Wait until message `seq` is on the bus, `timeout` seconds at most; False if it is not
        (the bus away, fenced, or too slow: the relay goes on all the same)."""
        deadline = time.monotonic() + timeout
        with self.sent:
            while (self.published or 0) < seq:
                left = deadline - time.monotonic()
                if left <= 0 or self.fenced or self.broken or self.stopped.is_set():
                    return False
                self.sent.wait(left)
        return not self.fenced  # a refused publish moves `published` on all the same

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
        self._wake_waiters()

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
                self._wake_waiters()
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
        self.due = None
        self._published_to(seq)
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
            # Up to the next gap, a piece at most; and a due checkpoint goes right after the
            # message it was taken at.
            first = batch[0][0]
            cut = next((i for i, m in enumerate(batch) if m[0] != first + i), len(batch))
            cut = min(cut, PUBLISH_PIECE)
            if self.due is not None:
                cut = min(cut, next((i for i, m in enumerate(batch) if m[0] > self.due[0]), cut))
            chunk, batch = batch[:cut], batch[cut:]
            if chunk:
                self._check(self.bus.publish(self.epoch, chunk))
                self._published_to(chunk[-1][0])
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

    def _published_to(self, seq):
        with self.sent:
            self.published = seq
            self.sent.notify_all()

    def _wake_waiters(self):
        # wait_sent() gives up at once on a bus that is broken, fenced or stopped.
        with self.sent:
            self.sent.notify_all()

    def _check(self, accepted):
        if not accepted:
            # Redis holds another epoch: another leader, or a Redis that lost our lease.
            log.warning("the bus refused epoch %s: publishing stops", self.epoch)
            self.fenced = True
            self.fenced_event.set()
            self._wake_waiters()
