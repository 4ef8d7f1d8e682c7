"""The deployed shape over the real Redis: web dynos of two workers, the feed process, a standby.

Each process is started as the Procfile starts it (gunicorn for `web`, `flask feed consume` for
`feed`) and the boards are real /ws clients.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
import websocket

from feed.upstream import frames
from tests.feed_messages import bet_stop, odds_of
from tests.redis_server import own_redis
from tests.servers import ROOT, feed_process, web_dyno
from tests.upstream import free_port, wait_until

pytestmark = pytest.mark.slow


def status(address):
    with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
        return json.load(answer)


OPEN_BOARDS = []


@pytest.fixture(autouse=True)
def close_boards():
    """Every board a test opened is closed, whatever the test's outcome."""
    yield
    while OPEN_BOARDS:
        OPEN_BOARDS.pop().close()


class Board:
    """A board as the browser keeps it: snapshot, then each message in order; what it shows."""

    def __init__(self, address):
        self.ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        OPEN_BOARDS.append(self)
        self.lines, self.health, self.seq = {}, None, None
        self.bet_stops, self.snapshots, self.gaps, self.closed = [], 0, [], None
        self.seen = []  # (type, seq) of every message, for the failure messages
        self.receive()

    def receive(self):
        opcode, data = self.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.closed = int.from_bytes(data[:2], "big"), data[2:].decode()
            self.close()
            return
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return
        message = json.loads(data)
        self.seen.append((message["type"], message["seq"]))
        if message["type"] == "snapshot":
            self.snapshots += 1
            self.seq, self.health = message["seq"], message["health"]
            self.lines = {line["market_id"]: line for line in message["lines"]}
            # As the board's log: the snapshot's entries, oldest first, then each live one.
            self.bet_stops = [entry["sent_at"] for entry in message["bet_stops"]]
            return
        if message["seq"] != self.seq + 1:
            self.gaps.append((self.seq, message["seq"]))
        self.seq = message["seq"]
        if message["type"] == "health":
            self.health = message["health"]
        for line in message.get("lines", []):
            self.lines[line["market_id"]] = line
        if message["type"] == "bet_stop":
            self.bet_stops.append(message["data"]["timestamp"])

    def until(self, predicate, timeout=20, what="the board to show it"):
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; closed: {self.closed}; seen: {self.seen}"
                )
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(websocket.WebSocketTimeoutException):
                self.receive()

    def shows(self, market_id):
        """The line's status as the trader sees it: the health overlay included."""
        line = self.lines.get(market_id)
        if line is None:
            return None
        product = self.health["products"].get(str(line["product"]), {})
        if line["status"] == "active" and not (self.health["connected"] and product.get("up")):
            return "suspended"
        return line["status"]

    @property
    def link_down(self):
        return self.health.get("reason") == "relay link down"

    def close(self):
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)
        self.ws.shutdown()  # the socket itself, even when the server closed first


class UpstreamWatch:
    """Samples the upstream's connections all along: never more than one consumer."""

    def __init__(self, upstream):
        self.upstream, self.most, self.stopped = upstream, 0, threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while not self.stopped.wait(0.005):
            self.most = max(self.most, len(self.upstream.connections))

    def stop(self):
        self.stopped.set()
        return self.most


def boards_on_every_worker(address, workers=2, at_least=4, limit=40):
    """Open boards on a dyno until each of its workers serves some; return them."""
    boards = [Board(address) for _ in range(at_least)]
    while True:
        seen = {}
        for _ in range(40):  # each request lands on one worker or the other
            answer = status(address)
            seen[answer["pid"]] = answer["boards"]
        if len(seen) == workers and all(seen.values()) and sum(seen.values()) == len(boards):
            return boards
        assert len(boards) < limit, f"boards never spread over {workers} workers: {seen}"
        boards.append(Board(address))


def deployed(upstream, url, prefix, **more):
    return {"REDIS_URL": url, "REDIS_PREFIX": prefix, "FEED_URL": upstream.url} | more


def lines_stored(url):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT count(*) FROM feed_lines").scalar()
    finally:
        engine.dispose()


def leader_of(address):
    leaders = [c for c in status(address)["consumers"] if c["role"] == "leader"]
    return max(leaders, key=lambda c: c["epoch"])["id"] if leaders else None


def test_two_dynos_of_two_workers_get_every_bet_stop_once_and_in_order(
    upstream, database_url, redis_bus_url
):
    settings = deployed(upstream, *redis_bus_url)
    watch = UpstreamWatch(upstream)
    with (
        feed_process(database_url, DYNO="feed.1", **settings),
        feed_process(database_url, DYNO="feed.2", **settings),
        web_dyno(database_url, WEB_CONCURRENCY="2", **settings) as (first, _),
        web_dyno(database_url, WEB_CONCURRENCY="2", **settings) as (second, _),
    ):
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, odds_of([1, 166], stamp=1000))
        boards = boards_on_every_worker(first) + boards_on_every_worker(second)
        for board in boards:
            board.until(lambda b: b.shows(1) == "active" and b.shows(166) == "active")
        roles = sorted(c["role"] for c in status(first)["consumers"])
        assert roles == ["leader", "standby"]
        sent = [2000 + n for n in range(20)]
        for timestamp in sent:
            upstream.send_frame(
                frames.BET_STOP, bet_stop(stamp=timestamp, market_status=None), timestamp
            )
        for board in boards:
            board.until(lambda b: len(b.bet_stops) >= len(sent), what="every BetStop")
            assert board.bet_stops == sent and board.gaps == []
            assert board.shows(1) == "suspended"
            board.close()
        assert watch.stop() == 1 and upstream.accepted == 1  # before the leader stops


