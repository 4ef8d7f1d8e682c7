"""When may a line read bettable on a board? The safety rule as a model, apart from feed/.

The oracle sees a whole history as a test plays it: every upstream frame as sent, in the order it
arrived; the upstream socket going up and down; process restarts; real time passing; our clock
stepping. From that alone it answers, for a line (event id, market id, specifiers), whether the
line may read bettable now, and if not, why. It reads the frames itself and takes the BetStop
groups from the market descriptions file; it imports nothing of feed/, so a mistake there cannot
become a mistake here.

A line may read bettable only if all of these hold:

1. an odds change O listed it active (status missing, "active" or 1, outcomes readable), with a
   readable product or none, and no later message stopped it: a BetStop covering it, an odds
   change listing it otherwise that is not stamped older than O, a settlement or bet cancel of it,
   a fixture change cancelling its event;
2. no BetStop covering it arrived before O stamped at or after O's stamp;
3. (what "covering" means) the BetStop's event is the line's; its groups are "all", meet the
   line's groups, are missing or unreadable, or name a group no market has (any one of them), or
   the line's groups are unknown; and its product has fed the line, or is missing or unreadable.
   Every odds change listing a line feeds it its product; one with none (or one unreadable)
   feeds it both;
4. no gap since O arrived, O's own moment included: no disconnect, no restart or takeover, no
   moment at which a product of the line was down;
5. every product of the line is up now.

Anything else is a stop. Stamps read in ms (seconds recognised), a stamp later than the frame's
receive time is the receive time, and the receive time never goes back when our clock does.
Whether an alive is within 20 s is a matter of real time, which the oracle keeps apart from our
clock: a clock that steps back does not make a silent feed any younger.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

DESCRIPTIONS = (
    Path(__file__).resolve().parent.parent / "feed" / "market" / "market_descriptions.json"
)

ALIVE, FIXTURE_CHANGE, ODDS_CHANGE, BET_STOP = 10000, 10010, 10020, 10030
BET_SETTLEMENT, BET_CANCEL = 10040, 10050
LIVE, PREMATCH = 1, 3
PRODUCTS = (LIVE, PREMATCH)
ALIVE_WITHIN_MS = 20_000  # no alive for a product within 20 s: the product is down
MAX_OFFSET_S = 20  # an alive whose offset_time is above this: the product is down
SECONDS_BELOW = 10**11  # a stamp below this is in seconds (in ms it would be in 1973)
EVENT_KEYS = ("event_id", "match_id", "sport_event_id")
PRODUCT_KEYS = ("product", "product_id")
CANCELLED = 3  # a fixture change's change_type for a cancelled event
UNREADABLE = "unreadable"


def load_groups(path=DESCRIPTIONS):
    """Market id -> its BetStop groups, from a market descriptions file."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    return {
        int(market_id): frozenset(entry.get("groups") or ())
        for market_id, entry in table.items()
        if not market_id.startswith("_")
    }


# Reading the frames ---------------------------------------------------------------------------


def integer(value):
    """An int that is not a bool, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def event_key(data):
    """The event id, normalised the same whatever the key and whether string or number."""
    for name in EVENT_KEYS:
        value = data.get(name)
        if integer(value) is not None:
            return str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def market_key(value):
    if integer(value) is not None:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def specifiers_key(value):
    """Specifiers as one text, their parts in order; None when unreadable."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    return "|".join(sorted(part.strip() for part in value.split("|") if part.strip()))


def line_key(event, market, specifiers):
    """The key of a line as (event id, market id, specifiers) arrive, or None when unreadable."""
    data = {"event_id": event}
    key = (event_key(data), market_key(market), specifiers_key(specifiers))
    return None if None in key else key


def product_of(data):
    """1 or 3; None when the message names no product; UNREADABLE when it names another thing."""
    for name in PRODUCT_KEYS:
        if data.get(name) is not None:
            value = integer(data[name])
            return value if value in PRODUCTS else UNREADABLE
    return None


def stamp_ms(value):
    """A stamp in ms (one in seconds recognised), or None when there is none to read."""
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    value = integer(value)
    if value is None or value <= 0:
        return None
    return value * 1000 if value < SECONDS_BELOW else value


def is_active(status):
    return status is None or status == "active" or integer(status) == 1


def readable_outcomes(outcomes):
    if not isinstance(outcomes, list) or not outcomes:
        return False
    for outcome in outcomes:
        if not isinstance(outcome, dict):
            return False
        oid = outcome.get("id")
        if not (isinstance(oid, str) and oid.strip()) and integer(oid) is None:
            return False
        odds = outcome.get("odds")
        if isinstance(odds, bool) or not isinstance(odds, int | float):
            return False
        if not math.isfinite(odds) or odds <= 0:
            return False
    return True


