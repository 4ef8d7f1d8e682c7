"""Benchmark the relay's fan-out: BetStops from upstream to thousands of board sockets.

    make bench-relay     (or: python -m bench.relay [--clients 1000,5000] [--only relay])

A local upstream (the real protocol) feeds each server under test; client processes open the
sockets and stamp each BetStop as it arrives. For each server and each number of clients:

- memory per idle socket: the server's resident memory with the clients connected and quiet,
  less what it was before they came, divided by their number;
- delivery delay, from the moment the upstream sends a BetStop to each client's receipt (p50,
  p99, max), over BetStops paced a few per second;
- messages delivered per second during a burst of BetStops sent back to back, and the server's
  CPU time per message delivered (user + system, so the kernel's share of each write counts);
- for the relay, cancel_bet latency (p99) from calls paced through the same worker meanwhile.

The servers: the relay (gunicorn + gevent, `app:create_app()`), Flask-SocketIO on gunicorn +
gevent, and the `websockets` library's `broadcast()` (see bench/peers.py). Upstream, servers and
clients share this machine's cores, as they would not in production: the figures are a floor.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench import crowd
from bench.load import closed_loop, open_loop, percentile
from bench.wallet import POSTGRES, bets, free_port, fresh_postgres, ok, prepare
from feed import frames
from feed.simulator import Simulator
from tests.wallet.calls import cancel_bet_body

ROOT = Path(__file__).resolve().parent.parent
CLIENT_PROCESSES = 1


class Upstream:
    """The odds feed's side: sends the board on connect, alives, and BetStops when told."""

    def __init__(self, events):
        self.simulator = Simulator(events=events, seed=7, outage_every=0)
        self.feeds = set()
        self.sent = {}  # BetStop key (its `timestamp`) -> monotonic send time
        self.key = int(time.time() * 1000) + 60_000  # later than every odds change of the board

    async def handler(self, websocket):
        now = int(time.time() * 1000)
        for cmd, data in self.simulator.alive(now, 0) + self.simulator.opening(now):
            await websocket.send(frames.encode_text(cmd, data, now))
        self.feeds.add(websocket)
        try:
            async for raw in websocket:
                if json.loads(raw).get("cmd") == frames.PING:
                    await websocket.send(frames.encode_text(frames.PING, "pong", now))
        except ConnectionClosed:
            pass  # the server under test was stopped
        finally:
            self.feeds.discard(websocket)

    async def alives(self):
        while True:
            await asyncio.sleep(5)
            now = int(time.time() * 1000)
            for cmd, data in self.simulator.alive(now, 0):
                broadcast(self.feeds, frames.encode_text(cmd, data, now))

    def bet_stop(self):
        """Send one BetStop (all groups) to the next event; return its key."""
        self.key += 1
        event = self.simulator.events[self.key % len(self.simulator.events)]
        data = {
            "event_id": event["event_id"],
            "product": event["product"],
            "groups": "all",
            "market_status": "suspended",
            "timestamp": self.key,
        }
        raw = frames.encode_text(frames.BET_STOP, data, int(time.time() * 1000))
        self.sent[self.key] = time.monotonic()
        broadcast(self.feeds, raw)
        return self.key


def start(kind, port, upstream_url, database_url):
    """Start the server under test; return (process, the clients' path, whether Socket.IO)."""
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--log-level",
        "warning",
        "-b",
        f"127.0.0.1:{port}",
    ]
    env = os.environ | {"PORT": str(port)}
    if kind == "relay":
        env = (
            prepare(database_url)
            | env
            | {
                "FEED_URL": upstream_url,
                "FEED_ENABLED": "1",
                "WEB_CONCURRENCY": "1",
            }
        )
        command, path, socketio = [*gunicorn, "app:create_app()"], "/ws", False
    elif kind == "flask-socketio":
        command = [
            *gunicorn,
            "-c",
            "python:bench.peers",
            f"bench.peers:socketio_app({upstream_url!r})",
        ]
        path, socketio = "/socket.io/?EIO=4&transport=websocket", True
    else:
        command = [sys.executable, "-m", "bench.peers", str(port), upstream_url]
        path, socketio = "/", False
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    return server, path, socketio


