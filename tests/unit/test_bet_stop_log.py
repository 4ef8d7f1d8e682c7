"""The BetStop log says what a trader reviews: which markets a BetStop hit and why, when what it
stopped reopened and how long it stayed stopped; live, in snapshots, in /feed/bet-stops, after a
restart too. The relay in process, on SQLite and on PostgreSQL."""

import contextlib
import json

import pytest
from sqlalchemy.exc import OperationalError

import feed.store.write_behind
from app import create_app
from database import db
from feed.market.reopening import KEPT
from feed.market.retention import Retention
from feed.upstream import frames

EVENT = "sr:match:42"
STOPPED_AT = 2001  # when the test's BetStop is received (ms, the relay's clock)


def market(market_id, specifiers="", status=1):
    line = {"specifiers": specifiers, "status": status, "outcomes": [{"id": "1", "odds": 2.0}]}
    return {"id": market_id, "lines": [line]}


def odds(relay, received, *markets, event_id=EVENT, timestamp=None):
    data = {"event_id": event_id, "product": 1, "timestamp": timestamp or received}
    relay.handle(
        frames.Frame(frames.ODDS_CHANGE, received, data | {"markets": list(markets)}), received
    )


def bet_stop(relay, received, event_id=EVENT, **data):
    stop = {"event_id": event_id, "groups": "all", "timestamp": received, "product": 1} | data
    relay.handle(frames.Frame(frames.BET_STOP, received, stop), received)


def settle(relay, received, *markets):
    outcomes = {"market": [{"id": m, "specifiers": s, "outcome": []} for m, s in markets]}
    data = {"event_id": EVENT, "product": 1, "timestamp": received, "outcomes": outcomes}
    relay.handle(frames.Frame(frames.BET_SETTLEMENT, received, data), received)


def up(relay):
    """The upstream connected and both products alive: odds open lines, restored ones too
    (a restored live line answers to prematch as well)."""
    relay.connection(True)
    relay.handle(frames.Frame(frames.ALIVE, 1000, {}), 1000)


@pytest.fixture
def relay(app):
    relay = app.extensions["feed"].relay
    up(relay)
    odds(relay, 1000, market(1), market(166, "total=9.5"))  # two lines open: 1x2, corners
    return relay


def taken(browser):
    return [json.loads(text) for _, text in browser.take(0)]


def snapshot_entries(relay):
    return json.loads(relay.snapshot()[1])["bet_stops"]


def logged(app, client, **query):
    app.extensions["feed"].store.flush()
    return client.get("/feed/bet-stops", query_string=query).get_json()["bet_stops"]


def test_an_entry_names_the_markets_it_hit_and_why(app, client, relay):
    runtime = app.extensions["feed"]
    with runtime.hub.subscribe() as browser:
        bet_stop(relay, STOPPED_AT, betstop_reason=1)
        bet_stop(relay, STOPPED_AT + 1)  # its lines are stopped already: it hits none
        first, second = [m["entry"] for m in taken(browser) if m["type"] == "bet_stop"]
    assert first["markets"] == [
        {"market_id": 1, "specifiers": "", "name": "1x2"},
        {"market_id": 166, "specifiers": "total=9.5", "name": "Total corners"},
    ]
    assert first["betstop_reason"] == "1" and first["lines_hit"] == 2
    assert first["still_stopped"] == 2 and first["followed"] is True
    assert first["reopened_at"] is None and first["duration_ms"] is None
    assert len(first["entry_id"]) == 32 and first["entry_id"] != second["entry_id"]
    assert second["markets"] == [] and second["lines_hit"] == 0
    assert second["still_stopped"] == 0 and second["followed"] is False
    # Every existing field is there as it was.
    assert first["event_id"] == EVENT and first["groups"] == "all" and first["product"] == 1
    assert first["status"] == first["market_status"] == "suspended"
    assert first["sent_at"] == first["received_at"] == STOPPED_AT
    assert snapshot_entries(relay) == [first, second]
    assert logged(app, client) == [second, first]


