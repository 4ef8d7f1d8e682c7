"""The state of every market line, and the feed's rules for changing it.

`MarketState.apply(frame)` takes one decoded upstream message and returns the lines it changed. It
does no I/O and reads no clock, so the same rules run in the feed client, in replays and in tests.
Each message is read whole before anything changes: one whose fields are unusable raises
MessageError and changes nothing.
"""

import logging
from dataclasses import dataclass, field
from typing import ClassVar

from . import frames

log = logging.getLogger(__name__)

ACTIVE, SUSPENDED, DEACTIVATED = "active", "suspended", "deactivated"
HANDED_OVER, SETTLED, CANCELLED = "handed_over", "settled", "cancelled"
STATUSES = (ACTIVE, SUSPENDED, DEACTIVATED, HANDED_OVER, SETTLED, CANCELLED)
LIVE, PREMATCH = 1, 3
PRODUCTS = (LIVE, PREMATCH)

# UOF's numeric statuses and the feed's strings, to our names.
STATUS_NAMES = {
    "1": ACTIVE,
    "-1": SUSPENDED,
    "0": DEACTIVATED,
    "-2": HANDED_OVER,
    "-3": SETTLED,
    "-4": CANCELLED,
    "inactive": DEACTIVATED,
} | {name: name for name in STATUSES}


class MessageError(ValueError):
    """A well-framed message whose data cannot be applied; `kind` names it for counting."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class Outcome:
    odds: float | None
    active: bool = True

    def to_json(self):
        return {"odds": self.odds, "active": self.active}


@dataclass
class MarketLine:
    """One line of a market: (event, market id, specifiers), its outcomes and status."""

    event_id: str
    market_id: int
    specifiers: str
    product: int
    status: str = ACTIVE
    outcomes: dict = field(default_factory=dict)
    groups: tuple | None = None
    name: str = ""
    updated_at: int = 0  # the upstream timestamp (ms) of the last update applied
    reason: str = ""  # why it is stopped: the BetStop's groups

    @property
    def key(self):
        return (self.event_id, self.market_id, self.specifiers)

    def to_json(self):
        return {
            "event_id": self.event_id,
            "market_id": self.market_id,
            "specifiers": self.specifiers,
            "product": self.product,
            "status": self.status,
            "name": self.name,
            "groups": list(self.groups) if self.groups is not None else None,
            "updated_at": self.updated_at,
            "reason": self.reason,
            "outcomes": {oid: outcome.to_json() for oid, outcome in self.outcomes.items()},
        }


@dataclass
class Event:
    event_id: str
    product: int
    name: str = ""
    sport: str = ""
    start_time: int | None = None
    status: str = ""
    home_score: int | None = None
    away_score: int | None = None

    def to_json(self):
        return {
            "event_id": self.event_id,
            "product": self.product,
            "name": self.name,
            "sport": self.sport,
            "start_time": self.start_time,
            "status": self.status,
            "home_score": self.home_score,
            "away_score": self.away_score,
        }


@dataclass
class Applied:
    """What one message did: the lines it changed and, for an event message, the event."""

    lines: list = field(default_factory=list)
    event: Event | None = None
    status: str | None = None  # the status a BetStop applied


def normalise_specifiers(text):
    """'total=2.5|hcp=1' and 'hcp=1|total=2.5' name the same line."""
    if not text:
        return ""
    if not isinstance(text, str):
        raise MessageError("bad_specifiers", repr(text))
    return "|".join(sorted(part.strip() for part in text.split("|") if part.strip()))


def status_name(value, default=ACTIVE):
    """Map a feed status (number or string) to our name; None for a status we do not know."""
    if value is None or value == "":
        return default
    return STATUS_NAMES.get(str(value).strip().lower())


def bet_stop_status(value):
    """BetStop's market_status: empty or suspended -> suspended, deactivated -> deactivated."""
    name = status_name(value, default=SUSPENDED)
    if name == DEACTIVATED:
        return DEACTIVATED
    if name != SUSPENDED:
        # Anything else still stops betting: over-suspending is safe, under-suspending loses money.
        log.warning("BetStop with market_status %r read as suspended", value)
    return SUSPENDED


