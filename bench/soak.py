"""Soak the feed: a rolling feed at 500 messages a second into 200 boards, for ten minutes.

    make bench-soak     (or: python -m bench.soak [--minutes 10] [--rate 500] [--boards 200])

A local upstream speaking the feed's protocol keeps a rolling set of events: each opens (fixture
and odds for all its lines), trades (odds changes, BetStops), is settled whole after its lifetime
and is replaced by a new one, so closed lines pile up unless something drops them. The relay runs
under gunicorn + gevent (one worker) as deployed; the boards are bare asyncio clients in another
process (bench/crowd.py) that stamp each BetStop as it arrives.

Every sample period it prints the worker's resident memory and CPU, the snapshot a new board gets
(its size, its lines and how long the board waited for it, from connect to the last byte), the
write-behind's lag and backlog (/feed/status), the database's size, and BetStop delivery to the
boards over the period (p50, p99, from the upstream's send). Not a test: figures, not verdicts.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import websocket
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench import crowd
from bench.load import percentile
from bench.relay import cpu_seconds, rss_kb
from bench.shapes import worker_pids
from bench.wallet import POSTGRES, free_port, fresh_postgres
from feed.simulator.server import answer_commands
from feed.upstream import frames

ROOT = Path(__file__).resolve().parent.parent
MARKETS = [(1, ""), (18, "total=2.5"), (16, "hcp=-0.5"), (29, ""), (60, "")] + [
    (18, f"total={n}.5") for n in range(3, 8)
]


class RollingFeed:
    """`live` events at any time, each settled after `lifetime` seconds and replaced."""

    def __init__(self, live, lifetime, lines_per_market, seed=7):
        self.rng = random.Random(seed)
        self.live, self.lifetime, self.lines_per_market = live, lifetime, lines_per_market
        self.events = {}  # event id -> (settles at, [(market id, specifiers)])
        self.created = 0
        self.key = 0  # the last BetStop's timestamp: unique, so boards' receipts can be matched

    def lines(self):
        return [
            (market, f"{specifiers}|line={n}".strip("|"))
            for market, specifiers in MARKETS
            for n in range(self.lines_per_market)
        ]

    def opening(self, now):
        """Every live event's fixture and odds, as a new connection starts with."""
        while len(self.events) < self.live:  # the first time: ends spread over a lifetime
            ends = now / 1000 + self.lifetime * (len(self.events) + 1) / self.live
            self._open(now, ends)
        messages = []
        for event_id, (_, lines) in self.events.items():
            messages.append((frames.FIXTURE_CHANGE, self._fixture(event_id, now)))
            messages.append((frames.ODDS_CHANGE, self._odds(event_id, lines, now)))
        return messages

    def step(self, now):
        """The next message, and the settlements and openings that are due."""
        messages = []
        for event_id, (ends, lines) in list(self.events.items()):
            if ends <= now / 1000:
                del self.events[event_id]
                messages.append((frames.BET_SETTLEMENT, self._settlement(event_id, lines, now)))
                messages += self._open(now, now / 1000 + self.lifetime)
        event_id = self.rng.choice(list(self.events))
        lines = self.events[event_id][1]
        if self.rng.random() < 0.05:
            self.key = max(self.key + 1, now)
            data = {"event_id": event_id, "product": 1, "groups": "all", "timestamp": self.key}
            messages.append((frames.BET_STOP, data))
        else:
            odds = self._odds(event_id, self.rng.sample(lines, 3), now)
            messages.append((frames.ODDS_CHANGE, odds))
        return messages

    def _open(self, now, ends):
        self.created += 1
        event_id = f"sr:match:{70000000 + self.created}"
        lines = self.lines()
        self.events[event_id] = (ends, lines)
        odds = self._odds(event_id, lines, now)
        return [(frames.FIXTURE_CHANGE, self._fixture(event_id, now)), (frames.ODDS_CHANGE, odds)]

    def _fixture(self, event_id, now):
        number = int(event_id.rsplit(":", 1)[1]) - 70000000
        return {
            "event_id": event_id,
            "product": 1,
            "change_type": 1,
            "start_time": now,
            "timestamp": now,
            "event_name": f"Home {number} v Away {number}",
            "sport": "football",
        }

    def _odds(self, event_id, lines, now):
        markets = {}
        for market, specifiers in lines:
            markets.setdefault(market, []).append(
                {
                    "specifiers": specifiers,
                    "line_status": "active",
                    "outcomes": [
                        {"id": str(o), "odds": round(self.rng.uniform(1.2, 6.0), 2)} for o in (1, 2)
                    ],
                }
            )
        return {
            "event_id": event_id,
            "product": 1,
            "timestamp": max(now, self.key),
            "markets": [{"id": m, "lines": entries} for m, entries in markets.items()],
        }

    def _settlement(self, event_id, lines, now):
        return {
            "event_id": event_id,
            "product": 1,
            "timestamp": max(now, self.key) + 1,
            "outcomes": {
                "market": [
                    {"id": m, "specifiers": s, "outcome": [{"id": "1", "result": 1}]}
                    for m, s in lines
                ]
            },
        }


