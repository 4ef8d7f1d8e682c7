"""Random orderings of the feed's messages checked against a pure-Python model of the market rules.

Hypothesis sends odds changes, BetStops, settlements, cancels and fixture cancels for two events, in
any order, with any timestamps, in every form the feed uses for a field (text, microseconds, lists,
another case, data encoded twice, a bare NaN); each goes through the wire decoder, as the relay
does. Restarts come between them: the state rebuilt from its lines, events and BetStop log. After
every step no line may read active that the model says is stopped; and odds newer than everything
the event has seen, listing a line active, must open it (the rules do not simply stop everything).
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from feed.market.descriptions import MarketDescriptions
from feed.market.model import MarketLine
from feed.market.rules import MarketState
from feed.upstream import frames
from tests import feed_messages as messages
from tests.feed_messages import EVENT, LIVE, PREMATCH, event_id

EVENTS = [EVENT, event_id(2)]
DESCRIPTIONS = MarketDescriptions(
    {
        "1": {"name": "1x2", "groups": ["all", "score", "regular_play"]},
        "18": {"name": "Total", "groups": ["all", "score", "regular_play"]},
        "166": {"name": "Total corners", "groups": ["all", "corner", "regular_play"]},
    }
)
LINES = [(1, ""), (18, "total=2.5"), (166, "total=9.5"), (999, "")]  # 999: groups unknown
GROUPS = {1: {"score", "regular_play"}, 18: {"score", "regular_play"}, 166: {"corner"}, 999: None}
BASE = 1_764_843_686_000

# Each field's forms: (as sent, as the model reads it).
ODDS_STATUSES = [
    (1, "active"),
    ("active", "active"),
    (None, "active"),  # absent: active
    (-1, "suspended"),
    ("suspended", "suspended"),
    (0, "deactivated"),
    (-2, "handed_over"),
    (-3, "settled"),
    ("weird", "suspended"),  # unreadable: suspended
]
PRICES = [(2.5, True), ("2.5", True), (None, True), ("", False), (float("nan"), False)]
ODDS_PRODUCTS = [(1, LIVE), (3, PREMATCH), ("3", PREMATCH), (None, LIVE), ("x", None)]
STOP_PRODUCTS = [(1, LIVE), (3, PREMATCH), ("3", PREMATCH), (None, None), (2, None)]
STOP_PRODUCTS += [(float("inf"), None)]
STOP_GROUPS = [
    ("all", None),
    ("ALL", None),
    (None, None),
    ("", None),
    (7, None),  # unreadable: every group
    ({"x": 1}, None),
    ("score", {"score"}),
    ("Corner", {"corner"}),
    (["corner", "1st_half"], {"corner", "1st_half"}),
    ("score|CORNER", {"score", "corner"}),
    ("1st_half", {"1st_half"}),
]
MARKET_STATUSES = ["suspended", "", None, "deactivated", "weird"]
TIME_FORMS = ["int", "text", "float", "micros", "seconds", "envelope", "envelope_text"]

times = st.integers(min_value=0, max_value=40).map(lambda step: BASE + step * 10)
events = st.sampled_from(EVENTS)


def timed(data, at, form):
    """(data, envelope time) with the time `at` (ms) sent in `form`."""
    if form == "none":
        return data, None
    sent = {
        "int": at,
        "text": str(at),
        "float": float(at),
        "micros": at * 1000,
        "seconds": f"{at / 1000:.3f}",
    }
    if form in sent:
        return data | {"timestamp": sent[form]}, None
    return data, at if form == "envelope" else str(at)


odds_changes = st.tuples(
    st.just("odds"),
    events,
    times,
    st.sampled_from(TIME_FORMS),
    st.sampled_from(ODDS_PRODUCTS),
    st.booleans(),  # the older shape, or the newer
    st.lists(
        st.tuples(
            st.sampled_from(range(len(LINES))),
            st.sampled_from(ODDS_STATUSES),
            st.sampled_from(PRICES),
        ),
        min_size=1,
        max_size=4,
        unique_by=lambda entry: entry[0],
    ),
)
bet_stops = st.tuples(
    st.just("stop"),
    events,
    times,
    st.sampled_from([*TIME_FORMS, "none"]),
    st.sampled_from(STOP_PRODUCTS),
    st.sampled_from(STOP_GROUPS),
    st.sampled_from(MARKET_STATUSES),
    st.booleans(),  # data encoded twice
)
closes = st.tuples(
    st.sampled_from(["settle", "cancel"]),
    events,
    times,
    st.sampled_from(range(len(LINES))),
    st.booleans(),  # markets as a list, or one object
)
fixture_cancels = st.tuples(st.just("fixture_cancel"), events, times, st.sampled_from([3, "3"]))
restarts = st.tuples(st.just("restart"), events)
# Odds changes and BetStops most often: a cancelled fixture ends its event's story.
WEIGHTED = [odds_changes] * 8 + [bet_stops] * 6 + [closes] * 2 + [fixture_cancels, restarts]
steps = st.lists(st.sampled_from(WEIGHTED).flatmap(lambda strategy: strategy), max_size=40)


class Model:
    """The rules as plain sets and timestamps, none of the state's bookkeeping."""

    def __init__(self):
        self.odds = {}  # line key -> (time, status, product) of the latest odds applied
        self.closed = set()
        self.cancelled = set()
        self.stops = {event: [] for event in EVENTS}  # (time, groups or None, product or None)
        self.newest = dict.fromkeys(EVENTS, 0)
        self.product = dict.fromkeys(EVENTS, LIVE)

    def stopped(self, key):
        event, market_id, _ = key
        if key in self.closed or event in self.cancelled or key not in self.odds:
            return True
        at, status, product = self.odds[key]
        if status != "active":
            return True
        line_groups = GROUPS[market_id]
        return any(
            stop_at >= at
            and (stop_product is None or stop_product == product)
            and (groups is None or line_groups is None or groups & line_groups)
            for stop_at, groups, stop_product in self.stops[event]
        )

    def odds_change(self, event, at, product, lines):
        """Apply the lines; return the keys whose odds applied and list them active."""
        if product is not None:
            self.product[event] = product
        opened = []
        for key, status, readable in lines:
            if key in self.closed:
                continue
            if not readable or product is None:
                status = "suspended" if status == "active" else status
            known = self.odds.get(key)
            if status in ("settled", "cancelled"):
                self.closed.add(key)
                continue
            if known is not None and at < known[0]:
                continue
            if known is not None and status == "handed_over" and known[2] == LIVE:
                continue
            effective = (
                product if product is not None else (known or (0, 0, self.product[event]))[2]
            )
            self.odds[key] = (at, status, effective)
            if status == "active":
                opened.append(key)
        self.newest[event] = max(self.newest[event], at)
        return opened


