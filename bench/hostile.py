"""Benchmark hostile bodies against the wallet: the worst 1 MB cases, and what they do to others.

    make bench-wallet-hostile  (or: python -m bench.hostile [--database sqlite] [--rate N])

On one gunicorn + gevent worker (PostgreSQL by default, BENCH_DATABASE_URL): every field of every
callback at the 1 MB body limit, and bodies that are hostile as a whole (nesting, escapes, many
keys or values, under and over the bound on them), each sent --repeat times in a row, reporting
the worker's CPU per request (from /proc) and the slowest answer. Then normal cancel_bet
callbacks paced at a quarter of the capacity just measured (or --rate), alone and beside a
connection that sends the hostile bodies back to back, reporting their latency. Every answer
must be HTTP 200 with the code expected; the ledger must audit clean afterwards.
"""

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime

from bench.load import Connection, closed_loop, collector_paused, open_loop, percentile
from bench.wallet import (
    POSTGRES,
    USERS,
    audit,
    bets,
    cpu_seconds,
    free_port,
    fresh_postgres,
    ok,
    prepare,
    start_server,
    worker_pids,
)
from tests.wallet.calls import cancel_bet_body, event_settle_body, place_bet_body, settle_body

LIMIT = 1024 * 1024
# The refund's fields that move no money are kept however they arrive: the cancel goes through.
LENIENT = {("cancel_bet", name) for name in ("ts", "reason", "gameType", "gameCode")}


class RawConnection(Connection):
    """A keep-alive connection that POSTs bytes as they are, however they are shaped."""

    async def request(self, path, data):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        self.writer.write(head + data)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return status, json.loads(await self.reader.readexactly(length))


def filled(body, set_value):
    """`body` as JSON with one value made as long as the body limit allows, all digits."""
    short = json.dumps(set_value(body, ""))
    return json.dumps(set_value(body, "9" * (LIMIT - len(short) - 1))).encode()


def field_cases():
    """(label, callback, data, code): each field of each callback at the body limit."""
    valid = {
        "get_balance": lambda: {"userId": "user0"},
        "place_bet": lambda: place_bet_body("H-1", user="user0"),
        "cancel_bet": lambda: cancel_bet_body("H-2", user="user0"),
        "settle": lambda: settle_body("H-3", user="user0"),
    }
    for callback, make in valid.items():
        for name in make():

            def set_value(body, value, name=name):
                return body | {name: value}

            code = "0000" if (callback, name) in LENIENT else "9999"
            yield f"{callback}.{name}", callback, filled(make(), set_value), code
    for name in ("settleId", "eventId", "userId", "amount", "createTime"):

        def set_item(body, value, name=name):
            return {"settles": [body["settles"][0] | {name: value}]}

        body = event_settle_body(("H-4", "user0", "5"))
        yield f"event_settle.settles[0].{name}", "event_settle", filled(body, set_item), "9999"


