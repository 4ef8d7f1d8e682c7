"""Transactions: one unit of work on a connection of its own, retried or bounded, and writes
that go to the database together."""

import contextlib
import functools
import random
import time

from flask import current_app
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .base import db
from .driver import DriverStatement


class Busy(Exception):
    """The transaction could not have the locks it needs in time: nothing was done, retry later."""


def run_in_transaction(work, attempts=8, deadline=None, during=contextlib.nullcontext):
    """Run `work(connection)` in one transaction on a connection of its own, and commit it.

    `during()` is a context entered around each attempt's transaction, from its BEGIN to its
    COMMIT, once the connection is held: not while waiting for one, nor between attempts.

    Deadlocks, serialization failures and unique-constraint races with a concurrent request are
    retried from the start: on the next attempt the work sees what the other transaction
    committed. Locks held by other transactions are waited for until `deadline` (a
    time.monotonic() value; by default DATABASE_LOCK_TIMEOUT seconds from now), and a free
    connection of the pool for DATABASE_POOL_TIMEOUT seconds; past either, or when a statement
    runs longer than DATABASE_STATEMENT_TIMEOUT, Busy is raised and nothing is done.

    SQLite's write lock is waited for here, in short sleeps that let the worker serve other
    requests. On PostgreSQL the connection carries the limits as execution options
    (`lock_deadline`, `statement_timeout`) for the statements that apply them as they lock: the
    wallet's (wallet.store). Any other exception rolls everything back and propagates.
    """
    config = current_app.config
    if deadline is None:
        deadline = time.monotonic() + config["DATABASE_LOCK_TIMEOUT"]
    statement_timeout = config["DATABASE_STATEMENT_TIMEOUT"]
    pause = 0.001
    attempt = 1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Busy("waited too long for a lock another transaction holds")
        try:
            with db.engine.connect() as connection:
                connection.execution_options(
                    lock_deadline=deadline, statement_timeout=statement_timeout
                )
                with during(), connection.begin():
                    return work(connection)
        except PoolTimeout as exc:
            raise Busy("no database connection came free in time") from exc
        except DBAPIError as exc:
            if _is_locked(exc):
                # time.sleep is gevent's under the gevent worker. Jitter, so that waiters of
                # several processes do not retry in step.
                time.sleep(min(left, pause * random.uniform(0.5, 1.5)))
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

    On PostgreSQL they go as one statement, all but the last as data-modifying WITH queries,
    run on the driver's cursor (DriverStatement): one round trip instead of one each. They must
    touch different rows and not read each other's writes, since they all see the same snapshot
    there.
    """
    if connection.dialect.name == "postgresql":
        _combined(tuple(statements)).execute(connection, parameters)
    else:
        for statement in statements:
            connection.execute(statement, parameters)


@functools.cache
def _combined(statements):
    # Cached, so the combined statement is built and compiled once per sequence of statements.
    *before, last = statements
    return DriverStatement(last.add_cte(*(s.cte(f"write_{i}") for i, s in enumerate(before))))


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


def is_outage(exc):
    """Whether `exc` says the database (not a row) failed: whatever was to be written waits."""
    return isinstance(
        exc, Busy | OperationalError | InterfaceError | DisconnectionError | PoolTimeout
    )


def describe(exc):
    """One line for a log: the exception's class and the first line of its message."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0] if detail else ''}"[:300]
