"""Keeps the feed's state in the database: lines written behind, every BetStop at once."""

import threading
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite

from database import db, run_in_transaction

from .market import Event, MarketLine, Outcome
from .models import BetStopRecord, FeedEvent, FeedLine

UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class FeedStore:
    """Reads and writes the feed tables for one app; safe to call from the feed's thread."""

    def __init__(self, app):
        self.app = app
        self.dirty_lines = {}
        self.dirty_events = {}
        self.pending_bet_stops = []
        self.lock = threading.Lock()

    def changed(self, lines, event):
        """Remember what changed, as the lines' and event's JSON; flush() writes it."""
        with self.lock:
            for line in lines:
                key = (line["event_id"], line["market_id"], line["specifiers"])
                self.dirty_lines[key] = line
            if event is not None:
                self.dirty_events[event["event_id"]] = event

    def flush(self):
        """Write what changed since the last flush; on failure keep it for the next one."""
        with self.lock:
            lines, self.dirty_lines = self.dirty_lines, {}
            events, self.dirty_events = self.dirty_events, {}
            bet_stops, self.pending_bet_stops = self.pending_bet_stops, []
        if not (lines or events or bet_stops):
            return
        try:
            with self.app.app_context():
                run_in_transaction(
                    lambda connection: self._write(
                        connection, list(lines.values()), list(events.values()), bet_stops
                    )
                )
        except Exception:
            with self.lock:  # newer changes since then win over these
                self.dirty_lines = lines | self.dirty_lines
                self.dirty_events = events | self.dirty_events
                self.pending_bet_stops = bet_stops + self.pending_bet_stops
            raise

    def _write(self, connection, lines, events, bet_stops):
        # Each table's rows go as one statement run for many parameter sets, not one statement
        # with every row in VALUES: a whole board (tens of thousands of lines, ten columns each)
        # is far past what one statement may bind on SQLite, and PostgreSQL's 65,535 parameters.
        if bet_stops:
            connection.execute(insert(BetStopRecord), bet_stops)
        if events:
            connection.execute(self._upsert(connection, FeedEvent, ("event_id",), events), events)
        if lines:
            keys = ("event_id", "market_id", "specifiers")
            connection.execute(self._upsert(connection, FeedLine, keys, lines), lines)

    @staticmethod
    def _upsert(connection, model, keys, rows):
        """INSERT of `rows`' columns that updates the row already there under `keys`."""
        statement = UPSERTS[connection.dialect.name](model)
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: statement.excluded[c] for c in rows[0] if c not in keys},
        )

    def log_bet_stop(self, frame, applied, received_ms):
        """Queue the BetStop for the log (written by the next flush); return its log entry."""
        data = frame.data
        row = {
            "event_id": str(data.get("event_id")),
            "product": data.get("product") if isinstance(data.get("product"), int) else None,
            "groups": str(data.get("groups") or "all")[:200],
            "market_status": str(data.get("market_status") or "")[:32],
            "status": applied.status,
            "sent_at": data.get("timestamp")
            if isinstance(data.get("timestamp"), int)
            else frame.time,
            "received_at": datetime.fromtimestamp(received_ms / 1000, UTC),
            "lines_hit": len(applied.lines),
            "lines": [[line.market_id, line.specifiers] for line in applied.lines],
        }
        with self.lock:
            self.pending_bet_stops.append(row)
        return BetStopRecord(**row).to_json()

    def recent_bet_stops(self, limit=100, event_id=None):
        with self.app.app_context():
            query = select(BetStopRecord).order_by(BetStopRecord.id.desc()).limit(limit)
            if event_id:
                query = query.where(BetStopRecord.event_id == event_id)
            result = [record.to_json() for record in db.session.scalars(query)]
            db.session.remove()
        return result

    def load(self):
        """The last known events and lines, as the state's own objects."""
        with self.app.app_context():
            events = [
                Event(**{c: getattr(row, c) for c in Event.__dataclass_fields__})
                for row in db.session.scalars(select(FeedEvent))
            ]
            lines = [
                MarketLine(
                    event_id=row.event_id,
                    market_id=row.market_id,
                    specifiers=row.specifiers,
                    product=row.product,
                    status=row.status,
                    outcomes={k: Outcome(**v) for k, v in row.outcomes.items()},
                    groups=tuple(row.groups) if row.groups is not None else None,
                    name=row.name,
                    updated_at=row.updated_at,
                    reason=row.reason,
                )
                for row in db.session.scalars(select(FeedLine))
            ]
            db.session.remove()
        return events, lines
