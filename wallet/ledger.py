"""The money rules: each callback as a function of a connection, a parsed request and a clock.

Every function runs inside the caller's transaction and either returns the balance to report or
raises WalletError, in which case the caller rolls back and nothing is written. The account row
is locked before the txId is read, so two deliveries of the same callback are serialised and the
second sees what the first committed. The time of a balance change is read after that lock, and
never earlier than the account's last change: an account's changes, their ledger entries and the
balanceTs reported for them go forward in the order they commit, whatever the clock does.

Statements are written out (SQLAlchemy Core on the mapped tables) rather than left to the ORM's
unit of work: each transaction reads as the SQL it runs, and the hot path costs half the CPU.
The writes of one money movement (the account, its ledger entry, the bet or payout it belongs
to) go to the database together: one round trip on PostgreSQL (see database.write_together).
"""

import logging
import uuid
from typing import NamedTuple

from sqlalchemy import BigInteger, Integer, String, bindparam, insert, select, text, update

from database import UTCDateTime, write_together

from .codes import Failure
from .errors import WalletError
from .formats import format_amount
from .models import Account, Bet, EventPayout, LedgerEntry

alerts = logging.getLogger("wallet.alerts")

ACCOUNTS = Account.__table__
LEDGER = LedgerEntry.__table__
BETS = Bet.__table__
PAYOUTS = EventPayout.__table__


def _binds(table, prefix, names):
    """values() for `names`, each bound to the parameter `prefix` + name.

    The writes of one money movement share a parameter dict (database.write_together), so each
    statement's parameters carry a prefix that is no column name: a column-named key would be
    taken as a value to write.
    """
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


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
# The same two reads in one round trip on PostgreSQL (migration 0003_wallet_lock_and_find).
LOCK_AND_FIND = text("SELECT * FROM wallet_lock_and_find(:user_id, :tx_id)").columns(
    account_id=Integer,
    account_real_credit=BigInteger,
    account_free_credit=BigInteger,
    account_updated_at=UTCDateTime,
    tx_id=String,
    user_id=String,
    state=String,
    round_id=String,
    game_type=String,
    game_code=String,
    amount=BigInteger,
    real_amount=BigInteger,
    free_amount=BigInteger,
    win_amount=BigInteger,
)
FIND_PAYOUT = select(PAYOUTS.c.user_id, PAYOUTS.c.amount, PAYOUTS.c.event_id).where(
    PAYOUTS.c.settle_id == bindparam("settle_id")
)
OPEN_ACCOUNT = insert(ACCOUNTS).values(
    _binds(ACCOUNTS, "open_", ("user_id", "real_credit", "free_credit", "balance", "updated_at"))
)
CREDIT = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("credit_account", type_=ACCOUNTS.c.id.type))
    .values(_binds(ACCOUNTS, "credit_", ("real_credit", "free_credit", "balance", "updated_at")))
)
ENTRY = insert(LEDGER).values(
    account_id=bindparam("credit_account", type_=LEDGER.c.account_id.type),
    balance_after=bindparam("credit_balance", type_=LEDGER.c.balance_after.type),
    created_at=bindparam("credit_updated_at", type_=LEDGER.c.created_at.type),
    **_binds(LEDGER, "entry_", ("kind", "reference", "real_delta", "free_delta")),
)
# The columns a new bet row is written with: a placed bet or a cancel's tombstone.
BET_COLUMNS = (
    "tx_id",
    "user_id",
    "state",
    "round_id",
    "table_id",
    "game_type",
    "game_code",
    "category",
    "bet_time",
    "amount",
    "real_amount",
    "free_amount",
    "placed_at",
    "cancel_reason",
    "cancelled_at",
)
PLACE_BET = insert(BETS).values(_binds(BETS, "new_", BET_COLUMNS))
CANCEL_BET = (
    update(BETS)
    .where(BETS.c.tx_id == bindparam("new_tx_id", type_=BETS.c.tx_id.type))
    .values(_binds(BETS, "new_", ("state", "cancel_reason", "cancelled_at")))
)
SETTLE_BET = (
    update(BETS)
    .where(BETS.c.tx_id == bindparam("new_tx_id", type_=BETS.c.tx_id.type))
    .values(_binds(BETS, "new_", ("state", "win_amount", "valid_bet_amount", "settled_at")))
)
PAY_OUT = insert(PAYOUTS).values(
    _binds(
        PAYOUTS,
        "new_",
        ("settle_id", "event_id", "user_id", "amount", "create_time", "credited_at"),
    )
)


def _new(**values):
    """A bet or payout write's parameters: each value under its "new_" name."""
    return {f"new_{name}": value for name, value in values.items()}


def _new_bet(**values):
    """PLACE_BET's parameters: the columns given, NULL for the rest."""
    return _new(**dict.fromkeys(BET_COLUMNS) | values)


class Balance(NamedTuple):
    """An account's credit as this transaction leaves it."""

    account_id: int
    real_credit: int
    free_credit: int
    updated_at: object

    @property
    def balance(self):
        return self.real_credit + self.free_credit


def lock_account(connection, user_id):
    """Return the user's Balance, its row locked for this transaction, or None."""
    row = connection.execute(LOCK_ACCOUNT, {"user_id": user_id}).one_or_none()
    return None if row is None else Balance(*row)


