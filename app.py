"""The betting dashboard: the traders' live board, its feed, and the operator's wallet."""

import logging
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import config
import database
import feed
import wallet
from sessions import CookieSessionWhenSent


def create_app(test_config=None):
    """Create and configure the application."""
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = CookieSessionWhenSent()
    app.config.from_mapping(config.from_environment(instance_path=app.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    if test_config:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    if app.config["PROXY_HOPS"]:
        # Behind the platform's router the client address is the one it appended.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    database.init_app(app)
    wallet.init_app(app)
    feed.init_app(app)

    @app.get("/health")
    def health():
        """Answer the platform's health check; also the benchmarks' bare-JSON ceiling."""
        return {"status": "ok"}

    return app