BET_STOP = b'{"type":"bet_stop"'  # how the relay's BetStop messages start


class Board(crowd.Client):
    """bench/crowd.py's board, reading a burst of frames in one pass over its buffer.

    A soak's board takes hundreds of odds changes a second; cutting each frame off the front of
    the buffer would copy the rest every time, and the boards, not the server, would be timed.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self.buffer = bytearray()

    def data_received(self, data):
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            head, found, _ = bytes(self.buffer).partition(b"\r\n\r\n")
            if not found:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._fail()
                return
            self.upgraded = True
            del self.buffer[: len(head) + 4]
        offset, buffer = 0, self.buffer
        while len(buffer) - offset >= 2:
            length, start = buffer[offset + 1] & 0x7F, offset + 2
            if length == 126:
                length, start = int.from_bytes(buffer[start : start + 2]), start + 2
            elif length == 127:
                length, start = int.from_bytes(buffer[start : start + 8]), start + 8
            if len(buffer) < start + length:
                break
            opcode = buffer[offset] & 0x0F
            offset = start + length
            if opcode == crowd.TEXT and self.ready.done():
                # Only a BetStop is stamped: the rest is skipped without a copy or a search.
                if buffer[start : start + len(BET_STOP)] == BET_STOP:
                    stamp = crowd.bet_stop_stamp(bytes(buffer[start:offset]))
                    self.receipts.append((stamp, now))
                continue
            self._message(opcode, bytes(buffer[start:offset]), now)
        del buffer[:offset]


def boards(pipe):
    """The boards' process: bench/crowd.py's, with the Board above."""
    crowd.Client = Board
    crowd.serve(pipe)


class Upstream:
    """Sends the rolling feed at `rate` messages a second to every connected client."""

    def __init__(self, feed, rate):
        self.feed, self.rate = feed, rate
        self.clients = set()
        self.sent = {}  # BetStop key -> monotonic send time
        self.count = 0
        self.go = asyncio.Event()  # set once the boards are in

    async def handler(self, websocket):
        now = int(time.time() * 1000)
        await websocket.send(frames.encode_text(frames.ALIVE, {"offset_time": 0}, now))
        for cmd, data in self.feed.opening(now):
            await websocket.send(frames.encode_text(cmd, data, now))
        self.clients.add(websocket)
        try:
            await answer_commands(websocket)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(websocket)

    async def run(self):
        await self.go.wait()
        tick, started, next_alive = 0.02, time.monotonic(), 0.0
        while True:
            await asyncio.sleep(tick)
            due = int((time.monotonic() - started) * self.rate) - self.count
            now = int(time.time() * 1000)
            out = []
            for _ in range(max(0, due)):
                out += self.feed.step(now)
            self.count += max(0, due)
            if time.monotonic() >= next_alive:
                next_alive = time.monotonic() + 5
                out.append((frames.ALIVE, {"offset_time": 0}))
            for cmd, data in out:
                if cmd == frames.BET_STOP:
                    self.sent[data["timestamp"]] = time.monotonic()
                broadcast(self.clients, frames.encode_text(cmd, data, now))


def start_server(root, port, upstream_url, database_url, grace):
    env = os.environ | {"DATABASE_URL": database_url, "FEED_ENABLED": "0", "WALLET_OPEN": "1"}
    flask = [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"]
    subprocess.run(flask, cwd=root, env=env, check=True, capture_output=True)
    env |= {
        "PORT": str(port),
        "FEED_URL": upstream_url,
        "FEED_ENABLED": "1",
        "WEB_CONCURRENCY": "1",
        "FEED_CLOSED_GRACE_SECONDS": str(grace),
    }
    command = [sys.executable, "-m", "gunicorn", "--log-level", "warning", "app:create_app()"]
    return subprocess.Popen(command, cwd=root, env=env)


def new_board(port):
    """A new board's snapshot: (ms to its first byte, ms to its last, bytes, lines, closed)."""
    started = time.perf_counter()
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=60)
    try:
        ws.sock.recv(1, socket.MSG_PEEK)  # the server has built it and started writing
        first = time.perf_counter()
        text = ws.recv()
    finally:
        ws.close()
    whole = time.perf_counter()
    lines = json.loads(text)["lines"]
    closed = sum(line["status"] in ("settled", "cancelled", "deactivated") for line in lines)
    return (first - started) * 1000, (whole - started) * 1000, len(text), len(lines), closed


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed/status", timeout=60) as answer:
        return json.load(answer)


