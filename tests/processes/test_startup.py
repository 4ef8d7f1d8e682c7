"""A server's start on a database another process is writing to."""

import contextlib
import sqlite3
import threading
import time
import urllib.request

import pytest

from tests.feed_messages import EVENT, bet_stop
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


class SilentDatabase:
    """A TCP port that accepts connections and never answers: a database that hangs."""

    def __init__(self):
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self):
        import socket

        # Closing the socket alone leaves accept() waiting; shutting it down ends the wait.
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        self.accepting.join(5)
        for connection in self.held:
            connection.close()


@pytest.fixture(params=["refusing", "hanging"])
def database_away(request):
    """A PostgreSQL URL whose server refuses connections, or accepts them and says nothing."""
    if request.param == "refusing":
        from tests.upstream import free_port

        yield f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
        return
    silent = SilentDatabase()
    yield f"postgresql://postgres@127.0.0.1:{silent.port}/nothing"
    silent.close()


def test_the_relay_reaches_the_boards_when_the_database_is_away_at_the_start(
    database_away, upstream
):
    import json

    import websocket

    from feed.upstream import frames

    settings = {"FEED_URL": upstream.url, "DATABASE_CONNECT_TIMEOUT": "1"}
    started = time.monotonic()
    with gunicorn(database_away, **settings) as address:
        upstream.wait_connected(timeout=15)
        assert time.monotonic() - started < 15
        board = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        snapshot = json.loads(board.recv())
        assert snapshot["lines"] == []  # nothing known, nothing bettable
        upstream.alive()
        upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, None, None, 1000, None))
        message = json.loads(board.recv())
        while message["type"] != "bet_stop":
            message = json.loads(board.recv())
        assert message["data"]["event_id"] == EVENT
        board.close()
