"""Who may open the board: trader accounts, the login, and the gate in front of the board."""

from types import SimpleNamespace

from . import gate
from .cli import bp as cli_bp
from .limiter import LoginLimiter, RedisCounts
from .views import bp


def init_app(app):
    """Put the board behind the login (unless BOARD_LOGIN is off); register the login and CLI."""
    shared = None
    if app.config["REDIS_URL"]:
        from infra.redis_client import redis_client  # the platform's TLS settings included

        config = app.config
        client = redis_client(
            config["REDIS_URL"], config["REDIS_TLS_VERIFY"], config["REDIS_CA_CERTS"], 1
        )
        shared = RedisCounts(client, config["LOGIN_LIMIT_PREFIX"])
    app.extensions["accounts"] = SimpleNamespace(
        limiter=LoginLimiter(shared), epochs=gate.AccountEpochs()
    )
    app.before_request(gate.check_board_request)
    app.after_request(gate.tell_a_board_its_session_ended)
    app.context_processor(
        lambda: {"board_login": app.config["BOARD_LOGIN"], "csrf_token": gate.csrf_token}
    )
    app.register_blueprint(bp)
    app.register_blueprint(cli_bp)