class MarketState:
    """Every event and market line the feed has told us about."""

    def __init__(self, descriptions):
        self.descriptions = descriptions
        self.events = {}
        self.lines = {}
        self.lines_by_event = {}

    def apply(self, frame):
        """Apply one decoded upstream message; return an Applied, or None if it has no rule."""
        handler = self.HANDLERS.get(frame.cmd)
        if handler is None:
            return None
        if not isinstance(frame.data, dict):
            raise MessageError("data_not_object", f"cmd {frame.cmd}")
        return handler(self, frame.data, frame.time)

    # BetStop (10030) ---------------------------------------------------------------------------

    def apply_bet_stop(self, data, sent):
        event_id = _required_str(data, "event_id")
        groups_text = data.get("groups") or "all"
        if not isinstance(groups_text, str):
            raise MessageError("bad_groups", repr(groups_text))
        groups = {g.strip() for g in groups_text.split("|") if g.strip()} or {"all"}
        timestamp = _timestamp(data, sent)
        status = bet_stop_status(data.get("market_status"))
        hit = []
        for line in self.lines_by_event.get(event_id, {}).values():
            if line.status != ACTIVE or line.updated_at > timestamp:
                continue
            if "all" in groups or line.groups is None or groups & set(line.groups):
                line.status = status
                line.updated_at = timestamp
                line.reason = groups_text
                hit.append(line)
        return Applied(lines=hit, event=self.events.get(event_id), status=status)

    # Odds change (10020), both shapes ----------------------------------------------------------

    def apply_odds_change(self, data, sent):
        event_id = _required_str(data, "event_id", "match_id")
        product = _product(data)
        timestamp = _timestamp(data, sent)
        updates = [
            LineUpdate(event_id, product, timestamp, **fields) for fields in _odds_lines(data)
        ]
        event = self._event(event_id, product, data)
        changed = [line for update in updates if (line := self._apply_line(update))]
        return Applied(lines=changed, event=event)

    def _apply_line(self, update):
        line = self.lines.get(update.key)
        if line is not None and line.updated_at > update.timestamp:
            return None  # older than what we have, a BetStop included: it cannot reopen the line
        if line is not None and update.status == HANDED_OVER and line.product == LIVE:
            return None  # live odds already arrived: the hand-over from prematch is moot
        if line is None:
            line = MarketLine(update.event_id, update.market_id, update.specifiers, update.product)
            self.lines[update.key] = line
            self.lines_by_event.setdefault(update.event_id, {})[update.key] = line
        line.product = update.product
        line.status = update.status
        line.updated_at = update.timestamp
        line.reason = ""
        line.outcomes.update(update.outcomes)
        line.groups = update.groups or self.descriptions.groups(update.market_id)
        line.name = update.name or line.name or self.descriptions.name(update.market_id)
        return line

    # Settlement (10040) and cancel (10050) -----------------------------------------------------

    def apply_bet_settlement(self, data, sent):
        event_id = _required_str(data, "event_id")
        outcomes = data.get("outcomes") or {}
        markets = outcomes.get("market") if isinstance(outcomes, dict) else None
        return Applied(lines=self._close(event_id, markets or [], SETTLED, _timestamp(data, sent)))

    def apply_bet_cancel(self, data, sent):
        event_id = _required_str(data, "event_id")
        markets = data.get("market") or data.get("markets") or []
        return Applied(lines=self._close(event_id, markets, CANCELLED, _timestamp(data, sent)))

    def _close(self, event_id, markets, status, timestamp):
        if not isinstance(markets, list) or not all(isinstance(m, dict) for m in markets):
            raise MessageError("bad_markets", repr(markets)[:80])
        keys = [
            (event_id, _market_id(market), normalise_specifiers(market.get("specifiers")))
            for market in markets
        ]
        closed = []
        for key in keys:
            line = self.lines.get(key)
            if line is not None and line.status != status:
                line.status = status
                line.updated_at = max(line.updated_at, timestamp)
                closed.append(line)
        return closed

    # Events: fixture change (10010) and match status (10060) -----------------------------------

    def apply_fixture_change(self, data, sent):
        event_id = _required_str(data, "event_id")
        event = self._event(event_id, _product(data), data)
        if isinstance(data.get("start_time"), int):
            event.start_time = data["start_time"]
        if data.get("change_type") == 3:
            event.status = "cancelled"
        return Applied(event=event)

    def apply_match_status(self, data, sent):
        event_id = _required_str(data, "sport_event_id", "event_id")
        event = self.events.get(event_id)
        if event is None:
            return Applied()
        event.status = str(data.get("match_status_code", data.get("status_code", event.status)))
        return Applied(event=event)

    def _event(self, event_id, product, data):
        event = self.events.get(event_id)
        if event is None:
            event = self.events[event_id] = Event(event_id, product)
        event.product = product
        for name in ("home_score", "away_score"):
            if isinstance(data.get(name), int):
                setattr(event, name, data[name])
        if isinstance(data.get("match_status"), str | int):
            event.status = str(data["match_status"])
        title = data.get("event_name") or data.get("name")
        if not title and data.get("home_team") and data.get("away_team"):
            title = f"{data['home_team']} v {data['away_team']}"
        if isinstance(title, str):
            event.name = title
        if isinstance(data.get("sport"), str):
            event.sport = data["sport"]
        return event

    HANDLERS: ClassVar[dict] = {
        frames.BET_STOP: apply_bet_stop,
        frames.ODDS_CHANGE: apply_odds_change,
        frames.BET_SETTLEMENT: apply_bet_settlement,
        frames.BET_CANCEL: apply_bet_cancel,
        frames.FIXTURE_CHANGE: apply_fixture_change,
        frames.MATCH_STATUS: apply_match_status,
    }

    def restore(self, events, lines):
        """Load the last known events and lines (from the database after a restart)."""
        for event in events:
            self.events[event.event_id] = event
        for line in lines:
            self.lines[line.key] = line
            self.lines_by_event.setdefault(line.event_id, {})[line.key] = line

    def snapshot(self):
        return {
            "events": [event.to_json() for event in self.events.values()],
            "lines": [line.to_json() for line in self.lines.values()],
        }


