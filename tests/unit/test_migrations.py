"""The migrations and the models agree: `flask db upgrade` builds the tables the code maps, on
SQLite and on PostgreSQL, so a column added to a model without its migration fails here."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from database import db


def test_the_migrated_database_has_every_table_and_column_the_models_map(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
