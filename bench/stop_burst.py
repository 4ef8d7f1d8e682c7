"""Benchmark a burst of BetStops reaching boards: none dropped, each current, at what cost.

    make bench-stop-burst     (or: python -m bench.stop_burst [--boards 20] [--burst 10000]
                               [--root DIR ...] [--shape deployed])

The relay as one process (gunicorn + gevent, one worker, SQLite; or `--shape deployed`: the feed
process publishing through Redis to two workers, bench/shapes.py) is fed by a local upstream
speaking the feed's protocol (40 events, bench.relay's), with `--boards` websocket clients in
another process (bench.boards) that keep every message, parse each as it arrives as a browser
does (`--no-decode`: they only keep it), and are read as a trader's board only afterwards. For
each checkout (this one, then each `--root`, the code before a change say, in the same run), it
sends:

- `alone`: a few BetStops one at a time, 0.5 s apart: the delay from the upstream's send to each
  board's receipt, p50 and max; the baseline;
- `burst`: `--burst` BetStops back to back, with `/health` asked every 20 ms meanwhile; every
  board stops reading for `--stall` seconds as it begins (a busy tab, a slow link), with a
  receive buffer of `--receive-buffer` bytes (a board's link holds no megabytes in flight).

For each it reports the boards the server dropped (closed), those brought current in band (a
snapshot in the stream), those that ended in the feed's state (their lines as a board applies
them, against a fresh snapshot's), the time from the burst's first and last send until every
board showed its last BetStop, the messages and megabytes the boards got, the server's CPU and
the clients' (user + system, from /proc) over the burst, the server's CPU per message delivered
(each snapshot counting one) and per BetStop per board, the slowest `/health` answer during the
burst, and the machine's load average. The CPU figures do not depend on who else is on the cores.
"""

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import websocket
from websockets.asyncio.server import serve

from bench import boards as board_clients
from bench import shapes
from bench.relay import Upstream, ceiling, cpu_seconds, wait_for
from bench.wallet import free_port

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"SECRET_KEY": "bench-" + "x" * 58, "BOARD_LOGIN": "off", "WALLET_OPEN": "1"}
SETTINGS |= {"FEED_ENABLED": "1"}


def start_server(shape, root, port, upstream_url, database_url):
    """The app of checkout `root` in `shape` (bench/shapes.py), its database migrated."""
    env = os.environ | SETTINGS | {"DATABASE_URL": database_url, "FEED_URL": upstream_url}
    flask = [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"]
    migrate = env | {"FEED_ENABLED": "0"}
    migrate.pop("REDIS_URL", None)
    subprocess.run(flask, cwd=root, env=migrate, check=True, capture_output=True)
    return shapes.start(shape, root, port, env)


def feed_snapshot(port):
    """The snapshot a board connecting now gets."""
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=30)
    try:
        return json.loads(ws.recv())
    finally:
        ws.close()


class HealthProbe:
    """/health every `every` seconds on one keep-alive connection, on a thread: the slowest."""

    def __init__(self, port, every=0.02):
        self.port, self.every = port, every
        self.slowest, self.asked = 0.0, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stopped.is_set():
            started = time.monotonic()
            connection.request("GET", "/health")
            connection.getresponse().read()
            took = time.monotonic() - started
            self.slowest, self.asked = max(self.slowest, took), self.asked + 1
            self.stopped.wait(max(0.0, self.every - took))
        connection.close()

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=30)
        return self.slowest * 1000


async def ask(pipe, *command):
    pipe.send(command)
    return await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


async def alone(upstream, pipe, count):
    """BetStops one at a time: every board's delay for each, in ms."""
    delays = []
    for _ in range(count):
        key = upstream.bet_stop()
        await asyncio.sleep(0.5)
        stamps = await ask(pipe, "stamps", key)
        delays += [(t - upstream.sent[key]) * 1000 for t in stamps if t is not None]
    return sorted(delays)


