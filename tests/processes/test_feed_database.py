"""The feed under gunicorn + gevent while its database is locked or its worker is killed.

A real upstream, real board sockets, a real SQLite file or the real PostgreSQL, and the lock held
by another process, as a CLI command or a stuck transaction would hold it.
"""

import contextlib
import json
import os
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
import websocket

from feed.upstream import frames
from tests.feed_messages import EVENT, bet_stop, event_id, line, market, odds, outcome
from tests.servers import gunicorn, receive_snapshot, web_dyno
from tests.upstream import wait_until

ODDS = odds(
    [market(1), market(18, line("total=2.5", outcomes=[outcome("12", 1.8)]))], EVENT, stamp=1000
)


def get(address, path):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as answer:
        return json.load(answer)


def written(address):
    """Whether the store has nothing left to write."""
    store = get(address, "/feed/status")["store"]
    return store["lag_ms"] == 0 and not any(store["waiting"].values())


@contextlib.contextmanager
def board(address, timeout):
    """A board's socket, past its snapshot; closed at the end."""
    ws = websocket.create_connection(f"ws://{address}/ws", timeout=timeout)
    try:
        assert json.loads(ws.recv())["type"] == "snapshot"
        yield ws
    finally:
        ws.close()


def next_message(ws, wanted, deadline):
    """The next message for which `wanted(message)` holds, read before `deadline` (monotonic)."""
    while time.monotonic() < deadline:
        ws.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            # Pings count as frames here, so that they cannot keep a read going past the deadline.
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            break
        if opcode == websocket.ABNF.OPCODE_TEXT and wanted(message := json.loads(data)):
            return message
    raise AssertionError("the board never got the message")


def count(database_url, table):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
    finally:
        engine.dispose()


def healthy_board_with_odds(upstream, address, database_url):
    upstream.wait_connected()
    upstream.alive()
    upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
    wait_until(lambda: len(receive_snapshot(address)["lines"]) == 2, what="the odds applied")
    wait_until(lambda: receive_snapshot(address)["health"]["products"]["1"]["up"], what="feed up")
    wait_until(lambda: count(database_url, "feed_lines") == 2, what="the odds written")


@pytest.mark.slow
def test_a_sqlite_write_lock_held_by_another_process_freezes_nothing(upstream, sqlite_database_url):
    path = sqlite_database_url.removeprefix("sqlite:///")
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        healthy_board_with_odds(upstream, address, sqlite_database_url)
        with board(address, timeout=30) as ws:
            holder = sqlite3.connect(path, isolation_level=None, timeout=5)
            holder.execute("BEGIN IMMEDIATE")  # as `flask ...` writing during traffic would
            try:
                upstream.send_frame(frames.ODDS_CHANGE, ODDS | {"timestamp": 1500}, 1500)
                time.sleep(2)  # the store's next write is now waiting for the lock
                for number in range(12):
                    stop = bet_stop(EVENT, "all", None, 2000 + number, None)
                    sent = time.monotonic()
                    upstream.send_frame(frames.BET_STOP, stop, 2000 + number)
                    next_message(
                        ws,
                        lambda m, n=number: m["type"] == "bet_stop" and m["time"] == 2000 + n,
                        deadline=sent + 5,
                    )
                    assert get(address, "/health") == {"status": "ok"}
                    assert time.monotonic() - sent < 5
                    time.sleep(0.5)
            finally:
                holder.rollback()
                holder.close()
        wait_until(lambda: written(address), timeout=30, what="the store caught up")
        assert len(get(address, "/feed/bet-stops")["bet_stops"]) == 12