def frame_for(step, model):
    """The raw text frame of a step, and what it does to the model."""
    kind, event = step[0], step[1]
    if kind == "odds":
        _, _, at, form, (product_sent, product), old_shape, entries = step
        listed = []
        markets = []
        for index, (status_sent, status), (price, readable) in entries:
            market_id, specifiers = LINES[index]
            outcomes = [messages.outcome("1", price)]  # a price None is sent as null
            if old_shape:
                markets.append(messages.old_market(market_id, specifiers, status_sent, outcomes))
            else:
                line = messages.line(specifiers, status_sent, outcomes)
                markets.append(messages.market(market_id, line))
            listed.append(((event, market_id, specifiers), status, readable))
        build = messages.odds_old if old_shape else messages.odds
        data, sent = timed(build(markets, event, product_sent), at, form)
        newest_before = model.newest[event]
        opened = model.odds_change(event, at, product, listed)
        must_open = opened if at > newest_before and event not in model.cancelled else []
        return frames.encode_text(frames.ODDS_CHANGE, data, sent), must_open
    if kind == "stop":
        _, _, at, form, (product_sent, product), (groups_sent, groups), status, twice = step
        data = messages.bet_stop(event, groups_sent, product_sent, None, status)
        data, sent = timed(data, at, form)
        stop_at = model.newest[event] if form == "none" else at
        model.stops[event].append((stop_at, groups, product))
        model.newest[event] = max(model.newest[event], stop_at)
        body = json.dumps(data) if twice else data
        return frames.encode_text(frames.BET_STOP, body, sent), []
    if kind in ("settle", "cancel"):
        _, _, at, index, as_list = step
        market_id, specifiers = LINES[index]
        model.closed.add((event, market_id, specifiers))
        model.newest[event] = max(model.newest[event], at)
        market = {"id": market_id, "specifiers": specifiers}
        markets = [market] if as_list else market
        if kind == "settle":
            data = {"event_id": event, "timestamp": at, "outcomes": {"market": markets}}
            return frames.encode_text(frames.BET_SETTLEMENT, data, at), []
        data = {"event_id": event, "timestamp": at, "market": markets}
        return frames.encode_text(frames.BET_CANCEL, data, at), []
    _, _, at, change_type = step
    model.cancelled.add(event)
    model.newest[event] = max(model.newest[event], at)
    data = messages.fixture_change(event, change_type, None, at)
    return frames.encode_text(frames.FIXTURE_CHANGE, data, at), []


def restarted(state, log):
    """A new process: the state loaded from the lines, events and BetStop log written so far."""
    lines = [
        MarketLine(**(line.to_json() | {"outcomes": {}, "groups": line.groups}))
        for line in state.lines.values()
    ]
    fresh = MarketState(DESCRIPTIONS)
    fresh.restore(list(state.events.values()), lines, log)
    return fresh


@settings(max_examples=500, deadline=None)
@given(steps=steps)
def test_no_line_reads_active_that_the_model_says_is_stopped(steps):
    state, model, log = MarketState(DESCRIPTIONS), Model(), []
    for number, step in enumerate(steps):
        if step[0] == "restart":
            state = restarted(state, log)
            continue
        raw, must_open = frame_for(step, model)
        applied = state.apply(frames.decode(raw))
        if step[0] == "stop":  # what the BetStop log keeps of it
            log.append(
                {
                    "event_id": step[1],
                    "groups": applied.groups,
                    "product": applied.product,
                    "status": applied.status,
                    "sent_at": applied.timestamp,
                }
            )
        for key, line in state.lines.items():
            assert not (line.status == "active" and model.stopped(key)), (number, step, key)
        for key in must_open:
            assert state.lines[key].status == "active", (number, step, key)
    json.dumps(state.snapshot(), allow_nan=False)
