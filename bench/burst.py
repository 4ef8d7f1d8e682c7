"""Benchmark the relay under bursts: how soon a BetStop reaches every board, and how long the
worker goes without answering /health.

    make bench-burst     (or: python -m bench.burst [--boards 20] [--case backlog] [--root DIR]
                          [--shape deployed])

A local upstream (the real protocol) feeds the relay, run as in production (gunicorn + gevent,
one worker, SQLite; or `--shape deployed`: the feed process publishing through Redis to two
workers, bench/shapes.py); bare clients (bench/crowd.py) hold the boards, and a prober asks
/health every 20 ms throughout. Each case is measured in the same run, in turn, on the same server:

- `alone`: a BetStop on a quiet feed, the baseline;
- `backlog`: 10,000 odds changes (three lines each, on the board's events) and a BetStop behind
  them, handed to the socket in one write: all of them are on their way when the BetStop is;
- `huge`: one odds change of 20,000 lines (2.6 MB, under the 4 MiB frame limit) and a BetStop
  right behind it.

For each: when the relay read the BetStop (its receipt in the BetStop log, from the upstream's
send: the wire and the reading before it); its delay from the upstream's send to its receipt at
the median board and at the last one (every board has it then); the longest a /health request
took (the worker's longest stall); the server's and the clients' CPU over the case (from its
first frame until the boards have had nothing for a second), and the server's CPU per message
delivered to a board. Cases are
repeated (`--repeat`) and each figure is shown per repeat. Upstream, server and clients share this
machine's cores: compare the cases with each other, within one run. `--root DIR` serves another
checkout's app (the code before a change, say) under the same conditions.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench import bursts, crowd, shapes
from bench.relay import ask, ceiling, cpu_seconds, wait_for
from bench.wallet import free_port, prepare
from feed.simulator.server import answer_commands
from tests.upstream import text_frame

ROOT = Path(__file__).resolve().parent.parent
EVENTS = 40  # on the board
QUIET_S = 1.0  # a case ends once the boards have had nothing for this long
PROBE_EVERY_S = 0.02


class Upstream:
    """The odds feed's side: the board on connect, alives every 5 s, and what a case sends."""

    def __init__(self):
        self.feeds = set()
        self.stamp = int(time.time() * 1000)
        self.sent = {}  # BetStop stamp -> monotonic time its frame was handed to the sockets
        self.sent_at = {}  # and the wall clock's, in ms: the relay's receipt is on that clock

    def next_stamp(self):
        self.stamp = max(self.stamp + 1, int(time.time() * 1000))
        return self.stamp

    async def handler(self, websocket):
        stamp = self.next_stamp()
        for raw in [bursts.alive(stamp), *bursts.board(EVENTS, stamp)]:
            await websocket.send(raw)
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
            broadcast(self.feeds, bursts.alive(self.next_stamp()))

    def send_with_bet_stop(self, raws, event):
        """Hand the frames and a BetStop behind them to each socket in one write, so that all of
        them are on their way when the BetStop is sent; return its key."""
        stamp = self.next_stamp()
        raws = [*raws, bursts.bet_stop(bursts.event_id(event), stamp)]
        data = b"".join(text_frame(raw.encode()) for raw in raws)
        self.sent[stamp], self.sent_at[stamp] = time.monotonic(), time.time() * 1000
        for feed in self.feeds:
            feed.transport.write(data)
        return stamp


