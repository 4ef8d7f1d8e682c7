"""The database every feature shares: its handle, migrations, transactions and engine settings.

from database import db, run_in_transaction, write_together, DriverStatement, UTCDateTime, Busy
"""

from . import sqlite
from .base import db
from .driver import DriverStatement
from .migrations import migrate
from .transactions import Busy, describe, is_outage, run_in_transaction, write_together
from .types import UTCDateTime

__all__ = [
    "Busy",
    "DriverStatement",
    "UTCDateTime",
    "db",
    "describe",
    "init_app",
    "is_outage",
    "migrate",
    "run_in_transaction",
    "write_together",
]


def init_app(app):
    """Bind the database and its migrations to the app, and set up its engine's transactions."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        sqlite.take_the_write_lock_at_begin(engine)
