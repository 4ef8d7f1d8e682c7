"""The money rules: each callback as a function of a session, a parsed request and the time.

Every function runs inside the caller's transaction and either returns the balance to report or
raises WalletError, in which case the caller rolls back and nothing is written. The account row
is locked before the txId is read, so two deliveries of the same callback are serialised and the
second sees what the first committed.

Statements are written out (SQLAlchemy Core on the mapped tables) rather than left to the ORM's
unit of work: each transaction reads as the SQL it runs, and the hot path costs half the CPU.
"""

import logging
import uuid
from typing import NamedTuple

from sqlalchemy import bindparam, func, insert, select, update

from .codes import Failure
from .errors import WalletError
from .formats import format_amount
from .models import Account, Bet, EventPayout, LedgerEntry

alerts = logging.getLogger("wallet.alerts")

ACCOUNTS = Account.__table__
LEDGER = LedgerEntry.__table__
BETS = Bet.__table__
PAYOUTS = EventPayout.__table__


# Built once: constructing a statement costs more CPU than running it on a warm connection.
LOCK_ACCOUNT = (
    select(ACCOUNTS.c.id, ACCOUNTS.c.real_credit, ACCOUNTS.c.free_credit, ACCOUNTS.c.updated_at)
    .where(ACCOUNTS.c.user_id == bindparam("user_id"))
    .with_for_update()
)
FIND_BET = select(
    BETS.c.tx_id,
    BETS.c.user_id,
    BETS.c.state,
    BETS.c.round_id,
    BETS.c.game_type,
    BETS.c.game_code,
    BETS.c.amount,
    BETS.c.real_amount,
    BETS.c.free_amount,
    BETS.c.win_amount,
).where(BETS.c.tx_id == bindparam("tx_id"))
UPDATE_CREDIT = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        real_credit=bindparam("real"),
        free_credit=bindparam("free"),
        balance=bindparam("total"),
        updated_at=bindparam("now"),
    )
)


UPDATE_BET = update(BETS).where(BETS.c.tx_id == bindparam("bet"))


class Balance(NamedTuple):
    """An account's credit as this transaction leaves it."""

    account_id: int
    real_credit: int
    free_credit: int
    updated_at: object

    @property
    def balance(self):
        return self.real_credit + self.free_credit


def lock_account(session, user_id):
    """Return the user's Balance, its row locked for this transaction, or None."""
    row = session.connection().execute(LOCK_ACCOUNT, {"user_id": user_id}).one_or_none()
    return None if row is None else Balance(*row)


