"""Fail closed at every seam: what the relay tells a board never shows a stopped line bettable.

Each test plays one seam against the real relay, market rules and store of an app (SQLite and
PostgreSQL), and reads the board two ways: as an open board that got the snapshot and then every
message, and as a board that connects afterwards and gets a fresh snapshot.
"""

import json
import time

import pytest

from feed.market.model import CLOCK_SKEW_MS, FEED_GAP
from feed.upstream import frames
from tests import feed_messages as messages
from tests.feed_messages import EVENT, LIVE, PREMATCH


def now_ms():
    return int(time.time() * 1000)


class Board:
    """What a board shows: a snapshot, then each relay message in order, as static/board.js does."""

    def __init__(self, runtime):
        self.runtime = runtime
        seq, text = runtime.relay.snapshot()
        self.subscribed = runtime.hub.subscribe(after=seq)
        self.subscription = self.subscribed.__enter__()
        self.lines, self.health, self.seq, self.synced = {}, None, 0, False
        self._apply(json.loads(text))

    def read(self):
        taken = self.subscription.take(timeout=0)
        for seq, text in taken:
            message = json.loads(text)
            if seq <= self.seq:
                continue
            if seq != self.seq + 1:
                self.synced = False  # a gap: the board reads suspended and resyncs
            self._apply(message)
        return self

    def line(self, market_id, specifiers=""):
        return self.read().lines.get((EVENT, market_id, specifiers))

    def reads_bettable(self, market_id, specifiers=""):
        """Whether the line reads bettable: open, every product that fed it up, in sync."""
        return self._bettable(self.line(market_id, specifiers))

    def _apply(self, message):
        self.seq = message["seq"]
        if message["type"] == "snapshot":
            self.synced = True
            self.lines = {}
        if "health" in message:
            self.health = message["health"]
        for line in message.get("lines", ()):
            self.lines[(line["event_id"], line["market_id"], line["specifiers"])] = line

    def _bettable(self, line):
        if line is None or not self.synced or line["status"] != "active":
            return False
        health = self.health or {}
        products = line.get("products") or [line["product"]]
        return health.get("connected", False) and all(
            health["products"][str(p)]["up"] for p in products
        )

    def close(self):
        self.subscribed.__exit__(None, None, None)


@pytest.fixture
def runtime(app):
    return app.extensions["feed"]


@pytest.fixture
def board(runtime):
    connected(runtime)
    board = Board(runtime)
    yield board
    board.close()


def send(runtime, cmd, data, received=None):
    received = now_ms() if received is None else received
    runtime.relay.handle(frames.Frame(cmd, received, data), received)


def connected(runtime):
    runtime.relay.connection(True)
    alive(runtime)


