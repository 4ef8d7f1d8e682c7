"""gunicorn settings for the platform: gevent workers on $PORT."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
# One worker holds the feed connection, the market state and every board socket; more workers
# each hold their own until the hub is moved to Redis.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# gevent's default of 1000 would cap the number of open board sockets per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# The platform sends SIGTERM and kills 30 s later: finish within that.
graceful_timeout = 25
timeout = 30
accesslog = os.environ.get("ACCESS_LOG") or None


def post_worker_init(worker):
    """Start the worker's feed, and freeze what is loaded out of the garbage collector's sight."""
    import gc
    import threading

    feed = worker.wsgi.extensions["feed"]
    feed.start()
    threading.Thread(target=_stop_feed_on_shutdown, args=(worker, feed), daemon=True).start()
    # The app, Flask, SQLAlchemy and their modules live for the whole process; without this, every
    # full collection walks them all again and stalls every request on the worker for milliseconds.
    gc.collect()
    gc.freeze()


def _stop_feed_on_shutdown(worker, feed):
    # gunicorn offers no hook at SIGTERM itself; the worker stops being alive then. Closing the
    # board sockets at once lets the worker exit well inside the platform's 30 s.
    import time

    while worker.alive:
        time.sleep(0.5)
    feed.stop()
