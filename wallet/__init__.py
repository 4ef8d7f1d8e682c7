"""The operator's side of the game provider's single-wallet API: money moved exactly once."""

from datetime import UTC, datetime
from types import SimpleNamespace

from .access import Gate
from .cli import bp as cli_bp
from .codes import code_table
from .turns import AccountTurns
from .views import bp


def init_app(app, clock=None):
    """Register the callbacks and the CLI, and keep the wallet's settings on the app."""
    app.extensions["wallet"] = SimpleNamespace(
        clock=clock or (lambda: datetime.now(UTC)),
        codes=code_table(app.config["WALLET_CODES"]),
        free_credit=app.config["WALLET_FREE_CREDIT"],
        gate=Gate(
            app.config["WALLET_ALLOWED_IPS"],
            app.config["WALLET_SECRET"],
            app.config["WALLET_SECRET_HEADER"],
            app.config["WALLET_MAINTENANCE"],
        ),
        turns=AccountTurns(),
    )
    app.register_blueprint(bp)
    app.register_blueprint(cli_bp)
