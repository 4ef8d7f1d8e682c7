"""Whether the database can serve this code, checked once as a server starts.

A database that is there but not migrated for this code is a deploy's mistake: the server
refuses to start, with the sentence. One that cannot be reached (away, refusing, hanging past
its connect timeout) is an outage: the server starts all the same, as the relay must reach the
boards without it, and says so (`Unreachable`).
"""

import time

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from database import db

from .commands import explain

NOT_MIGRATED = "the database is not migrated{detail}: run `flask --app app db upgrade` first"


class Unreachable(str):
    """The sentence for a database that cannot be reached now: start, and say so."""


def database_problem(patience=10.0):
    """A sentence on why the database cannot serve this code, or None.

    A SQLite file whose write lock another process holds (a release step, a feed process
    writing) is there and reachable: it is asked again for up to `patience` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return _database_problem()
        except sa.exc.OperationalError as exc:
            if "database is locked" not in str(exc.orig) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _database_problem():
    migrate = current_app.extensions["migrate"]
    heads = set(ScriptDirectory(migrate.directory).get_heads())
    url = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return NOT_MIGRATED.format(detail="")
            applied = set(
                connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            )
    except sa.exc.DBAPIError as exc:
        if "database is locked" in str(exc.orig):
            raise
        sentence = explain(exc, url) or f"the database at {url} failed: {exc.orig}"
        return Unreachable(sentence) if isinstance(exc, sa.exc.OperationalError) else sentence
    if applied != heads:
        at, needs = ", ".join(sorted(applied)) or "nothing", ", ".join(sorted(heads))
        return NOT_MIGRATED.format(detail=f" (at {at}, this code needs {needs})")
    return None
