"""The declarative base every model derives from, and the `db` handle."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .pool import HandOverQueuePool

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


# Every engine's default pool is a fair one; SQLALCHEMY_ENGINE_OPTIONS may set another.
db = SQLAlchemy(model_class=Base, engine_options={"poolclass": HandOverQueuePool})
