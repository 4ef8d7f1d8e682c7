"""SQLite's settings for concurrent writers: WAL, the write lock taken at BEGIN, no busy wait."""

from sqlalchemy import event


def take_the_write_lock_at_begin(engine):
    """Make every transaction of `engine` take SQLite's write lock when it begins."""

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
