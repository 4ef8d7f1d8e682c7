"""The connection pool: idle connections handed to waiters in the order they asked."""

import threading
from collections import deque

from sqlalchemy.pool import QueuePool
from sqlalchemy.util.queue import Empty, Full, Queue


class _Waiter:
    """One caller waiting for a connection: its lock is released when one is handed to it."""

    def __init__(self):
        self.ready = threading.Lock()  # gevent's under the gevent worker
        self.ready.acquire()
        self.item = None


class HandOverQueue(Queue):
    """SQLAlchemy's pool queue, fair: a connection given back goes to the longest waiter.

    SQLAlchemy's own queue puts it back and wakes a waiter, which must then take it: anyone who
    asks before the waiter runs takes it instead. Under gevent the greenlet that gave it back
    runs on and is first to ask again, so a busy worker can leave a waiter without a connection
    until its pool timeout, however short the queue. There are waiters only while no connection
    is idle.
    """

    def __init__(self, maxsize=0, use_lifo=False):
        super().__init__(maxsize, use_lifo)
        self._waiters = deque()

    def put(self, item, block=True, timeout=None):
        with self.mutex:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.item = item
                waiter.ready.release()
                return
            if self._full():
                raise Full
            self._put(item)

    def get(self, block=True, timeout=None):
        with self.mutex:
            if not self._empty():
                return self._get()
            if not block:
                raise Empty
            waiter = _Waiter()
            self._waiters.append(waiter)
        if waiter.ready.acquire(timeout=-1 if timeout is None else timeout):
            return waiter.item
        with self.mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                raise Empty
        return waiter.item  # handed over as the wait ran out


class HandOverQueuePool(QueuePool):
    """QueuePool whose waiters are served in the order they asked (see HandOverQueue)."""

    _queue_class = HandOverQueue
