"""The feed's tables: the last known events and lines, and the log of every BetStop."""

import functools
import math
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database import UTCDateTime, db

INTEGER_RANGES = {Integer: (-(2**31), 2**31 - 1), BigInteger: (-(2**63), 2**63 - 1)}


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


class Unstorable(ValueError):
    """A row whose identifying value no column can hold; `reason` names it for counting."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def fit(model, row, keys):
    """`row` with every value made to fit its column of `model`, or Unstorable.

    Text is cut to the column's length, numbers out of the column's range become empty (or the
    nearest bound where the column may not be empty), JSON loses non-finite numbers, and text
    loses what neither database can hold (NUL characters, lone surrogates). A value of one of
    the `keys` columns is never altered: one that does not fit makes the whole row Unstorable,
    as two cut keys could name the same row.
    """
    columns = _columns(model)
    return {name: _fit_value(columns[name], value, name in keys) for name, value in row.items()}


@functools.cache
def _columns(model):
    """Per column of `model`: (name, kind, length or range, whether it may be empty)."""
    specs = {}
    for column in model.__table__.columns:
        kind, limit = column.type, None
        if isinstance(kind, String):
            limit = kind.length
        elif isinstance(kind, Integer):  # BigInteger included
            limit = INTEGER_RANGES[BigInteger if isinstance(kind, BigInteger) else Integer]
        specs[column.name] = (column.name, type(kind), limit, column.nullable)
    return specs


def _fit_value(column, value, is_key):
    name, kind, limit, nullable = column
    if value is None:
        if nullable or is_key:
            return None
        return "" if issubclass(kind, String) else 0
    if issubclass(kind, String):
        if type(value) is str and len(value) <= limit and value.isprintable():
            return value  # the usual case, checked at C speed
        text = clean_text(value if isinstance(value, str) else str(value))
        if is_key and (text != str(value) or len(text) > limit):
            raise Unstorable(f"{name}_unstorable")
        return text[:limit]
    if issubclass(kind, Integer):
        low, high = limit
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if number is None and isinstance(value, float) and math.isfinite(value):
            number = int(value)
        if number is not None and low <= number <= high:
            return number
        if is_key:
            raise Unstorable(f"{name}_out_of_range")
        if nullable:
            return None
        if number is None:
            return 0
        return min(max(number, low), high)
    if issubclass(kind, JSON):
        return clean_json(value)
    return value


def clean_text(text):
    """`text` without NUL characters and with lone surrogates replaced: storable by both."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value):
    """A copy of `value` that is strict JSON: non-finite numbers become null, text is cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return clean_text(str(value))
