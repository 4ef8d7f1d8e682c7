"""The gevent worker's waits: psycopg parks one greenlet on gevent's hub per wait, the feed's
SQLite writes run on gevent's native threads, and a long fan-out lets the loop poll its sockets.

Installed by the worker's setup (gunicorn.conf.py), where gevent has patched the standard library.
"""

import sys


def install():
    """Make psycopg wait on gevent's hub and send the feed's SQLite writes to native threads, if
    gevent has patched this process; else do nothing."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("select"):
        return
    # psycopg waits for its socket through `psycopg.waiting.wait`. Under gevent it picks a
    # select.poll() loop, which gevent emulates with a poll object and a watcher per call; a
    # callback waits four times. Waiting on one libev watcher instead costs ~6% of a callback's
    # CPU less. psycopg looks the function up at each wait, so setting it is enough.
    import psycopg.waiting

    psycopg.waiting.wait = wait_on_gevent_hub
    # SQLite's calls cannot wait on the hub: the feed's writes go to gevent's native threads.
    import gevent

    import feed.store

    feed.store.sqlite_writes_run_on = lambda function: gevent.get_hub().threadpool.apply(function)


def loop_turn():
    """A function that waits one turn of gevent's event loop, in which it polls its sockets and
    runs the greenlets they woke; without gevent, one that returns at once. Ask once the process
    is patched: the answer is looked up once, not at every call."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("time"):
        return lambda: None
    import gevent

    hub = gevent.get_hub()

    def turn():
        # A timer due at once: the loop polls without blocking, then wakes us. sleep(0) would
        # run us again before any socket is looked at, and any positive delay may idle 1 ms.
        with hub.loop.timer(0) as timer:
            hub.wait(timer)

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
