"""Operations on the accounts for the CLI and the login: add, list, disable, enable, passwords,
sessions."""

import re
import threading
from datetime import UTC, datetime

import sqlalchemy as sa

from database import Busy, db, run_in_transaction

from . import passwords
from .models import ROLES, User

USERNAME_MAX = 50
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,49}")
# Logins share the pool with the wallet's callbacks: however many arrive at once, no more than
# this many of its connections are theirs, each for one short read. The others wait their turn
# (a flood's logins queue behind each other, not in front of the wallet) for up to LOGIN_WAIT_S.
_LOGIN_READS = threading.BoundedSemaphore(2)
LOGIN_WAIT_S = 10


class AccountError(Exception):
    """An account operation refused; the message says why."""


def username_problem(username):
    """Why `username` cannot name an account, or None."""
    if not USERNAME.fullmatch(username):
        return "must be 1 to 50 letters, digits or . _ @ -, starting with a letter or digit"
    return None


def find(username):
    """The account named `username` (any case), or None; None for a name no account can have."""
    # Not asked of the database: PostgreSQL refuses a NUL byte in text with an error.
    if username_problem(username):
        return None
    return db.session.execute(_named(username)).scalar_one_or_none()


def for_login(username):
    """The account a login names, as a row read on a connection given back before its password
    is checked; None if there is none. Busy when no connection comes free in time."""
    if username_problem(username):
        return None
    if not _LOGIN_READS.acquire(timeout=LOGIN_WAIT_S):
        raise Busy(f"no turn to read an account within {LOGIN_WAIT_S} s")
    try:
        return run_in_transaction(lambda connection: connection.execute(_named(username)).first())
    finally:
        _LOGIN_READS.release()


def _named(username):
    return sa.select(User).where(sa.func.lower(User.username) == username.lower())


def add(username, password, role="trader"):
    """Create an account; refuses a taken name, a bad name, role or password."""
    problem = username_problem(username)
    if problem:
        raise AccountError(f"username {problem}")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if find(username) is not None:
        raise AccountError(f"an account named {username!r} exists already")
    user = User(
        username=username,
        password_hash=passwords.hash_password(password),
        role=role,
        active=True,
        session_epoch=0,
        created_at=datetime.now(UTC),
    )
    db.session.add(user)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise AccountError(f"an account named {username!r} exists already") from None
    return user


def all_accounts():
    return db.session.execute(sa.select(User).order_by(User.username)).scalars().all()


def set_password(username, password):
    """A new password; every open session of the account ends."""
    _check_password(password)
    user = _existing(username)
    user.password_hash = passwords.hash_password(password)
    user.session_epoch += 1
    db.session.commit()
    return user


def disable(username):
    """The account can no longer log in; its open sessions end."""
    user = _existing(username)
    user.active = False
    user.session_epoch += 1
    db.session.commit()
    return user


def enable(username):
    """The account may log in again, with the password it has; its old sessions stay ended."""
    user = _existing(username)
    user.active = True
    db.session.commit()
    return user


def end_sessions(user_id):
    """End every session of the account (log out); returns its new epoch."""
    with db.engine.begin() as connection:
        return connection.execute(
            sa.update(User)
            .where(User.id == user_id)
            .values(session_epoch=User.session_epoch + 1)
            .returning(User.session_epoch)
        ).scalar_one_or_none()


def _existing(username):
    user = find(username)
    if user is None:
        raise AccountError(f"no account named {username!r} (flask --app app users list)")
    return user


def _check_password(password):
    problem = passwords.password_problem(password)
    if problem:
        raise AccountError(f"password {problem}")
