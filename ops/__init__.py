"""How the app shows itself: safe headers and error pages, metrics, readiness, logs, errors a
person can act on; and what it takes from a request: its body in time, text without NUL."""

import logging
import sys

import click
import sqlalchemy as sa
from flask import Response, current_app, g, request

from database import db

from . import bodies, commands, errors, headers, logs, metrics, startup, values
from .ready import Readiness

__all__ = ["init_app", "logs", "metrics", "refuse_to_start"]
log = logging.getLogger(__name__)


def refuse_to_start(exc):
    """Stop at start-up with the reason on one line, no traceback."""
    print(f"error: {exc}", file=sys.stderr, flush=True)
    # Exit status 3 is gunicorn's "worker failed to boot": the arbiter stops instead of
    # starting the worker again and again.
    raise SystemExit(3)


def init_app(app):
    """Headers and error pages on every response, bodies in time, no NUL in a query string or
    form, /metrics and /ready, readable CLI errors."""
    app.after_request(headers.add_security_headers)
    arrivals = app.extensions["bodies"] = bodies.Arrivals(
        app.config["BODY_TIMEOUT_SECONDS"], app.config["BODY_WAITS_PER_ADDRESS"]
    )
    app.before_request(arrivals.expect)
    app.teardown_request(arrivals.forget)
    app.request_class = values.Request
    errors.init_app(app)
    app.extensions["ops"] = Readiness(app)
    app.add_url_rule("/metrics", "ops.metrics", serve_metrics)
    app.add_url_rule("/ready", "ops.ready", ready)
    _count_board_sockets(app)
    with app.app_context():
        if isinstance(db.engine.pool, sa.pool.QueuePool):
            metrics.watch_pool(db.engine.pool)
        # A server (not a command, which may be `db upgrade` itself) starts only on a database
        # that serves this code: else one sentence, not a traceback per request.
        if not app.testing and click.get_current_context(silent=True) is None:
            problem = startup.database_problem()
            if isinstance(problem, startup.Unreachable):
                log.warning("starting without the database: %s", problem)
            elif problem:
                refuse_to_start(problem)
    commands.explain_failures(app.cli)


def serve_metrics():
    """Every metric in Prometheus' text format, for METRICS_TOKEN or METRICS_ALLOWED_IPS."""
    if not _on_call():
        return {"error": "forbidden"}, 403, {"WWW-Authenticate": "Bearer"}
    runtime = current_app.extensions.get("feed")
    body, content_type = metrics.exposition(runtime.vitals() if runtime is not None else {})
    return Response(body, content_type=content_type)


def ready():
    """200 when the database, Redis (when configured) and the feed are usable, else 503; each
    check's answer only for on-call (METRICS_TOKEN or METRICS_ALLOWED_IPS)."""
    usable, checks = current_app.extensions["ops"].report()
    status = 200 if usable else 503
    # The reasons name the database's and Redis' hosts, ports and names.
    if not _on_call():
        return {"ready": usable}, status
    return {"ready": usable, "checks": checks}, status


def _on_call():
    """Whether this request comes from on-call: the metrics' token or one of their addresses."""
    config = current_app.config
    return metrics.scrape_allowed(
        request.headers.get("Authorization", ""),
        request.remote_addr,
        config["METRICS_TOKEN"],
        config["METRICS_ALLOWED_IPS"],
    )


def _count_board_sockets(app):
    # Registered after the login's gate: a socket it refused never counts.
    def opened():
        if request.path == "/ws":
            g.board_counted = True
            metrics.board_opened()

    def closed(_exc):
        if g.pop("board_counted", False):
            metrics.board_closed()

    app.before_request(opened)
    app.teardown_request(closed)
