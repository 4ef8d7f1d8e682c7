"""Request bodies under gunicorn + gevent: one that does not arrive in time is cut off, and one
address cannot fill the worker with bodies it never sends."""

import contextlib
import socket
import time

import pytest
import requests
import websocket

from tests.servers import gunicorn

pytestmark = pytest.mark.slow

BODY_TIMEOUT = 3  # seconds; apart from gunicorn's 2 s for the headers
# The test's own limit: small, so that the sockets held show starvation without a cut-off.
CONNECTIONS = 200


@pytest.fixture
def stalled():
    """Opens POSTs whose headers promise a body that never comes; closes them at the end."""
    opened = []

    def open_post(address, path="/wallet/get_balance", content_type="application/json"):
        host, port = address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        opened.append(sock)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
        )
        return sock

    yield open_post
    for sock in opened:
        sock.close()


def serving(address):
    """`address` once its worker answers (gunicorn listens before the worker has loaded the
    app); for the timings below to be the worker's own."""
    assert requests.get(f"http://{address}/health", timeout=30).ok
    return address


def answer_and_close(sock, deadline):
    """(the status the server answered, when it closed the socket), or None if it had not
    closed it by `deadline` (monotonic)."""
    received = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except TimeoutError:
            break
        except ConnectionResetError:
            data = b""
        if not data:
            status = int(received.split(b" ", 2)[1]) if received else None
            return status, time.monotonic()
        received += data
    return None


def whole_request(address, path, body, seconds=1):
    """(status, body) of a JSON POST sent in one write, headers and body together."""
    host, port = address.rsplit(":", 1)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=seconds) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except TimeoutError:
            pytest.fail(f"POST {path} had no whole answer within {seconds} s")
    status = int(answer.split(b" ", 2)[1]) if answer else None
    return status, answer.partition(b"\r\n\r\n")[2]


def answered_within(seconds, method, url, **kwargs):
    """The answer to one request, or a failure saying the server did not answer in time."""
    try:
        return requests.request(method, url, timeout=seconds, **kwargs)
    except requests.Timeout:
        pytest.fail(f"{method} {url} had no answer within {seconds} s")


@pytest.mark.parametrize(
    ("path", "content_type", "settings"),
    [
        ("/wallet/get_balance", "application/json", {}),
        ("/login", "application/x-www-form-urlencoded", {"BOARD_LOGIN": "on"}),
    ],
)
def test_a_body_that_does_not_arrive_in_time_is_answered_408_and_its_socket_closed(
    sqlite_database_url, stalled, path, content_type, settings
):
    with gunicorn(
        sqlite_database_url,
        FEED_ENABLED="0",
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        **settings,
    ) as started:
        address = serving(started)
        sent = time.monotonic()
        post = stalled(address, path, content_type)
        answered = answer_and_close(post, sent + BODY_TIMEOUT + 5)
        assert answered is not None, "the socket is still open"
        status, closed = answered
        assert status == 408
        assert BODY_TIMEOUT - 0.5 <= closed - sent <= BODY_TIMEOUT + 2


def test_past_its_waits_an_address_is_served_only_bodies_that_have_arrived(
    sqlite_database_url, stalled
):
    with gunicorn(
        sqlite_database_url,
        FEED_ENABLED="0",
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        BODY_WAITS_PER_ADDRESS="3",
    ) as started:
        address = serving(started)
        waited = [stalled(address) for _ in range(3)]
        time.sleep(0.5)  # the three are waited for before the next come
        sent = time.monotonic()
        refused = [stalled(address) for _ in range(5)]
        for post in refused:
            answered = answer_and_close(post, sent + 1.5)
            assert answered is not None and answered[0] == 429
        # A callback sends its body with its headers (one write): nothing to wait for.
        status, answer = whole_request(address, "/wallet/get_balance", b'{"userId": "nobody"}', 5)
        assert status == 200 and b'"code"' in answer
        for post in waited:
            answered = answer_and_close(post, sent + BODY_TIMEOUT + 2)
            assert answered is not None and answered[0] == 408


def test_a_worker_full_of_stalled_bodies_answers_health_and_the_wallet_and_closes_them(
    sqlite_database_url, stalled
):
    with gunicorn(
        sqlite_database_url,
        FEED_ENABLED="0",
        WORKER_CONNECTIONS=str(CONNECTIONS),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
    ) as started:
        address = serving(started)
        posts = [stalled(address) for _ in range(CONNECTIONS)]
        sent = time.monotonic()
        health = answered_within(1, "GET", f"http://{address}/health")
        assert health.json() == {"status": "ok"}
        # From the stalled sockets' address too, whose waits are all taken: a body that comes
        # whole with its headers is still read (one write, as a provider's client sends it).
        status, answer = whole_request(address, "/wallet/get_balance", b'{"userId": "nobody"}')
        assert status == 200 and b'"code"' in answer
        still_open = [p for p in posts if answer_and_close(p, sent + BODY_TIMEOUT + 2) is None]
        assert still_open == []


def test_a_board_socket_outlives_the_body_timeout(sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_ENABLED="0", BODY_TIMEOUT_SECONDS="1") as started:
        address = serving(started)
        board = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        with contextlib.closing(board):
            assert board.recv()  # the snapshot
            time.sleep(2.5)
            board.ping(b"still there")
            opcode, payload = board.recv_data(control_frame=True)
            assert (opcode, payload) == (websocket.ABNF.OPCODE_PONG, b"still there")
