"""Moves serialised relay messages from the feed to every browser socket of this process.

The interface is `publish(seq, text)`, `wait_sent(seq, timeout)`, `subscribe(after)`, `nudge()`
and `close()`, and a subscription's `take()`, `dropped`, `wake()` and `write_now`. It is fed by
the relay in the same process, or by the mirror of a web worker that follows the feed process
over the bus (feed/bus/): moving messages between processes is the bus's job, fanning them out
to sockets is this one's.

Each browser's bounded queue is a window on one shared backlog: a subscription is just how far
its handler has read. Publishing is an append and a wake-up of the hub's waker, whatever the
number of browsers; the waker wakes the handlers group by group, letting the rest of the worker
in between groups; a handler woken once takes everything it has not sent yet, so a burst goes
out in few writes. The backlog is bounded by bytes as well as by count, so a few large messages
cannot hold the worker's memory: it always keeps the newest message, however large.

A browser that falls a whole backlog behind is neither waited for nor dropped: its subscription
says so (`behind`), its handler sends it the board as it is now (a snapshot, which holds the
latest state of every line whatever it missed) and `resume`s it from the snapshot's seq. The
backlog is shared by boards at every position, so it cannot be rewritten for one of them; the
snapshot is the one coalesced form right for all of them, and the board already takes it in
band (static/board/connection.js) with no reconnect and no gap in its numbers.

Under gevent the waker does not even wake a handler that is idle in take(): it writes the new
messages to that board's socket itself, through the subscription's `write_now`, and wakes the
handler only when the socket did not take them all. Its socket still has one writer at a time:
the waker writes without waiting, so the handler cannot run meanwhile, and only while the
handler waits.
"""

import collections
import contextlib
import logging
import threading
import time

from infra.gevent_waits import cooperative, loop_turn
from ops import metrics

log = logging.getLogger(__name__)

BACKLOG = 2048  # messages a browser may fall behind before it is brought current (references)
BACKLOG_BYTES = 32 * 1024 * 1024  # and bytes of them: BOARD_BACKLOG_BYTES's default
GROUP_SIZE = 16  # subscribers woken by one event; the worker polls its sockets between groups
SLICE = 0.005  # seconds the publisher may run before it lets the rest of the worker in
NUDGE_EVERY = 5  # seconds between wake-ups of idle handlers: BOARD_NUDGE_SECONDS's default
GIVE_WAY = 0.01  # seconds a fan-out may wait for money in flight, beyond its own running time


class Group:
    """Subscribers that wait on the same event; each publish sets it and starts a new one."""

    def __init__(self):
        self.subscriptions = set()
        self.arrived = threading.Event()  # gevent's own once the worker has patched threading

    @property
    def members(self):
        return len(self.subscriptions)

    def wake(self):
        arrived, self.arrived = self.arrived, threading.Event()
        arrived.set()


class Subscription:
    """One browser's place in the backlog; its socket handler is the only reader and sender."""

    def __init__(self, hub, group, after):
        self.hub, self.group = hub, group
        self.after = after  # seq of the last message taken
        self.behind = False  # fell further behind than the backlog reaches: bring it current
        self.published = None  # monotonic time the oldest message of the last take() arrived
        self.idle = False  # its handler waits in take()
        # Set by the handler to let the hub write for it while it is idle: write_now(messages,
        # published) writes them without waiting, and says whether it all went (else the
        # handler is woken).
        self.write_now = None

    @property
    def dropped(self):
        """The hub is closed: the handler is to close its board."""
        return self.hub.closed

    def wake(self):
        """Wake this subscription's handler (and its group's) if it is waiting in take()."""
        self.group.wake()

    def take(self, timeout=None):
        """Every (seq, text) not taken yet, oldest first; [] when woken or timed out with none.

        It waits for the next publish, nudge or close. A browser that has fallen further behind
        than the backlog reaches is marked `behind` and gets nothing until it is resumed.
        """
        arrived = self.group.arrived  # looked at before the backlog, so no publish is missed
        taken, self.published = self.hub.since(self.after)
        if taken == [] and not self.dropped and not self.behind:
            self.idle = True
            try:
                arrived.wait(timeout)
            finally:
                self.idle = False
            taken, self.published = self.hub.since(self.after)
        if taken is None:
            self.behind = True
            return []
        if taken:
            self.after = taken[-1][0]
        return taken

    def resume(self, after):
        """Go on from seq `after` (that of the snapshot the board was just sent); False when the
        backlog no longer holds everything after it."""
        with self.hub.lock:
            if self.hub.evicted > after:
                return False
            self.after, self.behind = after, False
            return True