def database_mb(database_url, engine):
    if engine is None:
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) / 1e6
    with engine.connect() as connection:
        size = connection.exec_driver_sql("SELECT pg_database_size(current_database())")
        return size.scalar() / 1e6


HEADER = (
    f"{'t s':>6}{'RSS MB':>8}{'CPU %':>7}{'snap MB':>8}{'lines':>7}{'closed':>7}{'1st B ms':>9}"
    f"{'all ms':>8}{'build ms':>9}"
    f"{'lag ms':>8}{'waiting':>8}{'DB MB':>7}{'stops':>6}{'p50 ms':>8}{'p99 ms':>8}{'load':>6}"
)


async def soak(args, tmp):
    feed = RollingFeed(args.events, args.lifetime, args.lines_per_market)
    upstream = Upstream(feed, args.rate)
    upstream_port, port = free_port(), free_port()
    if args.database == "postgres":
        database_url = fresh_postgres(POSTGRES)
        engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    else:
        database_url, engine = f"sqlite:///{tmp}/soak.sqlite", None
    async with serve(upstream.handler, "127.0.0.1", upstream_port, compression=None):
        sender = asyncio.create_task(upstream.run())
        upstream_url = f"ws://127.0.0.1:{upstream_port}/ws"
        server = start_server(args.root, port, upstream_url, database_url, args.grace)
        context = multiprocessing.get_context("spawn")
        pipe, theirs = context.Pipe()
        crowd_process = context.Process(target=boards, args=(theirs,), daemon=True)
        crowd_process.start()
        loop = asyncio.get_running_loop()
        rows = []
        try:
            while not upstream.clients:
                await asyncio.sleep(0.2)
            pid = worker_pids(server)[0]
            pipe.send(("connect", port, "/ws", False, args.boards))
            joined = await loop.run_in_executor(None, pipe.recv)
            print(f"# {joined} boards in", flush=True)
            upstream.go.set()
            print(HEADER, flush=True)
            started = time.monotonic()
            cpu, at = cpu_seconds(pid), time.monotonic()
            while time.monotonic() - started < args.minutes * 60:
                await asyncio.sleep(args.sample)
                now_cpu, now = cpu_seconds(pid), time.monotonic()
                snapshot = await loop.run_in_executor(None, new_board, port)
                # An app without the store's status (an older checkout, --root) shows -1.
                report = await loop.run_in_executor(None, status, port)
                store = report.get("store") or {"lag_ms": -1, "waiting": {"all": -1}}
                built = report.get("snapshot") or {"ms": -1}
                pipe.send(("collect",))
                receipts = await loop.run_in_executor(None, pipe.recv)
                delays = [(t - upstream.sent[key]) * 1000 for key, t in receipts]
                row = {
                    "t": now - started,
                    "rss_mb": rss_kb(pid) / 1000,
                    "cpu_pct": (now_cpu - cpu) / (now - at) * 100,
                    "snapshot_mb": snapshot[2] / 1e6,
                    "lines": snapshot[3],
                    "closed": snapshot[4],
                    "first_byte_ms": snapshot[0],
                    "snapshot_ms": snapshot[1],
                    "build_ms": built["ms"],  # the server's own time to build it
                    "lag_ms": store["lag_ms"],
                    "waiting": sum(store["waiting"].values()),
                    "database_mb": database_mb(database_url, engine),
                    "bet_stops": len({key for key, _ in receipts}),
                    "p50_ms": percentile(delays, 0.5),
                    "p99_ms": percentile(delays, 0.99),
                    "load": os.getloadavg()[0],  # the machine's: shared, its state is a figure too
                }
                cpu, at = now_cpu, now
                rows.append(row)
                print(line(row), flush=True)
        finally:
            pipe.send(("close",))
            await loop.run_in_executor(None, pipe.recv)
            crowd_process.join(timeout=5)
            server.terminate()
            server.wait(timeout=30)
            sender.cancel()
            if engine is not None:
                engine.dispose()
    return rows, feed