def test_kill_9_the_leader_and_the_standby_takes_over_within_10_s(
    upstream, postgres_database_url, redis_bus_url
):
    settings = deployed(upstream, *redis_bus_url)
    watch = UpstreamWatch(upstream)
    with contextlib.ExitStack() as stack:
        feeds = {
            name: stack.enter_context(feed_process(postgres_database_url, DYNO=name, **settings))
            for name in ("feed.1", "feed.2")
        }
        address, _ = stack.enter_context(
            web_dyno(postgres_database_url, WEB_CONCURRENCY="2", **settings)
        )
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, odds_of([1, 166], stamp=1000))
        board = Board(address)
        board.until(lambda b: b.shows(1) == "active" and b.shows(166) == "active")
        wait_until(lambda: leader_of(address), what="the leader reported")
        leader = leader_of(address)
        # The odds written behind, as any second of traffic would have them.
        wait_until(lambda: lines_stored(postgres_database_url) == 2, what="the odds written")

        feeds[leader].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        # The boards learn within a second that nobody relays: every line reads suspended.
        board.until(lambda b: not b.health["products"]["1"]["up"], timeout=5, what="link down")
        assert time.monotonic() - killed < 1.5
        wait_until(lambda: not upstream.connections, what="the dead leader's socket closed")
        # The upstream stops line 166 while no consumer is connected: nobody hears it.
        upstream.send_frame(frames.BET_STOP, bet_stop(stamp=3000, market_status=None), 3000)
        wait_until(lambda: upstream.connections, timeout=15, what="the standby connected")
        assert time.monotonic() - killed < 10
        assert upstream.accepted == 2

        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, odds_of([1], stamp=4000))  # reopens line 1 only
        upstream.send_frame(frames.BET_STOP, bet_stop(stamp=5000, market_status=None), 5000)
        board.until(lambda b: 5000 in b.bet_stops, what="the next BetStop")
        # The new leader loads the last known board behind its relay: the line comes back, and
        # reads the gap, once that load is in.
        board.until(lambda b: 166 in b.lines, what="line 166 restored")
        assert board.shows(166) != "active", board.lines[166]  # stopped during the gap
        assert board.shows(1) == "suspended"  # by the BetStop the board saw
        assert board.lines[166]["reason"] == "feed gap"
        assert leader_of(address) != leader
        board.close()
        assert watch.stop() == 1


def test_a_leader_frozen_past_its_lease_never_publishes_over_its_successor(
    upstream, sqlite_database_url, redis_bus_url
):
    settings = deployed(upstream, *redis_bus_url, FEED_LEASE_SECONDS="2")
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(feed_process(sqlite_database_url, DYNO="feed.1", **settings))
        upstream.wait_connected()  # the first leads
        stack.enter_context(feed_process(sqlite_database_url, DYNO="feed.2", **settings))
        address, _ = stack.enter_context(web_dyno(sqlite_database_url, **settings))
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, odds_of([1], stamp=1000))
        board = Board(address)
        board.until(lambda b: b.shows(1) == "active")

        first.send_signal(signal.SIGSTOP)  # paused, its socket open: it believes it leads
        wait_until(lambda: upstream.accepted == 2, timeout=15, what="the standby leading")
        # Both sockets get these; the frozen leader reads them once it runs again.
        sent = [6000 + n for n in range(5)]
        for timestamp in sent:
            upstream.send_frame(
                frames.BET_STOP, bet_stop(stamp=timestamp, market_status=None), timestamp
            )
        board.until(lambda b: len(b.bet_stops) == 5, what="the new leader's BetStops")
        first.send_signal(signal.SIGCONT)
        wait_until(
            lambda: len(upstream.connections) == 1, timeout=10, what="the old leader stepping down"
        )
        upstream.send_frame(frames.BET_STOP, bet_stop(stamp=7000, market_status=None), 7000)
        board.until(lambda b: 7000 in b.bet_stops, what="the next BetStop")
        time.sleep(1)
        with contextlib.suppress(AssertionError):
            board.until(lambda b: False, timeout=1)  # read whatever else came
        assert board.bet_stops == [*sent, 7000]  # none twice, none from the stale leader
        assert board.gaps == []
        board.close()


