"""Benchmark the wallet callbacks through gunicorn + gevent over HTTP, on SQLite and PostgreSQL.

    make bench-wallet          (or: python -m bench.wallet [--bets N] [--workers N])

For each database: migrate an empty one, fund accounts, start gunicorn, then measure
place_bet and cancel_bet at full speed (closed loop), cancel_bet paced at half the rate it just
reached (open loop) for its latency, and the server's bare /health JSON endpoint as the ceiling
the framework allows. Each phase also reports the worker's CPU per request, read from /proc,
which moves less than rates on a shared machine. Every cancel must answer 0000 and the ledger
must audit clean afterwards. The targets are ratios, judged within one run: cancel_bet at least
30% of /health's rate on PostgreSQL, and its p99 under 20 ms paced at half its capacity.
"""

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.load import closed_loop, open_loop
from tests.wallet.calls import cancel_bet_body, place_bet_body

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench")
USERS = 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres(url):
    """Drop and recreate the benchmark database."""
    engine = sa.create_engine(
        url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/postgres",
        isolation_level="AUTOCOMMIT",
    )
    name = url.rsplit("/", 1)[1]
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url


def prepare(database_url):
    # The benchmark calls the wallet from this machine only: loopback is its gate.
    env = os.environ | {"DATABASE_URL": database_url, "FEED_ENABLED": "0", "WALLET_OPEN": "1"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    code = (
        "from app import create_app\nfrom database import run_in_transaction\n"
        "from wallet import ledger\nfrom datetime import UTC, datetime\n"
        "app = create_app()\nwith app.app_context():\n"
        f"    for i in range({USERS}):\n"
        "        run_in_transaction(lambda s: ledger.deposit(s, f'user{i}', 10**12, free=False,"
        " clock=lambda: datetime.now(UTC), create=True))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return env


def start_server(env, port, workers):
    env = env | {"PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The master listens before it forks its workers: wait for an answer, not a connection,
    # or the workers' CPU would be read from no process at all.
    deadline = time.time() + 20
    while time.time() < deadline:
        if answers_health(port):
            return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def answers_health(port):
    """Whether a server on `port` answers /health."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
            return True
    except OSError:
        return False


def ok(status, answer):
    return status == 200 and (answer.get("code") == "0000" or answer.get("status") == "ok")


def bets(prefix, count):
    return [
        place_bet_body(f"{prefix}{i}", user=f"user{i % USERS}", amount="1.5") for i in range(count)
    ]


def worker_pids(server, workers):
    """The pids of a gunicorn master's workers, once all of them are forked."""
    deadline = time.time() + 20
    while True:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        if len(children) >= workers or time.time() > deadline:
            return [int(pid) for pid in children]
        time.sleep(0.1)


def cpu_seconds(pids):
    """User + system CPU time the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def metered(pids, phase):
    """Run the load `phase` (a coroutine); add the workers' CPU per request to its result."""
    before = cpu_seconds(pids)
    result = await phase
    result["cpu_us"] = (cpu_seconds(pids) - before) / max(result["requests"], 1) * 1e6
    return result


async def measure(port, pids, count, concurrency, rate):
    host = "127.0.0.1"
    # Warm up: open the pools' connections and let each worker serve its first requests.
    await closed_loop(host, port, [("/health", None)] * 2000, concurrency, ok)
    warm = [("/wallet/get_balance", {"userId": f"user{i % USERS}"}) for i in range(2000)]
    await closed_loop(host, port, warm, concurrency, ok)
    results = {}
    results["health (ceiling)"] = await metered(
        pids, closed_loop(host, port, [("/health", None)] * count, concurrency, ok)
    )
    placed = bets("A", count)
    results["place_bet"] = await metered(
        pids, closed_loop(host, port, [("/wallet/place_bet", b) for b in placed], concurrency, ok)
    )
    cancels = [("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"])) for b in placed]
    results["cancel_bet"] = await metered(pids, closed_loop(host, port, cancels, concurrency, ok))
    # Half of the capacity just measured, unless a rate was given.
    rate = rate or max(1, round(results["cancel_bet"]["per_second"] / 2))
    # Fresh bets for the paced run, so each cancel refunds for real.
    paced = bets("B", rate * 20)
    await closed_loop(host, port, [("/wallet/place_bet", b) for b in paced], concurrency, ok)
    await asyncio.sleep(3)  # let the database finish flushing that burst: measure a steady state
    cancels = [("/wallet/cancel_bet", cancel_bet_body(b["txId"], user=b["userId"])) for b in paced]
    results[f"cancel_bet at {rate}/s"] = await metered(
        pids, open_loop(host, port, cancels, rate, 64, ok)
    )
    return results, rate


def audit(env):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "wallet", "audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bets", type=int, default=5000, help="bets per closed-loop phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rate", type=int, help="open-loop cancel_bet rate (default: half its measured capacity)"
    )
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()

    print(
        f"# wallet benchmark {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"gunicorn gevent x{args.workers}, {args.concurrency} connections"
    )
    with tempfile.TemporaryDirectory() as tmp:
        backends = {
            "sqlite": lambda: f"sqlite:///{tmp}/bench.sqlite",
            "postgres": lambda: fresh_postgres(POSTGRES),
        }
        for name, make_url in backends.items():
            if args.only and name != args.only:
                continue
            env = prepare(make_url())
            port = free_port()
            server = start_server(env, port, args.workers)
            try:
                pids = worker_pids(server, args.workers)
                results, rate = asyncio.run(
                    measure(port, pids, args.bets, args.concurrency, args.rate)
                )
            finally:
                server.terminate()
                server.wait(timeout=30)
            print(f"\n{name}  (ledger audit: {'clean' if audit(env) else 'FAILED'})")
            print(
                f"  {'phase':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
                f"{'cpu us':>8}"
            )
            for phase, r in results.items():
                print(
                    f"  {phase:<24}{r['per_second']:>9.0f}{r['p50_ms']:>9.1f}"
                    f"{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}{r['errors']:>8}{r['cpu_us']:>8.0f}"
                    + (f"   slowest seconds: {r['worst_seconds']}" if "worst_seconds" in r else "")
                )
            ceiling, cancel = results["health (ceiling)"], results["cancel_bet"]
            paced = results[f"cancel_bet at {rate}/s"]
            print(
                f"  cancel_bet at {cancel['per_second'] / ceiling['per_second']:.0%} of /health's "
                f"rate (target >= 30% on PostgreSQL); worker CPU /health:cancel_bet "
                f"{ceiling['cpu_us'] / cancel['cpu_us']:.0%}; p99 paced at {rate}/s "
                f"{paced['p99_ms']:.1f} ms (target < 20 ms at half capacity)"
            )


if __name__ == "__main__":
    main()
