"""The state of every market line, and the feed's rules for changing it.

`MarketState.apply(frame, received)` takes one decoded upstream message and the time it was
received, and returns the lines it changed. It does no I/O and reads no clock, so the same rules run
in the feed client, in replays and in tests.

Whatever the feed sends, the rules fail safe: a part of a message that cannot be read is skipped
(and named in `Applied.skipped` for counting) or read the way that stops betting, never the way that
opens it. A message raises MessageError, changing nothing, only when nothing of it can be applied;
a message that fails half-way raises ApplyFailed after suspending every open line of its event.
Every value is read at the edge (`feed.fields`): timestamps in milliseconds whatever their unit and
never later than the message's receipt, numbers finite, flags from their text.

The order of the upstream's messages is the order they arrive in: a BetStop stops every line of its
scope that an earlier message opened, whatever the stamps say. Stamps order only what arrives after
a stop: odds stamped before it cannot reopen what it stopped.
"""

from dataclasses import dataclass, field
from typing import ClassVar

from feed.upstream import fields, frames

ACTIVE, SUSPENDED, DEACTIVATED = "active", "suspended", "deactivated"
HANDED_OVER, SETTLED, CANCELLED = "handed_over", "settled", "cancelled"
STATUSES = (ACTIVE, SUSPENDED, DEACTIVATED, HANDED_OVER, SETTLED, CANCELLED)
CLOSED = (SETTLED, CANCELLED)  # for good: no message but a rollback reopens them, and none comes
LIVE, PREMATCH = 1, 3
PRODUCTS = (LIVE, PREMATCH)
FIXTURE_CANCELLED = 3  # a fixture change's change_type

MAX_GROUPS = 64  # group names in one BetStop or market; more cannot be read: every group
MAX_NAME = 64  # characters of one group name, outcome id
MAX_REASON = 200  # characters of a line's reason
MAX_STOPS = 64  # BetStops remembered per event; beyond, they merge into one that stops everything
CLOCK_SKEW_MS = 2000  # a stamp further ahead of its receipt than the clocks' drift is counted
MAX_SPECIFIERS = 200  # characters of a line's specifiers: longer ones name no line we could show
FORGOTTEN = "closed"  # the reason of the stop left for a line dropped while closed

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


class ApplyFailed(Exception):
    """A message failed half-way: every open line of its event was suspended, as what it did is
    unknown; `lines` are all of the event's lines, as they are now."""

    def __init__(self, error, lines):
        super().__init__(f"{type(error).__name__}: {error}")
        self.kind = f"error_{type(error).__name__}"
        self.lines = lines


@dataclass
class Outcome:
    odds: float | None
    active: bool = True
    name: str = ""  # the feed's own name for it, then the name the descriptions give it

    def to_json(self):
        named = {"name": self.name} if self.name else {}
        return {"odds": self.odds, "active": self.active} | named


