"""The feed's database: a write-behind that survives an outage, a board that survives a restart."""

import json
import re
import threading
import time
from logging import WARNING

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

import feed.store.statements
import feed.store.write_behind
from app import create_app
from database import db
from feed.market.model import Applied
from feed.upstream import frames
from feed.upstream.frames import Frame
from infra import gevent_waits
from tests import feed_messages as messages
from tests.conftest import base_config
from tests.feed_messages import bet_stop, big_board, line, market, outcome
from tests.servers import python_output
from tests.store_rows import line_json
from tests.upstream import wait_until

EVENT = messages.event_id(9)  # the event of store_rows' lines


def odds_change(markets):
    """An odds change of EVENT's `markets`."""
    return messages.frame(frames.ODDS_CHANGE, messages.odds(markets, EVENT, stamp=10))


ODDS = odds_change(
    [
        market(1, line(outcomes=[outcome("1", 2.5)])),
        market(18, line("total=2.5", outcomes=[outcome("12", 1.9)])),
    ]
)
STOP = messages.frame(frames.BET_STOP, bet_stop(EVENT, "all", None, 20, None))


@pytest.fixture
def runtime(app):
    runtime = app.extensions["feed"]
    runtime.relay.connection(True)
    runtime.relay.handle(Frame(frames.ALIVE, 1000, {}), 1000)  # up: odds open lines
    return runtime


@pytest.fixture
def started(database_url):
    """A running feed runtime with no upstream, writing behind every 50 ms."""
    config = {"FEED_ENABLED": True, "FEED_URL": "", "FEED_FLUSH_SECONDS": 0.05}
    app = create_app(base_config(database_url) | config)
    runtime = app.extensions["feed"]
    runtime.start()
    yield runtime
    runtime.stop()
    with app.app_context():
        db.engine.dispose()


def test_bet_stop_reaches_browsers_while_the_database_is_down_and_is_logged_after(
    runtime, monkeypatch
):
    def database_down(work):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    with runtime.hub.subscribe() as browser:
        monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", database_down)
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
    prices = [outcome("12", 1.9)]
    big = odds_change(
        [
            market(5000 + m, *(line(f"total={spec}.5", outcomes=prices) for spec in range(100)))
            for m in range(400)
        ]
    )
    runtime.relay.handle(big, 1000)
    runtime.store.flush()
    events, lines = runtime.store.load()
    assert [event.event_id for event in events] == [EVENT]
    assert len(lines) == 400 * 100
    assert {line.outcomes["12"].odds for line in lines} == {1.9}


# One bad row never stops the others ---------------------------------------------------------

OTHER = "sr:match:10"
GOOD_ODDS = messages.frame(
    frames.ODDS_CHANGE,
    messages.odds([market(1, line(outcomes=[outcome("1", 3)]))], OTHER, stamp=30),
)
GOOD_STOP = messages.frame(frames.BET_STOP, bet_stop(OTHER, "all", None, 40, None))


def one_line_odds(event_id=EVENT, timestamp=10, name=None, odds=2.5):
    markets = [market(1, line(outcomes=[outcome("1", odds)]), name=name)]
    return messages.frame(frames.ODDS_CHANGE, messages.odds(markets, event_id, stamp=timestamp))


BAD_FRAMES = {
    "a timestamp of 10**20": [one_line_odds(timestamp=10**20)],
    "an event id over 64 characters": [one_line_odds(event_id="sr:match:" + "9" * 60)],
    "a market name over 200 characters": [one_line_odds(name="n" * 201)],
    "groups over 200 characters": [
        one_line_odds(),
        Frame(frames.BET_STOP, 20, {"event_id": EVENT, "groups": "all|" + "g" * 200}),
    ],
    "a NaN price": [one_line_odds(odds="NaN")],
}


