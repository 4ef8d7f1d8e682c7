"""Request bodies arrive in time: within BODY_TIMEOUT_SECONDS of their request's headers, and a
process waits for at most BODY_WAITS_PER_ADDRESS bodies of one client address at once; the
address's further requests must bring their bodies whole.

gunicorn bounds the wait for a request's headers (its keep-alive time, gunicorn.conf.py) but
not for its body, which the application reads: a client that promises a body and never sends it
holds one of the worker's connections for as long as it likes, and enough of them hold them all.
The bound on a wait is the server's to give (`Arrivals.timeout`): gevent's Timeout under the
gevent worker, set by gunicorn.conf.py. Without one (the test client, the CLI) a read waits for
as long as it takes, as nothing waits there for a client.
"""

import threading
import time

from flask import g, request
from werkzeug.exceptions import RequestTimeout, TooManyRequests


class Arrivals:
    """The bodies one process waits for, counted by client address."""

    def __init__(self, seconds, per_address):
        self.seconds = seconds
        self.per_address = per_address
        # timeout(seconds, exception): a context that raises the exception in a wait inside it
        # once the seconds have passed; with 0, in its first wait.
        self.timeout = None
        self.waiting = {}  # address: requests of it whose bodies are still to come
        self.lock = threading.Lock()

    def expect(self):
        """Bound the reads of this request's body, if it has one, by its deadline."""
        environ = request.environ
        if not request.content_length and "HTTP_TRANSFER_ENCODING" not in environ:
            return
        address = request.remote_addr
        with self.lock:
            waited = self.waiting.get(address, 0) < self.per_address
            if waited:
                self.waiting[address] = self.waiting.get(address, 0) + 1
        if waited:
            body = TimedBody(environ["wsgi.input"], self.seconds, RequestTimeout, self.timeout)
            body.on_end = lambda: self._arrived(address)
        else:
            # Beyond the address's waits: only what has arrived already is read.
            body = TimedBody(environ["wsgi.input"], 0, TooManyRequests, self.timeout)
        environ["wsgi.input"] = g.timed_body = body

    def forget(self, _exc=None):
        """At the request's end: its body is no longer waited for, read through or not."""
        body = g.pop("timed_body", None)
        if body is not None:
            body.end()

    def _arrived(self, address):
        with self.lock:
            left = self.waiting[address] - 1
            if left:
                self.waiting[address] = left
            else:
                del self.waiting[address]


class TimedBody:
    """A request's wsgi.input whose reads raise `late` once `seconds` from now have passed."""

    def __init__(self, stream, seconds, late, timeout):
        self.stream = stream
        self.deadline = time.monotonic() + seconds
        self.late = late
        self.timeout = timeout
        self.on_end = None  # called once, when the body has come or is no longer waited for

    def end(self):
        """Call on_end, the first time only."""
        ended, self.on_end = self.on_end, None
        if ended is not None:
            ended()

    def read(self, *size):
        return self._in_time(self.stream.read, *size)

    def readline(self, *size):
        return self._in_time(self.stream.readline, *size)

    def readlines(self, *hint):
        return self._in_time(self.stream.readlines, *hint)

    def __iter__(self):
        return iter(self.readline, b"")

    def _in_time(self, read, *args):
        if self.timeout is None:
            data = read(*args)
        else:
            # A read whose bytes have arrived does not wait, and ends even at the deadline.
            with self.timeout(max(self.deadline - time.monotonic(), 0), self.late):
                data = read(*args)
        if not data:  # the end of the body
            self.end()
        return data
