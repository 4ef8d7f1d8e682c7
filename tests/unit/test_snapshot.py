"""The board's snapshot, kept line by line: never rebuilt whole, always what the state says."""

import json
import random

import pytest

from feed.market.retention import Retention
from feed.simulator.world import Simulator
from feed.upstream.frames import Frame
from tests.bare_relay import bare_relay
from tests.feed_messages import odds_frame as odds
from tests.feed_messages import settlement_frame as settle


@pytest.fixture
def relay():
    return bare_relay()


def test_a_snapshot_is_built_from_what_changed_not_from_the_whole_state(relay, monkeypatch):
    for number in range(200):
        relay.handle(odds(f"e{number}", 1, 18, 29), 0)
    relay.snapshot()

    def whole_state():
        raise AssertionError("the whole state serialised again")

    monkeypatch.setattr(relay.state, "snapshot", whole_state)
    relay.handle(odds("e7", 1, timestamp=2000, status=-1), 0)
    relay.tick()  # every second: what changed is serialised then, not when a board asks
    encoded = []
    encode = relay.board.encode
    monkeypatch.setattr(relay.board, "encode", lambda value: encoded.append(value) or encode(value))
    seq, text = relay.snapshot()
    assert len(encoded) == 1  # the snapshot's head alone
    snapshot = json.loads(text)
    assert (snapshot["type"], snapshot["seq"]) == ("snapshot", seq)
    assert len(snapshot["lines"]) == 600
    (line,) = [ln for ln in snapshot["lines"] if ln["event_id"] == "e7" and ln["market_id"] == 1]
    assert line["status"] == "suspended"


def test_the_snapshot_always_equals_the_state_through_a_random_feed(relay):
    # The snapshot follows the relay's messages; the state follows the rules. Whatever the
    # feed does (and whatever the rules become), the two must agree after every message.
    rng = random.Random(5)
    simulator = Simulator(events=12, seed=5, outage_every=0)
    retention = Retention(1000)
    now, dropped = 1_000_000, 0
    messages = [Frame(cmd, now, data) for cmd, data in simulator.opening(now)]
    for step in range(1500):
        now += 100
        messages = [Frame(cmd, now, data) for cmd, data in simulator.step(now)]
        if rng.random() < 0.05:
            event = rng.choice(simulator.events)["event_id"]
            markets = [key[1:] for key in relay.state.lines_by_event.get(event, {})]
            messages.append(settle(event, *markets, timestamp=now))
        for frame in messages:
            relay.handle(frame, now)
        if step % 50 == 0:
            dropped += len(relay.prune(retention, now)[0])
        if step % 25 == 0:
            assert_snapshot_is_the_state(relay)
    assert_snapshot_is_the_state(relay)
    assert dropped > 0


def assert_snapshot_is_the_state(relay):
    snapshot = json.loads(relay.snapshot()[1])
    state = json.loads(json.dumps(relay.state.snapshot()))
    # But for `updated_at`: a BetStop moves it on lines it finds stopped already without telling
    # the boards (nothing they show changes), so the boards, the snapshot among them, keep the
    # earlier one. The board reads nothing from it.
    assert by_line(snapshot["lines"]) == by_line(state["lines"])
    assert {e["event_id"]: e for e in snapshot["events"]} == {
        e["event_id"]: e for e in state["events"]
    }


def by_line(lines):
    key = ("event_id", "market_id", "specifiers")
    return {tuple(ln[k] for k in key): ln | {"updated_at": None} for ln in lines}


def test_feed_status_says_how_long_the_latest_snapshot_took_to_build(client, app):
    runtime = app.extensions["feed"]
    assert client.get("/feed/status").get_json()["snapshot"] is None  # none built yet
    for number in range(50):
        runtime.relay.handle(odds(f"e{number}", 1, 18), 0)
    clock = iter([10.0, 10.0123])
    runtime.relay.board.clock = lambda: next(clock)
    _, text = runtime.relay.snapshot()
    built = client.get("/feed/status").get_json()["snapshot"]
    assert built == {"ms": 12.3, "bytes": len(text), "lines": 100}
