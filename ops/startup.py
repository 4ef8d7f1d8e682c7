"""Whether the database can serve this code, checked once as a server starts."""

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from database import db

from .commands import explain

NOT_MIGRATED = "the database is not migrated{detail}: run `flask --app app db upgrade` first"


def database_problem():
    """A sentence on why the database cannot serve this code, or None."""
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
        return explain(exc, url) or f"the database at {url} failed: {exc.orig}"
    if applied != heads:
        at, needs = ", ".join(sorted(applied)) or "nothing", ", ".join(sorted(heads))
        return NOT_MIGRATED.format(detail=f" (at {at}, this code needs {needs})")
    return None