def line(r):
    return (
        f"{r['t']:>6.0f}{r['rss_mb']:>8.1f}{r['cpu_pct']:>7.0f}{r['snapshot_mb']:>8.2f}"
        f"{r['lines']:>7}{r['closed']:>7}{r['first_byte_ms']:>9.0f}{r['snapshot_ms']:>8.0f}"
        f"{r['build_ms']:>9.1f}"
        f"{r['lag_ms']:>8}"
        f"{r['waiting']:>8}{r['database_mb']:>7.1f}{r['bet_stops']:>6}{r['p50_ms']:>8.1f}"
        f"{r['p99_ms']:>8.1f}{r['load']:>6.1f}"
    )


def summary(rows, feed):
    if len(rows) < 4:
        return "too short for a summary"
    half = rows[len(rows) // 2 :]

    def spread(key):
        values = [r[key] for r in half]
        return f"{min(values):.1f}–{max(values):.1f}"

    return (
        f"events opened: {feed.created}; second half of the run: RSS {spread('rss_mb')} MB, "
        f"snapshot {spread('snapshot_mb')} MB ({spread('lines')} lines), its first byte after "
        f"{spread('first_byte_ms')} ms and its last after {spread('snapshot_ms')} ms, "
        f"built in {spread('build_ms')} ms, "
        f"write-behind lag {spread('lag_ms')} ms, BetStop p99 {spread('p99_ms')} ms, "
        f"database {spread('database_mb')} MB"
    )


class NoStore:
    """A relay's store that keeps nothing: the snapshot's cost alone is measured."""

    def changed(self, lines, event):
        pass

    def log_bet_stop(self, frame, applied, received_ms):
        return {"event_id": frame.data.get("event_id")}


def snapshot_costs(lines, repeats=5):
    """In this process: a relay with `lines` lines, and what its snapshots cost (ms)."""
    from feed.board.hub import LocalHub
    from feed.market.descriptions import MarketDescriptions
    from feed.market.health import FeedHealth
    from feed.market.rules import MarketState
    from feed.relay import Relay

    relay = Relay(
        MarketState(MarketDescriptions.load(None)), FeedHealth(), LocalHub(), NoStore(), lambda: 0
    )
    feed = RollingFeed(lines // 50, 3600, 5)
    for cmd, data in feed.opening(1000):
        relay.handle(frames.Frame(cmd, 1000, data), 0)

    def timed(work):
        started = time.perf_counter()
        work()
        return (time.perf_counter() - started) * 1000

    first = timed(relay.snapshot)
    ticks, builds = [], []
    for repeat in range(repeats):
        for step in range(500):  # a second of the feed at 500 messages a second
            for cmd, data in feed.step(2000 + repeat * 1000 + step):
                relay.handle(frames.Frame(cmd, 2000, data), 0)
        ticks.append(timed(relay.tick))
        relay.handle(frames.Frame(frames.ALIVE, 0, {"offset_time": 0}), 0)  # a change: a new seq
        builds.append(timed(relay.snapshot))
    whole = timed(lambda: relay._encode(relay.state.snapshot()))
    size = len(relay.snapshot()[1])
    print(
        f"{len(relay.state.lines)} lines, {size / 1e6:.1f} MB: first snapshot {first:.0f} ms; then "
        f"each second's changes serialised by the ticker in {min(ticks):.0f}–{max(ticks):.0f} ms "
        f"and a snapshot built in {min(builds):.0f}–{max(builds):.0f} ms; the whole state "
        f"serialised at once (as before): {whole:.0f} ms"
    )


def cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run")
    parser.add_argument("--rate", type=int, default=500, help="upstream messages a second")
    parser.add_argument("--boards", type=int, default=200)
    parser.add_argument("--events", type=int, default=200, help="events live at any time")
    parser.add_argument("--lifetime", type=float, default=180, help="seconds an event lives")
    parser.add_argument("--lines-per-market", type=int, default=5, help="of 10 markets")
    parser.add_argument("--grace", type=float, default=60, help="FEED_CLOSED_GRACE_SECONDS")
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: BENCH_DATABASE_URL, recreated",
    )
    parser.add_argument(
        "--root", default=ROOT, help="serve the app of this checkout (to compare with another)"
    )
    parser.add_argument(
        "--snapshot-lines",
        type=int,
        help="instead: time the snapshot of a board of this many lines, in this process",
    )
    args = parser.parse_args()
    if args.snapshot_lines:
        snapshot_costs(args.snapshot_lines)
        return
    print(
        f"# soak {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {args.minutes:g} min at {args.rate} msgs/s, "
        f"{args.boards} boards, {args.events} events live x {10 * args.lines_per_market} lines, "
        f"each settled after {args.lifetime:g} s, closed lines kept {args.grace:g} s, "
        f"{args.database}, app from {args.root}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows, feed = asyncio.run(soak(args, tmp))
    print(summary(rows, feed))


if __name__ == "__main__":
    cli()
