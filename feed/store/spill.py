"""BetStops the database has not taken yet, kept in a local file until it does.

The store writes behind: while the database is away, a BetStop waits in memory. A process that
restarts before the database is back would lose it, and with it the rule that odds stamped
before it cannot open the line. So every failed write leaves the BetStop rows still waiting in
this file (replaced whole, never appended to), and the first write that succeeds removes it. A
process that starts reads it back with the database's log (feed/store/write_behind.py,
`FeedStore.spilled`).

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

MAX_BYTES = 64 * 1024 * 1024  # a file larger than this is not ours: it is left unread


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
        self.kept = False  # whether this process may have left a file there

    def keep(self, rows):
        """Replace the file's rows by `rows` (BetStop rows waiting for the database)."""
        if self.path is None:
            return
        if not rows:
            self.clear()
            return
        lines = [json.dumps(_portable(row), separators=(",", ":")) for row in rows]
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "w", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, self.path)  # whole or not at all
            self.kept = True
        except OSError as exc:
            log.warning("feed store: could not keep the waiting BetStops on disk: %s", exc)

    def clear(self):
        """The database has every row: remove the file."""
        if self.path is None:
            return
        try:
            self.path.unlink(missing_ok=True)
            self.kept = False
        except OSError as exc:
            log.warning("feed store: could not remove %s: %s", self.path, exc)

    def read(self):
        """The rows a process left waiting, oldest first; [] when there are none to read."""
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
        self.kept = True  # read back: a later successful write removes it
        rows = []
        for line in text.splitlines():
            row = _row(line)
            if row is not None:
                rows.append(row)
        return rows


def _portable(row):
    # A row's only value JSON cannot hold: when it was received.
    return row | {"received_at": round(row["received_at"].timestamp() * 1000)}


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
