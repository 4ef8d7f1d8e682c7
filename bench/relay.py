"""Benchmark the relay's fan-out: BetStops from upstream to thousands of board sockets.

    make bench-relay     (or: python -m bench.relay [--clients 1000,5000] [--only relay])

A local upstream (the real protocol) feeds each server under test; client processes open the
sockets and stamp each BetStop as it arrives. For each server and each number of clients:

- memory per idle socket: the server's resident memory with the clients connected and quiet,
  less what it was before they came, divided by their number;
- delivery delay, from the moment the upstream sends a BetStop to each client's receipt (p50,
  p99, max), over BetStops paced a few per second; for the relay, also its p99 (`+wallet`) over
  the same again with the cancel_bet calls below going through the same server meanwhile (the
  peers answer no wallet: the first figure is the one to compare with theirs);
- messages delivered per second during a burst of BetStops sent back to back, and the server's
  CPU time per message delivered (user + system, so the kernel's share of each write counts);
- for the relay, cancel_bet latency (p99) from calls paced through the same server meanwhile, and
  at the same rate before any board is connected (the fan-out's cost to the wallet).

The servers: the relay as one process (gunicorn + gevent, `app:create_app()`, one worker); the
relay deployed (`deployed`: the feed process, `flask feed consume`, publishing through Redis to
gunicorn with two workers, the boards spread over both by the kernel); Flask-SocketIO with its
Redis message queue on two workers fed by an emitting process (`socketio-redis`), and on one
worker reading the upstream itself (`flask-socketio`, on request); and the `websockets` library's
`broadcast()` (see bench/peers.py). Memory and CPU are those of every worker together.
Upstream, servers, Redis and clients share this machine's cores, as they would not in
production: the figures are a floor.
"""

import argparse
import asyncio
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench import crowd, shapes
from bench.load import closed_loop, open_loop, percentile
from bench.shapes import REDIS, forget_redis, worker_pids
from bench.wallet import POSTGRES, answers_health, bets, free_port, fresh_postgres, ok, prepare
from feed.simulator.server import answer_commands
from feed.simulator.world import Simulator
from feed.upstream import frames
from tests.wallet.calls import cancel_bet_body

ROOT = Path(__file__).resolve().parent.parent
CLIENT_PROCESSES = 1
WALLET_SERVERS = ("relay", "deployed")  # the servers that also answer the wallet
SHAPES = {"relay": "embedded", "deployed": "deployed"}  # the app's shape each of them is


class Upstream:
    """The odds feed's side: sends the board on connect, alives, and BetStops when told."""

    def __init__(self, events):
        self.simulator = Simulator(events=events, seed=7, outage_every=0)
        self.feeds = set()
        self.sent = {}  # BetStop key (its `timestamp`) -> monotonic send time
        self.key = int(time.time() * 1000) + 60_000  # later than every odds change of the board

    async def handler(self, websocket):
        now = int(time.time() * 1000)
        for cmd, data in self.simulator.alive(now) + self.simulator.opening(now):
            await websocket.send(frames.encode_text(cmd, data, now))
        self.feeds.add(websocket)
        try:
            await answer_commands(websocket)
        except ConnectionClosed:
            pass  # the server under test was stopped
        finally:
            self.feeds.discard(websocket)

    async def alives(self):
        while True:
            await asyncio.sleep(5)
            now = int(time.time() * 1000)
            for cmd, data in self.simulator.alive(now):
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


def start(kind, port, upstream_url, database_url, prefix):
    """Start the server under test; return (processes, the clients' path, whether Socket.IO).

    The first process is the one the clients connect to; the rest feed it.
    """
    gunicorn = [
        sys.executable,
        "-m",
        "gunicorn",
        "--log-level",
        "warning",
        "-b",
        f"127.0.0.1:{port}",
    ]
    if kind in WALLET_SERVERS:  # the app itself, in either of its shapes (bench/shapes.py)
        env = prepare(database_url) | {"FEED_URL": upstream_url}
        served = shapes.start(SHAPES[kind], ROOT, port, env, prefix)
        return served.processes, "/ws", False
    env = os.environ | {"PORT": str(port)}
    extra = []
    if kind == "socketio-redis":
        app = f"bench.peers:socketio_app(None, {REDIS!r}, {prefix!r})"
        command = [*gunicorn, "-w", "2", "-c", "python:bench.peers", app]
        emit = [sys.executable, "-m", "bench.peers", "emit", upstream_url, REDIS, prefix]
        extra.append(subprocess.Popen(emit, cwd=ROOT))
        path, socketio = "/socket.io/?EIO=4&transport=websocket", True
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
    return [server, *extra], path, socketio


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


