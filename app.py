"""The betting dashboard: the traders' live board, its feed, and the operator's wallet."""

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import accounts
import config
import database
import feed
import ops
import wallet
from sessions import CookieSessionWhenSent


def create_app(test_config=None):
    """Create and configure the application."""
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = CookieSessionWhenSent()
    try:
        app.config.from_mapping(config.from_environment(instance_path=app.instance_path))
    except config.SettingError as exc:
        ops.refuse_to_start(exc)
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    if app.config["PROXY_HOPS"]:
        # Behind the platform's router the client address is the one it appended.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    ops.logs.configure(app.config["LOG_FORMAT"])
    # The order matters: the database first, as the others' set-up reads its engine; ops after
    # accounts, as a board socket counts only once the login's gate (an earlier before_request)
    # let it through.
    database.init_app(app)
    wallet.init_app(app)
    feed.init_app(app)
    accounts.init_app(app)
    ops.init_app(app)

    @app.get("/health")
    def health():
        """Answer the platform's health check; also the benchmarks' bare-JSON ceiling."""
        return {"status": "ok"}

    return app
