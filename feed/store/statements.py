"""The statements the store runs on the feed's tables: many rows at once, in bounded time."""

import collections
import time

from sqlalchemy import and_, bindparam, delete, exists, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from database import run_in_transaction
from feed.market.model import CANCELLED, DEACTIVATED, SETTLED
from feed.store.models import BetStopRecord, FeedEvent, FeedLine


class BetStopUpdate:
    """What the store writes over a row of the BetStop log: its reopening fields (`entry_id`
    names the row; the relay's feed/market/reopening.py makes them)."""

    __table__ = BetStopRecord.__table__
    __tablename__ = "feed_bet_stops_updated"  # as the counts name what is written or set aside


CLOSED = (SETTLED, CANCELLED, DEACTIVATED)  # what pruning deletes, and a restart may leave out
UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
LINE_KEYS = ("event_id", "market_id", "specifiers")
# What each table's rows are known by, and the columns the store writes of a line and an event.
KEYS = {
    FeedLine: LINE_KEYS,
    FeedEvent: ("event_id",),
    BetStopRecord: ("event_id",),
    BetStopUpdate: ("entry_id",),
}
# Its SET clause is the other fields of the parameters.
UPDATE_BET_STOP = update(BetStopRecord).where(BetStopRecord.entry_id == bindparam("b_entry_id"))
LINE_COLUMNS = (*LINE_KEYS, "product", "status", "name", "groups", "updated_at", "reason")
EVENT_COLUMNS = (
    "event_id",
    "product",
    "name",
    "sport",
    "start_time",
    "status",
    "home_score",
    "away_score",
)
PRUNE_BATCH = 1000  # rows deleted a transaction: other writers get the database in between
PRUNE_PAUSE_S = 0.01


def write_rows(connection, part):
    # Each table's rows go as one statement run for many parameter sets, not one statement
    # with every row in VALUES: a whole board is far past what one statement may bind
    # (SQLite's limit, and PostgreSQL's 65,535 parameters).
    limit_time(connection)
    by_model = collections.defaultdict(list)
    for model, row in part:
        by_model[model].append(row)
    if by_model[BetStopRecord]:
        # A row kept on disk while the database was down may have been written after all.
        statement = UPSERTS[connection.dialect.name](BetStopRecord)
        statement = statement.on_conflict_do_nothing(index_elements=["entry_id"])
        connection.execute(statement, by_model[BetStopRecord])
    if by_model[BetStopUpdate]:  # after the rows: an update may be of a row inserted just now
        updates = [
            {"b_entry_id" if k == "entry_id" else k: v for k, v in row.items()}
            for row in by_model[BetStopUpdate]
        ]
        connection.execute(UPDATE_BET_STOP, updates)
    for model, keys in ((FeedEvent, ("event_id",)), (FeedLine, LINE_KEYS)):
        rows = by_model[model]
        if rows:
            connection.execute(upsert(connection, model, keys, rows), rows)


def limit_time(connection):
    # The limits run_in_transaction gives each transaction (DATABASE_LOCK_TIMEOUT, counted from
    # its start, and DATABASE_STATEMENT_TIMEOUT), applied on PostgreSQL for this transaction
    # alone: a lock held elsewhere or a slow statement costs one attempt, and the rows wait for
    # the next flush. SQLite's lock is waited for by run_in_transaction; its transactions are
    # kept short by FEED_FLUSH_ROWS and the prune's batches.
    if connection.dialect.name == "postgresql":
        options = connection.get_execution_options()
        deadline = options.get("lock_deadline")
        lock_ms = 0 if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))
        statement_ms = round(options.get("statement_timeout", 0) * 1000)
        connection.exec_driver_sql(
            "SELECT set_config('lock_timeout', %s, true),"
            " set_config('statement_timeout', %s, true)",
            (f"{lock_ms}ms", f"{statement_ms}ms"),
        )


def upsert(connection, model, keys, rows):
    """INSERT of `rows`' columns that updates the row already there under `keys`."""
    statement = UPSERTS[connection.dialect.name](model)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: statement.excluded[c] for c in rows[0] if c not in keys},
    )


def written_before(model, cutoff):
    return or_(model.changed_at < cutoff, model.changed_at.is_(None))


def prune_before(cutoff):
    """Delete BetStops received, closed lines written, and events written with no line left,
    before `cutoff`, in batches; returns the counts deleted."""
    deleted = collections.Counter()
    deleted["bet_stops"] = delete_in_batches(
        BetStopRecord, (BetStopRecord.id,), BetStopRecord.received_at < cutoff
    )
    deleted["lines"] = delete_in_batches(
        FeedLine,
        (FeedLine.event_id, FeedLine.market_id, FeedLine.specifiers),
        and_(FeedLine.status.in_(CLOSED), written_before(FeedLine, cutoff)),
    )
    deleted["events"] = delete_in_batches(
        FeedEvent,
        (FeedEvent.event_id,),
        and_(
            written_before(FeedEvent, cutoff),
            ~exists().where(FeedLine.event_id == FeedEvent.event_id),
        ),
    )
    return deleted


def delete_in_batches(model, key_columns, condition):
    """Delete the rows of `model` that meet `condition`, PRUNE_BATCH a transaction."""

    def one_batch(connection):
        limit_time(connection)
        keys = connection.execute(select(*key_columns).where(condition).limit(PRUNE_BATCH)).all()
        if keys:
            if len(key_columns) == 1:
                match = key_columns[0].in_([key[0] for key in keys])
            else:
                match = tuple_(*key_columns).in_([tuple(key) for key in keys])
            connection.execute(delete(model).where(match))
        return len(keys)

    total = 0
    while True:
        count = run_in_transaction(one_batch)
        total += count
        if count < PRUNE_BATCH:
            return total
        time.sleep(PRUNE_PAUSE_S)
