"""The wallet's statements and their execution: what the money rules read, lock and write.

Statements are written out (SQLAlchemy Core on the mapped tables) rather than left to the ORM's
unit of work: each transaction reads as the SQL it runs, and the hot path costs half the CPU.
They are built once, since building a statement costs more CPU than running it on a warm
connection. The writes of one money movement (the account, its ledger entry, the bet or payout it
belongs to) go to the database together: one round trip on PostgreSQL (database.write_together).
Rows come back as named records, read by column name.
"""

import functools
import operator
import time
from typing import NamedTuple

from sqlalchemy import BigInteger, Integer, bindparam, column, func, insert, select, update

from database import DriverStatement, UTCDateTime, write_together

from .models import Account, Bet, EventPayout, LedgerEntry

ACCOUNTS = Account.__table__
LEDGER = LedgerEntry.__table__
BETS = Bet.__table__
PAYOUTS = EventPayout.__table__


class Balance(NamedTuple):
    """An account's credit as this transaction leaves it (account_id None: no account)."""

    account_id: int | None
    real_credit: int
    free_credit: int
    updated_at: object

    @property
    def balance(self):
        return self.real_credit + self.free_credit

    def moved(self, real_delta, free_delta, now):
        """The Balance after a movement of these deltas at `now`."""
        return self._replace(
            real_credit=self.real_credit + real_delta,
            free_credit=self.free_credit + free_delta,
            updated_at=now,
        )


class BetRecord(NamedTuple):
    """What the rules read of a bet. Its fields, in this order, are what wallet_lock_and_find
    returns after the account's (migration 0004_wallet_lock_limits)."""

    tx_id: str
    user_id: str
    state: str
    round_id: str | None
    game_type: str
    game_code: str
    amount: int | None
    real_amount: int | None
    free_amount: int | None
    win_amount: int | None


class Entry(NamedTuple):
    """A ledger entry: what moved, why, and by how much."""

    kind: str
    reference: str
    real_delta: int
    free_delta: int


class PayoutRecord(NamedTuple):
    """What a settleId already paid."""

    user_id: str
    amount: int
    event_id: str


class Write(NamedTuple):
    """A bet or payout write that goes with a money movement: its statement and parameters."""

    statement: object
    parameters: dict


# The writes of one movement share a parameter dict (write_together), so each statement binds
# its own prefix ("credit_", "entry_", "new_"): a column-named key would be taken as a value to
# write by every statement with that column.
def _binds(table, prefix, names):
    """values() for `names`, each bound to the parameter `prefix` + name."""
    return {name: bindparam(prefix + name, type_=table.c[name].type) for name in names}


def _prefixed(prefix, values):
    return {prefix + name: value for name, value in values.items()}


LOCK_ACCOUNT = (
    select(
        ACCOUNTS.c.id.label("account_id"),
        ACCOUNTS.c.real_credit.label("account_real_credit"),
        ACCOUNTS.c.free_credit.label("account_free_credit"),
        ACCOUNTS.c.updated_at.label("account_updated_at"),
    )
    .where(ACCOUNTS.c.user_id == bindparam("user_id"))
    .with_for_update()
)
FIND_BET = select(*(BETS.c[name] for name in BetRecord._fields)).where(
    BETS.c.tx_id == bindparam("tx_id")
)
# LOCK_ACCOUNT and FIND_BET in one round trip on PostgreSQL, bounded by the transaction's time
# limits; run on the driver's cursor, as every callback does (DriverStatement).
LOCKED_AND_FOUND = func.wallet_lock_and_find(
    bindparam("user_id", type_=ACCOUNTS.c.user_id.type),
    bindparam("tx_id", type_=BETS.c.tx_id.type),
    bindparam("lock_ms", type_=Integer),
    bindparam("statement_ms", type_=Integer),
).table_valued(
    column("account_id", Integer),
    column("account_real_credit", BigInteger),
    column("account_free_credit", BigInteger),
    column("account_updated_at", UTCDateTime),
    *(column(name, BETS.c[name].type) for name in BetRecord._fields),
    name="found",
)
LOCK_AND_FIND = DriverStatement(select(*LOCKED_AND_FOUND.c))
FIND_PAYOUT = select(*(PAYOUTS.c[name] for name in PayoutRecord._fields)).where(
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
    **_binds(LEDGER, "entry_", Entry._fields),
)
# A new bet row (a placed bet or a cancel's tombstone) is written with every column.
BET_COLUMNS = tuple(BETS.c.keys())
NEW_BET = insert(BETS).values(_binds(BETS, "new_", BET_COLUMNS))
NEW_PAYOUT = insert(PAYOUTS).values(_binds(PAYOUTS, "new_", tuple(PAYOUTS.c.keys())))


