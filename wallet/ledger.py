"""The money rules: each callback as a function of a session, a parsed request and the time.

Every function runs inside the caller's transaction and either returns the account to report or
raises WalletError, in which case the caller rolls back and nothing is written. The account row
is locked before the txId is read, so two deliveries of the same callback are serialised and the
second sees what the first committed.
"""

import logging
import uuid

from sqlalchemy import func, select

from .codes import Failure
from .errors import WalletError
from .formats import format_amount
from .models import Account, Bet, EventPayout, LedgerEntry

alerts = logging.getLogger("wallet.alerts")


def lock_account(session, user_id):
    """Return the user's account, locked for this transaction, or None."""
    query = select(Account).where(Account.user_id == user_id).with_for_update()
    return session.execute(query).scalar_one_or_none()


def require_account(session, user_id):
    account = lock_account(session, user_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account


def post(session, account, kind, reference, real_delta, free_delta, now):
    """Apply a balance change to a locked account and append its ledger entry."""
    account.real_credit += real_delta
    account.free_credit += free_delta
    account.balance = account.real_credit + account.free_credit
    account.updated_at = now
    session.add(
        LedgerEntry(
            account_id=account.id,
            kind=kind,
            reference=reference,
            real_delta=real_delta,
            free_delta=free_delta,
            balance_after=account.balance,
            created_at=now,
        )
    )


def deposit(session, user_id, amount, *, free, now):
    """Create the account if needed and credit it: the operator's own cashier step."""
    account = lock_account(session, user_id)
    if account is None:
        account = Account(user_id=user_id, real_credit=0, free_credit=0, balance=0, updated_at=now)
        session.add(account)
        session.flush()
    real, bonus = (0, amount) if free else (amount, 0)
    post(session, account, "deposit", uuid.uuid4().hex, real, bonus, now)
    return account


def get_balance(session, request, now):
    return require_account(session, request.user_id)


def place_bet(session, request, now):
    """Debit the stake, free credit first, once per txId."""
    account = require_account(session, request.user_id)
    bet = session.get(Bet, request.tx_id)
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
    post(session, account, "bet", request.tx_id, -real, -free, now)
    session.add(
        Bet(
            tx_id=request.tx_id,
            user_id=request.user_id,
            state="placed",
            round_id=request.round_id,
            table_id=request.table_id,
            game_type=request.game_type,
            game_code=request.game_code,
            category=request.category,
            bet_time=request.bet_time,
            amount=request.amount,
            real_amount=real,
            free_amount=free,
            placed_at=now,
        )
    )
    return account


def _repeat_place_bet(bet, request, account):
    if bet.is_tombstone:
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
    bet = session.get(Bet, request.tx_id)
    if bet is None:
        session.add(
            Bet(
                tx_id=request.tx_id,
                user_id=request.user_id,
                state="cancelled",
                game_type=request.game_type,
                game_code=request.game_code,
                cancel_reason=request.reason,
                cancelled_at=now,
            )
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
    post(session, account, "cancel", bet.tx_id, bet.real_amount, bet.free_amount, now)
    bet.state = "cancelled"
    bet.cancel_reason = request.reason
    bet.cancelled_at = now
    return account


def settle(session, request, now):
    """Credit the win as real credit, once per txId."""
    account = require_account(session, request.user_id)
    bet = session.get(Bet, request.tx_id)
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
    post(session, account, "settle", bet.tx_id, request.win_amount, 0, now)
    bet.state = "settled"
    bet.win_amount = request.win_amount
    bet.valid_bet_amount = request.valid_bet_amount
    bet.settled_at = now
    return account


def event_settle(session, request, now):
    """Credit every payout of the batch once per settleId; refuse the whole batch on any error."""
    accounts = {}
    # Lock in one order so two overlapping batches cannot deadlock each other.
    for user_id in sorted({payout.user_id for payout in request.settles}):
        accounts[user_id] = require_account(session, user_id)
    for payout in request.settles:
        seen = session.get(EventPayout, payout.settle_id)
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
        post(
            session,
            accounts[payout.user_id],
            "event_settle",
            payout.settle_id,
            payout.amount,
            0,
            now,
        )
        session.add(
            EventPayout(
                settle_id=payout.settle_id,
                event_id=payout.event_id,
                user_id=payout.user_id,
                amount=payout.amount,
                create_time=payout.create_time,
                credited_at=now,
            )
        )
        session.flush()  # a settleId repeated inside the batch must see the first one
    return None


def audit(session):
    """Return one line per broken invariant: entries summing to the balance, real + free, >= 0."""
    sums = (
        select(
            LedgerEntry.account_id,
            func.sum(LedgerEntry.real_delta).label("real"),
            func.sum(LedgerEntry.free_delta).label("free"),
        )
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    rows = session.execute(
        select(Account, sums.c.real, sums.c.free).outerjoin(sums, sums.c.account_id == Account.id)
    )
    problems = []
    for account, real, free in rows:
        real, free = real or 0, free or 0
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
