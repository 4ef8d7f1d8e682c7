"""The board's socket behind the login, over real sockets through gunicorn + gevent."""

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests
import websocket

from accounts.gate import EPOCHS_FRESH_S
from app import create_app
from database import db
from feed.upstream import frames
from tests.conftest import base_config
from tests.feed_messages import bet_stop, event_id
from tests.servers import ROOT, gunicorn

PASSWORD = "correct horse battery"
SESSION_ENDED = 4401
# Seconds a login page, a login or a logout may take: a login hashes the password, which on a
# machine whose cores other test runs share took up to 8 s.
HTTP_TIMEOUT = 30


def add_account(database_url, username="alice"):
    from accounts import users

    app = create_app(base_config(database_url))
    with app.app_context():
        users.add(username, PASSWORD)
        db.engine.dispose()


OPENED = []  # how to close the sessions and sockets of the current test


@pytest.fixture(autouse=True)
def close_what_was_opened():
    yield
    while OPENED:
        OPENED.pop()()


def logged_in(address, username="alice"):
    """A requests session holding a board session cookie."""
    http = requests.Session()
    OPENED.append(http.close)
    page = http.get(f"http://{address}/login", timeout=HTTP_TIMEOUT)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = http.post(
        f"http://{address}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 302
    return http


def open_board(address, http=None, origin=None):
    cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items()) if http else None
    options = {"cookie": cookie, "timeout": 10}
    if origin:
        options["origin"] = origin
    ws = websocket.create_connection(f"ws://{address}/ws", **options)
    # shutdown(), not close(): after the server's close frame, close() can leave the socket open.
    OPENED.append(ws.shutdown)
    return ws


def close_code(ws):
    """Read until the server's close frame; its code."""
    while True:
        opcode, frame = ws.recv_data_frame(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")
        assert opcode != websocket.ABNF.OPCODE_TEXT or b'"snapshot"' in frame.data


def first_message(ws):
    opcode, frame = ws.recv_data_frame(control_frame=True)
    return opcode, frame.data


NUDGE_S = 1  # the hub's nudge on these servers: the production default is 5 s
# A ping every second and a nudge every NUDGE_S: a quiet board's handler wakes within seconds.
QUICK_BOARDS = {"BOARD_PING_SECONDS": "1", "BOARD_NUDGE_SECONDS": str(NUDGE_S)}


@pytest.fixture
def board_server(sqlite_database_url):
    add_account(sqlite_database_url)
    with gunicorn(
        sqlite_database_url, BOARD_LOGIN="on", FEED_ENABLED="0", **QUICK_BOARDS
    ) as address:
        yield address


def test_a_socket_without_a_session_is_closed_4401_before_any_snapshot(board_server):
    ws = open_board(board_server)
    opcode, data = first_message(ws)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == SESSION_ENDED


def test_a_socket_with_a_session_gets_the_snapshot(board_server):
    ws = open_board(board_server, logged_in(board_server))
    opcode, data = first_message(ws)
    assert opcode == websocket.ABNF.OPCODE_TEXT and b'"type":"snapshot"' in data


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example"])
def test_a_socket_from_another_origin_is_refused_even_with_a_session(board_server, origin):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_board(board_server, logged_in(board_server), origin=origin)
    assert refused.value.status_code == 403


def test_a_listed_origin_may_open_the_socket(sqlite_database_url):
    with gunicorn(
        sqlite_database_url, BOARD_ORIGINS="https://board.example", FEED_ENABLED="0"
    ) as address:
        ws = open_board(address, origin="https://board.example")
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        with pytest.raises(websocket.WebSocketBadStatusException):
            open_board(address, origin="https://other.example")


def test_with_the_login_off_another_origin_is_still_refused(sqlite_database_url):
    with gunicorn(sqlite_database_url, BOARD_LOGIN="off", FEED_ENABLED="0") as address:
        ws = open_board(address)  # the app's own origin, as websocket-client sends it
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        with pytest.raises(websocket.WebSocketBadStatusException):
            open_board(address, origin="http://evil.example")


@pytest.mark.slow
def test_a_board_whose_session_ends_is_told_4401(database_url):
    add_account(database_url)
    with gunicorn(database_url, BOARD_LOGIN="on", FEED_ENABLED="0", **QUICK_BOARDS) as address:
        http = logged_in(address)
        ws = open_board(address, http)
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        other = open_board(address, logged_in(address))  # the same account elsewhere
        assert first_message(other)[0] == websocket.ABNF.OPCODE_TEXT
        page = http.get(f"http://{address}/", timeout=HTTP_TIMEOUT).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        http.post(f"http://{address}/logout", data={"csrf_token": token}, timeout=HTTP_TIMEOUT)
        assert close_code(ws) == SESSION_ENDED
        assert close_code(other) == SESSION_ENDED
        assert open_board(address, http).recv_data_frame(True)[0] == websocket.ABNF.OPCODE_CLOSE


@pytest.mark.slow
def test_a_board_of_a_disabled_account_is_told_4401(sqlite_database_url):
    from accounts import users

    add_account(sqlite_database_url)
    with gunicorn(
        sqlite_database_url, BOARD_LOGIN="on", FEED_ENABLED="0", **QUICK_BOARDS
    ) as address:
        ws = open_board(address, logged_in(address))
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        app = create_app(base_config(sqlite_database_url))
        with app.app_context():
            users.disable("alice")  # from another process, as `flask users disable` does
            db.engine.dispose()
        assert close_code(ws) == SESSION_ENDED


# Ended while the feed runs ------------------------------------------------------------------------

BET_STOP_EVERY = 0.02  # seconds between the upstream's BetStops while the session ends
ENDED_WITHIN = 1.0  # seconds from a session's end to the board's 4401, and its last data message
NUDGE_LATE = 0.5  # seconds the hub's nudge may take to reach a handler of a quiet server


@pytest.fixture
def feeding(upstream):
    """The upstream, sending a BetStop every BET_STOP_EVERY seconds until the test ends."""
    stopped = threading.Event()

    def send_bet_stops():
        number = 0
        while not stopped.wait(BET_STOP_EVERY):
            number += 1
            stop = bet_stop(event_id(number), "all", None, number, None)
            with contextlib.suppress(Exception):  # no feed client yet, or it went away
                upstream.send_frame(frames.BET_STOP, stop, number)

    sender = threading.Thread(target=send_bet_stops, daemon=True)
    sender.start()
    yield upstream
    stopped.set()
    sender.join(timeout=10)


def flask_users(database_url, *args, stdin=""):
    """Run `flask --app app users ARGS...` in a process of its own, as an operator does; return
    the monotonic time it answered (the change is committed by then)."""
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "users", *args],
            cwd=ROOT,
            env=os.environ | {"DATABASE_URL": database_url},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        ) as command,
    ):
        command.stdin.write(stdin)
        command.stdin.close()
        answer = command.stdout.readline()
        answered = time.monotonic()
        command.wait(timeout=60)
        errors.seek(0)
        assert command.returncode == 0 and answer, errors.read()
    return answered