@functools.cache
def _bet_update(names):
    # Cached: one statement per set of columns changed, so write_together compiles it once.
    return (
        update(BETS)
        .where(BETS.c.tx_id == bindparam("new_tx_id", type_=BETS.c.tx_id.type))
        .values(_binds(BETS, "new_", names))
    )


def _balance(row):
    return Balance(
        account_id=row.account_id,
        real_credit=row.account_real_credit,
        free_credit=row.account_free_credit,
        updated_at=row.account_updated_at,
    )


_BET_FIELDS = operator.attrgetter(*BetRecord._fields)


def _bet(row):
    return BetRecord._make(_BET_FIELDS(row))


def _time_limits(connection):
    """(lock_ms, statement_ms) for this transaction's statements: what is left until its lock
    deadline (at least 1) and its statement timeout; 0 for none. See run_in_transaction."""
    options = connection.get_execution_options()
    deadline = options.get("lock_deadline")
    lock_ms = 0 if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))
    return lock_ms, round(options.get("statement_timeout", 0) * 1000)


def lock_account(connection, user_id):
    """The user's Balance, its row locked for this transaction, or None."""
    if connection.dialect.name == "postgresql":
        return lock_and_find(connection, user_id, None)[0]
    row = connection.execute(LOCK_ACCOUNT, {"user_id": user_id}).one_or_none()
    return None if row is None else _balance(row)


def lock_and_find(connection, user_id, tx_id):
    """Lock the user's account, then read the txId's bet: (Balance or None, BetRecord or None).

    Two statements, in that order, so the bet is read as the lock's last holder left it. On
    PostgreSQL a database function runs both (one round trip instead of two), and waits for the
    lock no longer than the transaction's lock deadline.
    """
    if connection.dialect.name != "postgresql":
        bet = connection.execute(FIND_BET, {"tx_id": tx_id}).one_or_none()
        return lock_account(connection, user_id), None if bet is None else _bet(bet)
    lock_ms, statement_ms = _time_limits(connection)
    (row,) = LOCK_AND_FIND.execute(
        connection,
        {"user_id": user_id, "tx_id": tx_id, "lock_ms": lock_ms, "statement_ms": statement_ms},
    )
    return (
        None if row.account_id is None else _balance(row),
        None if row.tx_id is None else _bet(row),
    )


def find_payout(connection, settle_id):
    """What `settle_id` already paid, or None."""
    row = connection.execute(FIND_PAYOUT, {"settle_id": settle_id}).one_or_none()
    return None if row is None else PayoutRecord._make(row)


def open_account(connection, user_id, now):
    """Create the user's account, holding nothing."""
    opened = {"user_id": user_id, "real_credit": 0, "free_credit": 0, "balance": 0}
    connection.execute(OPEN_ACCOUNT, _prefixed("open_", opened | {"updated_at": now}))


def new_bet(**values):
    """The Write of a new bet row: the columns given, NULL for the rest."""
    return Write(NEW_BET, _prefixed("new_", dict.fromkeys(BET_COLUMNS) | values))


def bet_change(tx_id, **values):
    """The Write that sets these columns of the bet `tx_id`."""
    return Write(_bet_update(tuple(values)), _prefixed("new_", values | {"tx_id": tx_id}))


def new_payout(**values):
    """The Write of a new event payout row."""
    return Write(NEW_PAYOUT, _prefixed("new_", values))


def add_bet(connection, write):
    """Write a bet row that moves no money (a cancel's tombstone)."""
    connection.execute(write.statement, write.parameters)


def move_money(connection, after, entry, write=None):
    """Write a movement on a locked account as one unit: its credit `after`, its ledger `entry`
    and, if given, the bet or payout `write` it belongs to."""
    statements = [CREDIT, ENTRY]
    parameters = {
        "credit_account": after.account_id,
        "credit_real_credit": after.real_credit,
        "credit_free_credit": after.free_credit,
        "credit_balance": after.balance,
        "credit_updated_at": after.updated_at,
        "entry_kind": entry.kind,
        "entry_reference": entry.reference,
        "entry_real_delta": entry.real_delta,
        "entry_free_delta": entry.free_delta,
    }
    if write is not None:
        statements.append(write.statement)
        parameters |= write.parameters
    write_together(connection, statements, parameters)