def alive(runtime, **data):
    """An alive sent now, of `data` (message fields) over its time and an offset of 0."""
    now = now_ms()
    sent = {"subscribed": None, "now_s": now // 1000, "last_alive_time": None} | data
    send(runtime, frames.ALIVE, messages.alive(**sent), now)


def odds(
    runtime, ts=None, status=1, market_id=1, specifiers="", product=LIVE, received=None, **data
):
    markets = [messages.market(market_id, messages.line(specifiers, status))]
    message = messages.odds(markets, EVENT, product, now_ms() if ts is None else ts, **data)
    send(runtime, frames.ODDS_CHANGE, message, received)


def bet_stop(runtime, ts=None, groups="all", product=None, received=None):
    stamp = now_ms() if ts is None else ts
    message = messages.bet_stop(EVENT, groups, product, stamp, None)
    send(runtime, frames.BET_STOP, message, received)


def connecting_board(runtime):
    """A board that connects now: the fresh snapshot alone."""
    board = Board(runtime)
    board.close()
    return board


def test_a_message_that_fails_half_way_suspends_its_event_on_every_board(runtime, board):
    odds(runtime)
    odds(runtime, market_id=18, specifiers="total=2.5")
    assert board.reads_bettable(1) and board.reads_bettable(18, "total=2.5")
    # The 1x2 line is suspended by the first line, then a line the rules cannot finish fails.
    markets = [
        messages.market(1, messages.line("", -1, [])),
        messages.market(16, messages.line("hcp=1", outcomes=[{"id": "1714"}])),  # no odds
    ]
    failing = messages.odds(markets, EVENT, LIVE, now_ms())
    names = runtime.state.descriptions

    def broken(*args, **kwargs):
        raise ArithmeticError("naming failed half-way")

    names.outcome_name = broken
    send(runtime, frames.ODDS_CHANGE, failing)
    del names.outcome_name
    for reader in (board, connecting_board(runtime)):
        assert not reader.reads_bettable(1)
        assert not reader.reads_bettable(18, "total=2.5")  # its event: what it did is unknown
    bet_stop(runtime)  # a later stop of everything finds nothing open, and says so truthfully
    assert runtime.relay.counts["error_ArithmeticError"] == 1


def test_a_specifier_of_a_million_digits_is_named_without_failing_or_growing(runtime, board):
    odds(runtime, market_id=16, specifiers="hcp=1e1000000")
    line = board.line(16, "hcp=1e1000000")
    assert line is not None and len(json.dumps(line)) < 2000
    odds(runtime, market_id=16, specifiers="hcp=" + "9" * 5000)  # over the bound: its market stops
    assert runtime.relay.counts["bad_specifiers"] == 1


def test_a_prematch_update_does_not_take_a_line_from_live_stops(runtime, board):
    odds(runtime, product=LIVE)
    odds(runtime, product=PREMATCH)
    assert board.reads_bettable(1)
    bet_stop(runtime, product=LIVE)
    for reader in (board, connecting_board(runtime)):
        assert not reader.reads_bettable(1)
    assert board.line(1)["products"] == [LIVE, PREMATCH]


def test_a_line_fed_by_both_products_reads_suspended_when_either_is_down(runtime, board):
    odds(runtime, product=LIVE)
    odds(runtime, product=PREMATCH)
    alive(runtime, product=LIVE, offset_time=30)  # the live source is behind
    runtime.relay.tick()
    assert not board.reads_bettable(1)


def test_odds_with_no_product_are_stopped_by_either_products_bet_stop(runtime, board):
    odds(runtime, product=None)
    assert board.reads_bettable(1)
    bet_stop(runtime, product=PREMATCH)
    assert not board.reads_bettable(1)


def test_odds_stamped_an_hour_ahead_do_not_outlive_the_next_bet_stop(runtime, board):
    odds(runtime, ts=now_ms() + 3_600_000)
    bet_stop(runtime)
    assert not board.reads_bettable(1)
    later = now_ms() + CLOCK_SKEW_MS + 1000  # odds sent after the stop, once clocks can tell
    odds(runtime, ts=later, received=later)
    assert board.reads_bettable(1)
    assert runtime.relay.counts["future_timestamp"] == 1


def test_a_bet_stop_stamped_a_day_ahead_does_not_freeze_later_odds(runtime, board):
    odds(runtime)
    bet_stop(runtime, ts=now_ms() + 86_400_000)
    assert not board.reads_bettable(1)
    later = now_ms() + CLOCK_SKEW_MS + 1000
    odds(runtime, ts=later, received=later)
    assert board.reads_bettable(1)


def test_a_bet_stop_stamped_before_the_odds_it_follows_still_stops_them(runtime, board):
    odds(runtime)
    bet_stop(runtime, ts=now_ms() - 60_000)
    assert not board.reads_bettable(1)


def test_our_clock_stepping_back_cannot_let_odds_sent_before_a_stop_escape_it(runtime, board):
    sent = now_ms()
    odds(runtime, ts=sent)
    hour = 3_600_000
    # Our clock steps back an hour: the stop and odds the upstream sent just before it arrive.
    stop = messages.bet_stop(EVENT, None, None, sent + 10_000, None)
    send(runtime, frames.BET_STOP, stop, sent - hour)
    markets = [messages.market(18, messages.line("total=2.5", outcomes=[]))]
    late = messages.odds(markets, EVENT, LIVE, sent + 5_000)
    send(runtime, frames.ODDS_CHANGE, late, received=sent - hour + 20_000)
    assert not board.reads_bettable(1)
    assert not board.reads_bettable(18, "total=2.5")


def test_an_upstream_reconnect_leaves_every_line_waiting_for_fresh_odds(runtime, board):
    odds(runtime)
    runtime.relay.connection(False)
    connected(runtime)
    for reader in (board, connecting_board(runtime)):
        assert not reader.reads_bettable(1)
    assert board.line(1)["reason"] == FEED_GAP
    odds(runtime)
    assert board.reads_bettable(1)


def test_a_product_down_for_a_while_leaves_its_lines_waiting_for_fresh_odds(runtime, board):
    odds(runtime)
    alive(runtime, offset_time=25)  # the source fell behind: messages may have been missed
    runtime.relay.tick()
    alive(runtime)
    runtime.relay.tick()
    assert not board.reads_bettable(1)
    odds(runtime)
    assert board.reads_bettable(1)


@pytest.mark.parametrize(
    "alive_data",
    [{"subscribed": 0}, {"now_alive_time": (int(time.time()) - 600)}],
    ids=["unsubscribed", "ten-minutes-old"],
)
def test_an_alive_that_cannot_be_believed_keeps_the_product_down(runtime, board, alive_data):
    odds(runtime)
    alive(runtime, **alive_data)
    runtime.relay.tick()
    assert not board.reads_bettable(1)


def test_a_restart_restores_every_line_suspended_and_the_stops_as_they_were_read(app, runtime):
    from app import create_app
    from tests.conftest import base_config, close_app

    connected(runtime)
    stopped = now_ms()
    odds(runtime, ts=stopped - 1000)
    bet_stop(runtime, ts=stopped, groups=["all"])  # a list: the log must keep its meaning
    runtime.store.flush()
    restarted = create_app(base_config(app.config["SQLALCHEMY_DATABASE_URI"]))
    again = restarted.extensions["feed"]
    try:
        again.relay.restore()
        connected(again)
        reader = connecting_board(again)
        assert reader.lines[(EVENT, 1, "")]["status"] == "suspended"
        # Older than the restored stop, however long the restart took: cannot reopen.
        odds(again, ts=stopped - 500)
        assert not connecting_board(again).reads_bettable(1)
        assert again.store.recent_bet_stops(1)[0]["groups"] == "all"
    finally:
        close_app(restarted)


@pytest.mark.parametrize(
    "stop",
    [
        {"match_id": EVENT, "product_id": LIVE},
        {"groups": "score 1st_half"},
        {"groups": "no_such_group"},
    ],
    ids=["older-shape", "space-separated", "unknown-group"],
)
def test_a_bet_stop_in_any_shape_or_with_groups_it_cannot_match_stops_the_event(
    runtime, board, stop
):
    odds(runtime)
    data = messages.bet_stop(EVENT, "all", None, now_ms(), None) | stop
    if "match_id" in stop:
        del data["event_id"]
    send(runtime, frames.BET_STOP, data)
    assert not board.reads_bettable(1)
    skipped = runtime.relay.counts["unknown_groups"] + runtime.relay.counts["missing_event_id"]
    assert skipped == (0 if "match_id" in stop else 1)


def test_health_reaches_the_boards_at_least_every_five_seconds_whatever_the_feed(runtime):
    clock = [now_ms()]
    runtime.relay.clock = runtime.relay.elapsed = lambda: clock[0]
    with runtime.hub.subscribe(after=runtime.relay.seq) as subscription:
        for _ in range(12):
            clock[0] += 1000
            runtime.relay.tick()
        health = [json.loads(text) for _, text in subscription.take(timeout=0)]
    assert len([m for m in health if m["type"] == "health"]) >= 2


def test_odds_stamped_ahead_of_their_receipt_do_not_lift_a_stop_they_arrive_with(runtime, board):
    odds(runtime)
    at = now_ms()
    # Both received in the same millisecond, whatever our clock does meanwhile: odds received
    # later, and stamped later once bounded by their receipt, would be the upstream's reopening.
    bet_stop(runtime, ts=at, received=at)
    odds(runtime, ts=at + 1000, received=at)  # a second ahead, within the clocks' drift
    assert not board.reads_bettable(1)
