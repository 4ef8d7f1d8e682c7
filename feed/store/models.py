"""The feed's tables: the last known events and lines, and the log of every BetStop."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String
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
    """One BetStop as received: when it was sent and received, what it said, what it stopped."""

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

    def to_json(self):
        return {
            "event_id": self.event_id,
            "product": self.product,
            "groups": self.groups,
            "market_status": self.market_status,
            "status": self.status,
            "sent_at": self.sent_at,
            "received_at": int(self.received_at.timestamp() * 1000),
            "lines_hit": self.lines_hit,
        }