async def run_case(name, root, args, upstream, tmp):
    port = free_port()
    url = f"ws://127.0.0.1:{args.upstream_port}/ws"
    server = start_server(args.shape, root, port, url, f"sqlite:///{tmp}/{name}.sqlite")
    context = multiprocessing.get_context("spawn")
    pipe, theirs = context.Pipe()
    clients = context.Process(target=board_clients.serve, args=(theirs,), daemon=True)
    clients.start()
    result = {"code": name}
    try:
        await wait_for(lambda: server.ready() and upstream.feeds, 60, f"{name} to start")
        await asyncio.sleep(2)
        pids = server.pids()
        await ask(pipe, "connect", port, args.boards, args.decode, args.receive_buffer)
        await asyncio.sleep(2)
        await ask(pipe, "forget")
        delays = await alone(upstream, pipe, args.alone)
        result["alone_p50_ms"] = delays[len(delays) // 2]
        result["alone_max_ms"] = delays[-1]

        await ask(pipe, "forget")
        load = os.getloadavg()[0]
        cpu, client_cpu = sum(map(cpu_seconds, pids)), cpu_seconds(clients.pid)
        probe = HealthProbe(port)
        if args.stall:
            await ask(pipe, "stall", args.stall)
        first = time.monotonic()
        for _ in range(args.burst):
            last_key = upstream.bet_stop()
        last_sent = time.monotonic()
        deadline = last_sent + args.wait
        while time.monotonic() < deadline:  # until every board shows the last BetStop, or
            await asyncio.sleep(1)  # was closed: it never will
            stamps = await ask(pipe, "stamps", last_key)
            if sum(map(bool, stamps)) + await ask(pipe, "closed") >= args.boards:
                break
        await asyncio.sleep(1)  # what is still on its way: a board brought current gets it
        result["health_max_ms"] = probe.stop()
        result["server_cpu_ms"] = (sum(map(cpu_seconds, pids)) - cpu) * 1000
        result["client_cpu_ms"] = (cpu_seconds(clients.pid) - client_cpu) * 1000
        result["load"] = (load, os.getloadavg()[0])
        feed = feed_snapshot(port)
        want = {board_clients.line_key(x): (x["status"], x["outcomes"]) for x in feed["lines"]}
        summaries = await ask(pipe, "summary", last_key)
        current = [s["current_at"] for s in summaries]
        result |= {
            "dropped": sum(s["closed"] is not None for s in summaries),
            "caught_up": sum(s["snapshots"] > 0 for s in summaries),
            "in_state": sum(s["lines"] == want and not s["gaps"] for s in summaries),
            "messages": sum(s["messages"] for s in summaries),
            "megabytes": sum(s["bytes"] for s in summaries) / 1e6,
            "all_current_s": None if None in current else max(current) - first,
            "after_last_s": None if None in current else max(current) - last_sent,
        }
    finally:
        await ask(pipe, "close")
        clients.join(timeout=10)
        server.stop()
    return result


async def main(args):
    with tempfile.TemporaryDirectory() as tmp:
        print(f"# /health ceiling: {await ceiling(tmp):.0f} requests/s", flush=True)
    upstream = Upstream(40)
    # Stamped in the past, so kept as sent (a stamp ahead of its receipt is taken as the
    # receipt): a board shows that stamp as the BetStop's `sent_at`, in its message or a snapshot.
    upstream.key = int(time.time() * 1000) - 3_600_000
    async with serve(upstream.handler, "127.0.0.1", args.upstream_port, compression=None):
        alives = asyncio.create_task(upstream.alives())
        with tempfile.TemporaryDirectory() as tmp:
            for number, root in enumerate([ROOT, *args.root]):
                name = "this" if number == 0 else f"root{number}"
                print(f"# {name}: {root}", flush=True)
                print(report(await run_case(name, root, args, upstream, tmp), args), flush=True)
        alives.cancel()


HEADER = (
    f"{'code':<6}{'alone p50/max ms':>17}{'dropped':>8}{'caught up':>10}{'in state':>9}"
    f"{'all current s':>14}{'after last s':>13}{'msgs':>8}{'MB':>7}{'server ms':>10}"
    f"{'us/msg':>7}{'us/stop':>8}{'client ms':>10}{'/health max ms':>15}  load"
)


def report(r, args):
    def seconds(value):
        return "never" if value is None else f"{value:.2f}"

    per_stop = r["server_cpu_ms"] * 1000 / (args.burst * args.boards)
    return (
        f"{r['code']:<6}{r['alone_p50_ms']:>8.1f}/{r['alone_max_ms']:<8.1f}{r['dropped']:>8}"
        f"{r['caught_up']:>10}{r['in_state']:>9}{seconds(r['all_current_s']):>14}"
        f"{seconds(r['after_last_s']):>13}{r['messages']:>8}{r['megabytes']:>7.1f}"
        f"{r['server_cpu_ms']:>10.0f}{r['server_cpu_ms'] * 1000 / max(r['messages'], 1):>7.1f}"
        f"{per_stop:>8.1f}{r['client_cpu_ms']:>10.0f}{r['health_max_ms']:>15.0f}"
        f"  {r['load'][0]:.1f}-{r['load'][1]:.1f}"
    )


def cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=20)
    parser.add_argument("--burst", type=int, default=10_000, help="BetStops in the burst")
    parser.add_argument("--alone", type=int, default=5, help="BetStops sent one at a time")
    parser.add_argument("--wait", type=int, default=120, help="seconds to wait for the boards")
    parser.add_argument(
        "--stall",
        type=float,
        default=4.0,
        help="seconds every board stops reading as the burst begins (0: none)",
    )
    parser.add_argument(
        "--receive-buffer", type=int, default=65536, help="each board's SO_RCVBUF (0: the system's)"
    )
    parser.add_argument(
        "--decode",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="boards parse each message as it arrives, as a browser does (the default)",
    )
    parser.add_argument(
        "--root", action="append", default=[], help="also serve this checkout's app (repeatable)"
    )
    parser.add_argument(
        "--shape", choices=shapes.SHAPES, default="embedded", help="the app's shape"
    )
    args = parser.parse_args()
    args.upstream_port = free_port()
    print(
        f"# BetStop burst benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, 40 events, "
        f"{args.boards} boards{'' if args.decode else ' (not decoding)'}, a burst of {args.burst}, "
        f"boards stalled {args.stall} s, SO_RCVBUF {args.receive_buffer or 'default'}, "
        f"{args.shape}"
    )
    print(HEADER, flush=True)
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
