"""Moves serialised relay messages from the feed to every browser socket of this process.

The interface is two methods, `publish(seq, text)` and `subscribe()`, so a Redis pub/sub hub can
replace this one without touching the feed or the sockets.
"""

import contextlib
import queue
import threading
import time

QUEUE_SIZE = (
    2048  # messages a browser may fall behind before it is dropped (references, not copies)
)
YIELD_EVERY = 256  # subscribers served between yields, so fan-out never starves other requests


class Subscription:
    """One browser's bounded queue; its socket handler is the only reader and sender."""

    def __init__(self, size):
        self.queue = queue.Queue(maxsize=size)
        self.dropped = False

    def get(self, timeout):
        """The next (seq, text), or None after `timeout` seconds with nothing."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


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
            try:
                subscription.queue.put_nowait((seq, text))
            except queue.Full:
                # A browser that cannot keep up is dropped rather than waited for.
                subscription.dropped = True
                self._remove(subscription)
            if count % YIELD_EVERY == 0:
                time.sleep(0)  # under gevent, let the other greenlets of the worker run

    @contextlib.contextmanager
    def subscribe(self):
        subscription = Subscription(self.queue_size)
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

    def _remove(self, subscription):
        with self.lock:
            self.subscribers.discard(subscription)