def body_cases():
    """(label, callback, data, code): bodies hostile as a whole, each about the body limit."""
    half = LIMIT // 2 - 1
    escapes = LIMIT // 6 - 10
    yield "nested arrays", "get_balance", b"[" * half + b"]" * half, "9999"
    # Just under the bound on values (20,000 commas and colons), and far over it.
    for count, code in ((9_990, "0000"), (LIMIT // 13, "9999")):
        keys = {"userId": "user0"} | {f"k{i}": 0 for i in range(count)}
        yield f"{len(keys):,} keys", "get_balance", json.dumps(keys).encode(), code
    yield (
        "19,990 numbers",
        "get_balance",
        (b'{"userId": "user0", "x": [' + b",".join([b"0"] * 19_990) + b"]}"),
        "0000",
    )
    yield (
        "userId of \\u0000 escapes",
        "get_balance",
        (b'{"userId": "' + b"\\u0000" * escapes + b'"}'),
        "9999",
    )
    yield (
        "userId of \\ud800 escapes",
        "get_balance",
        (b'{"userId": "' + b"\\ud800" * escapes + b'"}'),
        "9999",
    )
    yield (
        "betAmount as a 1 MB number",
        "place_bet",
        json.dumps(place_bet_body("H-5", user="user0") | {"betAmount": 0})
        .encode()
        .replace(b'"betAmount": 0', b'"betAmount": ' + b"9" * (LIMIT - 400)),
        "9999",
    )
    yield (
        "settles of empty objects",
        "event_settle",
        (b'{"settles": [' + b",".join([b"{}"] * (LIMIT // 3 - 10)) + b"]}"),
        "9999",
    )
    yield "whitespace", "get_balance", b" " * (LIMIT - 2) + b"{}", "9999"


async def hostile_costs(port, pids, cases, repeat):
    """Send each case `repeat` times in a row; return (label, bytes, code, cpu ms, max ms)."""
    connection = RawConnection("127.0.0.1", port)
    await connection.open()
    rows = []
    try:
        for label, callback, data, code in cases:
            slowest, answers = 0.0, set()
            before = cpu_seconds(pids)
            for _ in range(repeat):
                started = time.perf_counter()
                status, answer = await connection.request(f"/wallet/{callback}", data)
                slowest = max(slowest, time.perf_counter() - started)
                answers.add((status, answer.get("code")))
            cpu_ms = (cpu_seconds(pids) - before) / repeat * 1000
            wrong = answers - {(200, code)}
            rows.append((label, len(data), code if not wrong else f"GOT {wrong}", cpu_ms, slowest))
    finally:
        connection.close()
    return rows


async def beside(port, cases, rate, seconds, hostile, hostile_rate=None):
    """Normal cancels paced at `rate`, with a hostile connection sending `cases` if `hostile`:
    back to back, or `hostile_rate` a second."""
    placed = bets(f"N{int(hostile)}{hostile_rate or ''}-", rate * seconds)
    await closed_loop("127.0.0.1", port, [("/wallet/place_bet", b) for b in placed], 16, ok)
    await asyncio.sleep(2)  # let the database finish flushing that burst
    stop, sent = asyncio.Event(), [0]

    async def attack():
        connection = RawConnection("127.0.0.1", port)
        await connection.open()
        started = time.perf_counter()
        try:
            while not stop.is_set():
                for _, callback, data, _ in cases:
                    if hostile_rate:
                        await asyncio.sleep(
                            max(0, started + sent[0] / hostile_rate - time.perf_counter())
                        )
                    await connection.request(f"/wallet/{callback}", data)
                    sent[0] += 1
                    if stop.is_set():
                        break
        finally:
            connection.close()

    attacker = asyncio.create_task(attack()) if hostile else None
    started = time.perf_counter()
    cancels = [("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"])) for b in placed]
    result = await open_loop("127.0.0.1", port, cancels, rate, 64, ok)
    elapsed = time.perf_counter() - started
    stop.set()
    if attacker:
        await attacker
    result["hostile_per_second"] = sent[0] / elapsed
    return result


async def capacity(port, count):
    """cancel_bet per second at full speed from 32 connections, on bets placed for it."""
    placed = bets("C-", count)
    await closed_loop("127.0.0.1", port, [("/wallet/place_bet", b) for b in placed], 32, ok)
    cancels = [("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"])) for b in placed]
    return (await closed_loop("127.0.0.1", port, cancels, 32, ok))["per_second"]


async def measure(port, pids, repeat, rate, seconds, hostile_rate):
    cases = [*field_cases(), *body_cases()]
    assert all(len(data) <= LIMIT for _, _, data, _ in cases), "a case is over the body limit"
    warm = [("/wallet/get_balance", {"userId": f"user{i % USERS}"}) for i in range(2000)]
    await closed_loop("127.0.0.1", port, warm, 32, ok)
    most = await capacity(port, 3000)
    # A quarter of what the worker managed just now: room for the hostile bodies' CPU too.
    rate = rate or max(1, round(most / 4))
    with collector_paused():
        costs = await hostile_costs(port, pids, cases, repeat)
    runs = {
        "alone": await beside(port, cases, rate, seconds, hostile=False),
        f"beside {hostile_rate} hostile/s": await beside(
            port, cases, rate, seconds, hostile=True, hostile_rate=hostile_rate
        ),
        "beside hostile back to back": await beside(port, cases, rate, seconds, hostile=True),
    }
    return costs, most, rate, runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--repeat", type=int, default=30, help="requests per hostile case")
    parser.add_argument(
        "--rate", type=int, help="normal cancel_bet per second (default: a quarter of capacity)"
    )
    parser.add_argument("--seconds", type=int, default=20, help="length of each paced run")
    parser.add_argument("--hostile-rate", type=int, default=20, help="paced hostile bodies/s")
    args = parser.parse_args()

    print(
        f"# hostile-body benchmark {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start, "
        f"Python {platform.python_version()}, one gunicorn gevent worker, {args.database}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        if args.database == "postgres":
            url = fresh_postgres(POSTGRES)
        env = prepare(url)
        port = free_port()
        server = start_server(env, port, 1)
        try:
            costs, most, rate, runs = asyncio.run(
                measure(
                    port,
                    worker_pids(server, 1),
                    args.repeat,
                    args.rate,
                    args.seconds,
                    args.hostile_rate,
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"\nledger audit: {'clean' if audit(env) else 'FAILED'}")
    print(
        f"\n  {'hostile body (x' + str(args.repeat) + ')':<38}{'bytes':>9}  {'code':<6}"
        f"{'cpu ms':>8}{'max ms':>8}"
    )
    for label, size, code, cpu_ms, slowest in costs:
        print(f"  {label:<38}{size:>9}  {code:<6}{cpu_ms:>8.1f}{slowest * 1000:>8.1f}")
    print(
        f"  worst: {max(row[3] for row in costs):.1f} ms of worker CPU; "
        f"median {percentile([row[3] for row in costs], 0.5):.1f} ms"
    )
    print(
        f"\n  cancel_bet capacity just before: {most:.0f}/s\n"
        f"  normal cancel_bet at {rate}/s{'p50 ms':>12}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
    )
    for label, r in runs.items():
        sent = r["hostile_per_second"]
        print(
            f"  {label:<30}{r['p50_ms']:>7.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}"
            f"{r['errors']:>8}" + (f"   ({sent:.0f} hostile bodies/s sent)" if sent else "")
        )


if __name__ == "__main__":
    main()
