"""The board's accounts: who may log in, with which role, and which of their sessions count."""

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database import UTCDateTime, db

ROLES = ("viewer", "trader", "admin")


class User(db.Model):
    """A person who may open the board. The password is only ever stored as its hash."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'trader', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10), default="trader")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A session carries the epoch it was opened in; bumping it (log out, disable, new password)
    # ends every session of the account at once, on every worker and dyno.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
