"""Reading the feed's messages for the rules: each field read at the edge, the way that stops
betting when it cannot be read."""

from dataclasses import dataclass

from feed.market.model import (
    ACTIVE,
    CLOCK_SKEW_MS,
    MAX_GROUPS,
    MAX_NAME,
    MAX_REASON,
    PRODUCTS,
    SUSPENDED,
    MessageError,
    Outcome,
    normalise_specifiers,
    status_name,
)
from feed.upstream import fields


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


def odds_lines(data, skipped):
    """Each line of an odds change as LineUpdate fields, in either of the feed's two shapes.

    A market whose lines cannot be told apart comes as its market id alone; a part that names
    no market is skipped. Each is named in `skipped`.
    """
    return list(odds_line_reads(data, skipped))


def odds_line_reads(data, skipped):
    """odds_lines() one at a time, each read when it is asked for: an iterator.

    Whatever makes the whole message unreadable (MessageError) is raised here, before the first.
    """
    if "odds_markets" in data:  # the older shape: one line per market entry
        return _older_reads(entries(data.get("odds_markets"), "bad_odds_markets"), skipped)
    return _newer_reads(entries(data.get("markets"), "bad_markets"), skipped)


def odds_line_count(data):
    """How many lines an odds change lists, counted without reading them (0 when unreadable)."""
    markets = data.get("odds_markets", data.get("markets"))
    if not isinstance(markets, list):
        return 0
    if "odds_markets" in data:
        return len(markets)
    count = 0
    for market in markets:
        lines = market.get("lines") if isinstance(market, dict) else None
        count += len(lines) if isinstance(lines, list) else 1
    return count


def _older_reads(markets, skipped):
    for market in markets:
        if not isinstance(market, dict):
            skipped.append("bad_market")
            continue
        read = _line_fields(market, market, market, skipped)
        if read is not None:
            yield read


def _newer_reads(markets, skipped):  # markets holding lines
    for market in markets:
        if not isinstance(market, dict):
            skipped.append("bad_market")
            continue
        lines = market.get("lines")
        if lines is None:
            continue
        if isinstance(lines, dict):
            lines = [lines]
        if not isinstance(lines, list) or not all(isinstance(entry, dict) for entry in lines):
            market_id = read_market_id(market)
            skipped.append("bad_lines" if market_id is not None else "bad_market_id")
            if market_id is not None:
                yield market_id
            lines = (
                [entry for entry in lines if isinstance(entry, dict)]
                if isinstance(lines, list)
                else []
            )
        for entry in lines:
            read = _line_fields(market, entry, entry if _has_status(entry) else market, skipped)
            if read is not None:
                yield read


def _has_status(source):
    return "line_status" in source or "status" in source


def _line_fields(market, line, status_source, skipped):
    """The fields of one line; its market id alone when only that can be read; None if not even."""
    market_id = read_market_id(market)
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


def entries(value, kind):
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


def odds_product(data, skipped):
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


def stop_product(data, skipped):
    """A BetStop's (or fixture change's) product: None when absent or not one we know."""
    value = data.get("product", data.get("product_id"))
    if value is None:
        return None
    product = fields.integer(value)
    if product in PRODUCTS:
        return product
    skipped.append("bad_product")
    return None


def match_status(value):
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


def read_market_id(market):
    return fields.integer(market.get("id", market.get("market_id")))


def group_names(value):
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


def stop_groups(value, skipped):
    """A BetStop's groups: (None for every group, or the names; the reason text to show)."""
    if value is None or value == "" or value == []:
        return None, "all"
    names = group_names(value)
    if names is None:
        skipped.append("bad_groups")
        return None, "all"
    if not names or "all" in names:
        return None, "all"
    return frozenset(names), "|".join(names)[:MAX_REASON]


STOP_REASON_FIELDS = ("betstop_reason", "stop_reason", "bet_stop_reason")  # as the board reads
MAX_STOP_REASON = 80  # characters of a reason the feed gives in words: the log's column


def stop_reason(data):
    """Why a BetStop stopped, as the feed said it: UOF's reason id as its digits ("1"), or the
    feed's own words cut to 80 characters; None when it gives none that can be read. The first
    of `betstop_reason`, `stop_reason`, `bet_stop_reason` it sends is the one (the board's order).
    """
    for name in STOP_REASON_FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value.strip()[:MAX_STOP_REASON] or None
        number = fields.integer(value) if not isinstance(value, bool) else None
        return None if number is None else str(number)
    return None


def _line_groups(value):
    """The groups a market carries in the feed; None (unknown: any BetStop hits it) unreadable."""
    if value is None or value == "" or value == []:
        return None
    return group_names(value) or None


def _outcomes(value, skipped):
    """(the outcomes that can be read, whether all of them could)."""
    if value is None:
        return {}, True
    items = entries(value, "bad_outcomes") if isinstance(value, list | dict) else None
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


def event_fields(data):
    """What a message says of its event and can be read: scores, match status, name, sport."""
    found = {}
    for name in ("home_score", "away_score"):
        score = fields.integer(data.get(name))
        if score is not None:
            found[name] = score
    status = match_status(data.get("match_status"))
    if status is not None:
        found["status"] = status
    title = data.get("event_name") or data.get("name")
    home, away = data.get("home_team"), data.get("away_team")
    if not title and isinstance(home, str) and isinstance(away, str) and home and away:
        title = f"{home} v {away}"
    if isinstance(title, str):
        found["name"] = title
    if isinstance(data.get("sport"), str):
        found["sport"] = data["sport"]
    return found
