"""BetStops waiting for a database that is down, kept on disk until it takes them."""

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from database import db
from feed.store import spill
from feed.store.models import BetStopRecord
from feed.store.spill import Spill, spill_path
from tests.feed_history import FeedHistory
from tests.feed_messages import (
    ALIVE,
    BET_STOP,
    EVENT,
    LIVE,
    ODDS_CHANGE,
    active,
    alive,
    bet_stop,
    odds_change,
)


def logged_ids(app):
    with app.app_context():
        return db.session.scalars(select(BetStopRecord.entry_id)).all()


def spilled_ids(app):
    return [row["entry_id"] for row in Spill(spill_path(app)).read()]


def stopped(feed_app):
    """A history connected and alive that received one BetStop: its log entry's id."""
    history = FeedHistory(feed_app)
    history.connect()
    history.send(ALIVE, alive())
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, history.clock()))
    return history, history.relay.bet_stops[-1]["entry_id"]


def test_a_bet_stop_the_database_refuses_waits_on_disk_until_it_is_written(feed_app):
    history, entry_id = stopped(feed_app)
    try:
        history.database_down()
        history.silence(1)  # the write fails
        assert spilled_ids(feed_app) == [entry_id]
        history.database_up()
        history.silence(1)  # the write succeeds
        assert logged_ids(feed_app) == [entry_id]
        assert not Path(spill_path(feed_app)).exists()
    finally:
        history.close()


def test_a_process_started_after_one_that_could_not_write_writes_its_bet_stops_once(feed_app):
    history, entry_id = stopped(feed_app)
    try:
        history.database_down()
        history.restart()  # its last write fails: the stop is on disk only
        history.database_up()  # the new process restores, and queues the stop again
        assert history.relay.bet_stops[0]["entry_id"] == entry_id  # in the boards' list
        history.silence(1)
        history.restart()  # and again: nothing is written twice
        history.silence(1)
        assert logged_ids(feed_app) == [entry_id]
        assert not Path(spill_path(feed_app)).exists()
    finally:
        history.close()


def test_what_does_not_read_in_the_file_is_left_out(tmp_path):
    path = tmp_path / "spill"
    kept = {"entry_id": "a" * 32, "received_at": datetime(2026, 12, 7, tzinfo=UTC)}
    Spill(path).keep([kept])
    good = path.read_text().strip()
    bad = [
        "not json",
        "[1]",
        '{"entry_id": 7, "received_at": 1}',
        '{"entry_id": "b"}',
        '{"entry_id": "c", "received_at": true}',
        '{"entry_id": "d", "received_at": 1e400}',
    ]
    path.write_text("\n".join([*bad, good]) + "\n")
    assert Spill(path).read() == [kept]


def test_a_file_larger_than_a_spill_can_be_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "spill"
    Spill(path).keep([{"entry_id": "a" * 32, "received_at": datetime.now(UTC)}])
    monkeypatch.setattr(spill, "MAX_BYTES", path.stat().st_size - 1)
    assert Spill(path).read() == []


def test_no_rows_left_waiting_removes_the_file_and_no_path_keeps_nothing(tmp_path):
    path = tmp_path / "spill"
    Spill(path).keep([{"entry_id": "a" * 32, "received_at": datetime.now(UTC)}])
    Spill(path).keep([])
    assert not path.exists()
    nowhere = Spill("")
    nowhere.keep([{"entry_id": "a" * 32, "received_at": datetime.now(UTC)}])
    assert nowhere.read() == []


def app_on(url, configured=""):
    config = {"FEED_SPILL_FILE": configured, "SQLALCHEMY_DATABASE_URI": url}
    return SimpleNamespace(config=config, instance_path="/srv/instance")


def test_each_database_has_a_file_of_its_own():
    assert spill_path(app_on("sqlite:////data/board.sqlite")) == "/data/board.sqlite.feed-spill"
    assert spill_path(app_on("sqlite://")) == ""
    assert spill_path(app_on("sqlite:///:memory:")) == ""
    one = spill_path(app_on("postgresql://u:secret@db:5432/one"))
    assert one.startswith("/srv/instance/feed-spill-")
    assert one == spill_path(app_on("postgresql://u:other@db:5432/one"))  # not the password
    assert one != spill_path(app_on("postgresql://u:secret@db:5432/two"))
    assert spill_path(app_on("postgresql://db/one", "/var/spill")) == "/var/spill"