def serving_pid(server):
    """gunicorn's worker (the master's child), or the server itself."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        children = []
    return int(children[0]) if children else server.pid


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def ask(pipes, *command):
    loop = asyncio.get_running_loop()
    for pipe in pipes:
        pipe.send(command)
    return [await loop.run_in_executor(None, pipe.recv) for pipe in pipes]


async def run_case(kind, clients, args, upstream, tmp):
    port = free_port()
    url = f"ws://127.0.0.1:{args.upstream_port}/ws"
    database = (
        fresh_postgres(POSTGRES)
        if args.database == "postgres"
        else f"sqlite:///{tmp}/{kind}{clients}.sqlite"
    )
    server, path, socketio = start(kind, port, url, database)
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(CLIENT_PROCESSES):
        mine, theirs = context.Pipe()
        process = context.Process(target=crowd.serve, args=(theirs,), daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
    result = {"server": kind, "clients": clients}
    try:
        await wait_for(lambda: upstream.feeds, 30, f"{kind} to connect upstream")
        await asyncio.sleep(1)
        pending = []
        if kind == "relay":  # bets to cancel during the fan-out, placed before it
            pending = bets(f"{clients}-", args.cancel_rate * args.seconds)
            placed = [("/wallet/place_bet", b) for b in pending]
            await closed_loop("127.0.0.1", port, placed, 16, ok)
        pid = serving_pid(server)
        before = rss_kb(pid)
        share = [clients // len(pipes) + (i < clients % len(pipes)) for i in range(len(pipes))]
        loop = asyncio.get_running_loop()
        for pipe, count in zip(pipes, share, strict=True):
            pipe.send(("connect", port, path, socketio, count))
        joined = sum([await loop.run_in_executor(None, pipe.recv) for pipe in pipes])
        if joined < clients:
            raise RuntimeError(f"{kind}: only {joined} of {clients} clients got in")
        await asyncio.sleep(3)  # let the server settle with every socket idle
        result["kb_per_socket"] = (rss_kb(pid) - before) / clients

        # Paced BetStops, with cancel_bet calls going through the same worker meanwhile.
        async def paced():
            keys = []
            for _ in range(args.seconds * args.bet_stops_per_second):
                keys.append(upstream.bet_stop())
                await asyncio.sleep(1 / args.bet_stops_per_second)
            return keys

        cancels = [
            ("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"])) for b in pending
        ]
        calls = open_loop("127.0.0.1", port, cancels, args.cancel_rate, 64, ok) if cancels else None
        keys, wallet = await asyncio.gather(paced(), calls or asyncio.sleep(0))
        await asyncio.sleep(2)
        receipts = [r for batch in await ask(pipes, "collect") for r in batch]
        paced_keys = set(keys)
        if args.per_bet_stop:
            by_key = {}
            for key, t in receipts:
                by_key.setdefault(key, []).append((t - upstream.sent[key]) * 1000)
            for key in keys:
                d = sorted(by_key.get(key, [0]))
                print(f"  {key}: first {d[0]:.0f} p50 {d[len(d) // 2]:.0f} last {d[-1]:.0f} ms")
        delays = [(t - upstream.sent[key]) * 1000 for key, t in receipts if key in paced_keys]
        result |= {
            "delivered": len(delays) / (len(keys) * clients),
            "p50_ms": percentile(delays, 0.5),
            "p99_ms": percentile(delays, 0.99),
            "max_ms": max(delays, default=float("nan")),
        }
        if wallet:
            result["cancel_p99_ms"] = wallet["p99_ms"]
            result["cancel_errors"] = wallet["errors"]
            if args.per_bet_stop:
                print(
                    f"  cancel_bet p50 {wallet['p50_ms']:.1f} ms, worst: {wallet['worst_seconds']}"
                )

        # A burst: BetStops back to back, for how many messages a second get out.
        cpu = cpu_seconds(pid)
        first = time.monotonic()
        keys = {upstream.bet_stop() for _ in range(args.burst)}
        expected = len(keys) * clients
        deadline = time.monotonic() + 60
        got = []
        while len(got) < expected and time.monotonic() < deadline:
            await asyncio.sleep(1)
            got += [r for batch in await ask(pipes, "collect") for r in batch if r[0] in keys]
        last = max((t for _, t in got), default=first)
        result["cpu_us_per_message"] = (cpu_seconds(pid) - cpu) * 1e6 / max(len(got), 1)
        result["burst_per_second"] = len(got) / (last - first) if last > first else 0.0
        result["burst_delivered"] = len(got) / expected
        result["still_open"] = sum(await ask(pipes, "open"))
    finally:
        await ask(pipes, "close")
        for process in processes:
            process.join(timeout=5)
        server.terminate()
        server.wait(timeout=30)
        await asyncio.sleep(1)
    return result


async def main(args):
    upstream = Upstream(args.events)
    async with serve(upstream.handler, "127.0.0.1", args.upstream_port, compression=None):
        alives = asyncio.create_task(upstream.alives())
        with tempfile.TemporaryDirectory() as tmp:
            results = []
            for clients in args.clients:
                for kind in args.servers:
                    results.append(await run_case(kind, clients, args, upstream, tmp))
                    print(report_line(results[-1]), flush=True)
        alives.cancel()
    return results


HEADER = (
    f"{'server':<16}{'clients':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'msgs/s':>9}"
    f"{'CPU us':>8}{'KB/sock':>9}{'cancel p99':>11}  delivered"
)


def report_line(r):
    cancel = f"{r['cancel_p99_ms']:.1f}" if "cancel_p99_ms" in r else "-"
    return (
        f"{r['server']:<16}{r['clients']:>8}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
        f"{r['max_ms']:>8.1f}{r['burst_per_second']:>9.0f}{r['cpu_us_per_message']:>8.1f}"
        f"{r['kb_per_socket']:>9.1f}"
        f"{cancel:>11}  {r['delivered']:.1%} paced, {r['burst_delivered']:.1%} burst, "
        f"{r['still_open']} open"
    )


def ratios(results):
    """The relay's figures divided by each peer's, at each number of clients."""
    lines = []
    for clients in sorted({r["clients"] for r in results}):
        ours = next(
            (r for r in results if r["server"] == "relay" and r["clients"] == clients), None
        )
        for peer in (r for r in results if r["server"] != "relay" and r["clients"] == clients):
            if ours:
                lines.append(
                    f"{clients} clients, relay / {peer['server']}: "
                    f"p99 delay {ours['p99_ms'] / peer['p99_ms']:.2f}x, "
                    f"msgs/s {ours['burst_per_second'] / peer['burst_per_second']:.1f}x, "
                    f"CPU per message "
                    f"{ours['cpu_us_per_message'] / peer['cpu_us_per_message']:.2f}x, "
                    f"memory per socket {ours['kb_per_socket'] / peer['kb_per_socket']:.2f}x"
                )
    return lines


def cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1000,5000", help="comma-separated client counts")
    parser.add_argument("--only", choices=["relay", "flask-socketio", "websockets"])
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the relay's database (postgres: BENCH_DATABASE_URL, recreated)",
    )
    parser.add_argument("--events", type=int, default=40, help="events on the upstream's board")
    parser.add_argument("--seconds", type=int, default=10, help="length of the paced phase")
    parser.add_argument("--bet-stops-per-second", type=int, default=4)
    parser.add_argument("--burst", type=int, default=50, help="BetStops in the burst")
    parser.add_argument("--cancel-rate", type=int, default=100, help="cancel_bet calls a second")
    parser.add_argument(
        "--per-bet-stop", action="store_true", help="print each paced BetStop's delays"
    )
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.servers = [args.only] if args.only else ["relay", "flask-socketio", "websockets"]
    args.upstream_port = free_port()
    print(
        f"# relay benchmark {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.events} events, "
        f"{args.seconds * args.bet_stops_per_second} paced BetStops, a burst of {args.burst}, "
        f"relay on {args.database}"
    )
    print(HEADER, flush=True)
    results = asyncio.run(main(args))
    for line in ratios(results):
        print(line)


if __name__ == "__main__":
    cli()