async def paced_bet_stops(upstream, pipes, args, calls):
    """BetStops a few a second for a while, with `calls` (a coroutine, or None) running meanwhile:
    (their keys, every client's delay for each in ms, what `calls` returned)."""

    async def paced():
        keys = []
        for _ in range(args.seconds * args.bet_stops_per_second):
            keys.append(upstream.bet_stop())
            await asyncio.sleep(1 / args.bet_stops_per_second)
        return keys

    keys, returned = await asyncio.gather(paced(), calls or asyncio.sleep(0))
    await asyncio.sleep(2)
    receipts = [r for batch in await ask(pipes, "collect") for r in batch]
    if args.per_bet_stop:
        by_key = {}
        for key, t in receipts:
            by_key.setdefault(key, []).append((t - upstream.sent[key]) * 1000)
        for key in keys:
            d = sorted(by_key.get(key, [0]))
            print(f"  {key}: first {d[0]:.0f} p50 {d[len(d) // 2]:.0f} last {d[-1]:.0f} ms")
    paced_keys = set(keys)
    delays = [(t - upstream.sent[key]) * 1000 for key, t in receipts if key in paced_keys]
    return keys, delays, returned


async def run_case(kind, clients, args, upstream, tmp):
    port = free_port()
    url = f"ws://127.0.0.1:{args.upstream_port}/ws"
    database = (
        fresh_postgres(POSTGRES)
        if args.database == "postgres"
        else f"sqlite:///{tmp}/{kind}{clients}.sqlite"
    )
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    servers, path, socketio = start(kind, port, url, database, prefix)
    server = servers[0]
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
        if kind == "deployed":
            loop = asyncio.get_running_loop()
            linked = 0
            while linked < 10:  # asked of whichever worker answers: ten in a row say up
                up = await loop.run_in_executor(None, shapes.linked, port)
                linked = linked + 1 if up else 0
        pending = []
        if kind in WALLET_SERVERS:  # bets to cancel, placed before the fan-out
            count = args.cancel_rate * args.seconds
            pending = bets(f"{clients}-", 2 * count)
            placed = [("/wallet/place_bet", b) for b in pending]
            await closed_loop("127.0.0.1", port, placed, 16, ok)
            # The same calls at the same rate with no board connected: the wallet's own p99.
            idle = [
                ("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"]))
                for b in pending[count:]
            ]
            alone = await open_loop("127.0.0.1", port, idle, args.cancel_rate, 64, ok)
            result["cancel_alone_p99_ms"] = alone["p99_ms"]
            pending = pending[:count]
        pids = worker_pids(server)
        before = sum(rss_kb(pid) for pid in pids)
        share = [clients // len(pipes) + (i < clients % len(pipes)) for i in range(len(pipes))]
        loop = asyncio.get_running_loop()
        for pipe, count in zip(pipes, share, strict=True):
            pipe.send(("connect", port, path, socketio, count))
        joined = sum([await loop.run_in_executor(None, pipe.recv) for pipe in pipes])
        if joined < clients:
            raise RuntimeError(f"{kind}: only {joined} of {clients} clients got in")
        await asyncio.sleep(3)  # let the server settle with every socket idle
        result["kb_per_socket"] = (sum(rss_kb(pid) for pid in pids) - before) / clients

        # Paced BetStops, first alone, as every peer gets them; then, for the servers that also
        # answer the wallet, again with cancel_bet calls going through the same server meanwhile.
        def clients_cpu():
            return sum(cpu_seconds(p.pid) for p in processes)

        reading = clients_cpu()
        keys, delays, _ = await paced_bet_stops(upstream, pipes, args, None)
        result["client_us_per_receipt"] = (clients_cpu() - reading) * 1e6 / max(len(delays), 1)
        result |= {
            "delivered": len(delays) / (len(keys) * clients),
            "p50_ms": percentile(delays, 0.5),
            "p99_ms": percentile(delays, 0.99),
            "max_ms": max(delays, default=float("nan")),
        }
        if pending:
            cancels = [
                ("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"]))
                for b in pending
            ]
            calls = open_loop("127.0.0.1", port, cancels, args.cancel_rate, 64, ok)
            keys, busy, wallet = await paced_bet_stops(upstream, pipes, args, calls)
            result["delivered"] = min(result["delivered"], len(busy) / (len(keys) * clients))
            result["p99_with_wallet_ms"] = percentile(busy, 0.99)
            result["cancel_p99_ms"] = wallet["p99_ms"]
            result["cancel_errors"] = wallet["errors"]
            if args.per_bet_stop:
                print(
                    f"  cancel_bet p50 {wallet['p50_ms']:.1f} ms, worst: {wallet['worst_seconds']}"
                )

        # A burst: BetStops back to back, for how many messages a second get out.
        cpu = sum(cpu_seconds(pid) for pid in pids)
        first = time.monotonic()
        keys = {upstream.bet_stop() for _ in range(args.burst)}
        expected = len(keys) * clients
        deadline = time.monotonic() + 60
        got = []
        while len(got) < expected and time.monotonic() < deadline:
            await asyncio.sleep(1)
            got += [r for batch in await ask(pipes, "collect") for r in batch if r[0] in keys]
        last = max((t for _, t in got), default=first)
        spent = sum(cpu_seconds(pid) for pid in pids) - cpu
        result["cpu_us_per_message"] = spent * 1e6 / max(len(got), 1)
        result["burst_per_second"] = len(got) / (last - first) if last > first else 0.0
        result["burst_delivered"] = len(got) / expected
        result["still_open"] = sum(await ask(pipes, "open"))
    finally:
        await ask(pipes, "close")
        for process in processes:
            process.join(timeout=5)
        for process in servers:
            process.terminate()
            process.wait(timeout=30)
        if kind in ("deployed", "socketio-redis"):
            forget_redis(prefix)
        await asyncio.sleep(1)
    return result