def log_out(address, http):
    """Log out of `http`'s session; return the monotonic time the logout answered."""
    page = http.get(f"http://{address}/", timeout=HTTP_TIMEOUT).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = http.post(
        f"http://{address}/logout",
        data={"csrf_token": token},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 302
    return time.monotonic()


class Received:
    """Every frame a board's socket receives, with the monotonic time it came, read on a thread
    of its own until the connection ends."""

    def __init__(self, ws):
        self.ws = ws
        self.frames = []  # (arrived, opcode, data)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with contextlib.suppress(websocket.WebSocketException, OSError):
            while True:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
                self.frames.append((time.monotonic(), opcode, frame.data))

    def messages_since(self, moment):
        return [f for f in self.frames if f[0] > moment and f[1] == websocket.ABNF.OPCODE_TEXT]

    def wait_for_messages(self, count, timeout=10):
        started = time.monotonic()
        deadline = started + timeout
        while len(self.messages_since(started)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages_since(started)) >= count, "the board gets no messages"

    def until_closed(self, timeout):
        """Wait up to `timeout` for the connection to end; end it then."""
        self.reader.join(timeout)
        self.ws.shutdown()
        self.reader.join(10)


def end_session(how, address, http, database_url):
    """End alice's session `how`; return the monotonic time it had ended by."""
    if how == "logout":  # in the board's own process
        return log_out(address, http)
    if how == "disable":
        return flask_users(database_url, "disable", "alice")
    return flask_users(database_url, "passwd", "alice", stdin="another long password\n")


# On PostgreSQL: on SQLite every transaction takes the write lock, which the feed's writes hold
# often, and the login, the logout and the CLI fail at once ("database is locked") when they meet.
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("how", ["logout", "disable", "passwd"])
def test_a_board_fed_messages_gets_none_after_its_session_ends_and_4401_within_a_second(
    feeding, postgres_database_url, how
):
    url = postgres_database_url
    add_account(url)
    with gunicorn(url, BOARD_LOGIN="on", FEED_URL=feeding.url) as address:
        feeding.wait_connected()
        http = logged_in(address)
        received = Received(open_board(address, http))
        received.wait_for_messages(20)  # the relay's messages flow, the hub writing most
        ended = end_session(how, address, http, url)
        received.until_closed(ENDED_WITHIN + 2)
    assert received.messages_since(ended - 0.5), "the messages flowed until the session ended"
    late = [(round(t - ended, 3), op) for t, op, _ in received.frames if t > ended + ENDED_WITHIN]
    assert late == []
    arrived, opcode, data = received.frames[-1]  # the close is the last frame
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == SESSION_ENDED
    assert arrived - ended <= ENDED_WITHIN


@pytest.mark.slow
@pytest.mark.parametrize("how", ["logout", "disable"])
def test_a_board_with_nothing_to_send_is_told_4401_at_the_hubs_next_nudge(sqlite_database_url, how):
    # No feed and no ping due: nothing but the hub's nudge wakes the handler, every NUDGE_S
    # seconds, which sees the end in a view of the accounts at most EPOCHS_FRESH_S old.
    add_account(sqlite_database_url)
    with gunicorn(
        sqlite_database_url,
        BOARD_LOGIN="on",
        FEED_ENABLED="0",
        BOARD_NUDGE_SECONDS=str(NUDGE_S),
    ) as address:
        http = logged_in(address)
        received = Received(open_board(address, http))
        ended = end_session(how, address, http, sqlite_database_url)
        received.until_closed(NUDGE_S + EPOCHS_FRESH_S + 2)
    arrived, opcode, data = received.frames[-1]
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(data[:2], "big") == SESSION_ENDED
    assert arrived - ended <= NUDGE_S + EPOCHS_FRESH_S + NUDGE_LATE
