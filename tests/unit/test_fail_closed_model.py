"""Generated feed histories against the safety rule: no line the feed stopped reads bettable.

Hypothesis plays histories of two events and three lines each (so that messages collide often)
against the real market rules and relay: odds changes in both shapes, BetStops of every form,
settlements, cancels, fixture cancels, alives, bursts of odds changes and BetStops that arrive
together (applied as a backlog: BetStops ahead of the odds before them, odds changes a line a
slice), the socket going down and up, restarts from the database, a leader killed and a standby
taking over from what the database held, the database going down and up, silences (the store
writes each second of them), our clock stepping. After every step, and every second of a
silence, a board that followed the relay and one connecting now are read as static/board/ reads
them; every line either shows as bettable must be one the oracle (tests/feed_oracle.py) allows."""

import logging

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from tests import feed_messages as messages
from tests.feed_history import CONNECTING, FOLLOWING, FeedHistory
from tests.feed_messages import LIVE, PREMATCH
from tests.feed_oracle import line_key

SETTINGS = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,  # the same histories on every run: CI is reproducible
    database=None,
    # No explain phase: its notes on which arguments did not matter cost hundreds of histories.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow],
)

LINES = [(1, ""), (18, "total=2.5"), (999999, "")]  # 999999: not in the descriptions
DAY_MS = 86_400_000
# Each strategy draws once: fewer draws, faster examples and shrinking.
# The second event is sent as a number or as a string, under any of the keys: the same event.
EVENTS = st.sampled_from(
    [
        ("sr:match:7001", "event_id"),
        ("sr:match:7001", "match_id"),
        ("sr:match:7001", "sport_event_id"),
        (7002, "event_id"),
        ("7002", "event_id"),
        (7002, "match_id"),
        ("7002", "sport_event_id"),
    ]
)
# Stamps relative to our clock: in the past, now, in the future by up to a day; in ms or seconds.
STAMPS = st.sampled_from(
    [
        (0, "ms"),
        (0, "s"),
        (-1_000, "ms"),
        (-5_000, "s"),
        (-60_000, "ms"),
        (-DAY_MS, "ms"),
        (1_000, "ms"),
        (5_000, "s"),
        (60_000, "ms"),
        (DAY_MS, "ms"),
        (DAY_MS, "s"),
    ]
)
PRODUCTS = st.sampled_from([LIVE, PREMATCH, None])
NAMED_PRODUCTS = st.sampled_from(
    [
        (LIVE, "product"),
        (PREMATCH, "product"),
        (None, "product"),
        (LIVE, "product_id"),
        (PREMATCH, "product_id"),
    ]
)
# How an odds change lists a line: (status, outcomes, key of the status in the newer shape).
LISTINGS = [
    (None, "readable", "line_status"),
    ("active", "readable", "line_status"),
    (1, "readable", "status"),
    ("active", "readable", "status"),
    (-1, "readable", "line_status"),
    ("suspended", "readable", "status"),
    (0, "readable", "line_status"),
    ("deactivated", "readable", "status"),
    (-2, "readable", "line_status"),
    ("active", "empty_odds", "line_status"),
    (None, "not_a_list", "line_status"),
    (1, "no_id", "status"),
    ("active", "missing", "line_status"),
    (None, "missing", "status"),
]
LISTED = st.lists(
    st.sampled_from([(line, *listing) for line in range(len(LINES)) for listing in LISTINGS]),
    min_size=1,
    max_size=len(LINES),
    unique_by=lambda listed: listed[0],
)
GROUPS = st.sampled_from(
    [
        "all",
        "score",
        "regular_play",
        "1st_half",  # a known group none of the lines above is in
        "corner",
        "score|1st_half",
        "1st_half|corner",
        "no_such_group",
        "1st_half|no_such_group",
        "score 1st_half",
        "ALL",
        "",
        None,
        ["all"],
        ["score"],
    ]
)
MARKET_STATUSES = st.sampled_from(["suspended", "deactivated", -1, 0, "", None, "sideways"])
# An alive's (offset_time, subscribed); None: not sent.
ALIVES = st.sampled_from([(0, 1), (0, None), (None, 1), (5, 1), (20, 1), (21, 1), (30, 1), (0, 0)])
MAX_RESTARTS = 1  # a history's; each costs a write and a read of the database
MAX_TAKEOVERS = 1  # a history's; each costs a read of the database
MAX_OUTAGES = 1  # a history's database outages


