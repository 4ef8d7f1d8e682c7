"""What the market state forgets after a grace: memory, snapshots and SUBSCRIBE stay flat."""

import json

import pytest

import feed.market.retention
from feed.market.retention import IDLE_EVENT_MS, MEMORY_KEPT_MS, Retention
from feed.upstream import frames
from feed.upstream.frames import Frame
from tests import feed_messages as messages
from tests.bare_relay import bare_relay
from tests.feed_messages import odds_frame as odds
from tests.feed_messages import settlement_frame as settle

GRACE = 60_000
RECEIVED = 10_000  # when the relay got each message: after every stamp sent here


@pytest.fixture
def relay():
    relay = bare_relay()
    relay.connection(True)
    relay.handle(Frame(frames.ALIVE, RECEIVED, {}), RECEIVED)  # both products up: odds open lines
    return relay


def board(relay):
    snapshot = json.loads(relay.snapshot()[1])
    lines = {(line["event_id"], line["market_id"]) for line in snapshot["lines"]}
    return {event["event_id"] for event in snapshot["events"]}, lines


def test_closed_lines_go_after_the_grace_and_open_ones_stay(relay):
    retention = Retention(GRACE)
    relay.handle(odds("a", 1, 18, 29), RECEIVED)
    relay.handle(settle("a", 1), RECEIVED)
    relay.handle(odds("a", 18, status=0, timestamp=6000), RECEIVED)  # deactivated
    assert relay.prune(retention, 1_000) == ([], [])  # first seen closed now
    assert relay.prune(retention, 1_000 + GRACE - 1) == ([], [])
    assert board(relay) == ({"a"}, {("a", 1), ("a", 18), ("a", 29)})
    dropped, _ = relay.prune(retention, 1_000 + GRACE)
    assert sorted(dropped) == [("a", 1, ""), ("a", 18, "")]
    assert board(relay) == ({"a"}, {("a", 29)})
    assert set(relay.state.lines) == {("a", 29, "")}


