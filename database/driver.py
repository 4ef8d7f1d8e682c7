"""Statements SQLAlchemy compiles once and the DBAPI driver runs: the wallet's hot path.

SQLAlchemy's execution of a compiled statement costs ~40 µs of CPU besides the driver's: an
execution context, a result and a description of every result column, built again on every call.
A wallet callback on PostgreSQL runs two statements, so that was ~10% of its CPU. A
DriverStatement is the same SQL, compiled by SQLAlchemy for the connection's dialect once, run
on a cursor of the connection's own transaction. What SQLAlchemy would do around it is kept:
parameters and result columns go through the statement's types (UTCDateTime), and a driver error
is raised as SQLAlchemy's DBAPIError (run_in_transaction reads its SQLSTATE; a connection the
server dropped is invalidated when its transaction rolls back). What is given up: SQLAlchemy's
cursor events (before_cursor_execute and the like) do not see these statements.

For dialects with named parameters (psycopg's); every parameter is given at each call.
"""

from collections import namedtuple

from sqlalchemy.exc import DBAPIError


class DriverStatement:
    """A Core statement run on the DBAPI cursor, compiled once per dialect."""

    def __init__(self, statement):
        self.statement = statement
        self._compiled = {}

    def execute(self, connection, parameters):
        """Run the statement in `connection`'s transaction; its rows, as named tuples ([] for a
        statement that returns none)."""
        sql, binds, results, row = self._compiled_for(connection.dialect)
        if binds:
            parameters = parameters | {
                name: process(parameters[name]) for name, process in binds if name in parameters
            }
        cursor = _cursor(connection)
        try:
            cursor.execute(sql, parameters)
            if row is None:
                return []
            rows = cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql,
                parameters,
                exc,
                connection.dialect.loaded_dbapi.Error,
                hide_parameters=connection.engine.hide_parameters,
                dialect=connection.dialect,
            ) from exc
        if results:
            rows = [list(values) for values in rows]
            for values in rows:
                for index, process in results:
                    values[index] = process(values[index])
        return [row._make(values) for values in rows]

    def _compiled_for(self, dialect):
        key = (type(dialect), dialect.paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(dialect)
        return compiled

    def _compile(self, dialect):
        # (SQL, [(parameter, bind processor)], [(column index, result processor)], row type)
        compiled = self.statement.compile(dialect=dialect)
        if compiled.positional or compiled.escaped_bind_names:
            raise ValueError(f"{dialect.name} does not take parameters by their own names")
        binds = []
        for name, bind in compiled.binds.items():
            if not bind.required:
                raise ValueError(f"parameter {name!r} has a value of its own: give it each call")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        exported = self.statement.exported_columns
        columns = list(exported)
        results = []
        for index, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        # Named as SQLAlchemy's rows would be; a name Python cannot take becomes _<index>.
        row = namedtuple("Row", exported.keys(), rename=True) if columns else None
        return compiled.string, binds, results, row


def _cursor(connection):
    """The cursor driver statements run on in `connection`'s DBAPI connection: one for as long as
    that connection lives (kept in its pool entry's info), since making one costs psycopg about
    as much as running a statement's Python."""
    dbapi_connection = connection.connection.dbapi_connection
    info = connection.info
    cursor = info.get("driver_cursor")
    if cursor is None or cursor.connection is not dbapi_connection:
        cursor = info["driver_cursor"] = dbapi_connection.cursor()
    return cursor