def test_an_entry_names_the_first_50_markets_and_counts_every_line(app, client, relay):
    totals = [market(18, f"total={n}.5") for n in range(60)]
    odds(relay, 1500, *totals)
    bet_stop(relay, STOPPED_AT, groups="score")  # 1x2 and the 60 totals; not the corners
    (entry,) = logged(app, client)
    assert entry["lines_hit"] == 61 and len(entry["markets"]) == 50
    assert entry["markets"][1] == {"market_id": 18, "specifiers": "total=0.5", "name": "Total"}
    assert entry == snapshot_entries(relay)[0]


def test_when_the_last_line_reopens_the_entry_says_when_and_how_long(app, client, relay):
    runtime = app.extensions["feed"]
    bet_stop(relay, STOPPED_AT)
    (entry,) = snapshot_entries(relay)
    with runtime.hub.subscribe() as browser:
        odds(relay, 5000, market(1), market(166, "total=9.5"))
        sent = taken(browser)
    assert [m["type"] for m in sent] == ["odds_change", "bet_stop_reopened"]
    assert sent[1]["seq"] == sent[0]["seq"] + 1 == relay.seq  # numbered like every message
    ended = {
        "entry_id": entry["entry_id"],
        "event_id": EVENT,
        "still_stopped": 0,
        "reopened_lines": 2,
        "closed_lines": 0,
        "reopened_at": 5000,
        "duration_ms": 5000 - STOPPED_AT,
        "followed": False,
    }
    assert sent[1]["progress"] == [ended] and sent[1]["received"] == 5000
    (now,) = snapshot_entries(relay)
    assert now == entry | ended
    assert logged(app, client) == [now]
    assert logged(app, client, event_id=EVENT) == [now]


def test_a_partial_reopen_waits_for_the_last_line_to_say_when(app, client, relay):
    runtime = app.extensions["feed"]
    bet_stop(relay, STOPPED_AT)
    with runtime.hub.subscribe() as browser:
        odds(relay, 4000, market(1))  # the 1x2 reopens
        odds(relay, 4500, market(166, "total=9.5", status=0))  # deactivated: still stopped
        sent = taken(browser)
    assert [m["type"] for m in sent] == ["odds_change", "bet_stop_reopened", "odds_change"]
    (partial,) = sent[1]["progress"]
    assert partial["still_stopped"] == 1 and partial["reopened_lines"] == 1
    assert partial["reopened_at"] is None and partial["duration_ms"] is None
    assert partial["followed"] is True
    (entry,) = logged(app, client)
    assert entry == snapshot_entries(relay)[0] and entry["reopened_at"] is None
    odds(relay, 6000, market(166, "total=9.5"))  # the corners reopen: the last
    (entry,) = logged(app, client)
    assert (entry["reopened_at"], entry["duration_ms"]) == (6000, 6000 - STOPPED_AT)
    assert (entry["reopened_lines"], entry["still_stopped"]) == (2, 0)
    assert entry == snapshot_entries(relay)[0]


def test_a_line_settled_instead_ends_its_stop_closed_not_reopened(app, client, relay):
    bet_stop(relay, STOPPED_AT)
    odds(relay, 4000, market(1))
    settle(relay, 5000, (166, "total=9.5"))
    (entry,) = logged(app, client)
    # Ended at the settlement; reopened when the last line that reopened did.
    assert (entry["reopened_lines"], entry["closed_lines"], entry["still_stopped"]) == (1, 1, 0)
    assert (entry["reopened_at"], entry["duration_ms"]) == (4000, 4000 - STOPPED_AT)
    bet_stop(relay, 6000)  # the 1x2 again
    settle(relay, 7000, (1, ""))
    newest = logged(app, client)[0]
    assert (newest["closed_lines"], newest["still_stopped"], newest["followed"]) == (1, 0, False)
    assert newest["reopened_at"] is None and newest["duration_ms"] is None  # none reopened
    assert logged(app, client) == list(reversed(snapshot_entries(relay)))


