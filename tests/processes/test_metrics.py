"""What /metrics tells on-call, moved by real boards, a real feed and, deployed, over Redis."""

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request

import pytest
import websocket
from prometheus_client.parser import text_string_to_metric_families

import wallet.views
from app import create_app
from database import db
from feed.upstream import frames
from tests.conftest import base_config
from tests.feed_messages import EVENT, bet_stop, odds_of, outcome
from tests.servers import feed_process, gunicorn, raw_board, wait_answering, web_dyno
from tests.store_rows import line_json
from tests.upstream import wait_until
from tests.wallet.calls import deposit
from wallet.codes import Failure

CALLBACKS = ("get_balance", "place_bet", "cancel_bet", "settle", "event_settle")


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        return sample_values(answer.read().decode())


def sample_values(text):
    """{(sample name, sorted label items): value} of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def shown(samples, name, **labels):
    return (name, tuple(sorted(labels.items()))) in samples


def odds(timestamp, price=2.0, markets=1):
    """Odds for markets 1 to `markets`, each one line of outcome "1" at `price`."""
    return odds_of(range(1, markets + 1), stamp=timestamp, outcomes=[outcome("1", price)])


def next_of_type(ws, kind):
    while (message := json.loads(ws.recv()))["type"] != kind:
        pass
    return message


@pytest.mark.slow
def test_board_delay_backlog_and_cut_offs_move_with_real_boards(upstream, sqlite_database_url):
    # The backlog gauge is refreshed at each of the hub's nudges: every half second here.
    settings = {"BOARD_PING_SECONDS": "1", "BOARD_NUDGE_SECONDS": "0.5"}
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url, **settings) as address:
        upstream.wait_connected()
        board = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        next_of_type(board, "snapshot")
        for n in range(40):  # one write each: the histogram samples one write in 16
            upstream.send_frame(frames.ODDS_CHANGE, odds(1000 + n, 2.0 + n / 100), 1000 + n)
            next_of_type(board, "odds_change")
        samples = scrape(address)
        assert value(samples, "dashboard_board_delay_seconds_count") >= 2
        assert 0 < value(samples, "dashboard_board_delay_seconds_sum") < 5
        assert value(samples, "dashboard_boards_connected") == 1

        # A board that takes nothing: its handler waits in a write while the feed goes on.
        stuck = raw_board(address, receive_buffer=4096)
        sent = 0

        def falls_behind():
            nonlocal sent
            for _ in range(50):  # tens of KB each, until every buffer on the way is full
                sent += 1
                price = 3.0 + sent / 100
                upstream.send_frame(frames.ODDS_CHANGE, odds(2000 + sent, price, 200), 2000 + sent)
            return value(scrape(address), "dashboard_relay_backlog_messages") > 50

        wait_until(falls_behind, timeout=20, what="the stuck board's backlog shown")
        # It answers no ping either: cut off as silent, and then nobody is behind.
        wait_until(
            lambda: value(scrape(address), "dashboard_boards_cut_off_total", reason="silent") == 1,
            timeout=30,
            what="the stuck board cut off",
        )
        wait_until(
            lambda: value(scrape(address), "dashboard_relay_backlog_messages") == 0,
            timeout=15,
            what="the backlog back to nothing",
        )
        stuck.close()

        # A board that sends what a board never sends, as fast as it can: closed with 1008.
        flooder = raw_board(address)
        with contextlib.suppress(OSError):  # once closed, what is sent is refused
            for _ in range(10_000):
                flooder.sendall(masked_text(b"x" * 1000))
        flooder.close()
        wait_until(
            lambda: value(scrape(address), "dashboard_boards_cut_off_total", reason="flooded") == 1,
            what="the flooding board counted",
        )
        board.close()


def masked_text(payload):
    """A client's text frame (masked with a zero key: the bytes as they are)."""
    assert len(payload) < 65536
    return bytes([0x81, 0xFE]) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload


def frame_series(samples):
    """{cmd label: frames counted} of a scrape."""
    return {
        dict(labels)["cmd"]: count
        for (name, labels), count in samples.items()
        if name == "dashboard_feed_frames_total"
    }


