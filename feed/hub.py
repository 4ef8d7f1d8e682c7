"""Moves serialised relay messages from the feed to every browser socket of this process.

The interface is two methods, `publish(seq, text)` and `subscribe()`, so a Redis pub/sub hub can
replace this one without touching the feed or the sockets.
"""

import collections
import contextlib
import threading
import time

QUEUE_SIZE = (
    2048  # messages a browser may fall behind before it is dropped (references, not copies)
)
YIELD_EVERY = 256  # subscribers served between yields, so fan-out never starves other requests


class Subscription:
    """One browser's bounded queue; its socket handler is the only reader and sender."""

    def __init__(self, size, ready=None):
        self.size = size
        self.pending = collections.deque()
        # Set on each put, on a drop and on a nudge; a socket may pass its own, set on disconnect.
        # (gevent's Event once the worker has patched threading.)
        self.ready = ready or threading.Event()
        self.dropped = False

    def put(self, item):
        """Queue (seq, text); False when the queue is full."""
        if len(self.pending) >= self.size:
            return False
        self.pending.append(item)
        self.ready.set()
        return True

    def take(self, timeout=None):
        """Every queued (seq, text), oldest first; an empty list if woken or timed out with none.

        Taking all at once lets a handler woken once send a whole burst in one write.
        """
        self.ready.clear()  # cleared before looking, so a put from now on wakes the wait below
        if not self.pending:
            self.ready.wait(timeout)
        return [self.pending.popleft() for _ in range(len(self.pending))]


class LocalHub:
    """An in-process hub: publish puts each message on every subscriber's queue."""

    def __init__(self, queue_size=QUEUE_SIZE):
        self.queue_size = queue_size
        self.subscribers = set()
        self.lock = threading.Lock()

    def publish(self, seq, text):
        with self.lock:
            subscribers = list(self.subscribers)
        for count, subscription in enumerate(subscribers, 1):
            if not subscription.put((seq, text)):
                # A browser that cannot keep up is dropped rather than waited for.
                subscription.dropped = True
                subscription.ready.set()
                self._remove(subscription)
            if count % YIELD_EVERY == 0:
                time.sleep(0)  # under gevent, let the other greenlets of the worker run

    def nudge(self):
        """Wake every subscriber's handler, so that ones waiting without a timeout look around."""
        with self.lock:
            subscribers = list(self.subscribers)
        for count, subscription in enumerate(subscribers, 1):
            subscription.ready.set()
            if count % YIELD_EVERY == 0:
                time.sleep(0)

    @contextlib.contextmanager
    def subscribe(self, ready=None):
        subscription = Subscription(self.queue_size, ready)
        with self.lock:
            self.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._remove(subscription)

    def close(self):
        """Drop every subscriber: their handlers close their sockets."""
        with self.lock:
            subscribers, self.subscribers = list(self.subscribers), set()
        for subscription in subscribers:
            subscription.dropped = True
            subscription.ready.set()

    def _remove(self, subscription):
        with self.lock:
            self.subscribers.discard(subscription)