class LocalHub:
    """An in-process hub: one backlog, and the subscribers' wake-up groups."""

    def __init__(self, backlog=BACKLOG, backlog_bytes=BACKLOG_BYTES, nudge_every=NUDGE_EVERY):
        self.messages = collections.deque()
        self.arrivals = collections.deque()  # monotonic time each of `messages` was published
        self.backlog, self.backlog_bytes = backlog, backlog_bytes
        self.nudge_every = nudge_every  # seconds: BOARD_NUDGE_SECONDS
        self.bytes = 0  # of the messages in the backlog (the relay's are ASCII: chars are bytes)
        self.evicted = 0  # seq of the newest message pushed out of the backlog
        self.groups = []
        self.subscriptions = set()
        self.closed = False
        self.lock = threading.Lock()
        self.slice_started = time.monotonic()
        self.pending = threading.Event()  # a publish or a nudge the waker has not started on
        self.waker = None  # started with the first subscriber
        self.written_for = 0  # writes the waker made for idle handlers (whole or in part)

    @property
    def subscribers(self):
        return sum(group.members for group in self.groups)

    def publish(self, seq, text):
        with self.lock:
            self.messages.append((seq, text))
            self.arrivals.append(time.monotonic())
            self.bytes += len(text)
            while len(self.messages) > 1 and (
                len(self.messages) > self.backlog or self.bytes > self.backlog_bytes
            ):
                self.evicted, old = self.messages.popleft()
                self.arrivals.popleft()
                self.bytes -= len(old)
        self.pending.set()
        # Under gevent the waker runs once this greenlet yields. Not yielding after every
        # message lets a burst collect into one write per browser; yielding after a few
        # milliseconds at most keeps the money callbacks on the same worker moving.
        if time.monotonic() - self.slice_started > SLICE:
            time.sleep(0)
            self.slice_started = time.monotonic()

    def wait_sent(self, seq, timeout):
        """Nothing to wait for: the waker writes what is published on the worker's next turn."""
        return True

    def since(self, after):
        """(messages published after seq `after`, oldest first, or None if some have been
        evicted; the monotonic time the oldest of them was published, or None)."""
        with self.lock:
            if self.evicted > after:
                return None, None
            taken = []
            for item in reversed(self.messages):
                if item[0] <= after:
                    break
                taken.append(item)
            published = self.arrivals[-len(taken)] if taken else None
        taken.reverse()
        return taken, published

    def behind(self):
        """The most messages any subscriber has yet to take."""
        with self.lock:
            if not self.messages or not self.subscriptions:
                return 0
            newest = self.messages[-1][0]
            return max(0, newest - min(s.after for s in self.subscriptions))

    def nudge(self):
        """Wake every subscriber's handler, so that it looks at its socket."""
        self.pending.set()

    @contextlib.contextmanager
    def subscribe(self, after=None):
        """A subscription taking every message after seq `after` (default: the latest)."""
        with self.lock:
            group = min(self.groups, key=lambda g: g.members, default=None)
            if group is None or group.members >= GROUP_SIZE:
                group = Group()
                self.groups.append(group)
            if after is None:
                after = self.messages[-1][0] if self.messages else 0
            if self.waker is None:
                self.waker = threading.Thread(target=self._wake_forever, name="hub-waker")
                self.waker.daemon = True
                self.waker.start()
            subscription = Subscription(self, group, after)
            group.subscriptions.add(subscription)
            self.subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            with self.lock:
                group.subscriptions.discard(subscription)
                self.subscriptions.discard(subscription)

    def _wake_forever(self):
        # Handlers wait without timers (thousands of them would cost every message); this one
        # loop wakes them after publishes, and all of them now and then to ping or to notice a
        # closed socket, whether or not the feed is running.
        nudge_at = time.monotonic() + self.nudge_every
        failing = False
        turn = loop_turn()  # this thread runs once the worker has patched the process
        writes = cooperative()  # only then can it write for an idle handler: see _write_for
        while not self.closed:
            self.pending.wait(max(0.0, nudge_at - time.monotonic()))
            self.pending.clear()  # before the wake-ups: a publish during them comes round again
            try:
                nudging = time.monotonic() >= nudge_at
                if nudging:  # every handler wakes, to ping or to notice a closed socket
                    nudge_at = time.monotonic() + self.nudge_every
                    metrics.relay_backlog(self.behind())
                    failing = False
                self._wake_groups(turn, writes and not nudging)
            except Exception:
                # Every message reaches the boards through this loop: it outlives any failure
                # (the next round wakes everyone again). One line when it starts failing.
                if not failing:
                    log.exception("the hub's waker failed; it goes on")
                failing = True
                self._wake_groups_at_once()

    def _wake_groups(self, turn, write=False):
        # gevent runs the handlers woken at once one after another and looks at the worker's
        # sockets only then: 5,000 boards' writes held every wallet callback's next database
        # answer for the whole fan-out (100 ms and more). One group at a time, the worker polling
        # its sockets and serving whoever they woke in between.
        # Money first, too: while a wallet transaction is in flight (gevent_waits.urgent) the
        # next group waits for it, so that its round trips do not share the cores with board
        # writes. Boards keep at least half the worker whatever the wallet's load: one
        # fan-out's waits never exceed GIVE_WAY plus its own running time.
        groups = [group for group in self.groups if group.members]
        started, waited = time.monotonic(), 0.0
        looked = {}  # after -> since(after): level boards share one look at the backlog
        for i, group in enumerate(groups):
            if i:
                running = time.monotonic() - started - waited
                waited += turn(GIVE_WAY + running - waited)
            if not write or not self._write_for(group, looked):
                group.wake()

    def _write_for(self, group, looked):
        # Waking a handler costs more than its write: switching to it, its look at the backlog,
        # its checks, and waiting again. For the idle ones, the waker writes instead. Nothing
        # here waits (write_now() does not), so no handler runs meanwhile: the handler is idle
        # in take() throughout, and finds `after` moved on when it next looks. The others look
        # at the backlog themselves before they next wait. False if a handler must be woken.
        settled = True
        for subscription in list(group.subscriptions):
            if not subscription.idle:
                continue
            if subscription.write_now is None:  # its handler writes for itself
                settled = False
                continue
            after = subscription.after
            if after not in looked:
                looked[after] = self.since(after)
            taken, published = looked[after]
            if taken is None:  # fell a backlog behind: its handler brings the board current
                settled = False
            elif taken:
                self.written_for += 1
                written = subscription.write_now(taken, published)
                subscription.after = taken[-1][0]  # handed over, written or not
                if not written:  # the socket did not take it all, or the board is gone
                    settled = False
        return settled

    def _wake_groups_at_once(self):
        for group in list(self.groups):
            group.wake()

    def close(self):
        """Drop every subscriber: their handlers close their sockets."""
        self.closed = True
        self._wake_groups_at_once()
        self.pending.set()