@pytest.mark.slow
def test_frames_are_counted_by_the_name_of_a_known_cmd_and_every_other_cmd_as_one(
    upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        for n in range(3):
            upstream.send_frame(frames.ODDS_CHANGE, odds(1000 + n), 1000 + n)
        upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, "all", None, None, None), 2000)
        for cmd in range(300):  # made up: none is a cmd of the feed
            upstream.send_frame(20_000 + cmd * 1000, {}, 3000, binary=cmd % 2 == 1)
        upstream.send_frame(frames.MAX_CMD, {}, 3000, binary=True)
        wait_until(
            lambda: frame_series(scrape(address)).get("other") == 301,
            timeout=20,
            what="every made-up frame counted",
        )
        assert frame_series(scrape(address)) == {
            "alive": 1,
            "odds_change": 3,
            "bet_stop": 1,
            "other": 301,
        }


def test_metrics_show_the_database_writers_lag_and_the_rows_it_set_aside(app, client):
    store = app.extensions["feed"].store
    store.changed([line_json(market_id=1), line_json(event_id="e" * 65)], None)
    queued = store.clock()  # at or after the rows were queued
    store.clock = lambda: queued + 7_000  # the writer has not written for 7 s
    samples = scrape_client(client)
    assert value(samples, "dashboard_db_write_behind_lag_seconds") >= 7
    assert value(samples, "dashboard_db_set_aside_rows") == 0
    store.flush()  # the key that cannot be stored is set aside
    samples = scrape_client(client)
    assert value(samples, "dashboard_db_write_behind_lag_seconds") == 0
    assert value(samples, "dashboard_db_set_aside_rows") == 1


