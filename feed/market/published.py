"""The board as the relay published it, read back: what a new leader learns from its
predecessor's checkpoint and messages on the bus.

A leader killed before its store wrote has still published every message it made: the bus's
last checkpoint (the relay's whole snapshot) and the messages since hold what the database may
lack — a BetStop above all, and which products fed a line. A new leader takes this on before it
hears the upstream, so that odds stamped before a stop that only its predecessor saw cannot
open the line (feed/relay.py: `Relay.restore`, `Relay.take_over`).

Only what a message says is read: the lines it carried (the newest of each wins), its event,
and a BetStop's log entry. A text that does not read is left out, counted.
"""

import json
from dataclasses import replace
from typing import NamedTuple

from feed.market.model import (
    ACTIVE,
    CANCELLED,
    DEACTIVATED,
    HANDED_OVER,
    LIVE,
    PRODUCTS,
    SETTLED,
    SUSPENDED,
    Event,
    MarketLine,
    Outcome,
)
from feed.upstream import fields


class Published(NamedTuple):
    events: list  # Event, as last published
    lines: list  # MarketLine, as last published
    bet_stops: list  # BetStop log entries, oldest first
    unread: int  # texts or parts left out: they did not read as the relay writes them
    floors: dict  # event id -> its newest stamp here (floors())


NOTHING = Published([], [], [], 0, {})


def read(checkpoint, messages):
    """What a snapshot's text (`checkpoint`, or None) and the message texts after it hold."""
    reader = _Reader()
    if checkpoint is not None:
        board = reader.parse(checkpoint)
        if board is not None:
            reader.take(board.get("events"), board.get("lines"), board.get("bet_stops"))
    for text in messages:
        message = reader.parse(text)
        if message is not None:
            entry = message.get("entry")
            reader.take([message.get("event")], message.get("lines"), [entry] if entry else [])
    return reader.result()


# How far a status is from bettable: of two versions stamped alike, the further one wins.
CLOSEDNESS = {ACTIVE: 0, SUSPENDED: 1, DEACTIVATED: 2, HANDED_OVER: 2, SETTLED: 3, CANCELLED: 3}


def merged(events, lines, logged, published):
    """The database's events, lines and BetStop entries (newest first) with `published`'s.

    Of two versions of a line the newer wins, the more closed of two stamped alike (the bus
    may have lost messages while its leader went on writing, or the other way round); either
    way the line answers to every product either says fed it. An event either says is
    cancelled is. BetStops the database lacks come first: they are the newest.
    """
    by_key = {line.key: line for line in lines}
    for line in published.lines:
        stored = by_key.get(line.key)
        by_key[line.key] = replace(line) if stored is None else over(stored, line)
    by_event = {event.event_id: event for event in events}
    for event in published.events:
        stored = by_event.get(event.event_id)
        cancelled = stored is not None and stored.status == "cancelled"
        by_event[event.event_id] = replace(event, status="cancelled") if cancelled else event
    known = {entry.get("entry_id") for entry in logged}
    fresh = [entry for entry in published.bet_stops if entry["entry_id"] not in known]
    return list(by_event.values()), list(by_key.values()), fresh[::-1] + logged


def over(line, other):
    """A copy of the newer of two versions of a line (the more closed when stamped alike),
    answering to every product either says fed it."""
    newer = other if _newer(other, line) else line
    return replace(newer, products=fed_by(line) | fed_by(other))


def join(line, restored):
    """Join a restored version into a line the state has: the line answers to every product
    either says fed it, and a newer restored version (the more closed when stamped alike)
    stops or closes it, never opens it. True when the line changed."""
    products = line.fed_by | fed_by(restored)
    changed = products != line.fed_by
    line.products = products
    if restored.status != ACTIVE and _newer(restored, line):
        line.status, line.reason = restored.status, restored.reason
        line.updated_at, changed = restored.updated_at, True
    return changed


def _newer(line, other):
    return (line.updated_at, CLOSEDNESS.get(line.status, 1)) > (
        other.updated_at,
        CLOSEDNESS.get(other.status, 1),
    )