def listed_lines(data):
    """(market, specifiers, listed active?) of each line an odds change lists, in either shape."""
    markets = data.get("markets")
    for market in markets if isinstance(markets, list) else ():
        lines = market.get("lines") if isinstance(market, dict) else None
        for line in lines if isinstance(lines, list) else ():
            if isinstance(line, dict):
                status = line["line_status"] if "line_status" in line else line.get("status")
                active = is_active(status) and readable_outcomes(line.get("outcomes"))
                yield market.get("id"), line.get("specifiers"), active
    markets = data.get("odds_markets")
    for market in markets if isinstance(markets, list) else ():
        if isinstance(market, dict):
            active = is_active(market.get("status")) and readable_outcomes(market.get("outcomes"))
            yield market.get("id"), market.get("specifiers"), active


def named_lines(markets):
    """(market, specifiers) of each line a settlement or a bet cancel names."""
    for market in markets if isinstance(markets, list) else ():
        if isinstance(market, dict):
            yield market.get("id"), market.get("specifiers")


# The model -------------------------------------------------------------------------------------


@dataclass
class Opening:
    """An odds change that listed a line active: the line may read bettable while it stands."""

    step: int
    stamp: int


@dataclass
class BetStop:
    """What the oracle keeps of a BetStop: odds stamped at or before it cannot open a line."""

    step: int
    event: str
    groups: frozenset | None  # None: the whole event
    product: int | None  # None: every product
    stamp: int


@dataclass
class Line:
    groups: frozenset | None  # None: unknown market, every BetStop of its event covers it
    products: set = field(default_factory=set)  # every product that has fed it
    openings: list = field(default_factory=list)
    stopped: str = ""  # why the last openings went


