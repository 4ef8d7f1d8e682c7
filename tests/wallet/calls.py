"""Valid callback bodies and small helpers shared by the wallet's tests."""

import sqlalchemy as sa

from database import db, run_in_transaction
from wallet import ledger
from wallet.audit import find_problems
from wallet.formats import parse_amount
from wallet.models import Account, Bet, EventPayout, LedgerEntry

TS = "2022-10-14T23:00:00.000+0800"
USER = "hrgpl0001"


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
    units = parse_amount(amount, allow_zero=False)
    clock = app.extensions["wallet"].clock
    with app.app_context():
        run_in_transaction(lambda s: ledger.deposit(s, user, units, free=free, clock=clock))


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