def fed_by(line):
    """As the rules read a restored line: a live one no product is written for is both's."""
    return frozenset(line.products or (PRODUCTS if line.product == LIVE else (line.product,)))


def floors(published):
    """Each event's newest stamp on the bus. Up to then the last leader may have heard a
    BetStop the bus does not hold (more than its board lists, or messages the bus lost): odds
    stamped no later open no line of the event after a takeover. Fresh odds are stamped later."""
    newest = {}
    for line in published.lines:
        newest[line.event_id] = max(newest.get(line.event_id, 0), line.updated_at)
    for entry in published.bet_stops:
        event_id, sent = entry.get("event_id"), fields.integer(entry.get("sent_at"))
        if isinstance(event_id, str) and sent is not None:
            newest[event_id] = max(newest.get(event_id, 0), sent)
    return newest


class _Reader:
    """Collects what texts carry: each line's newest version, events, BetStop entries once."""

    def __init__(self):
        self.events, self.lines, self.bet_stops, self.seen = {}, {}, [], set()
        self.unread = 0

    def parse(self, text):
        try:
            value = json.loads(text)
        except ValueError:
            self.unread += 1
            return None
        if not isinstance(value, dict):
            self.unread += 1
            return None
        return value

    def take(self, events, lines, entries):
        for value in _items(events):
            event = _event(value)
            if event is None:
                self.unread += value is not None
                continue
            self.events[event.event_id] = event
        for value in _items(lines):
            line = _line(value)
            if line is None:
                self.unread += 1
                continue
            self.lines[line.key] = line  # the newest of each line wins
        for entry in _items(entries):
            entry_id = entry.get("entry_id") if isinstance(entry, dict) else None
            if not isinstance(entry_id, str) or entry.get("event_id") is None:
                self.unread += 1
                continue
            if entry_id not in self.seen:  # the checkpoint's list and a message may both hold it
                self.seen.add(entry_id)
                self.bet_stops.append(entry)

    def result(self):
        lines = list(self.lines.values())
        board = Published(list(self.events.values()), lines, self.bet_stops, self.unread, {})
        return board._replace(floors=floors(board))


def _items(value):
    return value if isinstance(value, list) else []


def _event(value):
    if not isinstance(value, dict) or not isinstance(value.get("event_id"), str):
        return None
    try:
        return Event(**{name: value.get(name) for name in Event.__dataclass_fields__})
    except TypeError:
        return None


def _line(value):
    """A line as the relay serialised it (`MarketLine.to_json`), or None when it does not read."""
    if not isinstance(value, dict):
        return None
    event_id, market_id = value.get("event_id"), fields.integer(value.get("market_id"))
    specifiers, status = value.get("specifiers"), value.get("status")
    updated_at, outcomes = fields.integer(value.get("updated_at")), value.get("outcomes")
    if not (isinstance(event_id, str) and isinstance(specifiers, str) and isinstance(status, str)):
        return None
    if market_id is None or updated_at is None or not isinstance(outcomes, dict):
        return None
    products = value.get("products")
    products = products if isinstance(products, list) else []
    # A product that does not read: the line answers to both, as one fed by no product does.
    products = frozenset(p for p in map(fields.integer, products) if p in PRODUCTS) or PRODUCTS
    product = fields.integer(value.get("product"))
    groups = value.get("groups")
    try:
        return MarketLine(
            event_id=event_id,
            market_id=market_id,
            specifiers=specifiers,
            product=product if product in PRODUCTS else LIVE,
            status=status,
            outcomes={str(oid): _outcome(outcome) for oid, outcome in outcomes.items()},
            groups=tuple(str(group) for group in groups) if isinstance(groups, list) else None,
            name=str(value.get("name") or ""),
            updated_at=updated_at,
            reason=str(value.get("reason") or ""),
            products=frozenset(products),
        )
    except (TypeError, ValueError):
        return None


def _outcome(value):
    if not isinstance(value, dict):
        raise ValueError("an outcome is an object")
    odds = value.get("odds")
    odds = odds if isinstance(odds, int | float) and not isinstance(odds, bool) else None
    return Outcome(odds, value.get("active") is True, str(value.get("name") or ""))