class Oracle:
    """The safety rule as a model: feed it the history, ask `allowed(key)`."""

    def __init__(self, clock_start, groups=None):
        self.groups = load_groups() if groups is None else groups
        self.known_groups = frozenset().union(*self.groups.values())
        self.real_ms = 0  # real time since the start
        self.skew = clock_start  # our clock = real time + skew
        self.received = 0  # the latest receive time: never goes back
        self.step = 0
        self.socket = False
        self.alive_at = dict.fromkeys(PRODUCTS)  # real time of the product's latest alive
        self.offset = dict.fromkeys(PRODUCTS, 0)
        self.subscribed = dict.fromkeys(PRODUCTS, True)
        self.down_at = dict.fromkeys(PRODUCTS, 0)  # the latest step at which it was down
        self.down_why = dict.fromkeys(PRODUCTS, "")
        self.gap_at, self.gap_why = 0, ""
        self.lines = {}
        self.bet_stops = []
        self._moment()

    # Time and the connection

    def clock(self):
        """Our clock (ms): what the process reads, wrong when it stepped."""
        return self.real_ms + self.skew

    def pass_time(self, ms):
        self.step += 1
        self.real_ms += ms
        self._moment()

    def step_clock(self, ms):
        self.step += 1
        self.skew += ms
        self._moment()

    def connect(self):
        self.step += 1
        self.socket = True
        self._moment()

    def disconnect(self):
        self.step += 1
        self.socket = False
        self._gap("upstream disconnected")

    def restart(self):
        """The process starts again from the database; its socket is down until it connects."""
        self.step += 1
        self.socket = False
        self._gap("process restarted")

    def takeover(self):
        """The leader is killed and a standby takes over: a gap like a restart."""
        self.step += 1
        self.socket = False
        self._gap("leader killed, a standby took over")

    def _gap(self, why):
        self.gap_at, self.gap_why = self.step, f"{why} at step {self.step}"
        self._moment()

    def up(self, product):
        return self.why_down(product) is None

    def why_down(self, product):
        if not self.socket:
            return "the socket is down"
        at = self.alive_at[product]
        if at is None or self.real_ms - at > ALIVE_WITHIN_MS:
            return "no alive within 20 s"
        if self.offset[product] > MAX_OFFSET_S:
            return f"offset_time {self.offset[product]} > {MAX_OFFSET_S}"
        if not self.subscribed[product]:
            return "subscribed=0"
        return None

    def _moment(self):
        for product in PRODUCTS:
            why = self.why_down(product)
            if why is not None:
                self.down_at[product], self.down_why[product] = self.step, why

    # Frames

    def receive(self, raw):
        """One text frame from upstream, as sent."""
        self.step += 1
        self.received = max(self.received, self.clock())
        frame = json.loads(raw)
        data = frame.get("data")
        if isinstance(data, dict):
            cmd = integer(frame.get("cmd"))
            stamp = stamp_ms(data.get("timestamp")) or stamp_ms(frame.get("time"))
            stamp = self.received if stamp is None else min(stamp, self.received)
            handler = {
                ALIVE: self._alive,
                FIXTURE_CHANGE: self._fixture_change,
                ODDS_CHANGE: self._odds_change,
                BET_STOP: self._bet_stop,
                BET_SETTLEMENT: self._settlement,
                BET_CANCEL: self._bet_cancel,
            }.get(cmd)
            if handler is not None:
                handler(data, stamp)
        self._moment()

    def _line(self, key):
        line = self.lines.get(key)
        if line is None:
            line = self.lines[key] = Line(self.groups.get(key[1]))
        return line

    def _alive(self, data, stamp):
        product = product_of(data)
        products = PRODUCTS if product is None else () if product == UNREADABLE else (product,)
        offset = data.get("offset_time")
        if offset is None:
            offset = 0
        elif isinstance(offset, bool) or not isinstance(offset, int | float):
            offset = math.inf  # unreadable: behind
        subscribed = data.get("subscribed")
        for product in products:
            self.alive_at[product] = self.real_ms
            self.offset[product] = offset
            self.subscribed[product] = subscribed not in (0, "0")

    def _odds_change(self, data, stamp):
        event = event_key(data)
        product = product_of(data)
        fed = {product} if product in PRODUCTS else set(PRODUCTS)
        for market, specifiers, active in listed_lines(data):
            key = line_key(event, market, specifiers)
            if key is None:
                continue
            line = self._line(key)
            line.products |= fed
            # Listed active with a product it can read, or none: the odds may open the line.
            # Any other listing, an unreadable product's included, is a listing not active.
            if active and product != UNREADABLE:
                older = [s for s in self.bet_stops if s.stamp >= stamp and self.covers(s, key)]
                if older:
                    line.stopped = (
                        f"odds at step {self.step} stamped {stamp} cannot reopen it: BetStop at"
                        f" step {older[-1].step} is stamped {older[-1].stamp}"
                    )
                else:
                    line.openings.append(Opening(self.step, stamp))
            else:
                kept = [o for o in line.openings if o.stamp > stamp]
                if len(kept) < len(line.openings):
                    line.stopped = f"odds at step {self.step} list it not active"
                line.openings = kept

    def _bet_stop(self, data, stamp):
        event = event_key(data)
        if event is None:
            return
        product = product_of(data)
        stop = BetStop(
            self.step,
            event,
            self._stop_groups(data.get("groups")),
            product if product in PRODUCTS else None,
            stamp,
        )
        self.bet_stops.append(stop)
        for key in self.lines:
            if self.covers(stop, key):
                self._stop(key, f"BetStop at step {self.step} covers it")

    def _stop_groups(self, groups):
        """The groups a BetStop names; None when it covers the whole event."""
        if not isinstance(groups, str):
            return None  # missing or unreadable
        names = frozenset(part.strip() for part in groups.split("|") if part.strip())
        if not names or "all" in names or not names <= self.known_groups:
            return None
        return names

    def covers(self, stop, key):
        if stop.event != key[0]:
            return False
        line = self._line(key)
        if stop.product is not None and stop.product not in line.products:
            return False
        return stop.groups is None or line.groups is None or bool(stop.groups & line.groups)

    def _settlement(self, data, stamp):
        outcomes = data.get("outcomes")
        markets = outcomes.get("market") if isinstance(outcomes, dict) else None
        self._close(data, markets, "settled")

    def _bet_cancel(self, data, stamp):
        self._close(data, data.get("market"), "cancelled")

    def _close(self, data, markets, how):
        event = event_key(data)
        for market, specifiers in named_lines(markets):
            key = line_key(event, market, specifiers)
            if key is not None:
                self._stop(key, f"{how} at step {self.step}")

    def _fixture_change(self, data, stamp):
        change = data.get("change_type")
        if integer(change) == CANCELLED or change == str(CANCELLED):
            event = event_key(data)
            for key in self.lines:
                if key[0] == event:
                    self._stop(key, f"its event cancelled at step {self.step}")

    def _stop(self, key, why):
        line = self._line(key)
        if line.openings:
            line.stopped = why
        line.openings = []

    # The answer

    def allowed(self, key):
        """(True, "") when the line may read bettable now; else (False, why not)."""
        line = self.lines.get(key)
        if line is None:
            return False, "no odds change ever listed it"
        products = sorted(line.products)
        standing, why = [], line.stopped or "no odds change ever listed it active"
        for opening in line.openings:
            late = [p for p in products if self.down_at[p] >= opening.step]
            if opening.step <= self.gap_at:
                why = f"{self.gap_why}, after the odds of step {opening.step}"
            elif late:
                why = (
                    f"product {late[0]} was down ({self.down_why[late[0]]}) at step"
                    f" {self.down_at[late[0]]}, not before the odds of step {opening.step}"
                )
            else:
                standing.append(opening)
        if not standing:
            return False, why
        for product in products:
            why = self.why_down(product)
            if why is not None:
                return False, f"product {product} of the line is down now: {why}"
        return True, ""
