"""The feed's tables: the last known events and lines, and the log of every BetStop."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database import UTCDateTime, db


class FeedEvent(db.Model):
    __tablename__ = "feed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    sport: Mapped[str] = mapped_column(String(64), default="")
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32), default="")
    home_score: Mapped[int | None] = mapped_column(Integer)
    away_score: Mapped[int | None] = mapped_column(Integer)
    # When we last wrote it, by our clock (the feed's timestamps may be anything): what pruning
    # reads. Empty for rows written before the column existed.
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class FeedLine(db.Model):
    __tablename__ = "feed_lines"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    market_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    specifiers: Mapped[str] = mapped_column(String(200), primary_key=True)
    product: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    groups: Mapped[list | None] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200), default="")
    outcomes: Mapped[dict] = mapped_column(JSON)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class BetStopRecord(db.Model):
    """One BetStop as received: when it was sent and received, what it said, what it stopped,
    and when what it stopped reopened (feed/market/reopening.py)."""

    __tablename__ = "feed_bet_stops"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[int | None] = mapped_column(Integer)
    groups: Mapped[str] = mapped_column(String(200))
    market_status: Mapped[str] = mapped_column(String(32))  # as the rules read it
    status: Mapped[str] = mapped_column(String(16))  # as applied
    sent_at: Mapped[int | None] = mapped_column(BigInteger)  # upstream timestamp, ms
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lines_hit: Mapped[int] = mapped_column(Integer)
    lines: Mapped[list] = mapped_column(JSON)  # [[market_id, specifiers], ...]
    # Empty in rows logged before they were kept. The entry's own id, which its later changes
    # name (the relay's `bet_stop_reopened`, the store's updates of the row):
    entry_id: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    betstop_reason: Mapped[str | None] = mapped_column(String(80))  # as the feed gave it
    markets: Mapped[list | None] = mapped_column(JSON)  # the first 50 lines hit, named
    stopped: Mapped[list | None] = mapped_column(JSON)  # of `lines`, those still stopped
    reopened_lines: Mapped[int | None] = mapped_column(Integer)
    closed_lines: Mapped[int | None] = mapped_column(Integer)  # settled or cancelled instead
    # The latest reopen of its lines so far (ms, the relay's clock); shown once none is stopped.
    reopened_at: Mapped[int | None] = mapped_column(BigInteger)
    followed: Mapped[bool | None] = mapped_column(Boolean)  # the relay follows what is stopped

    def to_json(self):
        received_at = round(self.received_at.timestamp() * 1000)
        # Reopened once none is still stopped: `stopped` is [] then (null in older rows).
        ended = self.stopped == []
        reopened_at = self.reopened_at if ended else None
        return {
            "event_id": self.event_id,
            "product": self.product,
            "groups": self.groups,
            "market_status": self.market_status,
            "status": self.status,
            "sent_at": self.sent_at,
            "received_at": received_at,
            "lines_hit": self.lines_hit,
            "entry_id": self.entry_id,
            "betstop_reason": self.betstop_reason,
            "markets": self.markets,
            "still_stopped": None if self.stopped is None else len(self.stopped),
            "reopened_lines": self.reopened_lines,
            "closed_lines": self.closed_lines,
            "reopened_at": reopened_at,
            "duration_ms": None if reopened_at is None else max(0, reopened_at - received_at),
            "followed": self.followed,
        }
