"""Keeps the feed's state in the database: lines, events and the BetStop log, written behind.

The relay only queues (`changed()`, `log_bet_stop()`) and returns at once. The store's own
thread makes every value fit its column, then writes every FEED_FLUSH_SECONDS, at most
FEED_FLUSH_ROWS rows a transaction, so neither the relay nor the feed's health ever waits on the
database. A row the database still refuses is set aside (counted, logged once) and the rows
around it are written. While the database is away everything waits for it (BetStops up to
FEED_STORE_BACKLOG, and on disk: feed/store/spill.py), logged when it goes and comes back.
"""

import collections
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, or_, select

from database import db, describe, is_outage, run_in_transaction
from database.fitting import Unstorable, fit
from feed.market.model import STATUSES, SUSPENDED, Event, MarketLine, Outcome
from feed.store.bet_stop_log import entry_of, followed, logged_row, row_of
from feed.store.models import BetStopRecord, FeedEvent, FeedLine
from feed.store.spill import Spill, spill_path
from feed.store.statements import (
    CLOSED,
    EVENT_COLUMNS,
    KEYS,
    LINE_COLUMNS,
    BetStopUpdate,
    prune_before,
    write_rows,
)
from infra import gevent_waits
from infra.clock import wall_ms

log = logging.getLogger(__name__)

PRUNE_EVERY_MS = 3_600_000
PRUNE_FIRST_MS = 60_000  # after start: a process starting among others has other work first
STALLED_MS = 10_000  # a flush under way for longer: the database reads "stalled" in the status
STOP_WAIT_S = 15  # on shutdown, how long a write under way may take before the last flush


def _stamp(ms):
    return datetime.fromtimestamp(ms / 1000, UTC)


