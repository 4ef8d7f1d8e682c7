"""Alembic through Flask-Migrate: `flask db ...`, in batch mode so migrations also run on SQLite."""

from flask_migrate import Migrate

from .types import UTCDateTime


def _render_item(kind, obj, _context):
    # Migrations store what the column is (a DateTime), not the app code that reads it.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


migrate = Migrate(render_as_batch=True, compare_type=True, render_item=_render_item)
