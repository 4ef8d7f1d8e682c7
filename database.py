"""The database handle shared by every feature, and the engine settings it needs."""

import functools
import random
import sys
import time
from datetime import UTC

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase

# Named constraints, so Alembic can alter them, SQLite's batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def _render_item(kind, obj, _context):
    # Migrations store what the column is (a DateTime), not the app code that reads it.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


migrate = Migrate(render_as_batch=True, compare_type=True, render_item=_render_item)


def init_app(app):
    """Bind the database to the app and tune SQLite for concurrent writers."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _make_sqlite_transactions_immediate(db.engine)
        if db.engine.dialect.name == "postgresql":
            _begin_with_time_limits(db.engine)
            if _gevent_patched():
                _wait_on_the_gevent_hub()


def _gevent_patched():
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("select")


def _wait_on_the_gevent_hub():
    # psycopg waits for its socket through `psycopg.waiting.wait`. Under gevent it picks a
    # select.poll() loop, which gevent emulates with a poll object and a watcher per call; a
    # callback waits four times. Waiting on one libev watcher instead costs ~6% of a callback's
    # CPU less. psycopg looks the function up at each wait, so setting it is enough.
    import psycopg.waiting

    psycopg.waiting.wait = wait_on_gevent_hub


def wait_on_gevent_hub(gen, fileno, interval=0.0, timeout=None):
    """psycopg's wait function, on gevent's hub: run `gen`, parking the greenlet on `fileno`.

    `gen` yields what it waits for (psycopg's Wait: read 1, write 2, both 3, as libev's event
    mask) and is sent what became ready. `interval` only serves blocking callers' signal checks;
    gevent's hub handles signals itself. Raises psycopg's wait timeout after `timeout` seconds.
    """
    import gevent
    from psycopg import errors
    from psycopg.waiting import Ready

    hub = gevent.get_hub()
    deadline = None
    if timeout is not None:
        deadline = gevent.Timeout.start_new(timeout, errors._WaitTimeout("wait timeout expired"))
    try:
        events = next(gen)
        while True:
            watcher = hub.loop.io(fileno, int(events))
            try:
                hub.wait(watcher)
            finally:
                watcher.close()
            # libev does not say which of read and write woke a wait for both: report both;
            # psycopg's generators try each without blocking.
            events = gen.send(Ready(int(events)))
    except StopIteration as done:
        return done.value
    finally:
        if deadline is not None:
            deadline.close()


def _make_sqlite_transactions_immediate(engine):
    # SQLite ignores SELECT ... FOR UPDATE, and pysqlite starts a transaction only at the first
    # write: two callbacks could both read a txId as unseen. Taking the write lock at BEGIN
    # serialises them, as the row lock does on PostgreSQL.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # No busy timeout: SQLite's busy handler sleeps in C, which under gevent stalls every
        # request of the worker. A busy write lock fails at once; run_in_transaction waits for
        # it in a sleep the worker can serve other requests during.
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_with_time_limits(engine):
    # psycopg sends BEGIN by itself before a transaction's first statement: a round trip of its
    # own that nothing can ride along. In autocommit mode it sends none, and BEGIN goes out here
    # with the transaction's lock and statement timeouts in the same round trip. COMMIT and
    # ROLLBACK are unchanged: psycopg sends them whenever the server is inside a transaction.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.autocommit = True

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        limits = connection.get_execution_options().get("time_limits")
        if limits is None:
            connection.exec_driver_sql("BEGIN")
        else:
            lock_ms, statement_ms = limits
            connection.exec_driver_sql(
                f"BEGIN; SET LOCAL lock_timeout = {lock_ms:d}; "
                f"SET LOCAL statement_timeout = {statement_ms:d}"
            )


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and always read back as an aware UTC datetime."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given where an aware one is required")
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Busy(Exception):
    """The transaction could not have the locks it needs in time: nothing was done, retry later."""


def run_in_transaction(work, attempts=8, deadline=None):
    """Run `work(connection)` in one transaction on a connection of its own, and commit it.

    Deadlocks, serialization failures and unique-constraint races with a concurrent request are
    retried from the start: on the next attempt the work sees what the other transaction
    committed. Locks held by other transactions are waited for until `deadline` (a
    time.monotonic() value; by default DATABASE_LOCK_TIMEOUT seconds from now), and a free
    connection of the pool for DATABASE_POOL_TIMEOUT seconds; past either, or when a statement
    runs longer than DATABASE_STATEMENT_TIMEOUT (PostgreSQL), Busy is raised and nothing is
    done. SQLite's write lock is waited for in short sleeps that let the worker serve other
    requests. Any other exception rolls everything back and propagates.
    """
    config = current_app.config
    if deadline is None:
        deadline = time.monotonic() + config["DATABASE_LOCK_TIMEOUT"]
    statement_ms = round(config["DATABASE_STATEMENT_TIMEOUT"] * 1000)
    pause = 0.001
    attempt = 1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Busy("waited too long for a lock another transaction holds")
        try:
            with db.engine.connect() as connection:
                # A lock timeout of 0 would mean none: wait at least a millisecond.
                connection.execution_options(time_limits=(max(1, int(left * 1000)), statement_ms))
                with connection.begin():
                    return work(connection)
        except PoolTimeout as exc:
            raise Busy("no database connection came free in time") from exc
        except DBAPIError as exc:
            if _is_locked(exc):
                # time.sleep is gevent's under the gevent worker. Jitter, so that waiters of
                # several processes do not retry in step.
                time.sleep(min(max(left, 0), pause * random.uniform(0.5, 1.5)))
                pause = min(pause * 2, 0.05)
                continue
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate == LOCK_NOT_AVAILABLE:
                raise Busy("waited too long for a lock another transaction holds") from exc
            if sqlstate == QUERY_CANCELED:
                raise Busy("a statement ran longer than the database allows") from exc
            if attempt == attempts or not _is_retryable(exc):
                raise
            attempt += 1


def write_together(connection, statements, parameters):
    """Run INSERTs and UPDATEs that share one parameter dict, in order, as one unit.

    On PostgreSQL they go as one statement, all but the last as data-modifying WITH queries:
    one round trip instead of one each. They must touch different rows and not read each
    other's writes, since they all see the same snapshot there.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(_combined(tuple(statements)), parameters)
    else:
        for statement in statements:
            connection.execute(statement, parameters)


@functools.cache
def _combined(statements):
    # Cached, so the combined statement is built and compiled once per sequence of statements.
    *before, last = statements
    return last.add_cte(*(s.cte(f"write_{i}") for i, s in enumerate(before)))


RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}  # serialization, deadlock, unique violation
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout
QUERY_CANCELED = "57014"  # statement_timeout


def _is_retryable(exc):
    if isinstance(exc, IntegrityError) and "UNIQUE constraint failed" in str(exc.orig):
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _is_locked(exc):
    """Whether SQLite refused the transaction because another one holds its lock."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
