"""Expected failures of the `flask ...` commands said in a sentence a person can act on.

Every command of the app is wrapped: a database that is not migrated or cannot be reached, a port
in use, a network that refuses, become one line on standard error and exit status 1, not a
traceback. Anything else is a bug and keeps its traceback.
"""

import errno
import functools

import click
import sqlalchemy as sa

from database import db

NOT_MIGRATED = "the database has no tables yet: run `flask --app app db upgrade` first"
UNDEFINED_TABLE = "42P01"


def explain(exc, database_url):
    """The sentence for an expected failure, or None for anything else."""
    if isinstance(exc, sa.exc.DBAPIError):
        orig = exc.orig
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        if "no such table" in text or getattr(orig, "sqlstate", None) == UNDEFINED_TABLE:
            return NOT_MIGRATED
        if isinstance(exc, sa.exc.OperationalError):
            return f"cannot reach the database at {database_url}: {text}"
        return None
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return f"the port is in use ({exc.strerror}): stop what holds it or pick another port"
        return f"{exc.strerror or exc}" if exc.errno else str(exc) or type(exc).__name__
    return None


def explained(callback):
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            sentence = explain(exc, _database_url())
            if sentence is None:
                raise
            raise click.ClickException(sentence) from None

    return run


def _database_url():
    # Read as the command fails, in its app: the commands are shared by every app of a process,
    # and wrapped once.
    return db.engine.url.render_as_string(hide_password=True)


def explain_failures(group):
    """Wrap every command under `group` (recursively) so that expected failures read well."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            explain_failures(command)
        elif command.callback is not None and not getattr(command.callback, "explained", False):
            command.callback = explained(command.callback)
            command.callback.explained = True