def test_the_file_holds_rows_as_json_lines(tmp_path):
    path = tmp_path / "spill"
    Spill(path).keep([{"entry_id": "a" * 32, "received_at": datetime.fromtimestamp(1, UTC)}])
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"entry_id": "a" * 32, "received_at": 1000}
    ]


# Restarts while the database stays down --------------------------------------------------------


def restarted_with_the_stop_on_disk_only(history):
    """A BetStop, then a restart whose last write fails; connected and alive again."""
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    history.database_down()
    history.restart()
    assert Path(spill_path(history.app)).exists()
    history.connect()
    history.send(ALIVE, alive())
    return now


def test_a_restart_while_the_database_stays_down_remembers_the_stop_on_disk(feed_app):
    history = FeedHistory(feed_app)
    try:
        history.connect()
        history.send(ALIVE, alive())
        now = restarted_with_the_stop_on_disk_only(history)
        # The database still down: odds stamped before the stop cannot open the line.
        history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
        assert history.bettable_on(EVENT, 1) == [], history.transcript()
    finally:
        history.close()


def test_the_next_process_keeps_the_last_ones_stops_on_disk_as_its_own(feed_app):
    history = FeedHistory(feed_app)
    try:
        history.connect()
        history.send(ALIVE, alive())
        now = restarted_with_the_stop_on_disk_only(history)
        entry_id = spilled_ids(feed_app)
        # A change of its own to write, and no BetStop of its own: the write fails.
        other = odds_change("sr:match:2", [active(1)], LIVE, history.clock())
        history.send(ODDS_CHANGE, other)
        history.silence(1)
        assert spilled_ids(feed_app) == entry_id
        history.restart()  # and again, the database still down
        assert spilled_ids(feed_app) == entry_id
        history.database_up()
        history.connect()
        history.send(ALIVE, alive())
        history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
        assert history.bettable_on(EVENT, 1) == [], history.transcript()
        history.silence(1)
        assert logged_ids(feed_app) == entry_id
        assert history.store.counts["set_aside"] == 0
    finally:
        history.close()


def test_a_stop_the_database_holds_is_remembered_by_a_restart_it_cannot_answer(feed_app):
    # Until the last known board is loaded, no odds open a line: the BetStops the rules
    # remember from it are not there yet.
    history = FeedHistory(feed_app)
    try:
        history.connect()
        history.send(ALIVE, alive())
        now = history.clock()
        history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
        history.silence(1)  # written
        history.database_down()
        history.restart()
        history.connect()
        history.send(ALIVE, alive())
        history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
        assert history.violations() == [], history.transcript()
        assert history.bettable_on(EVENT, 1) == []
        history.database_up()  # loaded: odds stamped after the stop open the line
        history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now + 1))
        assert history.bettable_on(EVENT, 1) != [], history.transcript()
    finally:
        history.close()


def test_a_row_json_cannot_hold_is_not_kept_and_the_store_goes_on(tmp_path):
    row = {"entry_id": "a" * 32, "received_at": datetime.now(UTC), "x": {1, 2}}
    Spill(tmp_path / "spill").keep([row])
    assert not (tmp_path / "spill").exists()


def test_a_row_on_disk_keeps_its_counts_not_its_lists(tmp_path):
    path = tmp_path / "spill"
    row = {"entry_id": "a" * 32, "received_at": datetime.fromtimestamp(1, UTC), "lines_hit": 2}
    Spill(path).keep([row | {"lines": [[1, ""], [18, "total=2.5"]], "markets": [{"a": 1}]}])
    assert Spill(path).read() == [row | {"lines": [], "markets": []}]


def test_entries_read_back_from_the_bus_are_logged_once(feed_app):
    history, entry_id = stopped(feed_app)
    try:
        history.silence(1)  # written
        entry = history.relay.bet_stops[-1]
        other = entry | {"entry_id": "b" * 32}
        unreadable = entry | {"entry_id": "c" * 32, "received_at": "yesterday"}
        history.store.log_entries([entry, other, unreadable])
        history.silence(1)
        assert sorted(logged_ids(feed_app)) == sorted([entry_id, "b" * 32])
        assert history.store.counts["set_aside"] == 0
    finally:
        history.close()
