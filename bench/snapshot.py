"""What boards that never read cost the worker: RSS with `--boards` of them on a large snapshot.

`python -m bench.snapshot [--boards 50] [--events 400]`: the single-process server (gunicorn +
gevent, SQLite) is fed `--events` events of 40 two-line markets (about 10 MB of snapshot at 400),
then `--boards` sockets complete the /ws upgrade with a 4 KB receive buffer and read nothing.
Prints the worker's RSS before and after, and the snapshot's size: a snapshot framed once for all
of them costs about one copy, one framed per board costs one copy each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feed.upstream import frames
from tests.feed_messages import big_board
from tests.servers import ROOT, gunicorn, raw_board, receive_snapshot
from tests.upstream import Upstream, wait_until

SETTINGS = {"WALLET_OPEN": "1", "SECRET_KEY": "bench-" + "x" * 58, "BOARD_LOGIN": "off"}


def worker_rss_mb(server_pid):
    """The resident memory of the server's worker (the child of gunicorn's master), in MB."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    worker = int(children[0]) if children else server_pid
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--events", type=int, default=400)
    options = parser.parse_args()
    os.environ.update(SETTINGS)
    database = Path(tempfile.mkdtemp()) / "bench.sqlite"
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": f"sqlite:///{database}", "FEED_ENABLED": "0"},
        check=True,
        capture_output=True,
    )
    upstream = Upstream().start()
    try:
        with gunicorn(f"sqlite:///{database}", FEED_URL=upstream.url) as address:
            upstream.wait_connected(timeout=60)
            upstream.alive()
            for odds in big_board(events=options.events):
                upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
            lines = options.events * 40 * 2
            wait_until(lambda: len(receive_snapshot(address)["lines"]) == lines, timeout=120)
            size = len(json.dumps(receive_snapshot(address)))
            pid = server_pid(address)
            time.sleep(2)
            before = worker_rss_mb(pid)
            boards = [raw_board(address, receive_buffer=4096) for _ in range(options.boards)]
            time.sleep(5)  # every handler has begun its write and waits on a full socket
            after = worker_rss_mb(pid)
            for board in boards:
                board.close()
    finally:
        upstream.stop()
    print(
        f"snapshot {size / 1e6:.1f} MB; {options.boards} boards that never read: worker RSS"
        f" {before:.0f} MB -> {after:.0f} MB (+{after - before:.0f} MB,"
        f" {(after - before) / options.boards:.1f} MB a board)"
    )


def server_pid(address):
    """gunicorn's master listening at `address`."""
    port = address.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return int(out.stdout.split("pid=")[1].split(",")[0])


if __name__ == "__main__":
    main()
