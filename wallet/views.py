"""The provider's callbacks over HTTP: parse, run the ledger in a transaction, answer."""

import time

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from database import Busy, run_in_transaction
from infra.gevent_waits import urgent
from ops import metrics

from . import ledger, logs, openapi, schemas
from .codes import SUCCESS, Failure
from .errors import WalletError
from .formats import format_amount, format_ts

bp = Blueprint("wallet", __name__, url_prefix="/wallet")
log = logs.logger(__name__)

# name: (request type, ledger operation, whether the answer carries the balance)
CALLBACKS = {
    "get_balance": (schemas.GetBalance, ledger.get_balance, True),
    "place_bet": (schemas.PlaceBet, ledger.place_bet, True),
    "cancel_bet": (schemas.CancelBet, ledger.cancel_bet, True),
    "settle": (schemas.Settle, ledger.settle, True),
    "event_settle": (schemas.EventSettle, ledger.event_settle, False),
}


def callback_view(name, request_type, operation, reports_balance):
    """Make the view for one callback: its answer, counted by code and failure, and timed
    (ops.metrics)."""

    def view():
        wallet = current_app.extensions["wallet"]
        started = time.perf_counter()
        # Counted here, where the answer is at hand, rather than read back from the JSON answer
        # in a request hook: ~15 µs of CPU less a callback.
        failure = Failure.INTERNAL_ERROR  # what an unexpected error answers
        code = wallet.codes[failure]
        try:
            failure, answered = answer(wallet)
            code = answered["code"]
            return answered
        except HTTPException as exc:
            failure, code = server_refusal(exc), str(exc.code)
            raise
        finally:
            seconds = time.perf_counter() - started
            metrics.wallet_callback(name, code, failure and failure.value, seconds)

    def answer(wallet):
        """(None, the success answer), or (the failure, its answer)."""
        respond = balance_answer if reports_balance else success_answer
        # How long this callback may wait for its accounts: its turn, a connection, the locks.
        deadline = time.monotonic() + current_app.config["DATABASE_LOCK_TIMEOUT"]
        try:
            wallet.gate.check(request.remote_addr, request.headers)
            notes = []
            parsed = schemas.parse(request_type, _json_body(), notes=notes)
            if notes:
                log.warning(
                    "accepted, its doubts move no money: callback=%s txId=%s doubts=%s",
                    name,
                    getattr(parsed, "tx_id", None),
                    "; ".join(notes),
                )
            # The answer is read inside the transaction: it reports the balance this callback
            # committed, without reloading the account afterwards.
            try:
                with wallet.turns.take(parsed.user_ids, deadline):
                    return None, run_in_transaction(
                        lambda db: respond(operation(db, parsed, wallet.clock), wallet.free_credit),
                        deadline=deadline,
                        during=urgent,  # the worker's board fan-outs wait while money moves
                    )
            except Busy as busy:
                # Nothing was done: the provider's retry will find the lock free.
                raise WalletError(Failure.BUSY, f"busy: {busy}; retry later") from None
        except WalletError as refusal:
            log.info(
                "refused: callback=%s failure=%s desc=%s",
                name,
                refusal.failure.value,
                refusal.desc,
            )
            return refusal.failure, {"code": wallet.codes[refusal.failure], "desc": refusal.desc}

    view.__name__ = name
    return view


for _name, _spec in CALLBACKS.items():
    bp.add_url_rule(f"/{_name}", _name, callback_view(_name, *_spec), methods=["POST"])


@bp.get("/openapi.json")
def openapi_document():
    """The callbacks' OpenAPI document, as this app validates and answers them."""
    wallet = current_app.extensions["wallet"]
    return openapi.document(
        CALLBACKS,
        wallet.codes,
        free_credit=wallet.free_credit,
        secret_header=wallet.gate.secret_header,
        secret_required=bool(wallet.gate.secret),
        max_body=current_app.config["MAX_CONTENT_LENGTH"],
    )


@bp.errorhandler(Exception)
def internal_error(exc):
    """Answer an unexpected failure as JSON; the transaction has already been rolled back."""
    wallet = current_app.extensions["wallet"]
    if isinstance(exc, HTTPException):
        # The server's own refusals (a body that did not arrive in time, an address waiting on
        # too many) keep their status, in the wallet's JSON: the provider's client reads a code
        # and a desc, and retries a busy one.
        answer = {"code": wallet.codes[server_refusal(exc)], "desc": exc.description}
        return answer, exc.code
    log.exception("wallet callback failed")
    return {"code": wallet.codes[Failure.INTERNAL_ERROR], "desc": "internal error"}, 500


def server_refusal(exc):
    """The failure a refusal of the server's own (an HTTPException) answers."""
    return Failure.BUSY if exc.code in (408, 429, 503) else Failure.MALFORMED_REQUEST


def success_answer(_account, _free_credit):
    """The success answer of a callback that reports no balance."""
    return {"code": SUCCESS, "desc": ""}


def balance_answer(account, free_credit):
    """The success answer: balance, its update time and, with free credit on, its split."""
    answer = {
        "code": SUCCESS,
        "balance": format_amount(account.balance),
        "balanceTs": format_ts(account.updated_at),
        "desc": "",
    }
    if free_credit:
        answer["realCredit"] = format_amount(account.real_credit)
        answer["freeCredit"] = format_amount(account.free_credit)
    return answer


def _json_body():
    # Before the body is read: one not declared JSON is refused unread.
    schemas.require_json(request.mimetype)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    try:
        if limit is not None:
            # A body sent in chunks (no Content-Length) is cut at the limit without a word:
            # read one byte more, to tell a body of the limit from a longer one.
            request.max_content_length = limit + 1
        data = request.get_data()
    except RequestEntityTooLarge:
        data = None
    if data is None or (limit is not None and len(data) > limit):
        raise WalletError(Failure.MALFORMED_REQUEST, "body is too large")
    return schemas.decode(data)