class FailClosed(RuleBasedStateMachine):
    """One history per example; `app` is set by the test that runs it."""

    app = None
    written = True  # whether the feed's tables may hold rows of an earlier example

    def __init__(self):
        super().__init__()
        self.history = FeedHistory(self.app, emptied=not type(self).written)
        type(self).written = False
        self.restarts = self.takeovers = self.outages = 0
        self.stale = None  # the board the bus kept when Redis went away (None: it did not)
        self.check()

    def teardown(self):
        self.history.close()  # the database up again for the next history

    def stamp(self, stamp):
        offset, unit = stamp
        ms = self.history.clock() + offset
        return ms // 1000 if unit == "s" else ms

    def check(self):
        violations = self.history.violations()
        assert not violations, self.history.report(violations)

    def send(self, cmd, data):
        # Frames come over the socket: none arrives while it is down. (A rule that does nothing
        # then, rather than one disabled: the shrinker can drop any step without breaking the
        # steps after it.)
        if self.history.oracle.socket:
            self.history.send(cmd, data)
            self.check()

    @rule(
        event=EVENTS,
        shape=st.sampled_from(["markets", "odds_markets"]),
        product=PRODUCTS,
        stamp=STAMPS,
        listed=LISTED,
    )
    def odds_change(self, event, shape, product, stamp, listed):
        lines = [(*LINES[index], *listing) for index, *listing in listed]
        data = messages.odds_change(event[0], lines, product, self.stamp(stamp), shape)
        self.send(messages.ODDS_CHANGE, data)

    @rule(
        event=EVENTS,
        groups=GROUPS,
        product=NAMED_PRODUCTS,
        stamp=STAMPS,
        market_status=MARKET_STATUSES,
    )
    def bet_stop(self, event, groups, product, stamp, market_status):
        (event, event_key), (product, product_key) = event, product
        stamp = self.stamp(stamp)
        data = messages.bet_stop(
            event, groups, product, stamp, market_status, event_key, product_key
        )
        self.send(messages.BET_STOP, data)

    @rule(
        before=st.lists(st.tuples(EVENTS, PRODUCTS, STAMPS, LISTED), min_size=1, max_size=3),
        stop=st.tuples(EVENTS, GROUPS, NAMED_PRODUCTS, STAMPS),
        after=st.lists(st.tuples(EVENTS, PRODUCTS, STAMPS, LISTED), max_size=1),
    )
    def burst(self, before, stop, after):
        """Odds changes, a BetStop behind them and maybe odds after it, arriving together: the
        BetStop is applied ahead of the odds before it."""
        if not self.history.oracle.socket:
            return
        sent = []
        for event, product, stamp, listed in before:
            lines = [(*LINES[index], *listing) for index, *listing in listed]
            data = messages.odds_change(event[0], lines, product, self.stamp(stamp))
            sent.append((messages.ODDS_CHANGE, data))
        (event, event_key), groups, (product, product_key), stamp = stop
        data = messages.bet_stop(
            event, groups, product, self.stamp(stamp), "suspended", event_key, product_key
        )
        sent.append((messages.BET_STOP, data))
        for event, product, stamp, listed in after:
            lines = [(*LINES[index], *listing) for index, *listing in listed]
            data = messages.odds_change(event[0], lines, product, self.stamp(stamp))
            sent.append((messages.ODDS_CHANGE, data))
        self.history.send_burst(sent)
        self.check()

    @rule(
        event=EVENTS,
        line=st.sampled_from(LINES),
        product=NAMED_PRODUCTS,
        stamp=STAMPS,
        cancel=st.booleans(),
    )
    def settle_or_cancel(self, event, line, product, stamp, cancel):
        (event, event_key), (product, product_key) = event, product
        build, cmd = (
            (messages.bet_cancel, messages.BET_CANCEL)
            if cancel
            else (messages.bet_settlement, messages.BET_SETTLEMENT)
        )
        self.send(cmd, build(event, *line, product, self.stamp(stamp), event_key, product_key))

    @rule(event=EVENTS, change_type=st.sampled_from([1, 2, 3]), product=NAMED_PRODUCTS)
    def fixture_change(self, event, change_type, product):
        (event, event_key), (product, product_key) = event, product
        stamp = self.history.clock()
        data = messages.fixture_change(event, change_type, product, stamp, event_key, product_key)
        self.send(messages.FIXTURE_CHANGE, data)

    @rule(product=PRODUCTS, alive=ALIVES, stale=st.booleans())
    def alive(self, product, alive, stale):
        now_s = self.history.clock() // 1000 - (3600 if stale else 0)
        self.send(messages.ALIVE, messages.alive(product, *alive, now_s))

    @rule()
    def connect(self):
        if not self.history.oracle.socket:
            self.history.connect()
            self.check()

    @rule()
    def disconnect(self):
        if self.history.oracle.socket:
            self.history.disconnect()
            self.check()

    @rule()
    def restart(self):
        """The process starts again from the database and connects, as it does when started."""
        if self.restarts < MAX_RESTARTS:
            type(self).written = True
            self.restarts += 1
            self.stale = None
            self.history.restart()
            self.check()
            self.history.connect()
            self.check()

    @rule()
    def takeover(self):
        """The leader is killed; a standby restores from the database and connects."""
        if self.takeovers < MAX_TAKEOVERS:
            self.takeovers += 1
            board, self.stale = self.stale, None
            self.history.takeover(board=board)
            self.check()
            self.history.connect()
            self.check()

    @rule()
    def redis_away(self):
        """The bus keeps what the leader published so far, and nothing after: a standby that
        takes over reads that (the leader's store goes on writing)."""
        if self.stale is None:
            self.stale = self.history.hub.board()

    @rule()
    def database_down(self):
        if self.outages < MAX_OUTAGES and not self.history.database_is_down:
            self.outages += 1
            self.history.database_down()
            self.check()

    @rule()
    def database_up(self):
        if self.history.database_is_down:
            self.history.database_up()
            self.check()

    @rule(seconds=st.sampled_from([1, 2, 5, 19, 20, 21, 25, 60]))
    def silence(self, seconds):
        type(self).written = True  # the store writes every second
        self.history.silence(seconds, every_second=self.check)

    @rule(ms=st.sampled_from([-3_600_000, -60_000, -25_000, -5_000, 5_000, 60_000, 3_600_000]))
    def step_clock(self, ms):
        self.history.step_clock(ms)
        self.check()