@pytest.mark.parametrize("bad", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_bad_row_never_stops_the_rows_behind_it(runtime, client, bad):
    for frame in bad:
        runtime.relay.handle(frame, 1000)
    runtime.relay.handle(GOOD_ODDS, 1001)
    runtime.relay.handle(GOOD_STOP, 1002)
    runtime.store.flush()
    store = client.get("/feed/status").get_json()["store"]
    assert store["waiting"] == {"lines": 0, "events": 0, "bet_stops": 0, "writing": 0}
    _, lines = runtime.store.load()
    assert (OTHER, 1, "suspended") in {(ln.event_id, ln.market_id, ln.status) for ln in lines}
    assert runtime.store.recent_bet_stops()[0]["event_id"] == OTHER
    runtime.store.flush()  # nothing is left to fail again
    assert client.get("/feed/status").get_json()["store"]["database"] == "up"


def test_every_value_is_made_to_fit_its_column_before_it_is_queued(runtime, client):
    runtime.store.changed(
        [
            line_json(market_id=1, name="n" * 500, reason="r" * 500, updated_at=10**20),
            line_json(market_id=2, outcomes={"1": {"odds": float("nan"), "active": True}}),
            line_json(market_id=3, status="reopened?", name="a\x00b", groups=["x\ud800"]),
            line_json(market_id=4, product=10**12),
            line_json(event_id="e" * 65),  # a key that does not fit: the row is set aside
            line_json(market_id=2**40),
            line_json(specifiers="s" * 201),
        ],
        {"event_id": EVENT, "product": 1, "name": "x" * 300, "sport": "s" * 100, "status": "?"}
        | {"start_time": 10**30, "home_score": 2**40, "away_score": "2"},
    )
    runtime.store.flush()
    events, lines = runtime.store.load()
    by_market = {line.market_id: line for line in lines}
    assert sorted(by_market) == [1, 2, 3, 4]
    assert len(by_market[1].name) == 200 and len(by_market[1].reason) == 200
    assert by_market[1].updated_at == 2**63 - 1
    assert by_market[2].outcomes["1"].odds is None
    assert by_market[3].status == "suspended"  # a status no one knows reads stopped
    assert by_market[3].name == "ab" and by_market[3].groups == ("x?",)
    assert by_market[4].product == 2**31 - 1
    (event,) = events
    assert (len(event.name), len(event.sport), event.start_time, event.home_score) == (
        200,
        64,
        None,
        None,
    )
    store = client.get("/feed/status").get_json()["store"]
    assert store["set_aside"] == 3
    assert store["set_aside_reasons"] == {
        "feed_lines.event_id_unstorable": 1,
        "feed_lines.market_id_out_of_range": 1,
        "feed_lines.specifiers_unstorable": 1,
    }


def test_a_row_the_database_still_refuses_is_set_aside_alone(runtime, monkeypatch, caplog):
    # As if a value got past the bounds: the write fails, and only that row is left out.
    monkeypatch.setattr(feed.store.write_behind, "fit", lambda model, row, keys: row)
    lines = [line_json(market_id=n) for n in range(1, 100)]
    lines[57]["updated_at"] = 10**20
    runtime.store.changed(lines, None)
    stop = Applied(status="suspended", groups="all", timestamp=20, event_id=EVENT)
    runtime.store.log_bet_stop(stop, 1000)
    runtime.store.flush()
    _, stored = runtime.store.load()
    assert sorted(line.market_id for line in stored) == [n for n in range(1, 100) if n != 58]
    assert len(runtime.store.recent_bet_stops()) == 1
    assert runtime.store.status()["set_aside"] == 1
    runtime.store.changed([lines[57]], None)
    runtime.store.flush()
    assert runtime.store.status()["set_aside"] == 2
    set_aside = [r for r in caplog.records if "setting aside" in r.getMessage()]
    assert len(set_aside) == 1  # logged once; counted every time


# A database that is away or slow -------------------------------------------------------------


def database_down(work):
    raise OperationalError("INSERT", {}, Exception("connection refused"))


def test_a_large_backlog_is_written_a_bounded_number_of_rows_at_a_time(runtime, monkeypatch):
    # FEED_FLUSH_ROWS=1000: 5,000 lines take five transactions, so what is written stays
    # written when a later one fails (or the worker is killed during the write).
    runtime.store.rows_per_write = 1000
    runtime.store.changed([line_json(market_id=n) for n in range(5000)], None)
    real = feed.store.write_behind.run_in_transaction
    calls = []

    def third_fails(work):
        calls.append(work)
        if len(calls) == 3 and not failed:
            failed.append(work)
            database_down(work)
        return real(work)

    failed = []

    monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", third_fails)
    with pytest.raises(OperationalError):
        runtime.store.flush()
    assert len(calls) == 3
    assert len(runtime.store.load()[1]) == 2000
    assert runtime.store.status()["waiting"]["lines"] == 3000
    calls.clear()
    runtime.store.flush()
    assert len(calls) == 3
    assert len(runtime.store.load()[1]) == 5000


def test_bet_stops_waiting_for_the_database_are_bounded(runtime, monkeypatch):
    runtime.store.backlog = 20
    monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", database_down)
    for number in range(50):
        stop = Frame(frames.BET_STOP, number, {"event_id": f"sr:match:{number}", "timestamp": 1})
        runtime.relay.handle(stop, 1000 + number)
        runtime.store.write()
    status = runtime.store.status()
    assert (status["waiting"]["bet_stops"], status["bet_stops_dropped"]) == (20, 30)
    assert status["database"] == "down"
    monkeypatch.undo()
    runtime.store.write()
    logged = runtime.store.recent_bet_stops(limit=100)
    assert [e["event_id"] for e in logged] == [f"sr:match:{n}" for n in range(49, 29, -1)]


def test_a_database_outage_logs_one_line_when_it_goes_and_one_when_it_is_back(
    started, monkeypatch, caplog
):
    failures = []

    def failing(work):
        failures.append(work)
        database_down(work)

    monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", failing)
    started.relay.handle(ODDS, 1000)
    started.relay.handle(STOP, 1001)
    wait_until(lambda: len(failures) >= 5, timeout=30, what="five failed writes")
    down = said(caplog)
    assert [r.exc_info for r in down] == [None]
    assert "unavailable" in down[0].getMessage()
    # What was waiting when the first write failed (the BetStop may have come just after).
    waiting = r"waiting to be written: 2 lines, 1 events, [01] BetStops"
    assert re.search(waiting, down[0].getMessage())
    monkeypatch.undo()
    # The store's lag reads 0 a moment before it says so: wait for both.
    wait_until(
        lambda: started.store.status()["lag_ms"] == 0 and len(said(caplog)) > 1,
        what="the backlog written, and said",
    )
    up = said(caplog)[1:]
    assert [r.exc_info for r in up] == [None]
    assert "back" in up[0].getMessage()
    assert "wrote 2 lines, 1 events, 1 BetStops" in up[0].getMessage()


def said(caplog):
    """The feed's warnings, but for the lack of an upstream and the hourly prune's."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("feed")
        and r.levelno >= WARNING
        and "FEED_URL" not in r.getMessage()
        and "prun" not in r.getMessage()
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_write_blocked_by_a_lock_gives_up_and_is_tried_again(runtime, database_url):
    runtime.relay.handle(ODDS, 1000)
    runtime.store.flush()
    runtime.relay.handle(STOP, 1001)
    engine = sa.create_engine(database_url)
    with engine.connect() as holder:
        holder.exec_driver_sql("LOCK TABLE feed_lines IN EXCLUSIVE MODE")
        outcome = []
        writer = threading.Thread(target=lambda: outcome.append(try_flush(runtime.store)))
        writer.start()
        writer.join(30)
        blocked = writer.is_alive()
        holder.rollback()
    writer.join()
    engine.dispose()
    assert not blocked, "the write waited for the lock for 30 s"
    assert outcome == ["Busy"]  # waited DATABASE_LOCK_TIMEOUT, then gave up
    assert runtime.store.status()["waiting"]["lines"] == 2
    runtime.store.flush()
    _, lines = runtime.store.load()
    assert {line.status for line in lines} == {"suspended"}


def try_flush(store):
    try:
        store.flush()
    except Exception as exc:
        return type(exc).__name__
    return "written"


# Pruning and what a restart loads -------------------------------------------------------------

DAY_MS = 86_400_000


def written_at(store, ms, lines=(), event=None, bet_stops=()):
    """Write `lines`, `event` and BetStops for `bet_stops` event ids as if at time `ms`."""
    clock, store.clock = store.clock, lambda: ms
    try:
        store.changed(list(lines), event)
        for event_id in bet_stops:
            stop = Applied(status="suspended", groups="all", timestamp=ms, event_id=event_id)
            store.log_bet_stop(stop, ms)
        store.flush()
    finally:
        store.clock = clock


def event_json(event_id):
    return {"event_id": event_id, "product": 1, "name": event_id, "status": ""}


def old_and_new_rows(store):
    now = store.clock()
    long_ago = now - 31 * DAY_MS
    written_at(
        store,
        long_ago,
        [line_json("old", 1, status="settled"), line_json("old", 2)],
        event_json("old"),
        ["old"] * 3,
    )
    written_at(store, long_ago, event=event_json("gone"))  # no line at all, for 31 days
    written_at(store, now, [line_json("new", 1, status="cancelled")], event_json("new"), ["new"])


def test_prune_deletes_what_is_older_than_the_retention_and_nothing_else(runtime, monkeypatch):
    old_and_new_rows(runtime.store)
    monkeypatch.setattr(feed.store.statements, "PRUNE_BATCH", 2)
    transactions = []
    real = feed.store.statements.run_in_transaction
    monkeypatch.setattr(
        feed.store.statements,
        "run_in_transaction",
        lambda work: transactions.append(work) or real(work),
    )
    deleted = runtime.store.prune()
    assert deleted == {"bet_stops": 3, "lines": 1, "events": 1}
    assert len(transactions) == 2 + 1 + 1  # two rows a transaction: three BetStops took two
    events, lines = runtime.store.load()
    assert {(ln.event_id, ln.market_id) for ln in lines} == {("old", 2), ("new", 1)}
    assert {e.event_id for e in events} == {"old", "new"}
    assert [e["event_id"] for e in runtime.store.recent_bet_stops()] == ["new"]


def test_the_feeds_own_loop_prunes(database_url, monkeypatch):
    monkeypatch.setattr(
        feed.store.write_behind, "PRUNE_FIRST_MS", 0
    )  # not a minute after the start
    config = {"FEED_ENABLED": True, "FEED_URL": "", "FEED_FLUSH_SECONDS": 0.05}
    app = create_app(base_config(database_url) | config)
    runtime = app.extensions["feed"]
    old_and_new_rows(runtime.store)
    runtime.start()
    try:
        wait_until(
            lambda: [e["event_id"] for e in runtime.store.recent_bet_stops()] == ["new"],
            what="the old BetStops pruned",
        )
    finally:
        runtime.stop()
        with app.app_context():
            db.engine.dispose()


def test_a_restart_loads_no_line_closed_for_longer_than_the_grace(runtime):
    store = runtime.store
    now = store.clock()
    before_grace = now - store.grace_ms - 1000
    written_at(
        store,
        before_grace,
        [
            line_json("done", 1, status="settled"),
            line_json("live", 1, status="deactivated"),
            line_json("live", 2),
        ],
        event_json("done"),
    )
    written_at(store, before_grace, event=event_json("live"))
    written_at(store, before_grace, event=event_json("fixture"))  # no odds yet
    written_at(store, now, [line_json("live", 3, status="settled")])
    events, lines = store.load()
    assert {(ln.event_id, ln.market_id) for ln in lines} == {("live", 2), ("live", 3)}
    assert {e.event_id for e in events} == {"live", "fixture"}


@pytest.mark.slow
def test_a_whole_board_arriving_never_stalls_the_worker(upstream, sqlite_database_url, capfd):
    # gevent's own monitor names every greenlet that keeps the worker's loop for longer than
    # GEVENT_MAX_BLOCKING_TIME. 64,000 lines arriving at once must not make the feed's own
    # work (serialising them for snapshots, writing them to SQLite) keep boards and callbacks
    # waiting that long.
    from tests.servers import gunicorn

    settings = {
        "FEED_URL": upstream.url,
        "GEVENT_MONITOR_THREAD_ENABLE": "true",
        "GEVENT_MAX_BLOCKING_TIME": "0.1",
    }
    with gunicorn(sqlite_database_url, **settings):
        upstream.wait_connected()
        for odds in big_board(events=800):
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        engine = sa.create_engine(sqlite_database_url)
        try:
            with engine.connect() as connection:
                count = sa.text("SELECT count(*) FROM feed_lines")
                wait_until(
                    lambda: connection.execute(count).scalar() == 800 * 40 * 2,
                    timeout=60,
                    what="the board written",
                )
        finally:
            engine.dispose()
        time.sleep(2)  # two more of the feed's ticks, with the whole board in hand
    # Each report's last line names the greenlet; the monitor's own thread is not the worker's.
    blocked = [
        report.rsplit("\n", 1)[-1]
        for report in capfd.readouterr().err.split("appears to be blocked")[:-1]
    ]
    assert [name for name in blocked if "<Greenlet at" in name] == []


def test_sqlite_writes_run_where_the_worker_says(runtime, database_url, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    begun_on = []

    def begun(_connection):
        begun_on.append(threading.get_ident())

    with runtime.store.app.app_context():
        engine = db.engine
    sa.event.listen(engine, "begin", begun)
    with ThreadPoolExecutor(1) as pool:
        monkeypatch.setattr(
            gevent_waits,
            "native_threads",
            lambda function: pool.submit(function).result(),
        )
        runtime.store.changed([line_json(market_id=n) for n in range(1, 4)], None)
        runtime.store.flush()
    sa.event.remove(engine, "begin", begun)
    _, lines = runtime.store.load()
    assert sorted(line.market_id for line in lines) == [1, 2, 3]
    here = threading.get_ident()
    if engine.dialect.name == "sqlite":  # the worker's loop never waits on SQLite's C calls
        assert begun_on and here not in begun_on
    else:  # PostgreSQL's waits yield to the worker's loop already
        assert begun_on[:1] == [here]


def test_the_gevent_worker_sends_sqlite_writes_to_native_threads():
    # As gunicorn.conf.py sets up a gevent worker: patched, then gevent_waits.install().
    assert python_output("sqlite_writes_thread").strip() == "True"


def test_a_write_that_never_ends_reads_stalled_not_up(runtime, monkeypatch):
    release = threading.Event()

    def hanging(work):  # a connection to a peer that went silent: no error, no answer
        release.wait(10)
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(feed.store.write_behind, "run_in_transaction", hanging)
    runtime.store.changed([line_json()], None)
    writer = threading.Thread(target=runtime.store.write)
    writer.start()
    try:
        wait_until(lambda: runtime.store.flush_started is not None, what="the write under way")
        assert runtime.store.status()["database"] == "up"
        started = runtime.store.flush_started
        runtime.store.clock = lambda: started + 10_001
        assert runtime.store.status()["database"] == "stalled"
    finally:
        release.set()
        writer.join()
    assert runtime.store.status()["database"] == "down"


def test_a_database_that_goes_silent_is_found_out_within_its_dead_time(postgres_database_url):
    """A failover that drops packets: the store's write fails within DATABASE_DEAD_SECONDS, the
    status says so, and what waited is written once the path is back."""
    import config
    from tests.network_path import NetworkPath

    with NetworkPath(5432) as path:
        host, port = path.address
        url = postgres_database_url.replace("127.0.0.1:5432", f"{host}:{port}")
        settings = {"DATABASE_DEAD_SECONDS": "3", "DATABASE_CONNECT_TIMEOUT": "2"}
        engine = {"connect_args": config.connect_args(settings, url), "pool_size": 2}
        overrides = {"FEED_ENABLED": True, "FEED_URL": "", "FEED_FLUSH_SECONDS": 0.2}
        app = create_app(base_config(url) | overrides | {"SQLALCHEMY_ENGINE_OPTIONS": engine})
        runtime = app.extensions["feed"]
        runtime.start()
        try:
            runtime.relay.handle(ODDS, 1000)
            wait_until(lambda: runtime.store.status()["written"].get("written_feed_lines"))
            path.cut()
            runtime.relay.handle(STOP, 1001)
            cut_at = time.monotonic()
            wait_until(lambda: runtime.store.status()["database"] == "down", timeout=20)
            assert time.monotonic() - cut_at < 3 + 5  # its dead time, and a flush or two
            path.heal()
            wait_until(lambda: runtime.store.status()["database"] == "up", timeout=20)
            wait_until(lambda: runtime.store.waiting()["bet_stops"] == 0, timeout=20)
        finally:
            runtime.stop()
            with app.app_context():
                db.engine.dispose()
    direct = sa.create_engine(postgres_database_url)
    with direct.connect() as connection:
        logged = connection.execute(sa.text("SELECT count(*) FROM feed_bet_stops")).scalar()
    direct.dispose()
    assert logged == 1  # the BetStop that waited through the cut