async def ceiling(tmp):
    """/health's requests a second on one gevent worker: how fast this machine is right now."""
    port = free_port()
    env = prepare(f"sqlite:///{tmp}/ceiling.sqlite")  # the server starts on a migrated one only
    env |= {"PORT": str(port), "FEED_ENABLED": "0", "WEB_CONCURRENCY": "1"}
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "gunicorn", "--log-level", "warning", "app:create_app()"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        await wait_for(lambda: answers_health(port), 30, "the ceiling's server")
        await closed_loop("127.0.0.1", port, [("/health", None)] * 2000, 32, ok)  # warm up
        return (await closed_loop("127.0.0.1", port, [("/health", None)] * 20000, 32, ok))[
            "per_second"
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)


async def main(args):
    with tempfile.TemporaryDirectory() as tmp:
        print(f"# /health ceiling: {await ceiling(tmp):.0f} requests/s", flush=True)
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
    f"{'CPU us':>8}{'cli us':>7}{'KB/sock':>9}{'+wallet':>8}{'cancel p99':>11}{'alone':>7}"
    "  delivered"
)


def report_line(r):
    def optional(key):
        return f"{r[key]:.1f}" if key in r else "-"

    return (
        f"{r['server']:<16}{r['clients']:>8}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}"
        f"{r['max_ms']:>8.1f}{r['burst_per_second']:>9.0f}{r['cpu_us_per_message']:>8.1f}"
        f"{r['client_us_per_receipt']:>7.1f}{r['kb_per_socket']:>9.1f}"
        f"{optional('p99_with_wallet_ms'):>8}"
        f"{optional('cancel_p99_ms'):>11}{optional('cancel_alone_p99_ms'):>7}  "
        f"{r['delivered']:.1%} paced, {r['burst_delivered']:.1%} burst, {r['still_open']} open"
    )


def ratios(results):
    """The relay's figures (one process, and deployed) divided by each peer's, per client count."""
    lines = []
    for clients in sorted({r["clients"] for r in results}):
        at = {r["server"]: r for r in results if r["clients"] == clients}
        single, deployed = at.get("relay"), at.get("deployed")
        if single and deployed:
            lines.append(
                f"{clients} clients, the Redis hop (deployed - relay): "
                f"p50 {deployed['p50_ms'] - single['p50_ms']:+.1f} ms, "
                f"p99 {deployed['p99_ms'] - single['p99_ms']:+.1f} ms"
            )
        for name in ("relay", "deployed"):
            ours = at.get(name)
            if ours and "cancel_alone_p99_ms" in ours:
                lines.append(
                    f"{clients} clients, {name}: cancel_bet p99 during the fan-out / alone "
                    f"{ours['cancel_p99_ms'] / ours['cancel_alone_p99_ms']:.2f}x"
                )
        for ours in filter(None, (single, deployed)):
            for peer in (r for r in at.values() if r["server"] not in WALLET_SERVERS):
                busy = ""
                if "p99_with_wallet_ms" in ours:
                    loaded = ours["p99_with_wallet_ms"] / peer["p99_ms"]
                    busy = f" ({loaded:.2f}x with the wallet's calls)"
                lines.append(
                    f"{clients} clients, {ours['server']} / {peer['server']}: "
                    f"p99 delay {ours['p99_ms'] / peer['p99_ms']:.2f}x{busy}, "
                    f"msgs/s {ours['burst_per_second'] / peer['burst_per_second']:.1f}x, "
                    f"CPU per message "
                    f"{ours['cpu_us_per_message'] / peer['cpu_us_per_message']:.2f}x, "
                    f"memory per socket {ours['kb_per_socket'] / peer['kb_per_socket']:.2f}x"
                )
    return lines


def cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1000,5000", help="comma-separated client counts")
    parser.add_argument(
        "--only", choices=["relay", "deployed", "socketio-redis", "flask-socketio", "websockets"]
    )
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
    default = ["relay", "deployed", "socketio-redis", "websockets"]
    args.servers = [args.only] if args.only else default
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
