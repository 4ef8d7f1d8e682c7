"""What boards that never read cost the worker: RSS with `--boards` of them on a large snapshot.

`python -m bench.snapshot [--boards 50] [--events 400] [--shape deployed]`: the server
(gunicorn + gevent, SQLite, one worker; or deployed: the feed process and two workers,
bench/shapes.py) is fed `--events` events of 40 two-line markets (about 10 MB of snapshot at
400), then `--boards` sockets complete the /ws upgrade with a 4 KB receive buffer and read
nothing. Prints the workers' RSS before and after, and the snapshot's size: a snapshot framed
once for all of a worker's boards costs about one copy a worker, one framed per board costs one
copy each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import shapes
from bench.wallet import free_port
from feed.upstream import frames
from tests.feed_messages import big_board
from tests.servers import ROOT, raw_board, receive_snapshot
from tests.upstream import Upstream, wait_until

SETTINGS = {"WALLET_OPEN": "1", "SECRET_KEY": "bench-" + "x" * 58, "BOARD_LOGIN": "off"}


def workers_rss_mb(server):
    """The resident memory of the server's web workers together (the feed process holds no
    board), in MB."""
    total = 0
    for pid in shapes.worker_pids(server.processes[0]):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument(
        "--shape", choices=shapes.SHAPES, default="embedded", help="the app's shape"
    )
    options = parser.parse_args()
    database = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"
    env = os.environ | SETTINGS | {"DATABASE_URL": database}
    migrate = env | {"FEED_ENABLED": "0"}
    migrate.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=migrate,
        check=True,
        capture_output=True,
    )
    upstream = Upstream().start()
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = shapes.start(options.shape, ROOT, port, env | {"FEED_URL": upstream.url})
    try:
        wait_until(server.ready, timeout=60)
        upstream.wait_connected(timeout=60)
        upstream.alive()
        for odds in big_board(events=options.events):
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        lines = options.events * 40 * 2
        # Deployed, each worker must have the whole board: ask until several answers agree.
        for _ in range(4):
            wait_until(lambda: len(receive_snapshot(address)["lines"]) == lines, timeout=120)
        size = len(json.dumps(receive_snapshot(address)))
        time.sleep(2)
        before = workers_rss_mb(server)
        boards = [raw_board(address, receive_buffer=4096) for _ in range(options.boards)]
        time.sleep(5)  # every handler has begun its write and waits on a full socket
        after = workers_rss_mb(server)
        for board in boards:
            board.close()
    finally:
        server.stop()
        upstream.stop()
    print(
        f"{options.shape}: snapshot {size / 1e6:.1f} MB; {options.boards} boards that never read:"
        f" workers' RSS {before:.0f} MB -> {after:.0f} MB (+{after - before:.0f} MB,"
        f" {(after - before) / options.boards:.1f} MB a board)"
    )


if __name__ == "__main__":
    main()
