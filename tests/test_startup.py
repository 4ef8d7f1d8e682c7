"""A server's start on a database another process is writing to."""

import sqlite3
import threading
import time
import urllib.request

import pytest

from tests.servers import gunicorn
from tests.upstream import wait_until

pytestmark = pytest.mark.slow


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_a_server_starts_while_another_process_holds_the_sqlite_write_lock(sqlite_database_url):
    # The release step or the feed process writing as a web worker boots: the database is
    # there and migrated, only busy for a moment, and no reason to refuse to start.
    holder = sqlite3.connect(
        sqlite_database_url.removeprefix("sqlite:///"),
        isolation_level=None,
        check_same_thread=False,
    )
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(2.0, holder.execute, args=("COMMIT",))
    release.start()
    try:
        with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
            wait_until(lambda: answers(f"http://{address}/health"), timeout=20, what="/health")
            time.sleep(1)  # a worker that refused to start would have taken the server down
            assert answers(f"http://{address}/health")
    finally:
        release.join()
        holder.close()