class FeedStore:
    """Reads and writes the feed tables for one app; its queue is safe to fill from any thread."""

    def __init__(self, app, clock=wall_ms):
        self.app = app
        self.clock = clock  # milliseconds since the epoch
        config = app.config
        self.interval = config["FEED_FLUSH_SECONDS"]
        self.rows_per_write = max(1, config["FEED_FLUSH_ROWS"])
        self.backlog = max(1, config["FEED_STORE_BACKLOG"])
        self.retention_days = config["FEED_RETENTION_DAYS"]
        self.grace_ms = int(config["FEED_CLOSED_GRACE_SECONDS"] * 1000)
        self.lock = threading.Lock()
        self.lines, self.events = {}, {}  # waiting to be written: newer replaces older
        self.bet_stops = collections.deque()
        self.bet_stop_updates = {}  # entry id -> the row's newest reopening fields
        self.waiting_since = None  # our time (ms) of the oldest change not written yet
        self.writing = 0  # rows of the flush under way
        self.writing_since = None
        self.flush_started = None  # when the flush under way began (ms)
        self.counts = collections.Counter()  # rows written, set aside, dropped
        self.set_aside_reasons = collections.Counter()
        self.outage = None  # {"since", "error", "attempts"} while the database refuses writes
        self.spill = Spill(spill_path(app))  # BetStops waiting while it does, on disk
        self.stopped = threading.Event()
        self.thread = None
        self.next_prune = 0

    # Queueing: called by the relay, never touches the database ------------------------------

    def changed(self, lines, event):
        """Queue the lines' and event's JSON (as the relay publishes them) for the next write.

        The JSON is kept as it is (the relay never changes it after publishing); picking the
        columns and making them fit is left to the store's thread, once per row written however
        often it changed, so the relay pays next to nothing.
        """
        now = self.clock()
        stamp = _stamp(now)
        with self.lock:
            for line in lines:
                try:
                    self.lines[_line_key(line)] = (line, stamp)
                except (KeyError, TypeError):  # no key, or not even a hashable one
                    self._set_aside_locked(FeedLine, "key_unstorable")
            if event is not None:
                try:
                    self.events[event["event_id"]] = (event, stamp)
                except (KeyError, TypeError):
                    self._set_aside_locked(FeedEvent, "key_unstorable")
            if self.waiting_since is None:
                self.waiting_since = now

    def log_bet_stop(self, applied, received_ms):
        """Queue the BetStop the rules applied for the log (written by the next flush); return
        its log entry (feed/store/bet_stop_log.py)."""
        row = logged_row(applied, received_ms)
        with self.lock:
            self.bet_stops.append(row)
            if len(self.bet_stops) > self.backlog:
                self._drop_oldest_bet_stops()
            if self.waiting_since is None:
                self.waiting_since = received_ms
        return entry_of(row, received_ms)

    def update_bet_stop(self, fields):
        """Queue new reopening fields (feed/market/reopening.py) for the row of the entry
        `fields["entry_id"]` names: written over it by the next flush, after the row itself."""
        now = self.clock()
        with self.lock:
            # Newer replaces older, and goes to the back: past the backlog the oldest go.
            self.bet_stop_updates.pop(fields["entry_id"], None)
            self.bet_stop_updates[fields["entry_id"]] = fields
            self._drop_oldest_bet_stops()
            if self.waiting_since is None:
                self.waiting_since = now

    def _fitted(self, model, queued):
        """What was queued as a row of `model`, made to fit, or None when it is set aside."""
        if model is FeedLine:
            line, stamp = queued
            row = {c: line.get(c) for c in LINE_COLUMNS}
            row["outcomes"], row["changed_at"] = line.get("outcomes") or {}, stamp
            if row["status"] not in STATUSES:  # read back, a status we do not know reads stopped
                row["status"] = SUSPENDED
        elif model is FeedEvent:
            event, stamp = queued
            row = {c: event.get(c) for c in EVENT_COLUMNS} | {"changed_at": stamp}
        else:
            row = queued  # a BetStop's row, or an update of one
        try:
            return fit(model, row, KEYS[model])
        except Unstorable as exc:
            self._set_aside(model, exc.reason, row)
            return None

    def _set_aside_locked(self, model, reason):
        self.counts["set_aside"] += 1
        self.set_aside_reasons[f"{model.__tablename__}.{reason}"] += 1

    def _set_aside(self, model, reason, row, exc=None):
        with self.lock:
            self._set_aside_locked(model, reason)
            first = self.set_aside_reasons[f"{model.__tablename__}.{reason}"] == 1
        if first:  # once per kind of row and reason; the counts in /feed/status tell the rest
            log.warning(
                "feed store: setting aside a %s row (%s)%s: %.200r",
                model.__tablename__,
                reason,
                f": {exc}" if exc is not None else "",
                row,
            )

    def _drop_oldest_bet_stops(self):
        # Called with the lock held. Past the backlog the log loses its oldest entries, not the
        # process its memory; what a board shows never depended on them.
        while len(self.bet_stops) > self.backlog:
            self.bet_stops.popleft()
            self.counts["bet_stops_dropped"] += 1
        while len(self.bet_stop_updates) > self.backlog:
            del self.bet_stop_updates[next(iter(self.bet_stop_updates))]
            self.counts["bet_stops_dropped"] += 1

    # Writing -------------------------------------------------------------------------------

    def flush(self):
        """Write everything queued so far, FEED_FLUSH_ROWS rows a transaction; return the counts.

        A row the database refuses is set aside and the others written. When the database
        itself fails, what is not written yet goes back in the queue (behind anything newer)
        and the error is raised.
        """
        with self.lock:
            lines, self.lines = self.lines, {}
            events, self.events = self.events, {}
            bet_stops, self.bet_stops = list(self.bet_stops), collections.deque()
            updates, self.bet_stop_updates = list(self.bet_stop_updates.values()), {}
            since, self.waiting_since = self.waiting_since, None
            self.writing = len(bet_stops) + len(updates) + len(events) + len(lines)
            self.writing_since = since
            self.flush_started = self.clock()
        queued = collections.deque(
            [(BetStopRecord, row) for row in bet_stops]
            + [(BetStopUpdate, fields) for fields in updates]  # after the rows they update
            + [(FeedEvent, item) for item in events.values()]
            + [(FeedLine, item) for item in lines.values()]
        )
        written = collections.Counter()
        parts = collections.deque()  # rows made to fit, waiting for their transaction
        try:
            with self.app.app_context():
                while parts or queued:
                    if not parts:
                        # One transaction's rows made to fit at a time: under gevent the worker
                        # gets in between, as it does between two writes.
                        taken = [
                            queued.popleft() for _ in range(min(self.rows_per_write, len(queued)))
                        ]
                        fitted = [(m, f) for m, q in taken if (f := self._fitted(m, q)) is not None]
                        if fitted:
                            parts.append(fitted)
                        continue
                    part = parts[0]
                    try:
                        self._write_transaction(part)
                    except Exception as exc:
                        if is_outage(exc):
                            raise
                        # A row the database refuses: halve until it stands alone, set it aside.
                        parts.popleft()
                        if len(part) == 1:
                            self._set_aside(part[0][0], type(exc).__name__, part[0][1], exc)
                        else:
                            parts.extendleft([part[len(part) // 2 :], part[: len(part) // 2]])
                        continue
                    parts.popleft()
                    for model, _ in part:
                        written[model.__tablename__] += 1
                    with self.lock:
                        self.writing -= len(part)
                    time.sleep(0)  # under gevent: let the worker in between two writes
        except Exception:
            # A row made to fit is its own queued form: fitting it again changes nothing.
            fitted = [
                (m, r if m in (BetStopRecord, BetStopUpdate) else (r, r["changed_at"]))
                for part in parts
                for m, r in part
            ]
            self._requeue(fitted + list(queued), since)
            raise
        finally:
            with self.lock:
                self.counts.update({f"written_{table}": n for table, n in written.items()})
                self.writing, self.writing_since, self.flush_started = 0, None, None
        return written

    def _requeue(self, items, since):
        """Put `items`, (model, queued form), back in the queue, behind anything newer."""
        with self.lock:
            lines = {_line_key(q[0]): q for m, q in items if m is FeedLine}
            events = {q[0]["event_id"]: q for m, q in items if m is FeedEvent}
            self.lines = lines | self.lines
            self.events = events | self.events
            self.bet_stops.extendleft(reversed([q for m, q in items if m is BetStopRecord]))
            updates = {q["entry_id"]: q for m, q in items if m is BetStopUpdate}
            self.bet_stop_updates = updates | self.bet_stop_updates
            self._drop_oldest_bet_stops()
            if items and since is not None:
                self.waiting_since = min(since, self.waiting_since or since)

    # The store's own thread ------------------------------------------------------------------

    def start(self):
        """Write the queue every FEED_FLUSH_SECONDS, and prune hourly, in a thread of its own."""
        if self.thread is None:
            self.next_prune = self.clock() + PRUNE_FIRST_MS
            self.thread = threading.Thread(target=self._run, name="feed-store", daemon=True)
            self.thread.start()

    def stop(self):
        """Stop the thread, then write what is left."""
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(STOP_WAIT_S)
        self.write()

    def _run(self):
        while not self.stopped.wait(self.interval):
            self.write()
            if self.clock() >= self.next_prune and not self.outage:
                self.next_prune = self.clock() + PRUNE_EVERY_MS
                try:
                    self.prune()
                except Exception as exc:
                    log.warning("feed store: pruning failed, next try in an hour: %s", exc)

    def write(self):
        """Flush, and log only when the database goes away or comes back: never raises."""
        try:
            written = self.flush()
        except Exception as exc:
            self._outage(exc)
            with self.lock:
                waiting = list(self.bet_stops)
            # A restart before the database is back still has them; off the worker's loop.
            gevent_waits.off_the_loop(lambda: self.spill.keep(waiting))
        else:
            self._recovered(written)
            if self.spill.kept is not None:
                self.spill.clear()

    def _outage(self, exc):
        if self.outage is not None:
            self.outage["attempts"] += 1
            return
        self.outage = {"since": self.clock(), "error": describe(exc), "attempts": 1}
        waiting = self.waiting()
        log.warning(
            "feed store: database unavailable (%s); waiting to be written: %d lines, "
            "%d events, %d BetStops",
            self.outage["error"],
            waiting["lines"],
            waiting["events"],
            waiting["bet_stops"],
            # A database error says enough; anything else is a bug, whose trace is wanted (once).
            exc_info=None if is_outage(exc) else exc,
        )

    def _recovered(self, written):
        if self.outage is None:
            return
        outage, self.outage = self.outage, None
        log.warning(
            "feed store: database back after %.1f s and %d failed writes; wrote %d lines, "
            "%d events, %d BetStops; %d BetStops dropped so far (backlog full)",
            (self.clock() - outage["since"]) / 1000,
            outage["attempts"],
            written["feed_lines"],
            written["feed_events"],
            written["feed_bet_stops"],
            self.counts["bet_stops_dropped"],
        )

    def waiting(self):
        """Rows not in the database yet, queued or being written, by kind."""
        with self.lock:
            return {
                "lines": len(self.lines),
                "events": len(self.events),
                "bet_stops": len(self.bet_stops) + len(self.bet_stop_updates),
                "writing": self.writing,
            }

    def status(self):
        """What /feed/status shows of the store: its backlog, its lag and what it refused."""
        waiting = self.waiting()
        with self.lock:
            oldest = min(
                (t for t in (self.waiting_since, self.writing_since) if t is not None),
                default=None,
            )
            counts = dict(self.counts)
            reasons = dict(self.set_aside_reasons)
        started = self.flush_started
        stalled = started is not None and self.clock() - started > STALLED_MS
        return {
            # A write that never ends is no outage the database reported: say it all the same.
            "database": "down" if self.outage else "stalled" if stalled else "up",
            "waiting": waiting,
            "lag_ms": 0 if oldest is None else max(0, self.clock() - oldest),
            "set_aside": counts.pop("set_aside", 0),
            "set_aside_reasons": reasons,
            "bet_stops_dropped": counts.pop("bet_stops_dropped", 0),
            "written": counts,
        }

    # Pruning ----------------------------------------------------------------------------------

    def prune(self, days=None):
        """Delete, in small transactions, what is older than `days` (FEED_RETENTION_DAYS).

        That is BetStops received before then, closed lines last written before then, and events
        last written before then that have no line left. Returns the counts deleted.
        """
        days = self.retention_days if days is None else days
        cutoff = _stamp(self.clock()) - timedelta(days=days)
        with self.app.app_context():
            deleted = prune_before(cutoff)
        if any(deleted.values()):
            log.info(
                "feed store: pruned %d BetStops, %d closed lines and %d events older than %g days",
                deleted["bet_stops"],
                deleted["lines"],
                deleted["events"],
                days,
            )
        return deleted

    # Reading ------------------------------------------------------------------------------

    def recent_bet_stops(self, limit=100, event_id=None, held=False):
        """The latest BetStop log entries, newest first; Unstorable for an event id that no row
        can hold (PostgreSQL would refuse one with a NUL). With `held`, also what the relay
        followed of them when it last wrote: (entries, {entry id: (the lines still stopped, the
        latest reopen so far)}) for those still followed.
        """
        query = select(*BetStopRecord.__table__.columns).order_by(BetStopRecord.id.desc())
        if event_id:
            fit(BetStopRecord, {"event_id": event_id}, keys={"event_id"})
            query = query.where(BetStopRecord.event_id == event_id)
        rows = self._read(lambda connection: connection.execute(query.limit(limit)).all())
        records = [BetStopRecord(**row._asdict()) for row in rows]
        entries = [record.to_json() for record in records]
        return (entries, followed(records)) if held else entries

    def log_entries(self, entries):
        """Queue rows for BetStop log entries read back from elsewhere (the bus); a row the log
        holds already is skipped when written."""
        rows = [row for row in map(row_of, entries) if row is not None]
        with self.lock:
            queued = {row["entry_id"] for row in self.bet_stops}
            self.bet_stops.extend(row for row in rows if row["entry_id"] not in queued)
            self._drop_oldest_bet_stops()

    def take_spill(self):
        """Take the BetStop rows a process left on disk (feed/store/spill.py) into this store's
        queue, ahead of its own; return their log entries, oldest first, for the rules."""
        rows = self.spill.read()
        with self.lock:
            queued = {row["entry_id"] for row in self.bet_stops}
            rows = [row for row in rows if row["entry_id"] not in queued]
            self.bet_stops.extendleft(reversed(rows))
            self._drop_oldest_bet_stops()
        return [entry_of(row, round(row["received_at"].timestamp() * 1000)) for row in rows]

    def load(self):
        """The last known events and lines, as the state's own objects.

        Lines closed longer ago than FEED_CLOSED_GRACE_SECONDS are left out, as memory would
        have dropped them, and so are events left with no line that way.
        """
        recent = _stamp(self.clock() - self.grace_ms)
        kept_line = or_(FeedLine.status.not_in(CLOSED), FeedLine.changed_at >= recent)
        kept_event = or_(
            exists().where(FeedLine.event_id == FeedEvent.event_id, kept_line),
            FeedEvent.changed_at >= recent,
            ~exists().where(FeedLine.event_id == FeedEvent.event_id),  # odds yet to come
        )

        def read(connection):
            lines = connection.execute(select(*FeedLine.__table__.columns).where(kept_line))
            events = connection.execute(select(*FeedEvent.__table__.columns).where(kept_event))
            return lines.all(), events.all()

        line_rows, event_rows = self._read(read)
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
            for row in line_rows
        ]
        events = [
            Event(**{c: getattr(row, c) for c in Event.__dataclass_fields__}) for row in event_rows
        ]
        return events, lines

    def _write_transaction(self, part):
        """Write `part` in one transaction, off the worker's loop for SQLite where it can be."""
        # SQLite's calls are C that never yields: on a gevent worker each write and commit (tens
        # of ms, an fsync) would keep every board and callback waiting. PostgreSQL's waits yield.
        if db.engine.dialect.name != "sqlite":
            run_in_transaction(lambda connection: write_rows(connection, part))
            return
        app = self.app

        def in_context():
            with app.app_context():
                run_in_transaction(lambda connection: write_rows(connection, part))

        gevent_waits.off_the_loop(in_context)

    def _read(self, work):
        # A transaction of its own, as writes have: on SQLite it waits for the write lock in
        # sleeps the worker can serve other requests during (every transaction takes it).
        with self.app.app_context():
            return run_in_transaction(work)


def _line_key(line):
    return (line["event_id"], line["market_id"], line["specifiers"])
