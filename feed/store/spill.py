"""BetStops the database has not taken yet, kept in a local file until it does.

The store writes behind: while the database is away, a BetStop waits in memory. A process that
restarts before the database is back would lose it, and with it the rule that odds stamped
before it cannot open the line. So a failed write leaves the BetStop rows still waiting in this
file (replaced whole, in one rename, and only when they changed), and the first write that
succeeds removes it. A store that starts takes the file's rows into its own queue first
(`FeedStore.take_spill`): from then on they are its rows, kept and written as its own, and the
rules remember them before the database answers.

A row on disk is what the rules need and the log's counts, not the names of every market it
hit: a backlog of 100,000 stays a few tens of MB, written off the worker's loop.

The file is as durable as the disk it is on: it outlives a process restart on the same machine,
not the machine (a platform that replaces the dyno starts with an empty disk). The deployed
shape has the bus for that (feed/market/published.py).
"""

import hashlib
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024 * 1024  # a file larger than this is not ours: it is left unread
# The lists a row holds of the lines it hit: on disk they are left empty (the counts stay).
LISTS = ("lines", "markets", "stopped")


def spill_path(app):
    """FEED_SPILL_FILE; unset, next to a SQLite database's file, or in the app's instance
    folder under a name of the database's own; none for a SQLite database in memory."""
    configured = app.config["FEED_SPILL_FILE"]
    if configured:
        return configured
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return f"{database}.feed-spill" if database and database != ":memory:" else ""
    # One file per database: BetStops kept for one must never be written into another.
    server = url.render_as_string(hide_password=True)
    digest = hashlib.sha256(server.encode()).hexdigest()[:16]
    return os.path.join(app.instance_path, f"feed-spill-{digest}")


class Spill:
    """The spill file at `path`; none at all when `path` is empty."""

    def __init__(self, path):
        self.path = Path(path) if path else None
        self.kept = None  # the entry ids last kept in the file (None: this process kept none)

    def keep(self, rows):
        """Make the file hold `rows` (every BetStop row waiting for the database), unless it
        holds them already; none at all removes it."""
        if self.path is None:
            return
        ids = [row["entry_id"] for row in rows]
        if ids == self.kept:
            return
        if not rows:
            self.clear()
            return
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.partial")
        try:
            text = "".join(json.dumps(_portable(row), separators=(",", ":")) + "\n" for row in rows)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)  # whole or not at all
            self.kept = ids
        except (OSError, TypeError, ValueError) as exc:
            log.warning("feed store: could not keep the waiting BetStops on disk: %s", exc)

    def clear(self):
        """The database has every row: remove the file."""
        if self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
            self.kept = None
        except OSError as exc:
            log.warning("feed store: could not remove %s: %s", self.path, exc)

    def read(self):
        """The rows a process left waiting, oldest first; [] when there are none to read.
        Whoever reads them owns them: the file is kept or removed with its own rows."""
        if self.path is None:
            return []
        try:
            if self.path.stat().st_size > MAX_BYTES:
                log.warning("feed store: %s is larger than a spill file can be: unread", self.path)
                return []
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("feed store: could not read %s: %s", self.path, exc)
            return []
        rows = []
        for line in text.splitlines():
            row = _row(line)
            if row is not None:
                rows.append(row)
        self.kept = [row["entry_id"] for row in rows]  # what the file holds, for keep()
        return rows


def _portable(row):
    # A row's only value JSON cannot hold: when it was received.
    received = round(row["received_at"].timestamp() * 1000)
    return row | {"received_at": received} | {name: [] for name in LISTS if name in row}


def _row(line):
    try:
        row = json.loads(line)
        received = row["received_at"]
        entry_id = row["entry_id"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(row, dict) or not isinstance(entry_id, str):
        return None
    if not isinstance(received, int) or isinstance(received, bool):
        return None
    try:
        return row | {"received_at": datetime.fromtimestamp(received / 1000, UTC)}
    except (OverflowError, OSError, ValueError):
        return None