class Prober:
    """Asks /health every 20 ms on connections of its own; keeps the longest answer."""

    def __init__(self, port):
        self.port, self.worst, self.task = port, 0.0, None

    async def _one(self):
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            await reader.read()
            writer.close()
        except OSError:
            pass
        self.worst = max(self.worst, time.monotonic() - started)

    async def _run(self):
        pending = set()
        while True:
            task = asyncio.ensure_future(self._one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            await asyncio.sleep(PROBE_EVERY_S)

    def start(self):
        self.worst = 0.0
        self.task = asyncio.ensure_future(self._run())

    async def stop(self):
        await asyncio.sleep(0.2)  # the last probes' answers
        self.task.cancel()
        return self.worst * 1000


def backlog_frames(upstream, count):
    return bursts.backlog(count, EVENTS, upstream.next_stamp())


def huge_frames(upstream, lines):
    return [bursts.huge_odds_change(bursts.event_id(EVENTS), lines, upstream.next_stamp())]


CASES = {
    "alone": lambda upstream, args: [],
    "backlog": lambda upstream, args: backlog_frames(upstream, args.backlog),
    "huge": lambda upstream, args: huge_frames(upstream, args.lines),
}


async def run_case(name, args, upstream, pipes, clients, pids, port, repeat):
    """Send the case's frames and a BetStop behind them; return its figures."""
    event = (repeat * 7 + len(name)) % EVENTS
    await ask(pipes, "received")  # the count starts again from here
    await ask(pipes, "collect")
    raws = CASES[name](upstream, args)
    prober = Prober(port)
    prober.start()
    await asyncio.sleep(0.2)
    server_cpu = sum(cpu_seconds(pid) for pid in pids)
    client_cpu = sum(cpu_seconds(p.pid) for p in clients)
    key = upstream.send_with_bet_stop(raws, event)
    received, receipts, last_change = 0, [], time.monotonic()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        got = sum(await ask(pipes, "received"))
        receipts += [r for batch in await ask(pipes, "collect") for r in batch if r[0] == key]
        if got:
            received, last_change = received + got, time.monotonic()
        elif time.monotonic() - last_change >= QUIET_S and len(receipts) >= args.boards:
            break
    server_cpu = sum(cpu_seconds(pid) for pid in pids) - server_cpu
    client_cpu = sum(cpu_seconds(p.pid) for p in clients) - client_cpu
    stall = await prober.stop()
    delays = sorted((t - upstream.sent[key]) * 1000 for _, t in receipts)
    # When the relay read the BetStop, from its log: the wire and the reading before it.
    await asyncio.sleep(1.5)  # the store writes the log every second
    read_at = await asyncio.get_running_loop().run_in_executor(None, receipt, port, key)
    read_ms = read_at - upstream.sent_at[key] if read_at is not None else float("nan")
    return {
        "case": name,
        "frames": len(raws) + 1,
        "bytes": sum(map(len, raws)),
        "median_ms": delays[len(delays) // 2] if delays else float("nan"),
        "last_ms": delays[-1] if len(delays) >= args.boards else float("nan"),
        "read_ms": read_ms,
        "boards_with_it": len(delays),
        "health_ms": stall,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "delivered": received,
        "us_per_message": server_cpu * 1e6 / max(received, 1),
        "open": sum(await ask(pipes, "open")),
    }


def receipt(port, key):
    """The relay's receipt time (ms) of the BetStop stamped `key`, from its log; None if not
    found."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed/bet-stops?limit=50") as r:
            entries = json.load(r)["bet_stops"]
    except (OSError, ValueError, KeyError):
        return None
    return next((e["received_at"] for e in entries if e.get("sent_at") == key), None)


async def main(args):
    with tempfile.TemporaryDirectory() as tmp:
        print(f"# /health ceiling: {await ceiling(tmp):.0f} requests/s", flush=True)
    upstream = Upstream()
    upstream_port = free_port()
    results = []
    async with serve(upstream.handler, "127.0.0.1", upstream_port, compression=None):
        alives = asyncio.ensure_future(upstream.alives())
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            url = f"ws://127.0.0.1:{upstream_port}/ws"
            env = prepare(f"sqlite:///{tmp}/burst.sqlite") | {"FEED_URL": url}
            server = shapes.start(args.shape, args.root, port, env)
            context = multiprocessing.get_context("spawn")
            mine, theirs = context.Pipe()
            client = context.Process(target=crowd.serve, args=(theirs,), daemon=True)
            client.start()
            pipes = [mine]
            try:
                await wait_for(lambda: upstream.feeds, 60, "the relay to connect upstream")
                await wait_for(server.ready, 60, "the relay to answer")
                await asyncio.sleep(1)
                mine.send(("connect", port, "/ws", False, args.boards))
                joined = await asyncio.get_running_loop().run_in_executor(None, mine.recv)
                if joined < args.boards:
                    raise RuntimeError(f"only {joined} of {args.boards} boards got in")
                await asyncio.sleep(2)
                pids = server.pids()
                for repeat in range(args.repeat):
                    for name in args.cases:
                        result = await run_case(
                            name, args, upstream, pipes, [client], pids, port, repeat
                        )
                        results.append(result)
                        print(report_line(result), flush=True)
                        await asyncio.sleep(1)
            finally:
                await ask(pipes, "close")
                client.join(timeout=5)
                server.stop()
        alives.cancel()
    return results


HEADER = (
    f"{'case':<9}{'frames':>7}{'MB':>6}{'read ms':>8}{'median ms':>10}{'last ms':>9}"
    f"{'/health ms':>11}"
    f"{'server s':>9}{'client s':>9}{'messages':>10}{'us/msg':>8}  boards"
)


def report_line(r):
    return (
        f"{r['case']:<9}{r['frames']:>7}{r['bytes'] / 1e6:>6.1f}{r['read_ms']:>8.0f}"
        f"{r['median_ms']:>10.1f}"
        f"{r['last_ms']:>9.1f}{r['health_ms']:>11.1f}{r['server_cpu_s']:>9.2f}"
        f"{r['client_cpu_s']:>9.2f}{r['delivered']:>10}{r['us_per_message']:>8.1f}  "
        f"{r['boards_with_it']} got the BetStop, {r['open']} open"
    )


def verdicts(results):
    """Each burst case's BetStop against its target: within 10x the alone case + 150 ms."""
    alone = [r["last_ms"] for r in results if r["case"] == "alone"]
    lines = []
    if alone:
        base = sorted(alone)[len(alone) // 2]
        lines.append(f"alone (median of {len(alone)}): {base:.1f} ms to the last board")
        for r in results:
            if r["case"] != "alone":
                target = 10 * base + 150
                met = "met" if r["last_ms"] <= target else "NOT met"
                lines.append(
                    f"{r['case']}: {r['last_ms']:.0f} ms = {r['last_ms'] / base:.1f}x alone;"
                    f" target {target:.0f} ms: {met}; /health {r['health_ms']:.0f} ms"
                    f" (target 100 ms: {'met' if r['health_ms'] <= 100 else 'NOT met'})"
                )
    return lines


def cli():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=20)
    parser.add_argument(
        "--case", action="append", choices=sorted(CASES), help="a case to run (default: all)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=10_000, help="odds changes in `backlog`")
    parser.add_argument("--lines", type=int, default=20_000, help="lines of `huge`'s frame")
    parser.add_argument("--timeout", type=float, default=120, help="seconds a case may take")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument(
        "--shape", choices=shapes.SHAPES, default="embedded", help="the app's shape"
    )
    args = parser.parse_args()
    args.cases = args.case or ["alone", "backlog", "huge"]
    load = os.getloadavg()
    print(
        f"# burst benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.boards} boards, "
        f"{EVENTS} events, serving {args.root} {args.shape};"
        f" load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(HEADER, flush=True)
    results = asyncio.run(main(args))
    load = os.getloadavg()
    print(f"# load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for line in verdicts(results):
        print(line)


if __name__ == "__main__":
    cli()
