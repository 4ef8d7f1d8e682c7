"""gunicorn settings for the platform: gevent workers on $PORT."""

import os
import shutil
import sys
import tempfile

from config import bind_host

_host, _loopback_only = bind_host(os.environ)
if _loopback_only:
    print(f"NOTE: {_loopback_only}", file=sys.stderr, flush=True)
bind = f"{_host}:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"


def _workers():
    # With REDIS_URL every worker follows the one `feed` process through Redis. Without it the
    # worker is the consumer: a second one would open its own upstream connection, keep its own
    # state and log every BetStop twice. The platform sets WEB_CONCURRENCY by itself on larger
    # dynos, so that is capped loudly rather than refused; an explicit --workers is refused
    # (on_starting below).
    wanted = int(os.environ.get("WEB_CONCURRENCY", "1"))
    if wanted > 1 and not os.environ.get("REDIS_URL", "").strip():
        print(
            f"WARNING: WEB_CONCURRENCY={wanted} ignored: without REDIS_URL one worker consumes the "
            "feed and serves every board; set REDIS_URL and run the feed process to use more",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return wanted


workers = _workers()
# gevent's default of 1000 would cap the number of open board sockets per worker.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "10000"))
# The platform sends SIGTERM and kills 30 s later: finish within that.
graceful_timeout = 25
timeout = 30
# Also how long a request's headers may take: the gevent worker parses them under a gevent
# Timeout of this many seconds and closes the connection when it fires. The body is read by the
# app, within BODY_TIMEOUT_SECONDS (ops/bodies.py).
keepalive = 2
accesslog = os.environ.get("ACCESS_LOG") or None
# /metrics adds up every worker's values from files here (prometheus_client's multiprocess
# mode): a new directory for each start of the server, set before any worker imports the app.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir = tempfile.mkdtemp(prefix="metrics-")


def on_starting(server):
    """Refuse several workers without Redis: each would consume the feed on its own."""
    if server.cfg.workers > 1 and not os.environ.get("REDIS_URL", "").strip():
        raise SystemExit(
            f"refusing {server.cfg.workers} workers without REDIS_URL: each would open its own "
            "upstream connection; run one, or set REDIS_URL and run the feed process"
        )


def post_worker_init(worker):
    """Start the worker's feed (consumer or link to the feed process); freeze what is loaded."""
    import gc
    import threading

    import gevent

    from infra import gevent_waits

    gevent_waits.install()
    # A wait for a request's body is a wait on gevent's hub: its Timeout bounds it.
    worker.wsgi.extensions["bodies"].timeout = gevent.Timeout
    feed = worker.wsgi.extensions["feed"]
    feed.start()
    threading.Thread(target=_stop_feed_on_shutdown, args=(worker, feed), daemon=True).start()
    threading.Thread(target=_read_vitals_while_alive, args=(worker,), daemon=True).start()
    # The app, Flask, SQLAlchemy and their modules live for the whole process; without this, every
    # full collection walks them all again and stalls every request on the worker for milliseconds.
    gc.collect()
    gc.freeze()
    # Thousands of board sockets are hundreds of thousands of long-lived objects, and a full
    # collection walks them all (~300 ms at 5,000 sockets). Messages fanned out to those sockets
    # live just long enough to be promoted by the default thresholds and trigger one every few
    # seconds. Rarer young collections let them die young; full ones become rare. Not too rare:
    # Werkzeug's router leaves a small reference cycle behind every request (8 objects), and a
    # young collection pauses the worker for as long as it takes to walk them: ~2 ms at 10,000,
    # 10-25 ms at 50,000, which was a wallet callback's p99.
    gc.set_threshold(10_000, 20, 100)


def _stop_feed_on_shutdown(worker, feed):
    # gunicorn offers no hook at SIGTERM itself; the worker stops being alive then. Closing the
    # board sockets at once lets the worker exit well inside the platform's 30 s.
    import time

    while worker.alive:
        time.sleep(0.5)
    feed.stop()


def _read_vitals_while_alive(worker):
    # /metrics shows every worker's CPU, memory and open files, each read by the worker itself:
    # no other process can set them (ops.metrics.WORKER_VITALS).
    import time

    import gevent

    from ops import metrics

    threadpool = gevent.get_hub().threadpool
    while worker.alive:
        # On a native thread: listing /proc/self/fd holds the thread for ~40 ms at 10,000
        # sockets, which on the worker's own would hold every callback waiting behind it.
        metrics.show_worker_vitals(threadpool.apply(metrics.worker_vitals))
        time.sleep(metrics.WORKER_VITALS_SECONDS)


def worker_exit(server, worker):
    """Before the worker process ends: the feed's last write is done (bounded by the store)."""
    app = getattr(worker, "wsgi", None)
    feed = app.extensions.get("feed") if app is not None else None
    if feed is not None:
        # SIGTERM's stop (above) may still be writing: without this the process would exit
        # under it, and a suspension written just before would come back active after the start.
        feed.stop()


def child_exit(server, worker):
    """Drop a finished worker's gauges of the kind that only count live workers (its process
    metrics among them)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory this server made."""
    if "_metrics_dir" in globals():
        shutil.rmtree(_metrics_dir, ignore_errors=True)
