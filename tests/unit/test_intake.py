"""The relay's intake: a backlog applied BetStops first, and large odds changes in slices.

Each test queues frames as the upstream client does (`add`), applies them as it does
(`advance`), and reads what the relay published as a board does, message by message.
"""

import json

import pytest

from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.rules import MarketState
from feed.relay import Relay
from tests import feed_messages as messages
from tests.board_view import BoardView
from tests.feed_history import CapturedHub
from tests.feed_messages import EVENT, LIVE, PREMATCH

NOW = 1_764_843_686_000
OTHER = "sr:match:2"


class NoStore:
    """The relay's store, minus the database."""

    def changed(self, lines, event):
        pass

    def log_bet_stop(self, applied, received_ms):
        return {"event_id": applied.event_id}

    def update_bet_stop(self, row):
        pass


def relay(slice_lines=500):
    """A relay connected to a healthy feed: what odds list active reads bettable."""
    state = MarketState(MarketDescriptions.load(None))
    ours = Relay(
        state, FeedHealth(), CapturedHub(), NoStore(), lambda: NOW + 60_000, slice_lines=slice_lines
    )
    ours.connection(True)
    ours.receive(text(messages.ALIVE, messages.alive(now_s=NOW // 1000 + 60), NOW + 60_000))
    return ours


def text(cmd, data, time=None):
    time = data.get("timestamp") if time is None else time
    return json.dumps({"cmd": cmd, "time": time, "data": data})


def odds(stamp, *market_ids, event=EVENT, product=LIVE, status=1):
    lines = [
        {
            "id": market_id,
            "specifiers": "",
            "status": status,
            "outcomes": [{"id": "1", "odds": 2.0}],
        }
        for market_id in market_ids
    ]
    data = {"event_id": event, "timestamp": stamp, "odds_markets": lines}
    if product is not None:
        data["product"] = product
    return text(messages.ODDS_CHANGE, data)


def bet_stop(stamp, event=EVENT, product=LIVE, groups="all"):
    data = messages.bet_stop(event, groups, product, stamp)
    return text(messages.BET_STOP, data, stamp)


class Following:
    """A board that took the snapshot when the test began and then every message."""

    def __init__(self, relay):
        self.relay = relay
        self.board = BoardView(relay.snapshot()[1])
        self.read = len(relay.hub.published)

    def messages(self):
        """The messages published since the last call, each applied to the board as it is read:
        (message, whether the line (EVENT, 1) reads active on the board after it)."""
        published = self.relay.hub.published[self.read :]
        self.read += len(published)
        seen = []
        for _, raw in published:
            self.board.apply(raw)
            line = self.board.line(EVENT, 1)
            seen.append((json.loads(raw), line is not None and line["status"] == "active"))
        return seen


def drain(relay):
    while relay.receive.advance(0):
        pass


def test_a_bet_stop_behind_queued_odds_goes_out_first():
    ours = relay()
    ours.receive(odds(NOW - 10, 1))
    following = Following(ours)
    for _ in range(100):
        ours.receive.add(odds(NOW - 5, 1, 18, event=OTHER))
    ours.receive.add(bet_stop(NOW))
    ours.receive.advance(0)
    (first, active), *_ = following.messages()
    assert first["type"] == "bet_stop" and not active
    drain(ours)
    seqs = [message["seq"] for message, _ in following.messages()]
    assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + 100))
    assert ours.counts["bet_stops_ahead"] == 1


class OutletHub(CapturedHub):
    """A hub that, like the feed process's outlet onto the bus, sends from a thread of its own:
    it records each wait for what was published to have left, and how far it had got."""

    def __init__(self):
        super().__init__()
        self.waits = []

    def wait_sent(self, seq, timeout):
        self.waits.append((seq, len(self.published)))
        return True


def test_a_bet_stop_gone_ahead_leaves_the_process_before_anything_else_is_applied():
    # The feed process applies a burst on one thread and publishes on another, which needs
    # the interpreter lock for each call to Redis: a large frame's parse, right behind the
    # BetStop, held its publishing back for 35-200 ms.
    ours = relay()
    ours.hub = hub = OutletHub()
    for _ in range(3):
        ours.receive.add(odds(NOW - 5, 1, 18, event=OTHER))
    ours.receive.add(bet_stop(NOW))
    ours.receive.advance(0)
    stop_seq = next(seq for seq, text in hub.published if '"bet_stop"' in text)
    assert hub.waits == [(stop_seq, len(hub.published))]  # waited for, nothing applied since
    drain(ours)
    assert len(hub.waits) == 1  # once, for the BetStops gone ahead, not for every frame


@pytest.mark.parametrize("odds_stamp", [NOW - 5, NOW, NOW + 5], ids=["before", "same", "after"])
@pytest.mark.parametrize("product", [LIVE, None])
def test_odds_queued_before_a_bet_stop_never_reopen_what_it_stopped(odds_stamp, product):
    # In their order, the odds would have opened the line and the BetStop behind them stopped
    # it, however they were stamped: applied ahead, it must leave the line no less stopped.
    ours = relay()
    ours.receive(odds(NOW - 10, 1))
    following = Following(ours)
    ours.receive.add(odds(odds_stamp, 1, product=product))
    ours.receive.add(odds(odds_stamp, 1, 18, product=product))
    ours.receive.add(bet_stop(NOW))
    drain(ours)
    seen = following.messages()
    assert seen[0][0]["type"] == "bet_stop"
    assert [active for _, active in seen] == [False] * len(seen)
    assert ours.state.lines[(EVENT, 1, "")].status == "suspended"


def test_older_odds_that_make_a_line_live_are_held_by_a_live_bet_stop_gone_ahead():
    # The line is prematch's; odds of live, older than its prematch odds, make it live's too, so
    # that the live BetStop behind them stops it. Gone ahead of them, it found the line
    # prematch's only: what they change is held by it all the same.
    ours = relay()
    ours.receive(odds(NOW - 10, 1, product=PREMATCH))
    following = Following(ours)
    ours.receive.add(odds(NOW - 20, 1, product=LIVE))
    ours.receive.add(bet_stop(NOW - 15, product=LIVE))
    drain(ours)
    assert [active for _, active in following.messages()] == [True, False]
    assert ours.state.lines[(EVENT, 1, "")].status == "suspended"


def test_odds_that_arrive_after_the_bet_stop_reopen_as_in_order():
    ours = relay()
    ours.receive(odds(NOW - 10, 1))
    ours.receive.add(odds(NOW - 5, 1, event=OTHER))
    ours.receive.add(bet_stop(NOW - 3))
    ours.receive.add(odds(NOW - 1, 1))
    drain(ours)
    assert ours.state.lines[(EVENT, 1, "")].status == "active"
    assert ours.counts["bet_stops_ahead"] == 1


def test_a_bet_stop_without_a_time_keeps_its_place():
    ours = relay()
    ours.receive(odds(NOW - 10, 1))
    following = Following(ours)
    ours.receive.add(odds(NOW - 5, 1, event=OTHER))
    data = messages.bet_stop(EVENT, "all", LIVE, None)
    ours.receive.add(json.dumps({"cmd": messages.BET_STOP, "data": data}))
    drain(ours)
    assert [message["type"] for message, _ in following.messages()] == [
        "odds_change",
        "bet_stop",
    ]
    assert ours.counts["bet_stops_ahead"] == 0


def big_odds(stamp, lines, event=EVENT, status=1):
    markets = [
        {
            "id": 18,
            "specifiers": f"total={i}.5",
            "status": 1 if i % 3 else status,
            "outcomes": [{"id": "12", "odds": 1.5 + i / 100}, {"id": "13", "odds": 2.5}],
        }
        for i in range(lines)
    ]
    data = {
        "event_id": event,
        "product": LIVE,
        "timestamp": stamp,
        "odds_markets": markets,
        "home_score": 1,
    }
    return text(messages.ODDS_CHANGE, data)


def test_a_large_odds_change_goes_out_in_slices_and_ends_as_applied_at_once():
    whole, sliced = relay(), relay(slice_lines=7)
    for ours in (whole, sliced):
        ours.receive(big_odds(NOW - 10, 50))
        ours.receive.add(big_odds(NOW - 5, 50, status=-1))
        drain(ours)
    assert whole.state.snapshot() == sliced.state.snapshot()
    parts = [json.loads(raw) for _, raw in sliced.hub.published]
    parts = [message for message in parts if message["type"] == "odds_change"][1:]
    assert [message.get("part") for message in parts] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [len(message["lines"]) for message in parts] == [7] * 7 + [1]
    assert all("odds_markets" not in message["data"] for message in parts)
    assert all(message["event"]["home_score"] == 1 for message in parts)
    # A board that followed each relay reads the same board.
    boards = []
    for ours in (whole, sliced):
        board = BoardView(json.dumps({"type": "snapshot", "seq": 0, "lines": [], "events": []}))
        for _, raw in ours.hub.published:
            board.apply(raw)
        assert board.synced
        boards.append((board.lines, board.events))
    assert boards[0] == boards[1]


def test_each_advance_applies_one_slice_when_its_time_is_up():
    # Whoever applies the backlog gets it back between slices: the client lets the rest of
    # the worker run there (test_feed_client.py).
    ours = relay(slice_lines=10)
    ours.receive.add(big_odds(NOW, 35))
    ours.hub.published.clear()
    published = []
    while ours.receive.advance(0):
        published.append(len(ours.hub.published))
    published.append(len(ours.hub.published))
    # Parsing is a step of its own, then a slice a call (with the parse's check, the first).
    assert published == [0, 1, 2, 3, 4, 4]


def test_a_bet_stop_arriving_during_a_sliced_odds_change_holds_its_remaining_slices():
    ours = relay(slice_lines=1)
    ours.receive(odds(NOW - 10, 1, 18, 16))
    following = Following(ours)
    ours.receive.add(odds(NOW + 5, 1, 18, 16))  # stamped after the BetStop: the hold stops it
    ours.receive.advance(0)  # decoding
    ours.receive.advance(0)  # the first line
    ours.receive.add(bet_stop(NOW))
    drain(ours)
    kinds = [message["type"] for message, _ in following.messages()]
    assert kinds[:2] == ["odds_change", "bet_stop"]
    for key in [(EVENT, 1, ""), (EVENT, 18, ""), (EVENT, 16, "")]:
        assert ours.state.lines[key].status == "suspended", key


def test_the_snapshot_between_slices_has_the_number_of_the_last_slice_out():
    ours = relay(slice_lines=5)
    ours.receive.add(big_odds(NOW, 20))
    while ours.receive.advance(0):
        seq, snapshot = ours.snapshot()
        assert json.loads(snapshot)["seq"] == seq == len(ours.hub.published)


def test_reading_ahead_stops_at_its_bound(monkeypatch):
    monkeypatch.setattr("feed.intake.AHEAD_FRAMES", 3)
    ours = relay()
    for stamp in range(3):
        assert not ours.receive.full
        ours.receive.add(odds(NOW + stamp, 1))
    assert ours.receive.full
    drain(ours)
    assert not ours.receive.full and ours.receive.bytes == 0


def test_bet_stops_arriving_together_go_out_in_their_own_order():
    ours = relay()
    ours.receive(odds(NOW - 10, 1))
    following = Following(ours)
    for stamp in range(50):
        ours.receive.add(bet_stop(NOW + stamp))
        if stamp % 7 == 0:
            ours.receive.add(odds(NOW + stamp, 1, event=OTHER))
    drain(ours)
    stops = [m["data"]["timestamp"] for m, _ in following.messages() if m["type"] == "bet_stop"]
    assert stops == [NOW + stamp for stamp in range(50)]
