"""The market model: statuses, lines, outcomes, events, what applying a message changed, and the
BetStops an event remembers."""

from dataclasses import dataclass, field

from feed.upstream import fields

ACTIVE, SUSPENDED, DEACTIVATED = "active", "suspended", "deactivated"
HANDED_OVER, SETTLED, CANCELLED = "handed_over", "settled", "cancelled"
STATUSES = (ACTIVE, SUSPENDED, DEACTIVATED, HANDED_OVER, SETTLED, CANCELLED)
CLOSED = (SETTLED, CANCELLED)  # for good: no message but a rollback reopens them, and none comes
LIVE, PREMATCH = 1, 3
PRODUCTS = (LIVE, PREMATCH)
FIXTURE_CANCELLED = 3  # a fixture change's change_type
FEED_GAP = "feed gap"  # why a line reads suspended when the feed may have said more meanwhile

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
    why: str | None = None  # a BetStop's reason as the feed gave it (reading.stop_reason)
    stop: "Stop | None" = None  # a BetStop as its event remembers it


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
