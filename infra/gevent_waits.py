"""The gevent worker's waits: psycopg parks one greenlet on gevent's hub per wait, the feed's
SQLite writes run on gevent's native threads, and a long fan-out lets the loop poll its sockets
and gives way to urgent work (the wallet's transactions) while it lasts.

Installed by the worker's setup (gunicorn.conf.py), where gevent has patched the standard library.
"""

import contextlib
import sys
import time

# (function) -> its result, run on one of gevent's native threads: for the C calls that cannot
# wait on the hub (SQLite's). None: not a gevent worker, call it here.
native_threads = None
_urgent = set()  # tokens of the work in progress that this process's fan-outs give way to
_settled = None  # under gevent, the event the last of that work sets as it ends
# Below this, giving way is not worth it: the loop's timers wake up to a millisecond late.
SHORTEST_WAY = 0.001


def install():
    """Make psycopg wait on gevent's hub and offer gevent's native threads (`native_threads`) for
    SQLite's calls, if gevent has patched this process; else do nothing."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("select"):
        return
    # psycopg waits for its socket through `psycopg.waiting.wait`. Under gevent it picks a
    # select.poll() loop, which gevent emulates with a poll object and a watcher per call; a
    # callback waits four times. Waiting on one libev watcher instead costs ~6% of a callback's
    # CPU less. psycopg looks the function up at each wait, so setting it is enough.
    # SQLAlchemy has loaded psycopg by now if the database is PostgreSQL (it loads the driver as
    # the app makes its engine); on SQLite, importing it here would add ~0.2 s to every start.
    if "psycopg" in sys.modules:
        import psycopg.waiting

        psycopg.waiting.wait = wait_on_gevent_hub
    # SQLite's calls cannot wait on the hub: the feed's writes go to gevent's native threads.
    import gevent

    global native_threads
    native_threads = lambda function: gevent.get_hub().threadpool.apply(function)  # noqa: E731


def off_the_loop(work):
    """Run `work()` (blocking C, a file's fsync) on one of gevent's native threads when this is
    a gevent worker, else here; return its result."""
    return work() if native_threads is None else native_threads(work)


@contextlib.contextmanager
def urgent():
    """Mark the work inside as what long fan-outs give way to while it lasts (loop_turn)."""
    token = object()
    _urgent.add(token)  # a set of tokens, not a counter: add and discard are atomic
    try:
        yield
    finally:
        _urgent.discard(token)
        if not _urgent and _settled is not None:
            _settled.set()


def urgent_in_progress():
    """Whether urgent() work is in progress in this process."""
    return bool(_urgent)


def cooperative():
    """Whether gevent has patched this process's threads into greenlets, which run one at a time
    and switch only where one waits: then no other thread runs between two of one's statements
    that do not wait."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("threading")


def watch_readable(fileno, callback):
    """Under gevent, have its hub call `callback()` whenever `fileno` has something to read, with
    no greenlet parked on it; return a function that stops that. None without gevent.

    The callback runs on the hub: it must not wait (read without blocking, set events)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("socket"):
        return None
    import gevent

    watcher = gevent.get_hub().loop.io(fileno, 1)  # libev's event mask: 1 is read
    watcher.start(callback)
    return watcher.close


def loop_turn():
    """A function `turn(give_way)` that first waits, up to `give_way` seconds, while urgent()
    work is in progress, then one turn of gevent's event loop, in which it polls its sockets and
    runs the greenlets they woke; it returns the seconds it gave way. Without gevent, one that
    returns 0 at once. Ask once the process is patched: the answer is looked up once, not at
    every call."""
    global _settled
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("time"):
        return lambda give_way=0.0: 0.0
    import gevent
    import gevent.event

    hub = gevent.get_hub()
    if _settled is None:  # one for every waker of the process: urgent() sets this one
        _settled = gevent.event.Event()

    def turn(give_way=0.0):
        waited = 0.0
        if _urgent and give_way >= SHORTEST_WAY:
            # Idle meanwhile: the cores go to the database, the callback runs as soon as each
            # answer comes, and this greenlet wakes as soon as the last such work ends.
            started = time.monotonic()
            _settled.clear()
            _settled.wait(give_way)
            waited = time.monotonic() - started
        # A timer due at once: the loop polls without blocking, then wakes us. sleep(0) would
        # run us again before any socket is looked at, and any positive delay may idle 1 ms.
        # Below the default priority: libev runs the last event it saw first, which would be
        # this timer, before whatever the poll found.
        with hub.loop.timer(0, priority=-1) as timer:
            hub.wait(timer)
        return waited

    return turn


def wait_on_gevent_hub(gen, fileno, interval=0.0, timeout=None):
    """psycopg's wait function, on gevent's hub: run `gen`, parking the greenlet on `fileno`.

    `gen` yields what it waits for (psycopg's Wait: read 1, write 2, both 3, as libev's event
    mask) and is sent what became ready. `interval` only serves blocking callers' signal checks;
    gevent's hub handles signals itself. Raises psycopg's wait timeout after `timeout` seconds.
    """
    import gevent
    from psycopg import errors
    from psycopg.waiting import Ready

    hub = gevent.get_hub()
    deadline = None
    if timeout is not None:
        deadline = gevent.Timeout.start_new(timeout, errors._WaitTimeout("wait timeout expired"))
    try:
        events = next(gen)
        while True:
            watcher = hub.loop.io(fileno, int(events))
            try:
                hub.wait(watcher)
            finally:
                watcher.close()
            # libev does not say which of read and write woke a wait for both: report both;
            # psycopg's generators try each without blocking.
            events = gen.send(Ready(int(events)))
    except StopIteration as done:
        return done.value
    finally:
        if deadline is not None:
            deadline.close()