@contextlib.contextmanager
def restarted(app):
    """Another process on the same database, restored from it."""
    again = create_app(app.config | {"FEED_URL": ""})
    try:
        again.extensions["feed"].relay.restore()
        yield again
    finally:
        again.extensions["feed"].hub.close()  # its waker, started by a board's subscription
        with again.app_context():
            db.engine.dispose()


def test_a_restart_reads_the_log_back_and_follows_what_is_still_stopped(app, client, relay):
    bet_stop(relay, STOPPED_AT, betstop_reason="Possible goal")
    odds(relay, 4000, market(1))
    (before,) = logged(app, client)
    with restarted(app) as again:
        relay = again.extensions["feed"].relay
        assert list(relay.bet_stops) == [before]  # markets, reason, what is still stopped
        assert before["markets"][1]["name"] == "Total corners"
        assert before["betstop_reason"] == "Possible goal"
        assert (before["still_stopped"], before["reopened_lines"]) == (1, 1)
        up(relay)
        with again.extensions["feed"].hub.subscribe() as browser:
            odds(relay, 9000, market(1), market(166, "total=9.5"))
            sent = taken(browser)
        assert sent[-1]["type"] == "bet_stop_reopened"
        (ended,) = logged(again, again.test_client())
        assert (ended["reopened_at"], ended["duration_ms"]) == (9000, 9000 - STOPPED_AT)
        assert (ended["reopened_lines"], ended["still_stopped"]) == (2, 0)
    with restarted(app) as once_more:  # and read back once more, it has ended
        assert list(once_more.extensions["feed"].relay.bet_stops) == [ended]


def test_only_the_latest_entries_are_followed_and_older_ones_stay_as_they_were(app, client, relay):
    events = [f"sr:match:{1000 + n}" for n in range(KEPT + 1)]
    for n, event_id in enumerate(events):
        odds(relay, 1500, market(1), event_id=event_id)
        bet_stop(relay, STOPPED_AT + n, event_id=event_id)
    assert len(relay.bet_stops) == KEPT and len(relay.log.holder) == KEPT  # bounded
    first = events[0]
    runtime = app.extensions["feed"]
    with runtime.hub.subscribe() as browser:
        odds(relay, 9000, market(1), event_id=first)  # reopens, unseen: no longer followed
        assert [m["type"] for m in taken(browser)] == ["odds_change"]
    (old,) = logged(app, client, event_id=first)
    assert (old["followed"], old["still_stopped"], old["reopened_at"]) == (False, 1, None)
    odds(relay, 9500, market(1), event_id=events[-1])
    (newest,) = logged(app, client, event_id=events[-1])
    assert newest["reopened_at"] == 9500


def test_lines_forgotten_with_their_finished_event_end_their_stop_closed(app, client, relay):
    runtime = app.extensions["feed"]
    bet_stop(relay, STOPPED_AT)
    over = {"event_id": EVENT, "match_status_code": 100}
    relay.handle(frames.Frame(frames.MATCH_STATUS, 3000, over), 3000)
    with runtime.hub.subscribe() as browser:
        relay.prune(Retention(grace_ms=0), 4000)
        (sent,) = taken(browser)
    assert sent["type"] == "bet_stop_reopened" and sent["seq"] == relay.seq
    (entry,) = logged(app, client)
    assert (entry["closed_lines"], entry["still_stopped"], entry["reopened_at"]) == (2, 0, None)
    assert not relay.log.holder


def test_a_reopening_waits_for_the_database_with_its_entry_and_is_written_after_it(
    app, client, relay, monkeypatch
):
    store = app.extensions["feed"].store

    def database_down(work):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", database_down)
    bet_stop(relay, STOPPED_AT)
    odds(relay, 4000, market(1))
    with pytest.raises(OperationalError):
        store.flush()
    odds(relay, 5000, market(166, "total=9.5"))  # the newer update replaces the one waiting
    assert store.waiting()["bet_stops"] == 2  # the row, and one update of it
    monkeypatch.undo()
    (entry,) = logged(app, client)
    assert (entry["reopened_at"], entry["reopened_lines"]) == (5000, 2)
    assert entry == snapshot_entries(relay)[0]