def time_after(account, clock):
    """The time of a change to `account` (None: none yet), read once its lock is held."""
    now = clock()
    return now if account is None or account.updated_at <= now else account.updated_at


def nothing_held(now):
    """What a user without an account holds: nothing, as of `now`."""
    return Balance(None, 0, 0, now)


def require_account(connection, user_id):
    account = lock_account(connection, user_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account


def find_bet(connection, tx_id):
    return connection.execute(FIND_BET, {"tx_id": tx_id}).one_or_none()


def lock_and_find(connection, user_id, tx_id):
    """Lock the user's account, then read the txId's bet: (Balance or None, bet or None).

    Two statements, in that order, so the bet is read as the lock's last holder left it. On
    PostgreSQL a database function runs both: one round trip instead of two.
    """
    if connection.dialect.name != "postgresql":
        return lock_account(connection, user_id), find_bet(connection, tx_id)
    row = connection.execute(LOCK_AND_FIND, {"user_id": user_id, "tx_id": tx_id}).one()
    account = None if row.account_id is None else Balance(*row[:4])
    return account, None if row.tx_id is None else row


def require_account_and_bet(connection, user_id, tx_id):
    account, bet = lock_and_find(connection, user_id, tx_id)
    if account is None:
        raise WalletError(Failure.UNKNOWN_USER, f"unknown userId {user_id!r}")
    return account, bet


def post(connection, account, entry, now, record=None):
    """Move money on a locked account: its credit, its ledger entry and the row it belongs to.

    `entry` is (kind, reference, real_delta, free_delta); `record`, if given, is the bet or
    payout write that goes with it, as (statement, its "new_" parameters). Returns the Balance
    the account is left with.
    """
    kind, reference, real_delta, free_delta = entry
    after = Balance(
        account.account_id, account.real_credit + real_delta, account.free_credit + free_delta, now
    )
    statements = [CREDIT, ENTRY]
    parameters = {
        "credit_account": account.account_id,
        "credit_real_credit": after.real_credit,
        "credit_free_credit": after.free_credit,
        "credit_balance": after.balance,
        "credit_updated_at": now,
        "entry_kind": kind,
        "entry_reference": reference,
        "entry_real_delta": real_delta,
        "entry_free_delta": free_delta,
    }
    if record is not None:
        statements.append(record[0])
        parameters |= record[1]
    write_together(connection, statements, parameters)
    return after


def deposit(connection, user_id, amount, *, free, clock):
    """Create the account if needed and credit it: the operator's own cashier step."""
    account = lock_account(connection, user_id)
    if account is None:
        connection.execute(
            OPEN_ACCOUNT,
            {
                "open_user_id": user_id,
                "open_real_credit": 0,
                "open_free_credit": 0,
                "open_balance": 0,
                "open_updated_at": clock(),
            },
        )
        account = lock_account(connection, user_id)
    now = time_after(account, clock)
    real, bonus = (0, amount) if free else (amount, 0)
    return post(connection, account, ("deposit", uuid.uuid4().hex, real, bonus), now)


def get_balance(connection, request, clock):
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
    placed = _new_bet(
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
    return post(connection, account, ("bet", request.tx_id, -real, -free), now, (PLACE_BET, placed))


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
    account, bet = lock_and_find(connection, request.user_id, request.tx_id)
    now = time_after(account, clock)
    if bet is None:
        # A tombstone: a cancelled bet with no amount, so a late place_bet is refused.
        tombstone = _new_bet(
            tx_id=request.tx_id,
            user_id=request.user_id,
            state="cancelled",
            game_type=request.game_type,
            game_code=request.game_code,
            cancel_reason=request.reason,
            cancelled_at=now,
        )
        connection.execute(PLACE_BET, tombstone)
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
    cancelled = _new(
        tx_id=bet.tx_id,
        state="cancelled",
        cancel_reason=request.reason,
        cancelled_at=now,
    )
    refund = ("cancel", bet.tx_id, bet.real_amount, bet.free_amount)
    return post(connection, account, refund, now, (CANCEL_BET, cancelled))


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
    settled = _new(
        tx_id=bet.tx_id,
        state="settled",
        win_amount=request.win_amount,
        valid_bet_amount=request.valid_bet_amount,
        settled_at=now,
    )
    win = ("settle", bet.tx_id, request.win_amount, 0)
    return post(connection, account, win, now, (SETTLE_BET, settled))


def event_settle(connection, request, clock):
    """Credit every payout of the batch once per settleId; refuse the whole batch on any error."""
    accounts = {}
    # Lock in one order so two overlapping batches cannot deadlock each other.
    for user_id in request.user_ids:
        accounts[user_id] = require_account(connection, user_id)
    now = clock()
    for payout in request.settles:
        seen = connection.execute(FIND_PAYOUT, {"settle_id": payout.settle_id}).one_or_none()
        if seen is not None:
            if tuple(seen) != (payout.user_id, payout.amount, payout.event_id):
                raise WalletError(
                    Failure.SETTLE_CONFLICT,
                    f"settleId {payout.settle_id} was already paid with other content",
                )
            continue
        paid = _new(
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
            ("event_settle", payout.settle_id, payout.amount, 0),
            max(now, account.updated_at),
            (PAY_OUT, paid),
        )
    return None
