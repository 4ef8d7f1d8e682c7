"""Valid callback bodies and small helpers shared by the wallet's tests."""

import contextlib

import psycopg
import sqlalchemy as sa

from database import db, run_in_transaction
from wallet import ledger
from wallet.audit import find_problems
from wallet.formats import parse_amount
from wallet.models import Account, Bet, EventPayout, LedgerEntry

TS = "2022-10-14T23:00:00.000+0800"
USER = "hrgpl0001"
# The user whose account the full_account fixture fills to the most an account may hold.
RICH = "hrgpl0099"
LARGEST_AMOUNT = "1000000000000"
MOST_HELD = "100000000000000.0"


def place_bet_body(tx_id, user="hrgpl0001", amount="50.0", **overrides):
    return {
        "ts": TS,
        "userId": user,
        "txId": tx_id,
        "betTime": "2022-10-14T22:59:59.920+0800",
        "gameType": "LIVE",
        "gameCode": "BACCARAT",
        "betAmount": amount,
        "roundId": "RND-08310057",
        "category": "Player",
        "tableId": "1",
    } | overrides


def cancel_bet_body(tx_id, user="hrgpl0001", reason="BET_FAILED", **overrides):
    return {
        "ts": TS,
        "reason": reason,
        "userId": user,
        "txId": tx_id,
        "gameType": "LIVE",
        "gameCode": "BACCARAT",
    } | overrides


def settle_body(tx_id, user="hrgpl0001", bet="50.0", win="100.0", **overrides):
    return {
        "ts": TS,
        "userId": user,
        "txId": tx_id,
        "roundId": "RND-08310057",
        "betTime": "2022-10-14T22:59:59.920+0800",
        "betAmount": bet,
        "validBetAmount": bet,
        "winAmount": win,
        "gameType": "LIVE",
        "gameCode": "BACCARAT",
    } | overrides


def event_settle_body(*payouts):
    return {
        "settles": [
            {
                "settleId": sid,
                "eventId": "EVT-1",
                "userId": user,
                "amount": amount,
                "createTime": TS,
            }
            for sid, user, amount in payouts
        ]
    }


def deposit(app, user, amount, free=False):
    """Credit `amount` to the user's account, opening it if it has none."""
    units = parse_amount(amount, allow_zero=False)
    clock = app.extensions["wallet"].clock
    with app.app_context():
        run_in_transaction(
            lambda s: ledger.deposit(s, user, units, free=free, clock=clock, create=True)
        )


def credits(app, user):
    """(real, free) of the user's account in units, or None when it has none."""
    with app.app_context():
        account = db.session.execute(
            sa.select(Account).where(Account.user_id == user)
        ).scalar_one_or_none()
        result = None if account is None else (account.real_credit, account.free_credit)
        db.session.remove()
        return result


def row_counts(app):
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Account, Bet, EventPayout, LedgerEntry)
        }
        db.session.remove()
        return counts


def audit(app):
    with app.app_context():
        problems = find_problems(db.session)
        db.session.remove()
        return problems


@contextlib.contextmanager
def statements_run(app, after=None):
    """Record every statement the app's connections run, in order, as (SQL, parameters); call
    `after(SQL, parameters)` once each has run, if given.

    Watched where each database's statements reach its driver, whichever layer sends them: on
    PostgreSQL psycopg's cursors (the wallet's own statements skip SQLAlchemy's execution there,
    database.DriverStatement, on a cursor kept per connection), on SQLite SQLAlchemy's cursor
    events. What a driver sends by itself (psycopg's BEGIN and COMMIT) is not seen.
    """
    seen = []
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        execute = psycopg.Cursor.execute

        def watched(cursor, query, params=None, **kwargs):
            seen.append((query, params))
            result = execute(cursor, query, params, **kwargs)
            if after is not None:
                after(query, params)
            return result

        psycopg.Cursor.execute = watched
        try:
            yield seen
        finally:
            psycopg.Cursor.execute = execute
        return

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    def ran(_conn, _cursor, statement, parameters, _context, _many):
        if after is not None:
            after(statement, parameters)

    listeners = [("before_cursor_execute", record), ("after_cursor_execute", ran)]
    for name, listener in listeners:
        sa.event.listen(engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners:
            sa.event.remove(engine, name, listener)