@pytest.mark.slow
@pytest.mark.postgres
def test_boards_hear_the_feed_go_down_while_a_write_waits_for_a_lock(
    upstream, postgres_database_url
):
    # No alive for 5 s and the feed is down (20 s by default): a wait, not a measure.
    settings = {"FEED_URL": upstream.url, "FEED_ALIVE_TIMEOUT_SECONDS": "5"}
    with gunicorn(postgres_database_url, **settings) as address:
        healthy_board_with_odds(upstream, address, postgres_database_url)
        with board(address, timeout=60) as ws:
            url = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(url) as holder:
                holder.execute("LOCK TABLE feed_lines IN EXCLUSIVE MODE")
                stop = bet_stop(EVENT, "all", None, 2000, None)
                upstream.send_frame(frames.BET_STOP, stop, 2000)
                next_message(ws, lambda m: m["type"] == "bet_stop", time.monotonic() + 10)
                # No alive from now on: after 5 s the feed is down, whatever the store is doing.
                down = next_message(
                    ws,
                    lambda m: m["type"] == "health" and not m["health"]["products"]["1"]["up"],
                    deadline=time.monotonic() + 45,
                )
                assert down["health"]["products"]["3"]["up"] is False
                assert sum(get(address, "/feed/status")["store"]["waiting"].values()) >= 2
                holder.rollback()
        wait_until(lambda: written(address), timeout=30, what="the store caught up")


def worker_of(server):
    """The pid of the gunicorn master `server`'s worker."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return int(children[0]) if children else None


@pytest.mark.slow
def test_what_the_status_calls_written_survives_a_killed_worker(upstream, sqlite_database_url):
    with web_dyno(sqlite_database_url, FEED_URL=upstream.url) as (address, server):
        healthy_board_with_odds(upstream, address, sqlite_database_url)
        for number in range(20):
            stop = bet_stop(EVENT, "all", None, 2000 + number, None)
            upstream.send_frame(frames.BET_STOP, stop, 2000 + number)
        wait_until(lambda: len(receive_snapshot(address)["bet_stops"]) == 20, what="the BetStops")
        wait_until(lambda: written(address), what="everything written")
        killed = worker_of(server)
        os.kill(killed, signal.SIGKILL)  # no shutdown, no last flush
        wait_until(lambda: worker_of(server) not in (None, killed), timeout=30, what="a worker")
        wait_until(
            lambda: receive_snapshot(address)["bet_stops"], timeout=30, what="the board restored"
        )
        restored = receive_snapshot(address)
        assert [e["sent_at"] for e in restored["bet_stops"]] == list(range(2000, 2020))
        assert {line["status"] for line in restored["lines"]} == {"suspended"}


@pytest.mark.slow
def test_settled_events_leave_snapshots_and_the_subscribe_list(upstream, sqlite_database_url):
    settled = event_id(78)
    with gunicorn(
        sqlite_database_url, FEED_URL=upstream.url, FEED_CLOSED_GRACE_SECONDS="1"
    ) as address:
        upstream.wait_connected()
        upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
        upstream.send_frame(frames.ODDS_CHANGE, ODDS | {"event_id": settled}, 1000)
        wait_until(lambda: len(receive_snapshot(address)["lines"]) == 4, what="both events' odds")
        markets = [
            {"id": 1, "specifiers": "", "outcome": [{"id": "1", "result": 1}]},
            {"id": 18, "specifiers": "total=2.5", "outcome": [{"id": "12", "result": 0}]},
        ]
        settlement = {"event_id": settled, "product": 1, "timestamp": 3000}
        upstream.send_frame(frames.BET_SETTLEMENT, settlement | {"outcomes": {"market": markets}})
        wait_until(
            lambda: {e["event_id"] for e in receive_snapshot(address)["events"]} == {EVENT},
            timeout=30,
            what="the settled event dropped",
        )
        assert {line["event_id"] for line in receive_snapshot(address)["lines"]} == {EVENT}
        upstream.commands.clear()
        upstream.stop()  # the next session's SUBSCRIBE lists what is left
        upstream.start()
        upstream.wait_connected(timeout=30)
        wait_until(lambda: upstream.commands, what="the client's commands")
        assert (frames.SUBSCRIBE, [EVENT]) in upstream.commands
