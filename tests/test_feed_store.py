"""The feed's database: a write-behind that survives an outage, a board that survives a restart."""

import json

import pytest
from sqlalchemy.exc import OperationalError

import feed.store
from database import db
from feed import frames
from feed.frames import Frame

EVENT = "sr:match:9"


def odds_change(markets):
    """An odds change of EVENT's `markets`."""
    data = {"event_id": EVENT, "product": 1, "timestamp": 10, "markets": markets}
    return Frame(frames.ODDS_CHANGE, 10, data)


ODDS = odds_change(
    [
        {"id": 1, "lines": [{"specifiers": "", "outcomes": [{"id": "1", "odds": 2.5}]}]},
        {
            "id": 18,
            "lines": [{"specifiers": "total=2.5", "outcomes": [{"id": "12", "odds": 1.9}]}],
        },
    ]
)
STOP = Frame(frames.BET_STOP, 20, {"event_id": EVENT, "groups": "all", "timestamp": 20})


@pytest.fixture
def runtime(app):
    return app.extensions["feed"]


def test_bet_stop_reaches_browsers_while_the_database_is_down_and_is_logged_after(
    runtime, monkeypatch
):
    def database_down(work):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    with runtime.hub.subscribe() as browser:
        monkeypatch.setattr(feed.store, "run_in_transaction", database_down)
        runtime.relay.handle(ODDS, 1000)
        runtime.relay.handle(STOP, 1001)
        with pytest.raises(OperationalError):
            runtime.store.flush()
        messages = [json.loads(text) for _, text in browser.take(0)]
        assert [m["type"] for m in messages] == ["odds_change", "bet_stop"]
        monkeypatch.undo()
    runtime.store.flush()
    logged = runtime.store.recent_bet_stops()
    assert [(e["event_id"], e["groups"], e["lines_hit"]) for e in logged] == [(EVENT, "all", 2)]


def test_last_known_board_is_restored_from_the_database(app, runtime):
    runtime.relay.handle(ODDS, 1000)
    runtime.relay.handle(STOP, 1001)
    runtime.store.flush()

    from app import create_app

    restarted_app = create_app(app.config | {"FEED_URL": ""})
    restarted = restarted_app.extensions["feed"]
    restarted.relay.restore()
    _, text = restarted.relay.snapshot()
    with restarted_app.app_context():
        db.engine.dispose()
    board = json.loads(text)
    assert {(line["market_id"], line["status"]) for line in board["lines"]} == {
        (1, "suspended"),
        (18, "suspended"),
    }
    one_x_two = next(line for line in board["lines"] if line["market_id"] == 1)
    assert one_x_two["outcomes"]["1"]["odds"] == 2.5
    assert board["health"]["connected"] is False
    assert board["bet_stops"][0]["groups"] == "all"


def test_a_whole_large_board_is_written_and_restored(app, runtime):
    # 40,000 lines of ten columns: 400,000 values, far past what one SQLite statement may bind.
    big = odds_change(
        [
            {
                "id": 5000 + market,
                "lines": [
                    {"specifiers": f"total={spec}.5", "outcomes": [{"id": "12", "odds": 1.9}]}
                    for spec in range(100)
                ],
            }
            for market in range(400)
        ]
    )
    runtime.relay.handle(big, 1000)
    runtime.store.flush()
    events, lines = runtime.store.load()
    assert [event.event_id for event in events] == [EVENT]
    assert len(lines) == 400 * 100
    assert {line.outcomes["12"].odds for line in lines} == {1.9}