def test_feed_up_reads_each_products_health_at_the_scrape(app, client):
    runtime = app.extensions["feed"]
    samples = scrape_client(client)
    assert value(samples, "dashboard_feed_up", product="1") == 0  # never connected
    runtime.health.socket(True)
    now = runtime.consumer.clock()
    alive = {"now_alive_time": now // 1000, "offset_time": 0}
    runtime.health.alive(alive, now, runtime.relay.elapsed())
    samples = scrape_client(client)
    assert value(samples, "dashboard_feed_up", product="1") == 1
    assert value(samples, "dashboard_feed_up", product="3") == 1
    runtime.health.socket(False)
    assert value(scrape_client(client), "dashboard_feed_up", product="1") == 0


def scrape_client(client):
    answer = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert answer.status_code == 200
    return sample_values(answer.get_data(as_text=True))


@pytest.fixture
def wallet_app(sqlite_database_url):
    """Make an app on an empty SQLite file with these settings; disposed of afterwards."""
    apps = []

    def make(**settings):
        app = create_app(base_config(sqlite_database_url) | settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def callback_series(samples):
    """{(callback, code, failure): answers} of a scrape."""
    return {
        (labels["callback"], labels["code"], labels.get("failure")): count
        for (name, items), count in samples.items()
        if name == "dashboard_wallet_callbacks_total"
        for labels in [dict(items)]
    }


def test_wallet_answers_are_counted_by_their_failures_name(
    wallet_app, sqlite_database_url, monkeypatch
):
    app = wallet_app(TESTING=False, DATABASE_LOCK_TIMEOUT=0.2)
    client = app.test_client()
    deposit(app, "counted", "100")
    before = callback_series(scrape_client(client))

    def post(callback, body):
        return client.post(f"/wallet/{callback}", json=body).status_code

    assert post("get_balance", {"userId": "counted"}) == 200
    assert post("get_balance", {"userId": "nobody"}) == 200
    assert post("cancel_bet", {"userId": "counted"}) == 200  # no txId
    # Another process holds the database's write lock past DATABASE_LOCK_TIMEOUT.
    holder = sqlite3.connect(sqlite_database_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert client.post("/wallet/get_balance", json={"userId": "counted"}).json["desc"] == (
            "busy: waited too long for a lock another transaction holds; retry later"
        )
    finally:
        holder.rollback()
        holder.close()
    monkeypatch.setattr(wallet.views, "run_in_transaction", lambda *_a, **_k: 1 / 0)
    assert post("get_balance", {"userId": "counted"}) == 500

    after = callback_series(scrape_client(client))
    new = {key: after[key] - before.get(key, 0) for key in after}
    assert {key: n for key, n in new.items() if n} == {
        ("get_balance", "0000", "none"): 1,
        ("get_balance", "9999", "unknown_user"): 1,
        ("cancel_bet", "9999", "malformed_request"): 1,
        ("get_balance", "9999", "busy"): 1,
        ("get_balance", "9999", "internal_error"): 1,
    }


def test_every_callback_and_answer_is_a_series_before_its_first_answer(wallet_app):
    client = wallet_app(WALLET_CODES={"busy": "1002"}).test_client()
    samples = scrape_client(client)
    codes = {Failure.BUSY: "1002", Failure.BET_FAILED: "8001"}
    expected = {(callback, "0000", "none") for callback in CALLBACKS} | {
        (callback, codes.get(failure, "9999"), failure.value)
        for callback in CALLBACKS
        for failure in Failure
    }
    assert expected <= callback_series(samples).keys()
    timed = {
        dict(labels)["callback"]
        for name, labels in samples
        if name == "dashboard_wallet_callback_seconds_count"
    }
    assert set(CALLBACKS) <= timed


@pytest.mark.slow
def test_deployed_every_web_worker_shows_the_feed_process_metrics(
    upstream, sqlite_database_url, redis_bus_url, tmp_path
):
    url, prefix = redis_bus_url
    settings = {"FEED_URL": upstream.url, "REDIS_URL": url, "REDIS_PREFIX": prefix}
    with (
        feed_process(sqlite_database_url, **settings) as consumer,
        web_dyno(
            sqlite_database_url,
            WEB_CONCURRENCY="2",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
            **settings,
        ) as (address, _),
    ):
        upstream.wait_connected()
        for n in range(5):
            upstream.alive()
            upstream.send_frame(frames.ODDS_CHANGE, odds(1000 + n), int(time.time() * 1000))
        upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, "all", None, None, None), 2000)

        def shows_the_consumer(samples):
            return (
                value(samples, "dashboard_feed_frames_total", cmd="odds_change") == 5
                and value(samples, "dashboard_feed_frames_total", cmd="bet_stop") == 1
                and value(samples, "dashboard_feed_upstream_delay_seconds_count") >= 5
                and value(samples, "dashboard_feed_up", product="1") == 1
                and value(samples, "dashboard_db_write_behind_lag_seconds") < 5
            )

        def scrape_alive():
            # A product with no alive for 20 s is down; under load the wait below can take
            # that long, so the upstream keeps saying it is alive, as a real one does.
            upstream.alive()
            return scrape(address)

        def shows_its_metrics(samples):
            # What every worker must show of the feed process, whatever the moment: its counts,
            # and its gauges (whose values a loaded machine may move, as the lag).
            return (
                value(samples, "dashboard_feed_frames_total", cmd="odds_change") == 5
                and value(samples, "dashboard_feed_frames_total", cmd="bet_stop") == 1
                and value(samples, "dashboard_feed_upstream_delay_seconds_count") >= 5
                and shown(samples, "dashboard_feed_up", product="1")
                and shown(samples, "dashboard_db_write_behind_lag_seconds")
            )

        # The consumer reports every couple of seconds; whichever worker answers shows it.
        wait_until(lambda: shows_the_consumer(scrape_alive()), timeout=20, what="its report")
        # Each scrape is answered by either worker, and each has the report it last heard: the
        # other may show the one before for a moment. Six in a row show it once both have it.
        wait_until(
            lambda: all(shows_its_metrics(scrape_alive()) for _ in range(6)),
            timeout=20,
            what="every worker showing the report",
        )
        with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
            consumers = json.load(answer)["consumers"]
        assert consumers and all("metrics" not in c for c in consumers)  # for /metrics only

        consumer.kill()  # no consumer: nothing says the odds can be trusted
        consumer.wait()

        def reads_down(samples):
            return all(value(samples, "dashboard_feed_up", product=p) == 0 for p in ("1", "3"))

        # Each worker finds the consumer gone on its own (its mirror hears no heartbeat, or the
        # consumer's report is too old): six scrapes in a row read down once both have.
        wait_until(
            lambda: all(reads_down(scrape(address)) for _ in range(6)),
            timeout=30,
            what="every worker reading the products down",
        )
        for _ in range(6):  # and they stay down
            samples = scrape(address)
            assert value(samples, "dashboard_feed_up", product="1") == 0
            assert value(samples, "dashboard_feed_up", product="3") == 0


def workers_of(master):
    """The pids of a gunicorn master's worker processes."""
    with open(f"/proc/{master}/task/{master}/children") as children:
        return {int(pid) for pid in children.read().split()}


WORKER_VITALS = (
    "dashboard_worker_cpu_seconds",
    "dashboard_worker_resident_memory_bytes",
    "dashboard_worker_open_fds",
    "dashboard_worker_max_fds",
)


def worker_vitals(samples):
    """{pid: {metric: value}} of the per-worker process metrics of a scrape."""
    shown = {}
    for (name, labels), sampled in samples.items():
        if name in WORKER_VITALS:
            shown.setdefault(int(dict(labels)["pid"]), {})[name] = sampled
    return shown


@pytest.mark.slow
def test_each_worker_shows_its_cpu_memory_and_open_files_while_it_lives(
    sqlite_database_url, redis_bus_url, tmp_path
):
    url, prefix = redis_bus_url
    with web_dyno(
        sqlite_database_url,
        WEB_CONCURRENCY="2",
        FEED_ENABLED="0",
        REDIS_URL=url,
        REDIS_PREFIX=prefix,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    ) as (address, server):
        wait_answering(address)

        def every_worker_shown():
            workers, vitals = workers_of(server.pid), worker_vitals(scrape(address))
            # Each is 0 from the worker's start until its first reading.
            read = {pid for pid, shown in vitals.items() if shown["dashboard_worker_max_fds"]}
            return len(workers) == 2 and vitals.keys() == read == workers

        wait_until(every_worker_shown, timeout=60, what="both workers' process metrics")
        vitals = worker_vitals(scrape(address))
        for shown in vitals.values():
            assert shown["dashboard_worker_cpu_seconds"] > 0
            assert shown["dashboard_worker_resident_memory_bytes"] > 10_000_000
            assert 3 < shown["dashboard_worker_open_fds"] <= shown["dashboard_worker_max_fds"]

        gone = min(vitals)
        os.kill(gone, signal.SIGKILL)  # gunicorn starts another in its place
        wait_until(
            lambda: gone not in workers_of(server.pid) and every_worker_shown(),
            timeout=60,
            what="the dead worker's metrics gone and its successor's shown",
        )


def promtool_check(text):
    """(exit status, what it printed) of `promtool check metrics` on a scrape's text."""
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "needs promtool (Debian's prometheus package: bin/promtool installs it)"
        if os.environ.get("CI"):
            pytest.fail("CI must check /metrics with promtool; " + message)
        pytest.skip(message)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return checked.returncode, (checked.stdout + checked.stderr).strip()


@pytest.mark.slow
def test_every_worker_metric_passes_promtool_and_every_wallet_answer_starts_at_zero(
    sqlite_database_url, tmp_path
):
    with gunicorn(
        sqlite_database_url, FEED_ENABLED="0", PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
    ) as address:
        wait_answering(address)
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
            fresh = answer.read().decode()
        counted = callback_series(sample_values(fresh))
        assert len(counted) == len(CALLBACKS) * (1 + len(Failure))
        assert set(counted.values()) == {0}
        body = json.dumps({"userId": "nobody"}).encode()
        request = urllib.request.Request(
            f"http://{address}/wallet/get_balance",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["desc"] == "unknown userId 'nobody'"
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
            answered = answer.read().decode()
        counted = callback_series(sample_values(answered))
        assert counted[("get_balance", "9999", "unknown_user")] == 1
    assert promtool_check(fresh) == (0, "")
    assert promtool_check(answered) == (0, "")