def test_flask_feed_status_says_which_process_leads_and_which_stands_by(
    upstream, sqlite_database_url, redis_bus_url
):
    settings = deployed(upstream, *redis_bus_url)
    with feed_process(sqlite_database_url, DYNO="feed.1", **settings):
        upstream.wait_connected()
        with feed_process(sqlite_database_url, DYNO="feed.2", **settings):

            def roles():
                env = os.environ | {"DATABASE_URL": sqlite_database_url} | settings
                command = [
                    sys.executable,
                    "-m",
                    "flask",
                    "--app",
                    "app",
                    "feed",
                    "status",
                    "--json",
                ]
                result = subprocess.run(
                    command, cwd=ROOT, env=env, capture_output=True, timeout=60, check=True
                )
                report = json.loads(result.stdout)
                return {c["id"]: (c["role"], c["upstream"]) for c in report["consumers"]}

            wait_until(lambda: len(roles()) == 2, timeout=20, what="both reporting")
            assert roles() == {"feed.1": ("leader", True), "feed.2": ("standby", False)}


def test_sigterm_hands_the_lease_over_at_once(upstream, sqlite_database_url, redis_bus_url):
    # A 20 s lease: a takeover much sooner than that is a hand-over, not a lapse.
    settings = deployed(upstream, *redis_bus_url, FEED_LEASE_SECONDS="20")
    with feed_process(sqlite_database_url, DYNO="feed.1", **settings) as first:
        upstream.wait_connected()  # the first leads
        with feed_process(sqlite_database_url, DYNO="feed.2", **settings):
            time.sleep(3)  # the second stands by: a deploy's overlap
            assert upstream.accepted == 1
            first.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            wait_until(lambda: upstream.accepted == 2, timeout=30, what="the standby connected")
            assert time.monotonic() - stopped < 5
            assert first.wait(timeout=30) == 0


def test_redis_restarted_boards_read_suspended_then_resync_within_5_s(
    upstream, postgres_database_url, tmp_path
):
    with own_redis(tmp_path) as redis_server:
        settings = deployed(upstream, redis_server.url, "restart")
        with (
            feed_process(postgres_database_url, **settings),
            web_dyno(postgres_database_url, WEB_CONCURRENCY="2", **settings) as (address, _),
        ):
            upstream.wait_connected()
            upstream.alive()
            upstream.send_frame(frames.ODDS_CHANGE, odds_of([1, 166], stamp=1000))
            boards = boards_on_every_worker(address, at_least=2)
            for board in boards:
                board.until(lambda b: b.shows(1) == "active")

            redis_server.stop()
            for board in boards:
                board.until(lambda b: b.link_down, what="relay link down")
                assert b_all_suspended(board)
            # The feed process goes on applying and persisting meanwhile.
            upstream.alive()
            upstream.send_frame(frames.BET_STOP, bet_stop(stamp=2000, market_status=None), 2000)
            wait_until(lambda: bet_stops_logged(address) == [2000], what="the BetStop persisted")
            time.sleep(1)
            for board in boards:
                assert board.link_down and b_all_suspended(board)

            redis_server.start()
            back = time.monotonic()
            for board in boards:
                board.until(lambda b: not b.link_down and b.health["connected"], timeout=15)
            assert time.monotonic() - back < 5
            for board in boards:
                assert board.lines[1]["status"] == "suspended"  # the BetStop during the outage
                board.close()


def b_all_suspended(board):
    return all(board.shows(market) == "suspended" for market in board.lines)


def bet_stops_logged(address):
    with urllib.request.urlopen(f"http://{address}/feed/bet-stops", timeout=10) as answer:
        return [entry["sent_at"] for entry in json.load(answer)["bet_stops"]]


def test_sigterm_closes_every_board_with_1001(upstream, sqlite_database_url, redis_bus_url):
    settings = deployed(upstream, *redis_bus_url)
    with (
        feed_process(sqlite_database_url, **settings),
        web_dyno(sqlite_database_url, WEB_CONCURRENCY="2", **settings) as (address, web),
    ):
        upstream.wait_connected()
        boards = boards_on_every_worker(address, at_least=2)
        web.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        for board in boards:
            board.until(lambda b: b.closed, timeout=30, what="the close frame")
            assert board.closed == (1001, "going away")
            board.close()
        assert time.monotonic() - stopped < 30
        web.wait(timeout=30)


def test_the_embedded_shape_refuses_a_second_worker(sqlite_database_url):
    # The platform's WEB_CONCURRENCY is capped to one worker, loudly; an explicit one refused.
    port = free_port()
    env = os.environ | {"DATABASE_URL": sqlite_database_url, "PORT": str(port)}
    env |= {"WEB_CONCURRENCY": "3", "FEED_ENABLED": "0"}
    env.pop("REDIS_URL", None)
    refused = subprocess.run(
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--workers", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert refused.returncode != 0 and b"without REDIS_URL" in refused.stderr
    with web_dyno(sqlite_database_url, WEB_CONCURRENCY="3", FEED_ENABLED="0") as (address, web):
        pids = {status(address)["pid"] for _ in range(30)}
        assert len(pids) == 1
        children = Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text().split()
        assert len(children) == 1


def test_the_feed_process_needs_redis(sqlite_database_url):
    env = os.environ | {"DATABASE_URL": sqlite_database_url}
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "feed", "consume"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0 and b"needs REDIS_URL" in result.stderr