def test_a_line_reopened_within_the_grace_is_kept_and_its_clock_starts_again(relay):
    retention = Retention(GRACE)
    relay.handle(odds("a", 1, 18), RECEIVED)
    relay.handle(odds("a", 1, status=0, timestamp=2000), RECEIVED)
    relay.prune(retention, 0)
    relay.handle(odds("a", 1, timestamp=3000), RECEIVED)  # active again
    relay.prune(retention, GRACE // 2)
    relay.handle(odds("a", 1, status=0, timestamp=4000), RECEIVED)
    relay.prune(retention, GRACE)
    assert board(relay)[1] == {("a", 1), ("a", 18)}
    relay.prune(retention, GRACE + GRACE)
    assert board(relay)[1] == {("a", 18)}


def test_stale_odds_cannot_reopen_a_line_once_it_is_forgotten(relay):
    retention = Retention(GRACE)
    relay.handle(odds("a", 1, 18, timestamp=1000), RECEIVED)
    relay.handle(settle("a", 1, 18, timestamp=5000), RECEIVED)
    relay.prune(retention, 0)
    relay.prune(retention, GRACE)
    assert board(relay) == (set(), set())
    relay.handle(odds("a", 1, timestamp=4000), RECEIVED)  # older than the settlement: stays stopped
    assert relay.state.lines[("a", 1, "")].status == "suspended"
    relay.handle(odds("a", 18, timestamp=6000), RECEIVED)  # the feed's newest word
    assert relay.state.lines[("a", 18, "")].status == "active"


def test_the_memory_of_a_forgotten_event_goes_a_day_later(relay):
    retention = Retention(GRACE)
    relay.handle(odds("a", 1), RECEIVED)
    relay.handle(settle("a", 1), RECEIVED)
    stop = {"event_id": "never-seen", "timestamp": 1000}
    relay.handle(Frame(frames.BET_STOP, 1000, stop), RECEIVED)
    relay.prune(retention, 0)
    relay.prune(retention, GRACE)
    assert set(relay.state.memory) == {"a", "never-seen"}
    relay.prune(retention, MEMORY_KEPT_MS - 1)
    assert set(relay.state.memory) == {"a", "never-seen"}
    relay.prune(retention, MEMORY_KEPT_MS)  # orphaned since 0
    assert set(relay.state.memory) == {"a"}
    relay.prune(retention, GRACE + MEMORY_KEPT_MS)  # orphaned since its lines went, at GRACE
    assert relay.state.memory == {}


def test_an_event_goes_with_its_last_line_and_leaves_the_subscribe_list(app):
    runtime = app.extensions["feed"]
    retention = Retention(GRACE)
    runtime.relay.handle(odds("a", 1, 18), RECEIVED)
    runtime.relay.handle(odds("b", 1), RECEIVED)
    runtime.relay.handle(settle("a", 1, 18), RECEIVED)
    runtime.relay.prune(retention, 0)
    assert runtime.term.subscriptions() == ["a", "b"]
    assert runtime.relay.prune(retention, GRACE) == ([("a", 1, ""), ("a", 18, "")], ["a"])
    assert runtime.term.subscriptions() == ["b"]
    assert board(runtime.relay) == ({"b"}, {("b", 1)})
    assert "a" not in runtime.state.events and "a" not in runtime.state.lines_by_event


def test_an_event_without_odds_stays_unless_it_is_over(relay):
    retention = Retention(GRACE)
    fixture = {"product": 3, "change_type": 1, "timestamp": 1000}
    relay.handle(Frame(frames.FIXTURE_CHANGE, 1000, fixture | {"event_id": "later"}), RECEIVED)
    relay.handle(Frame(frames.FIXTURE_CHANGE, 1000, fixture | {"event_id": "off"}), RECEIVED)
    cancel = fixture | {"event_id": "off", "change_type": 3, "timestamp": 2000}
    relay.handle(Frame(frames.FIXTURE_CHANGE, 2000, cancel), RECEIVED)
    relay.prune(retention, 0)
    assert relay.prune(retention, 10 * GRACE) == ([], ["off"])
    assert board(relay)[0] == {"later"}


def fixture(event_id, start_time=None):
    data = messages.fixture_change(event_id, 1, messages.PREMATCH, 1000, start_time=start_time)
    return messages.frame(frames.FIXTURE_CHANGE, data)


def test_a_fixture_that_never_gets_odds_goes_once_its_start_is_past_or_after_a_day(relay):
    retention = Retention(GRACE)
    now = 5 * 86_400_000
    relay.handle(fixture("started", start_time=now - 2 * GRACE), RECEIVED)
    relay.handle(fixture("tomorrow", start_time=now + 86_400_000), RECEIVED)
    relay.handle(fixture("unknown"), RECEIVED)
    assert relay.prune(retention, now) == ([], ["started"])
    assert relay.prune(retention, now + IDLE_EVENT_MS - 1) == ([], [])
    assert sorted(relay.prune(retention, now + IDLE_EVENT_MS)[1]) == ["tomorrow", "unknown"]
    assert board(relay)[0] == set()


def test_fixtures_alone_cannot_grow_the_board_past_a_bound(relay, monkeypatch):
    monkeypatch.setattr(feed.market.retention, "MAX_IDLE_EVENTS", 3)
    retention = Retention(GRACE)
    for number in range(5):
        relay.handle(fixture(f"f{number}"), RECEIVED)
        relay.prune(retention, number)  # each first seen a moment later than the one before
    assert board(relay)[0] == {"f2", "f3", "f4"}


def test_open_lines_of_an_event_that_is_over_go_after_the_grace(relay):
    retention = Retention(GRACE)
    relay.handle(odds("a", 1, 18), RECEIVED)
    status = {"sport_event_id": "a", "match_status_code": 100}  # ended
    relay.handle(Frame(frames.MATCH_STATUS, 2000, status), RECEIVED)
    relay.prune(retention, 0)
    assert relay.prune(retention, GRACE) == ([("a", 1, ""), ("a", 18, "")], ["a"])
    assert board(relay) == (set(), set())
