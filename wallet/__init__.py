"""The operator's side of the game provider's single-wallet API: money moved exactly once."""

from datetime import UTC, datetime
from types import SimpleNamespace

from ops import metrics

from .access import Gate
from .cli import bp as cli_bp
from .codes import SUCCESS, code_table
from .turns import AccountTurns
from .views import CALLBACKS, bp


def init_app(app, clock=None):
    """Register the callbacks and the CLI, keep the wallet's settings on the app, and show
    every answer a callback can give on /metrics from the start."""
    codes = code_table(app.config["WALLET_CODES"])
    answers = [(SUCCESS, None), *((code, failure.value) for failure, code in codes.items())]
    metrics.wallet_answers(CALLBACKS, answers)
    app.extensions["wallet"] = SimpleNamespace(
        clock=clock or (lambda: datetime.now(UTC)),
        codes=codes,
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
