"""The board's socket behind the login, over real sockets through gunicorn + gevent."""

import re

import pytest
import requests
import websocket

from app import create_app
from database import db
from tests.conftest import base_config
from tests.servers import gunicorn

PASSWORD = "correct horse battery"
SESSION_ENDED = 4401


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
    page = http.get(f"http://{address}/login", timeout=5)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = http.post(
        f"http://{address}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=5,
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


@pytest.fixture
def board_server(sqlite_database_url):
    add_account(sqlite_database_url)
    with gunicorn(
        sqlite_database_url, BOARD_LOGIN="on", FEED_ENABLED="0", BOARD_PING_SECONDS="1"
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
    with gunicorn(
        database_url, BOARD_LOGIN="on", FEED_ENABLED="0", BOARD_PING_SECONDS="1"
    ) as address:
        http = logged_in(address)
        ws = open_board(address, http)
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        other = open_board(address, logged_in(address))  # the same account elsewhere
        assert first_message(other)[0] == websocket.ABNF.OPCODE_TEXT
        page = http.get(f"http://{address}/", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        http.post(f"http://{address}/logout", data={"csrf_token": token}, timeout=5)
        assert close_code(ws) == SESSION_ENDED
        assert close_code(other) == SESSION_ENDED
        assert open_board(address, http).recv_data_frame(True)[0] == websocket.ABNF.OPCODE_CLOSE


@pytest.mark.slow
def test_a_board_of_a_disabled_account_is_told_4401(sqlite_database_url):
    from accounts import users

    add_account(sqlite_database_url)
    with gunicorn(
        sqlite_database_url, BOARD_LOGIN="on", FEED_ENABLED="0", BOARD_PING_SECONDS="1"
    ) as address:
        ws = open_board(address, logged_in(address))
        assert first_message(ws)[0] == websocket.ABNF.OPCODE_TEXT
        app = create_app(base_config(sqlite_database_url))
        with app.app_context():
            users.disable("alice")  # from another process, as `flask users disable` does
            db.engine.dispose()
        assert close_code(ws) == SESSION_ENDED