@dataclass
class MarketLine:
    """One line of a market: (event, market id, specifiers), its outcomes and status."""

    event_id: str
    market_id: int
    specifiers: str
    product: int  # live once any live message fed it: live stops and live health then rule it
    status: str = ACTIVE
    outcomes: dict = field(default_factory=dict)
    groups: tuple | None = None
    name: str = ""
    updated_at: int = 0  # the upstream timestamp (ms) of the last update applied
    reason: str = ""  # why it is stopped: the BetStop's groups
    products: frozenset = frozenset()  # every product that fed it: each one's stops and health

    @property
    def key(self):
        return (self.event_id, self.market_id, self.specifiers)

    @property
    def fed_by(self):
        """The products whose BetStops and health rule this line."""
        return self.products or frozenset((self.product,))

    def to_json(self):
        return {
            "event_id": self.event_id,
            "market_id": self.market_id,
            "specifiers": self.specifiers,
            "product": self.product,
            "products": sorted(self.fed_by),
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
    # What could not be read, one kind per part: each was skipped, or read the way that stops
    # betting (an unreadable status as suspended, a BetStop's unreadable groups as all).
    skipped: list = field(default_factory=list)
    timestamp: int | None = None  # the message's time as read (ms), bounded by its receipt
    groups: str | None = None  # a BetStop's groups as read: "all", or names joined by "|"
    product: int | None = None  # a BetStop's product as read; None: every product
    event_id: str | None = None  # the event the message is about, however the feed named it


@dataclass(frozen=True)
class Stop:
    """A BetStop as its event remembers it, for lines that older odds create or update later."""

    timestamp: int
    status: str
    groups: frozenset | None  # None: every group
    product: int | None  # None: every product
    reason: str

    def hits(self, groups, products):
        """Whether it stops a line of these groups (None: unknown) fed by these products."""
        if self.product is not None and self.product not in products:
            return False
        return self.groups is None or groups is None or not self.groups.isdisjoint(groups)


@dataclass
class EventMemory:
    """What an event's later lines must obey: its BetStops, whether it was cancelled."""

    stops: dict = field(default_factory=dict)  # (groups, product) -> the newest such Stop
    cancelled: bool = False
    newest: int = 0  # the newest upstream time (ms) seen for the event

    def saw(self, timestamp):
        self.newest = max(self.newest, timestamp)

    def remember(self, stop):
        key = (stop.groups, stop.product)
        known = self.stops.get(key)
        if known is None or known.timestamp <= stop.timestamp:
            self.stops[key] = stop  # the newer stop of the same scope covers the older
        if len(self.stops) > MAX_STOPS:
            # Bounded, failing safe: one stop of everything as late as the latest.
            latest = max(stop.timestamp for stop in self.stops.values())
            self.stops = {(None, None): Stop(latest, SUSPENDED, None, None, "all")}

    def stop_over(self, groups, products, since):
        """The latest remembered stop at or after `since` that hits such a line, or None."""
        found = None
        for stop in self.stops.values():
            later = found is None or stop.timestamp > found.timestamp
            if later and stop.timestamp >= since and stop.hits(groups, products):
                found = stop
        return found


def normalise_specifiers(text):
    """'total=2.5|hcp=1' and 'hcp=1|total=2.5' name the same line."""
    if not text:
        return ""
    if not isinstance(text, str) or len(text) > MAX_SPECIFIERS:
        raise MessageError("bad_specifiers", repr(text)[:80])
    return "|".join(sorted(part.strip() for part in text.split("|") if part.strip()))


def status_name(value, default=ACTIVE):
    """Map a feed status (number or string) to our name; None for a status we do not know."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and len(value) <= MAX_NAME:
        return STATUS_NAMES.get(value.strip().lower())
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = fields.integer(value)
        return None if number is None else STATUS_NAMES.get(str(number))
    return None


def bet_stop_status(value):
    """BetStop's market_status: empty or suspended -> suspended, deactivated -> deactivated.

    Anything else still stops betting: over-suspending is safe, under-suspending loses money.
    """
    return DEACTIVATED if status_name(value, default=SUSPENDED) == DEACTIVATED else SUSPENDED


class MarketState:
    """Every event and market line the feed has told us about."""

    def __init__(self, descriptions):
        self.descriptions = descriptions
        self.events = {}
        self.lines = {}
        self.lines_by_event = {}
        self.memory = {}  # event id -> EventMemory
        self.group_names = descriptions.group_names()  # every group a BetStop can name

    def apply(self, frame, received=None):
        """Apply one decoded upstream message received at `received` (ms; None: trust its
        stamps); return an Applied, or None if it has no rule.

        All or nothing for the boards: a message that fails after it changed a line raises
        ApplyFailed, having suspended every open line of its event.
        """
        handler = self.HANDLERS.get(frame.cmd)
        if handler is None:
            return None
        if not isinstance(frame.data, dict):
            raise MessageError("data_not_object", f"cmd {frame.cmd}")
        try:
            applied = handler(self, frame.data, Stamps(frame.time, received))
        except MessageError:
            raise  # raised before anything changed
        except Exception as exc:
            event_id = event_of(frame.data)
            self.suspend(event_id=event_id)
            raise ApplyFailed(exc, list(self.lines_by_event.get(event_id, {}).values())) from exc
        return applied

    def suspend(self, products=None, event_id=None, reason="", lines=None):
        """Suspend every open line (of `event_id`, or of `lines`, fed by one of `products`);
        return them.

        For what the rules cannot know: a gap in the feed, a message that failed half-way.
        A later odds change listing a line active reopens it, as after a BetStop.
        """
        if lines is None:
            by_key = self.lines if event_id is None else self.lines_by_event.get(event_id, {})
            lines = by_key.values()
        hit = []
        for line in lines:
            if line.status != ACTIVE:
                continue
            if products is not None and line.fed_by.isdisjoint(products):
                continue
            line.status, line.reason = SUSPENDED, reason
            hit.append(line)
        return hit

    def _memory(self, event_id):
        memory = self.memory.get(event_id)
        if memory is None:
            memory = self.memory[event_id] = EventMemory()
        return memory

    # BetStop (10030) ---------------------------------------------------------------------------

    def apply_bet_stop(self, data, sent):
        """Stop the event's lines in the BetStop's groups and product; remember it for later lines.

        A BetStop that names its event always stops something: groups it cannot read stop every
        group, a product it cannot read every product, and without a readable time it counts as
        the event's newest message.
        """
        event_id = event_of(data, required=True)
        skipped = []
        groups, reason = self._stop_scope(data.get("groups"), event_id, skipped)
        status = bet_stop_status(data.get("market_status"))
        if status_name(data.get("market_status"), default=SUSPENDED) not in (
            SUSPENDED,
            DEACTIVATED,
        ):
            skipped.append("unknown_market_status")
        product = _stop_product(data, skipped)
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            skipped.append("bad_timestamp")
            timestamp = memory.newest
        memory.saw(timestamp)
        stop = Stop(timestamp, status, groups, product, reason)
        memory.remember(stop)
        hit = []
        for line in self.lines_by_event.get(event_id, {}).values():
            if line.status in CLOSED or not stop.hits(line.groups, line.fed_by):
                continue
            # Whatever opened the line arrived before this stop: the stop wins, however the two
            # were stamped. A line stopped already, or not shown, keeps its status, but the time
            # it is stopped until moves on: odds older than this stop must not reopen it. Only
            # lines whose status changed are reported (a repeated BetStop would otherwise resend
            # the whole event to every board); the event's memory, and after a restart the
            # BetStop log, keep the later stop.
            line.updated_at = max(line.updated_at, timestamp)
            if line.status == ACTIVE:
                line.status, line.reason = status, reason
                hit.append(line)
        return Applied(
            lines=hit,
            event=self.events.get(event_id),
            status=status,
            skipped=skipped,
            timestamp=timestamp,
            groups=reason,
            product=product,
            event_id=event_id,
        )

    # Odds change (10020), both shapes ----------------------------------------------------------

    def apply_odds_change(self, data, sent):
        """Apply each line that can be read; a line read only in part is suspended."""
        event_id = event_of(data, required=True)
        skipped = []
        timestamp = sent.read(data, skipped)
        if timestamp is None:  # it cannot be ordered against BetStops: nothing of it applies
            raise MessageError("bad_timestamp", repr(data.get("timestamp"))[:80])
        product = _odds_product(data, skipped)
        reads = _odds_lines(data, skipped)  # read whole before anything changes
        memory = self._memory(event_id)
        memory.saw(timestamp)
        products, product_read = product
        event = self._event(event_id, next(iter(products)) if len(products) == 1 else None, data)
        changed = {}
        for read in reads:
            if isinstance(read, int):  # a market whose lines cannot be told apart
                for line in self._stop_market(event_id, read, timestamp):
                    changed[line.key] = line
                continue
            update = LineUpdate(event_id, products, product_read, timestamp, **read)
            line = self._apply_line(update, memory, event)
            if line is not None:
                changed[line.key] = line
        return Applied(
            lines=list(changed.values()),
            event=event,
            skipped=skipped,
            timestamp=timestamp,
            event_id=event_id,
        )

    def _apply_line(self, update, memory, event):
        line = self.lines.get(update.key)
        if line is not None:
            if line.status in CLOSED:
                return None
            if line.updated_at > update.timestamp:
                if update.status in CLOSED:  # closing stops betting: it applies however late
                    line.status, line.reason = update.status, ""
                    return line
                return None  # older than what we have, a BetStop included: it cannot reopen it
        # A prematch update never takes a line away from live stops or live health: the line
        # answers to every product that fed it (odds of no product, or of one we cannot read,
        # to both).
        products = update.products | (line.fed_by if line is not None else frozenset())
        product = LIVE if LIVE in products else PREMATCH
        groups = update.groups or self.descriptions.groups(update.market_id)
        status, reason, until = update.status, "", update.timestamp
        if memory.cancelled:
            status = CANCELLED
        elif status == ACTIVE and (not update.readable or not update.product_read):
            status = SUSPENDED  # odds we could not read, or of no product we know: not bettable
        elif status == ACTIVE:
            stop = memory.stop_over(groups, products, since=update.timestamp)
            if stop is not None:  # stopped by a BetStop as late as these odds, or later
                status, reason, until = stop.status, stop.reason, stop.timestamp
        if line is None:
            line = MarketLine(update.event_id, update.market_id, update.specifiers, product)
            self.lines[update.key] = line
            self.lines_by_event.setdefault(update.event_id, {})[update.key] = line
        line.product, line.products = product, products
        line.status = status
        line.updated_at = max(line.updated_at, until)
        line.reason = reason
        # A line's names change only with a name from the feed: filled once, not on every change.
        names, market_id, specifiers = self.descriptions, update.market_id, update.specifiers
        for outcome_id, outcome in update.outcomes.items():
            known = line.outcomes.get(outcome_id)
            if outcome.name or known is None:
                outcome.name = names.outcome_name(market_id, specifiers, outcome_id, outcome.name)
            else:
                outcome.name = known.name
        line.outcomes.update(update.outcomes)
        line.groups = groups
        if update.name or not line.name:
            line.name = names.market_name(market_id, specifiers, update.name)
        return line

    def _stop_market(self, event_id, market_id, timestamp):
        """Suspend every open line of a market whose update named no line we could read."""
        stopped = []
        for line in self.lines_by_event.get(event_id, {}).values():
            if line.market_id != market_id or line.status in CLOSED:
                continue
            if line.updated_at > timestamp:
                continue
            if line.status == ACTIVE:
                line.status, line.reason = SUSPENDED, ""
            line.updated_at = timestamp
            stopped.append(line)
        return stopped

    # Settlement (10040) and cancel (10050) -----------------------------------------------------

    def apply_bet_settlement(self, data, sent):
        event_id = event_of(data, required=True)
        outcomes = data.get("outcomes")
        if outcomes is None:
            return Applied()
        if not isinstance(outcomes, dict):
            raise MessageError("bad_markets", type(outcomes).__name__)
        return self._close(
            event_id, data, outcomes.get("market", outcomes.get("markets")), SETTLED, sent
        )

    def apply_bet_cancel(self, data, sent):
        event_id = event_of(data, required=True)
        return self._close(event_id, data, data.get("market", data.get("markets")), CANCELLED, sent)

    def _close(self, event_id, data, markets, status, sent):
        """Close each line listed, whatever state it is in; a line not seen yet is made closed."""
        markets = _entries(markets, "bad_markets")
        skipped = []
        products, _ = _odds_product(data, skipped)
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            timestamp = memory.newest
        memory.saw(timestamp)
        product = LIVE if LIVE in products else PREMATCH
        closed = {}
        for market in markets:
            if not isinstance(market, dict):
                skipped.append("bad_market")
                continue
            market_id = _market_id(market)
            if market_id is None:
                skipped.append("bad_market_id")
                continue
            try:
                specifiers = normalise_specifiers(market.get("specifiers"))
            except MessageError:
                skipped.append("bad_specifiers")  # which line is unknown: its market stops
                closed |= {
                    line.key: line for line in self._stop_market(event_id, market_id, timestamp)
                }
                continue
            key = (event_id, market_id, specifiers)
            line = self.lines.get(key)
            if line is None:  # remembered closed, so that odds arriving late cannot open it
                line = MarketLine(event_id, market_id, specifiers, product, products=products)
                line.groups = self.descriptions.groups(market_id)
                line.name = self.descriptions.market_name(market_id, specifiers)
                self.lines[key] = line
                self.lines_by_event.setdefault(event_id, {})[key] = line
            elif line.status == status:
                continue
            line.status = status
            line.reason = ""
            line.updated_at = max(line.updated_at, timestamp)
            closed[key] = line
        return Applied(
            lines=list(closed.values()), skipped=skipped, timestamp=timestamp, event_id=event_id
        )

    # Events: fixture change (10010) and match status (10060) -----------------------------------

    def apply_fixture_change(self, data, sent):
        """Update the event; a cancelled fixture (change_type 3) closes its lines, now and later."""
        event_id = event_of(data, required=True)
        skipped = []
        product = _stop_product(data, skipped)
        event = self._event(event_id, product, data)
        start_time = fields.timestamp_ms(data.get("start_time"))
        if start_time is not None:
            event.start_time = start_time
        memory = self._memory(event_id)
        timestamp = sent.read(data, skipped)
        if timestamp is None:
            timestamp = memory.newest
        memory.saw(timestamp)
        closed = []
        if fields.integer(data.get("change_type")) == FIXTURE_CANCELLED:
            event.status = "cancelled"
            memory.cancelled = True
            for line in self.lines_by_event.get(event_id, {}).values():
                if line.status not in CLOSED:
                    line.status, line.reason = CANCELLED, ""
                    line.updated_at = max(line.updated_at, timestamp)
                    closed.append(line)
        return Applied(
            lines=closed, event=event, skipped=skipped, timestamp=timestamp, event_id=event_id
        )

    def apply_match_status(self, data, sent):
        event_id = event_of(data, required=True)
        event = self.events.get(event_id)
        if event is None:
            return Applied()
        status = _match_status(data.get("match_status_code", data.get("status_code")))
        if status is not None:
            event.status = status
        return Applied(event=event, event_id=event_id)

    def _stop_scope(self, value, event_id, skipped):
        """A BetStop's groups (None: every group) and their words, as the log keeps them too.

        A group that no market of the descriptions or of the event has cannot be matched: what
        the stop meant to stop is unknown, so it stops the whole event.
        """
        groups, reason = _stop_groups(value, skipped)
        if groups is None or groups <= self.group_names:
            return groups, reason
        lines = self.lines_by_event.get(event_id, {}).values()
        if groups <= self.group_names.union(*(line.groups or () for line in lines)):
            return groups, reason
        skipped.append("unknown_groups")
        return None, "all"

    def _event(self, event_id, product, data):
        event = self.events.get(event_id)
        if event is None:
            event = self.events[event_id] = Event(event_id, LIVE if product is None else product)
        elif product is not None:
            event.product = product
        for name in ("home_score", "away_score"):
            score = fields.integer(data.get(name))
            if score is not None:
                setattr(event, name, score)
        status = _match_status(data.get("match_status"))
        if status is not None:
            event.status = status
        title = data.get("event_name") or data.get("name")
        home, away = data.get("home_team"), data.get("away_team")
        if not title and isinstance(home, str) and isinstance(away, str) and home and away:
            title = f"{home} v {away}"
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

    def restore(self, events, lines, bet_stops=()):
        """Load the last known events and lines (from the database after a restart); return
        the lines it added, and those it stopped.

        `bet_stops` are entries of the BetStop log (event_id, groups, product, status, sent_at):
        remembered again, so that lines older odds create after the restart obey them too.
        What the feed has said since the start wins over what is restored: a restore may come
        after the first messages (the database was slow or away), and only adds to them; a line
        opened since by odds stamped at or before a restored BetStop is stopped by it.
        """
        for event in events:
            if event.event_id not in self.events:
                self.events[event.event_id] = event
            if event.status == "cancelled":
                self._memory(event.event_id).cancelled = True
        changed = []
        for line in lines:
            if line.key in self.lines:
                continue
            if line.groups is not None:
                line.groups = _group_names(list(line.groups)) or None
            line.products = frozenset(line.products or (line.product,))
            self.lines[line.key] = line
            self.lines_by_event.setdefault(line.event_id, {})[line.key] = line
            self._memory(line.event_id).saw(line.updated_at)
            changed.append(line)
        stopped = set()
        for entry in bet_stops:
            event_id = event_of(entry)
            if event_id is None:
                continue
            memory = self._memory(event_id)
            groups, reason = self._stop_scope(entry.get("groups"), event_id, [])
            product = fields.integer(entry.get("product"))
            timestamp = fields.timestamp_ms(entry.get("sent_at"))
            timestamp = memory.newest if timestamp is None else timestamp
            status = DEACTIVATED if entry.get("status") == DEACTIVATED else SUSPENDED
            product = product if product in PRODUCTS else None
            memory.remember(Stop(timestamp, status, groups, product, reason))
            memory.saw(timestamp)
            stopped.add(event_id)
        restored = {line.key for line in changed}
        for event_id in stopped:
            memory = self.memory[event_id]
            for line in self.lines_by_event.get(event_id, {}).values():
                if line.status != ACTIVE or line.key in restored:
                    continue
                stop = memory.stop_over(line.groups, line.fed_by, since=line.updated_at)
                if stop is not None:
                    line.status, line.reason = stop.status, stop.reason
                    line.updated_at = stop.timestamp
                    changed.append(line)
        return changed

    def forget(self, event_id, keys):
        """Drop these lines of an event, and the event with its last line; True if the event went.

        The event's memory then stops every line up to the newest time the dropped lines carried:
        odds stamped before their close create the line suspended, as the rules kept it closed.
        """
        lines = self.lines_by_event[event_id]
        newest = max(lines[key].updated_at for key in keys)
        memory = self._memory(event_id)
        memory.remember(Stop(newest, SUSPENDED, None, None, FORGOTTEN))
        memory.saw(newest)
        for key in keys:
            del lines[key]
            self.lines.pop(key, None)
        if lines:
            return False
        del self.lines_by_event[event_id]
        return self.events.pop(event_id, None) is not None

    def snapshot(self):
        return {
            "events": [event.to_json() for event in self.events.values()],
            "lines": [line.to_json() for line in self.lines.values()],
        }


@dataclass
class LineUpdate:
    """One line of an odds change, read and checked before anything is applied."""

    event_id: str
    products: frozenset  # the products it speaks for: both when it named none, or none we know
    product_read: bool  # False: a product we cannot read, and the line reads at most suspended
    timestamp: int
    market_id: int
    specifiers: str
    status: str
    outcomes: dict
    name: str | None = None
    groups: tuple | None = None
    readable: bool = True  # False: some of its outcomes or odds could not be read

    @property
    def key(self):
        return (self.event_id, self.market_id, self.specifiers)


def _odds_lines(data, skipped):
    """Each line of an odds change as LineUpdate fields, in either of the feed's two shapes.

    A market whose lines cannot be told apart comes as its market id alone; a part that names
    no market is skipped. Each is named in `skipped`.
    """
    reads = []
    if "odds_markets" in data:  # the older shape: one line per market entry
        for market in _entries(data.get("odds_markets"), "bad_odds_markets"):
            if not isinstance(market, dict):
                skipped.append("bad_market")
                continue
            reads.append(_line_fields(market, market, market, skipped))
        return [read for read in reads if read is not None]
    for market in _entries(data.get("markets"), "bad_markets"):  # newer: markets holding lines
        if not isinstance(market, dict):
            skipped.append("bad_market")
            continue
        lines = market.get("lines")
        if lines is None:
            continue
        if isinstance(lines, dict):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(entry, dict) for entry in lines):
            market_id = _market_id(market)
            skipped.append("bad_lines" if market_id is not None else "bad_market_id")
            reads.append(market_id)
            lines = (
                [entry for entry in lines if isinstance(entry, dict)]
                if isinstance(lines, list)
                else []
            )
        for entry in lines:
            reads.append(
                _line_fields(market, entry, entry if _has_status(entry) else market, skipped)
            )
    return [read for read in reads if read is not None]


def _has_status(source):
    return "line_status" in source or "status" in source


def _line_fields(market, line, status_source, skipped):
    """The fields of one line; its market id alone when only that can be read; None if not even."""
    market_id = _market_id(market)
    if market_id is None:
        skipped.append("bad_market_id")
        return None
    try:
        specifiers = normalise_specifiers(line.get("specifiers"))
    except MessageError:
        skipped.append("bad_specifiers")
        return market_id
    raw_status = status_source.get("line_status", status_source.get("status"))
    status = status_name(raw_status)
    if status is None:
        skipped.append("unknown_status")
        status = SUSPENDED
    outcomes, readable = _outcomes(line.get("outcomes"), skipped)
    if status == ACTIVE and not outcomes and readable:
        # Open with no prices: whatever it showed before (a BetStop's, or nothing) is not what
        # the feed offers now, so it is not bettable until odds list it again.
        skipped.append("no_outcomes")
        readable = False
    name = market.get("name")
    return {
        "market_id": market_id,
        "specifiers": specifiers,
        "status": status,
        "outcomes": outcomes,
        "name": name if isinstance(name, str) else None,
        "groups": _line_groups(market.get("groups")),
        "readable": readable,
    }


def _entries(value, kind):
    """A list of entries: None is none, one object is one; anything else raises `kind`."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]  # one entry, as JSON converted from XML writes a single child
    if not isinstance(value, list):
        raise MessageError(kind, type(value).__name__)
    return value


EVENT_ID_FIELDS = ("event_id", "match_id", "sport_event_id")  # every shape the feed names one in
MAX_EVENT_ID = 64  # characters: the database's column


def event_of(data, required=False):
    """The event a message (or a log entry) is about, the same for every type and shape:
    `event_id`, `match_id` or `sport_event_id`, text or a number. None, or MessageError when
    `required`, if it names none."""
    for name in EVENT_ID_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and value and len(value) <= MAX_EVENT_ID:
            return value
        number = fields.integer(value) if not isinstance(value, str) else None
        if number is not None:
            return str(number)
    if required:
        raise MessageError("missing_event_id", f"none of {', '.join(EVENT_ID_FIELDS)}")
    return None


def _odds_product(data, skipped):
    """(the products a message speaks for, whether its product could be read).

    One named is that one; none named is every product (its stops and its health both rule the
    line); one we cannot read is every product too, counted, and its odds are not bettable.
    """
    value = data.get("product", data.get("product_id"))
    if value is None:
        return frozenset(PRODUCTS), True
    product = fields.integer(value)
    if product in PRODUCTS:
        return frozenset((product,)), True
    skipped.append("bad_product")
    return frozenset(PRODUCTS), False


def _stop_product(data, skipped):
    """A BetStop's (or fixture change's) product: None when absent or not one we know."""
    value = data.get("product", data.get("product_id"))
    if value is None:
        return None
    product = fields.integer(value)
    if product in PRODUCTS:
        return product
    skipped.append("bad_product")
    return None


def _match_status(value):
    """An event's match status as sent, text or a number; None when it cannot be read."""
    if isinstance(value, str) and len(value) <= MAX_NAME:
        return value
    number = fields.integer(value)
    return None if number is None else str(number)


@dataclass(frozen=True)
class Stamps:
    """A message's times: the frame's own, and when we received it (None: not bounded)."""

    sent: object
    received: int | None

    def read(self, data, skipped):
        """The message's time in ms: its own timestamp, else the frame's; None when neither
        reads. Never later than its receipt: a stamp ahead of it is taken as the receipt (and
        counted when more than CLOCK_SKEW_MS ahead), so no clock of the upstream's can hold a line
        open against a later BetStop, or stopped against later odds."""
        timestamp = fields.timestamp_ms(data.get("timestamp"))
        if timestamp is None:
            timestamp = fields.timestamp_ms(self.sent)
        if self.received is None or timestamp is None or timestamp <= self.received:
            return timestamp
        if timestamp > self.received + CLOCK_SKEW_MS:  # beyond the clocks' drift: worth a count
            skipped.append("future_timestamp")
        return self.received


def _market_id(market):
    return fields.integer(market.get("id", market.get("market_id")))


def _group_names(value):
    """Lower-case group names from "a|b", "a,b" or a list of them; None when unreadable."""
    parts = value if isinstance(value, list | tuple) else [value]
    names = []
    for part in parts:
        if not isinstance(part, str):
            return None
        for name in part.replace(",", "|").split("|"):
            name = name.strip().lower()
            if len(name) > MAX_NAME:
                return None
            if name and name not in names:
                names.append(name)
        if len(names) > MAX_GROUPS:
            return None
    return tuple(names)


def _stop_groups(value, skipped):
    """A BetStop's groups: (None for every group, or the names; the reason text to show)."""
    if value is None or value == "" or value == []:
        return None, "all"
    names = _group_names(value)
    if names is None:
        skipped.append("bad_groups")
        return None, "all"
    if not names or "all" in names:
        return None, "all"
    return frozenset(names), "|".join(names)[:MAX_REASON]


def _line_groups(value):
    """The groups a market carries in the feed; None (unknown: any BetStop hits it) unreadable."""
    if value is None or value == "" or value == []:
        return None
    return _group_names(value) or None


def _outcomes(value, skipped):
    """(the outcomes that can be read, whether all of them could)."""
    if value is None:
        return {}, True
    items = _entries(value, "bad_outcomes") if isinstance(value, list | dict) else None
    if items is None:
        skipped.append("bad_outcomes")
        return {}, False
    outcomes, whole = {}, True
    for item in items:
        outcome_id = _outcome_id(item.get("id")) if isinstance(item, dict) else None
        if outcome_id is None:
            skipped.append("bad_outcome")
            whole = False
            continue
        raw_odds = item.get("odds")
        odds = None if raw_odds is None else fields.number(raw_odds)
        if raw_odds is not None and odds is None:
            skipped.append("bad_odds")
            whole = False
            continue
        active = fields.flag(item.get("active"), default=True)
        if active is None:
            skipped.append("bad_active")
            active = False  # an outcome we cannot tell is open is not bettable
        name = item.get("name") if isinstance(item.get("name"), str) else ""
        outcomes[outcome_id] = Outcome(None if odds is None else float(odds), active, name)
    return outcomes, whole


def _outcome_id(value):
    if isinstance(value, str) and value and len(value) <= MAX_NAME:
        return value
    number = fields.integer(value)
    return None if number is None else str(number)