@dataclass
class LineUpdate:
    """One line of an odds change, read and checked before anything is applied."""

    event_id: str
    product: int
    timestamp: int
    market_id: int
    specifiers: str
    status: str
    outcomes: dict
    name: str | None = None
    groups: tuple | None = None

    @property
    def key(self):
        return (self.event_id, self.market_id, self.specifiers)


def _odds_lines(data):
    """Yield the fields of each line of an odds change, in either of the feed's two shapes."""
    if "odds_markets" in data:  # the older shape: one line per market entry
        for market in _list(data, "odds_markets"):
            yield _line_fields(market, market, market)
        return
    for market in _list(data, "markets"):  # the newer shape: markets holding lines
        for entry in _list(market, "lines"):
            yield _line_fields(market, entry, entry if _has_status(entry) else market)


def _has_status(source):
    return "line_status" in source or "status" in source


def _line_fields(market, line, status_source):
    raw_status = status_source.get("line_status", status_source.get("status"))
    status = status_name(raw_status)
    if status is None:
        raise MessageError("unknown_status", repr(raw_status))
    name = market.get("name")
    return {
        "market_id": _market_id(market),
        "specifiers": normalise_specifiers(line.get("specifiers")),
        "status": status,
        "outcomes": _outcomes(line),
        "name": name if isinstance(name, str) else None,
        "groups": _groups(market.get("groups")),
    }


def _required_str(data, *names):
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    raise MessageError("missing_event_id", f"none of {', '.join(names)}")


def _product(data):
    value = data.get("product", data.get("product_id", LIVE))
    try:
        product = int(value)
    except (TypeError, ValueError):
        raise MessageError("bad_product", repr(value)) from None
    return product


def _timestamp(data, sent):
    value = data.get("timestamp", sent)
    if not isinstance(value, int) or isinstance(value, bool):
        if sent is None:
            raise MessageError("bad_timestamp", repr(value))
        return sent
    return value


def _list(data, name):
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MessageError(f"bad_{name}", type(value).__name__)
    return value


def _market_id(market):
    value = market.get("id", market.get("market_id"))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MessageError("bad_market_id", repr(value)) from None


def _groups(value):
    if isinstance(value, str) and value:
        return tuple(g for g in value.split("|") if g)
    if isinstance(value, list) and value:
        return tuple(str(g) for g in value)
    return None


def _outcomes(source):
    outcomes = {}
    for item in source.get("outcomes") or []:
        if not isinstance(item, dict) or "id" not in item:
            raise MessageError("bad_outcome", repr(item)[:80])
        odds = item.get("odds")
        try:
            odds = None if odds is None else float(odds)
        except (TypeError, ValueError):
            raise MessageError("bad_odds", repr(odds)) from None
        active = item.get("active", 1)
        outcomes[str(item["id"])] = Outcome(odds, active not in (0, "0", False))
    return outcomes
