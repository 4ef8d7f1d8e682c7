"""PostgreSQL's transactions: BEGIN carries each transaction's lock and statement timeouts."""

from sqlalchemy import event


def begin_with_time_limits(engine):
    """Make every transaction of `engine` begin with the `time_limits` execution option's
    (lock_timeout, statement_timeout) in milliseconds, when its connection has one."""

    # psycopg sends BEGIN by itself before a transaction's first statement: a round trip of its
    # own that nothing can ride along. In autocommit mode it sends none, and BEGIN goes out here
    # with the transaction's timeouts in the same round trip. COMMIT and ROLLBACK are unchanged:
    # psycopg sends them whenever the server is inside a transaction.
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