def test_no_line_the_feed_stopped_reads_bettable(feed_app, caplog):
    # Hundreds of histories: what the relay logs of each (odds up, odds down) is noise here, and
    # capturing it would take longer than the histories themselves.
    caplog.set_level(logging.ERROR, logger="feed")
    machine = type("FailClosedOnThisApp", (FailClosed,), {"app": feed_app})
    run_state_machine_as_test(machine, settings=SETTINGS)


@pytest.mark.parametrize(
    ("shape", "event", "product"),
    [("markets", "sr:match:7001", LIVE), ("odds_markets", 7002, PREMATCH)],
)
def test_a_line_listed_active_on_a_healthy_feed_reads_bettable(feed_app, shape, event, product):
    # Without this, a relay that stopped everything for ever would pass the test above.
    history = FeedHistory(feed_app)
    history.connect()
    history.send(messages.ALIVE, messages.alive(LIVE))
    history.send(messages.ALIVE, messages.alive(PREMATCH))
    data = messages.odds_change(event, [messages.active(1)], product, history.clock(), shape)
    history.send(messages.ODDS_CHANGE, data)
    assert history.oracle.allowed(line_key(event, 1, "")) == (True, "")
    assert history.bettable_on(event, 1) == [FOLLOWING, CONNECTING], history.transcript()


def takeover_with_the_database_down(feed_app, bus_lost):
    """A line written, a second one only queued when the leader is killed: the boards' lines
    once the standby leads with the database down, and once it is back."""
    event, total = "sr:match:7001", messages.active(18, "total=2.5")
    history = FeedHistory(feed_app)
    try:
        history.connect()
        history.send(messages.ALIVE, messages.alive())
        now = history.clock()
        data = messages.odds_change(event, [messages.active(1)], LIVE, now)
        history.send(messages.ODDS_CHANGE, data)
        history.silence(1)  # the store writes it
        history.database_down()
        history.send(messages.ODDS_CHANGE, messages.odds_change(event, [total], LIVE, now))
        history.silence(1)  # the write fails: the line waits in the queue
        history.takeover(bus_lost)  # and is lost with the leader
        assert history.restore_pending
        down = history.boards()[1][1].lines
        history.database_up()
        up = history.boards()[1][1].lines
        return [
            [(key, line["status"], line["reason"]) for key, line in sorted(lines.items())]
            for lines in (down, up)
        ]
    finally:
        history.close()


def test_a_takeover_with_no_bus_restores_only_what_was_written_once_the_database_is_back(
    feed_app,
):
    # Without this, a takeover that lost nothing, or a database that never went down, would
    # pass the test above as well.
    down, up = takeover_with_the_database_down(feed_app, bus_lost=True)
    assert down == []
    assert up == [(("sr:match:7001", 1, ""), "suspended", "feed gap")]


def test_a_takeover_takes_what_the_leader_published_before_the_database_answers(feed_app):
    down, up = takeover_with_the_database_down(feed_app, bus_lost=False)
    both = [
        (("sr:match:7001", 1, ""), "suspended", "feed gap"),
        (("sr:match:7001", 18, "total=2.5"), "suspended", "feed gap"),
    ]
    assert down == both
    assert up == both


def test_a_bet_stop_gone_ahead_of_odds_stamped_after_it_stops_what_they_open(feed_app):
    # In their order the odds open the line and the BetStop behind them stops it, whatever the
    # stamps; applied ahead, it must stop it all the same. Without this, a relay that applied
    # BetStops ahead and let the odds they passed reopen would pass the test above as long as
    # no generated history happened on it.
    event = "sr:match:7001"
    history = FeedHistory(feed_app)
    history.connect()
    history.send(messages.ALIVE, messages.alive())
    now = history.clock()
    history.send(messages.ODDS_CHANGE, messages.odds_change(event, [messages.active(1)], LIVE, now))
    history.send_burst(
        [
            (messages.ODDS_CHANGE, messages.odds_change(event, [messages.active(1)], LIVE, now)),
            (messages.BET_STOP, messages.bet_stop(event, "all", LIVE, now - 60_000)),
        ]
    )
    assert history.relay.counts["bet_stops_ahead"] == 1
    assert history.bettable_on(event, 1) == [], history.transcript()