def require_account(session, user_id):
    account = lock_account(session, user_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account


def find_bet(session, tx_id):
    return session.connection().execute(FIND_BET, {"tx_id": tx_id}).one_or_none()


def post(session, account, kind, reference, real_delta, free_delta, now):
    """Apply a balance change to a locked account, append its ledger entry, return the result."""
    after = Balance(
        account.account_id, account.real_credit + real_delta, account.free_credit + free_delta, now
    )
    connection = session.connection()
    connection.execute(
        UPDATE_CREDIT,
        {
            "account_id": account.account_id,
            "real": after.real_credit,
            "free": after.free_credit,
            "total": after.balance,
            "now": now,
        },
    )
    connection.execute(
        insert(LEDGER),
        {
            "account_id": account.account_id,
            "kind": kind,
            "reference": reference,
            "real_delta": real_delta,
            "free_delta": free_delta,
            "balance_after": after.balance,
            "created_at": now,
        },
    )
    return after


def deposit(session, user_id, amount, *, free, now):
    """Create the account if needed and credit it: the operator's own cashier step."""
    account = lock_account(session, user_id)
    if account is None:
        session.execute(
            insert(ACCOUNTS).values(
                user_id=user_id, real_credit=0, free_credit=0, balance=0, updated_at=now
            )
        )
        account = lock_account(session, user_id)
    real, bonus = (0, amount) if free else (amount, 0)
    return post(session, account, "deposit", uuid.uuid4().hex, real, bonus, now)


def get_balance(session, request, now):
    return require_account(session, request.user_id)


def place_bet(session, request, now):
    """Debit the stake, free credit first, once per txId."""
    account = require_account(session, request.user_id)
    bet = find_bet(session, request.tx_id)
    if bet is not None:
        return _repeat_place_bet(bet, request, account)
    if request.amount > account.balance:
        raise WalletError(
            Failure.INSUFFICIENT_BALANCE,
            f"insufficient balance: betAmount {format_amount(request.amount)} > balance "
            f"{format_amount(account.balance)}",
        )
    free = min(account.free_credit, request.amount)
    real = request.amount - free
    after = post(session, account, "bet", request.tx_id, -real, -free, now)
    session.connection().execute(
        insert(BETS),
        {
            "tx_id": request.tx_id,
            "user_id": request.user_id,
            "state": "placed",
            "round_id": request.round_id,
            "table_id": request.table_id,
            "game_type": request.game_type,
            "game_code": request.game_code,
            "category": request.category,
            "bet_time": request.bet_time,
            "amount": request.amount,
            "real_amount": real,
            "free_amount": free,
            "placed_at": now,
        },
    )
    return after


def _repeat_place_bet(bet, request, account):
    if bet.amount is None:
        raise WalletError(
            Failure.BET_FAILED, f"txId {bet.tx_id} was cancelled before it was placed"
        )
    differences = [
        name
        for name, ours, theirs in (
            ("userId", bet.user_id, request.user_id),
            ("betAmount", bet.amount, request.amount),
            ("roundId", bet.round_id, request.round_id),
            ("gameType", bet.game_type, request.game_type),
            ("gameCode", bet.game_code, request.game_code),
        )
        if ours != theirs
    ]
    if differences:
        raise WalletError(
            Failure.TX_CONFLICT,
            f"txId {bet.tx_id} was already placed with another {', '.join(differences)}",
        )
    if bet.state == "cancelled":
        raise WalletError(Failure.BET_FAILED, f"txId {bet.tx_id} has been cancelled")
    return account


def cancel_bet(session, request, now):
    """Refund exactly what the bet debited, once; remember a cancel that came first."""
    account = lock_account(session, request.user_id)
    bet = find_bet(session, request.tx_id)
    if bet is None:
        # A tombstone: a cancelled bet with no amount, so a late place_bet is refused.
        session.connection().execute(
            insert(BETS),
            {
                "tx_id": request.tx_id,
                "user_id": request.user_id,
                "state": "cancelled",
                "game_type": request.game_type,
                "game_code": request.game_code,
                "cancel_reason": request.reason,
                "cancelled_at": now,
            },
        )
        return account
    if bet.user_id != request.user_id:
        raise WalletError(
            Failure.USER_MISMATCH,
            f"txId {bet.tx_id} belongs to another userId than {request.user_id!r}",
        )
    if bet.state == "cancelled":
        return account
    if bet.state == "settled":
        alerts.error(
            "cancel_bet after settle: txId=%s userId=%s reason=%s; no money moved, needs a person",
            bet.tx_id,
            bet.user_id,
            request.reason,
        )
        raise WalletError(
            Failure.BET_ALREADY_SETTLED,
            f"txId {bet.tx_id} is already settled and cannot be cancelled",
        )
    after = post(session, account, "cancel", bet.tx_id, bet.real_amount, bet.free_amount, now)
    session.connection().execute(
        UPDATE_BET,
        {
            "bet": bet.tx_id,
            "state": "cancelled",
            "cancel_reason": request.reason,
            "cancelled_at": now,
        },
    )
    return after


def settle(session, request, now):
    """Credit the win as real credit, once per txId."""
    account = require_account(session, request.user_id)
    bet = find_bet(session, request.tx_id)
    if bet is None:
        raise WalletError(Failure.BET_NOT_FOUND, f"txId {request.tx_id} has not been placed")
    if bet.user_id != request.user_id:
        raise WalletError(
            Failure.USER_MISMATCH,
            f"txId {bet.tx_id} belongs to another userId than {request.user_id!r}",
        )
    if bet.state == "cancelled":
        alerts.error(
            "settle after cancel: txId=%s userId=%s; no money moved", bet.tx_id, bet.user_id
        )
        raise WalletError(Failure.BET_CANCELLED, f"txId {bet.tx_id} has been cancelled")
    if bet.amount != request.bet_amount:
        raise WalletError(
            Failure.SETTLE_CONFLICT,
            f"betAmount {format_amount(request.bet_amount)} differs from the bet's "
            f"{format_amount(bet.amount)}",
        )
    if bet.state == "settled":
        if bet.win_amount != request.win_amount:
            raise WalletError(
                Failure.SETTLE_CONFLICT,
                f"txId {bet.tx_id} was already settled with winAmount "
                f"{format_amount(bet.win_amount)}",
            )
        return account
    after = post(session, account, "settle", bet.tx_id, request.win_amount, 0, now)
    session.connection().execute(
        UPDATE_BET,
        {
            "bet": bet.tx_id,
            "state": "settled",
            "win_amount": request.win_amount,
            "valid_bet_amount": request.valid_bet_amount,
            "settled_at": now,
        },
    )
    return after


def event_settle(session, request, now):
    """Credit every payout of the batch once per settleId; refuse the whole batch on any error."""
    accounts = {}
    # Lock in one order so two overlapping batches cannot deadlock each other.
    for user_id in sorted({payout.user_id for payout in request.settles}):
        accounts[user_id] = require_account(session, user_id)
    for payout in request.settles:
        seen = session.execute(
            select(PAYOUTS).where(PAYOUTS.c.settle_id == payout.settle_id)
        ).one_or_none()
        if seen is not None:
            if (seen.user_id, seen.amount, seen.event_id) != (
                payout.user_id,
                payout.amount,
                payout.event_id,
            ):
                raise WalletError(
                    Failure.SETTLE_CONFLICT,
                    f"settleId {payout.settle_id} was already paid with other content",
                )
            continue
        accounts[payout.user_id] = post(
            session,
            accounts[payout.user_id],
            "event_settle",
            payout.settle_id,
            payout.amount,
            0,
            now,
        )
        session.execute(
            insert(PAYOUTS).values(
                settle_id=payout.settle_id,
                event_id=payout.event_id,
                user_id=payout.user_id,
                amount=payout.amount,
                create_time=payout.create_time,
                credited_at=now,
            )
        )
    return None


def audit(session):
    """Return one line per broken invariant: entries summing to the balance, real + free, >= 0."""
    sums = (
        select(
            LEDGER.c.account_id,
            func.sum(LEDGER.c.real_delta).label("real"),
            func.sum(LEDGER.c.free_delta).label("free"),
        )
        .group_by(LEDGER.c.account_id)
        .subquery()
    )
    rows = session.execute(
        select(ACCOUNTS, sums.c.real, sums.c.free).outerjoin(
            sums, sums.c.account_id == ACCOUNTS.c.id
        )
    )
    problems = []
    for account in rows:
        real, free = account.real or 0, account.free or 0
        if (real, free) != (account.real_credit, account.free_credit):
            problems.append(
                f"{account.user_id}: ledger sums to real {format_amount(real)} free "
                f"{format_amount(free)}, account holds real {format_amount(account.real_credit)} "
                f"free {format_amount(account.free_credit)}"
            )
        if account.balance != account.real_credit + account.free_credit:
            problems.append(f"{account.user_id}: balance is not real + free")
        if min(account.real_credit, account.free_credit) < 0:
            problems.append(f"{account.user_id}: negative credit")
    return problems
