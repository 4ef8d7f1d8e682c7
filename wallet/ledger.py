"""The money rules: each callback as a function of a connection, a parsed request and a clock.

Every function runs inside the caller's transaction and either returns the balance to report or
raises WalletError, in which case the caller rolls back and nothing is written. The account row
is locked before the txId is read, so two deliveries of the same callback are serialised and the
second sees what the first committed. The time of a balance change is read after that lock, and
never earlier than the account's last change: an account's changes, their ledger entries and the
balanceTs reported for them go forward in the order they commit, whatever the clock does.

What is read and written, and how, is the store's (store.py): the rules see records.
"""

import uuid

from . import logs, store
from .codes import Failure
from .errors import WalletError
from .formats import MAX_BALANCE, format_amount
from .store import Balance, Entry

alerts = logs.logger("wallet.alerts")
# How a desc names the credit an entry of each kind makes, from the entry's reference.
CREDITS = {
    "deposit": "a deposit",  # its reference is the wallet's own, which nobody sent
    "cancel": "the refund of txId {}",
    "settle": "the win of txId {}",
    "event_settle": "the payout of settleId {}",
}


def time_after(account, clock):
    """The time of a change to `account` (None: none yet), read once its lock is held."""
    now = clock()
    return now if account is None or account.updated_at <= now else account.updated_at


def nothing_held(now):
    """What a user without an account holds: nothing, as of `now`."""
    return Balance(None, 0, 0, now)


def require_account(connection, user_id):
    """The user's locked Balance; refused if the user has no account."""
    account = store.lock_account(connection, user_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account


def require_account_and_bet(connection, user_id, tx_id):
    """The user's locked Balance and the txId's bet (or None); refused if there is no account."""
    account, bet = store.lock_and_find(connection, user_id, tx_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account, bet


def post(connection, account, entry, now, write=None):
    """Move money on a locked account by `entry` at `now`, with the bet or payout `write` it
    belongs to; return the Balance the account is left with.

    A credit that would leave the account holding more than MAX_BALANCE is refused.
    """
    after = account.moved(entry.real_delta, entry.free_delta, now)
    credit = entry.real_delta + entry.free_delta
    if credit > 0 and after.balance > MAX_BALANCE:
        raise WalletError(
            Failure.BALANCE_LIMIT,
            f"{CREDITS[entry.kind].format(entry.reference)} ({format_amount(credit)}) would take "
            f"the balance to {format_amount(after.balance)}, over the most an account may hold "
            f"({format_amount(MAX_BALANCE)})",
        )
    store.move_money(connection, after, entry, write)
    return after


def deposit(connection, user_id, amount, *, free, clock, create=False):
    """Credit the user's account, opening it first if `create`: the operator's cashier step.

    Refused if the user has no account and `create` is not set.
    """
    account = store.lock_account(connection, user_id)
    if account is None:
        if not create:
            raise WalletError(Failure.UNKNOWN_USER, f"userId {user_id!r} has no account")
        store.open_account(connection, user_id, clock())
        account = store.lock_account(connection, user_id)
    now = time_after(account, clock)
    real, bonus = (0, amount) if free else (amount, 0)
    return post(connection, account, Entry("deposit", uuid.uuid4().hex, real, bonus), now)


def get_balance(connection, request, clock):
    """Answer the balance."""
    return require_account(connection, request.user_id)


def place_bet(connection, request, clock):
    """Debit the stake, free credit first, once per txId."""
    account, bet = require_account_and_bet(connection, request.user_id, request.tx_id)
    if bet is not None:
        return _repeat_place_bet(bet, request, account)
    now = time_after(account, clock)
    if request.amount > account.balance:
        raise WalletError(
            Failure.INSUFFICIENT_BALANCE,
            f"insufficient balance: betAmount {format_amount(request.amount)} > balance "
            f"{format_amount(account.balance)}",
        )
    free = min(account.free_credit, request.amount)
    real = request.amount - free
    placed = store.new_bet(
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
    return post(connection, account, Entry("bet", request.tx_id, -real, -free), now, placed)


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


def cancel_bet(connection, request, clock):
    """Refund exactly what the bet debited, once; remember a cancel that came first."""
    account, bet = store.lock_and_find(connection, request.user_id, request.tx_id)
    now = time_after(account, clock)
    if bet is None:
        # A tombstone: a cancelled bet with no amount, so a late place_bet is refused.
        tombstone = store.new_bet(
            tx_id=request.tx_id,
            user_id=request.user_id,
            state="cancelled",
            game_type=request.game_type,
            game_code=request.game_code,
            cancel_reason=request.reason,
            cancelled_at=now,
        )
        store.add_bet(connection, tombstone)
        return account or nothing_held(now)
    if bet.user_id != request.user_id:
        raise WalletError(
            Failure.USER_MISMATCH,
            f"txId {bet.tx_id} belongs to another userId than {request.user_id!r}",
        )
    if bet.state == "cancelled":
        return account or nothing_held(now)
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
    if account is None:
        alerts.error(
            "cancel_bet for a bet whose account is gone: txId=%s userId=%s; nothing refunded, "
            "needs a person",
            bet.tx_id,
            bet.user_id,
        )
        raise WalletError(
            Failure.UNKNOWN_USER,
            f"txId {bet.tx_id} is a bet of userId {bet.user_id!r}, who has no account any "
            "more: nothing refunded",
        )
    cancelled = store.bet_change(
        bet.tx_id, state="cancelled", cancel_reason=request.reason, cancelled_at=now
    )
    refund = Entry("cancel", bet.tx_id, bet.real_amount, bet.free_amount)
    return post(connection, account, refund, now, cancelled)


def settle(connection, request, clock):
    """Credit the win as real credit, once per txId."""
    account, bet = require_account_and_bet(connection, request.user_id, request.tx_id)
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
    now = time_after(account, clock)
    settled = store.bet_change(
        bet.tx_id,
        state="settled",
        win_amount=request.win_amount,
        valid_bet_amount=request.valid_bet_amount,
        settled_at=now,
    )
    win = Entry("settle", bet.tx_id, request.win_amount, 0)
    return post(connection, account, win, now, settled)


def event_settle(connection, request, clock):
    """Credit every payout of the batch once per settleId; refuse the whole batch on any error."""
    accounts = {}
    # Lock in one order so two overlapping batches cannot deadlock each other.
    for user_id in request.user_ids:
        accounts[user_id] = require_account(connection, user_id)
    now = clock()
    for payout in request.settles:
        seen = store.find_payout(connection, payout.settle_id)
        if seen is not None:
            paid_before = store.PayoutRecord(
                user_id=payout.user_id, amount=payout.amount, event_id=payout.event_id
            )
            if seen != paid_before:
                raise WalletError(
                    Failure.SETTLE_CONFLICT,
                    f"settleId {payout.settle_id} was already paid with other content",
                )
            continue
        paid = store.new_payout(
            settle_id=payout.settle_id,
            event_id=payout.event_id,
            user_id=payout.user_id,
            amount=payout.amount,
            create_time=payout.create_time,
            credited_at=now,
        )
        account = accounts[payout.user_id]
        accounts[payout.user_id] = post(
            connection,
            account,
            Entry("event_settle", payout.settle_id, payout.amount, 0),
            max(now, account.updated_at),
            paid,
        )
    return None
