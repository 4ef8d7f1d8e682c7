"""A board socket: whole frames written by its handler alone (pings, pongs, closes included), one
frame per message for every board, and a reader that keeps nothing and stalls nobody.
"""

import contextlib
import json
import socket
import threading
import time
import urllib.request

import pytest
import websocket
from wsproto.frame_protocol import FrameProtocol, Opcode

from feed.board.stream import (
    FRAME_COST,
    INPUT_ALLOWANCE,
    UNGUARDED,
    BoardRefused,
    BoardSocket,
    FrameCache,
    SharedFrame,
    frame_end,
    message_frame,
    text_frame,
)
from feed.upstream import frames
from tests.feed_messages import bet_stop, big_board, event_id
from tests.servers import boards, gunicorn, wait_for_lines
from tests.upstream import wait_until


class FakeServerSocket:
    """What BoardSocket uses of a simple-websocket connection."""

    def __init__(self, sock):
        self.sock, self.connected = sock, True


def frames_from(raw):
    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(raw)
    return [(frame.opcode, frame.payload) for frame in reader.received_frames()]


BROWSER = FrameProtocol(client=True, extensions=[])  # masks what it sends, as a browser does


def board_pair(clock=time.monotonic, guard=UNGUARDED):
    """A BoardSocket reading one end of a socket pair; the test is the browser at the other."""
    ours, theirs = socket.socketpair()
    woken = threading.Event()
    board = BoardSocket(
        FakeServerSocket(ours), ping_every=5, wake=woken.set, clock=clock, guard=guard
    )
    board.start_reading()
    theirs.settimeout(10)
    return board, theirs, woken


def finish(board, theirs):
    """What the handler and gunicorn do when a board's handler returns."""
    board.stop_reading()
    wait_until(lambda: not board.reading, what="the reader to stop")
    board.sock.close()
    theirs.close()


def nothing_written(theirs):
    theirs.setblocking(False)
    try:
        theirs.recv(100)
    except BlockingIOError:
        return True
    finally:
        theirs.settimeout(10)
    return False


def test_text_frame_is_one_unmasked_text_frame():
    assert frames_from(text_frame("héllo " * 20_000)) == [(Opcode.TEXT, "héllo " * 20_000)]


def test_a_message_is_framed_once_for_every_board():
    text = '{"type":"bet_stop"}'
    assert message_frame(7, text) is message_frame(7, text)
    assert message_frame(8, text) is not message_frame(7, text)


def test_pings_when_due_and_gives_up_on_a_board_that_never_answers():
    now = [0]
    board, theirs, _ = board_pair(clock=lambda: now[0])
    now[0] = 5
    assert board.keep_alive()
    assert frames_from(theirs.recv(100)) == [(Opcode.PING, b"board")]
    now[0] = 10
    assert not board.keep_alive()  # no pong came back
    theirs.sendall(BROWSER.pong(b"board"))
    wait_until(lambda: board.pong_received, what="the reader to see the pong")
    assert board.keep_alive()
    finish(board, theirs)


def test_a_board_ping_is_answered_by_its_handler_not_by_the_reader():
    board, theirs, woken = board_pair()
    theirs.sendall(BROWSER.ping(b"one") + BROWSER.ping(b"two"))
    assert woken.wait(10)
    wait_until(lambda: board.owed_pong == b"two", what="the ping read")
    assert nothing_written(theirs)  # the reader writes nothing
    assert board.answer()
    assert frames_from(theirs.recv(100)) == [(Opcode.PONG, b"two")]  # the latest only
    finish(board, theirs)


def test_a_board_close_is_replied_with_its_code_by_the_handler():
    board, theirs, woken = board_pair()
    theirs.sendall(BROWSER.close(4000, "gap in sequence"))
    assert woken.wait(10)
    assert nothing_written(theirs)
    assert not board.answer()
    assert frames_from(theirs.recv(100)) == [(Opcode.CLOSE, (4000, ""))]
    assert not board.connected
    finish(board, theirs)


def test_a_board_that_sends_more_than_a_board_needs_is_closed_with_1008():
    board, theirs, woken = board_pair()
    flood = b"".join(bytes(BROWSER.send_data("x", fin=True)) for _ in range(1000))
    with contextlib.suppress(OSError):  # the reader stops reading: the rest may not fit
        theirs.sendall(flood)
    assert woken.wait(10)
    wait_until(lambda: not board.reading, what="the reader to stop")  # at once
    assert not board.answer()
    opcode, (code, _) = frames_from(theirs.recv(200))[0]
    assert (opcode, code) == (Opcode.CLOSE, 1008)
    finish(board, theirs)


def test_what_a_board_may_send_is_earned_back_over_time():
    now = [0.0]
    ours, theirs = socket.socketpair()
    board = BoardSocket(FakeServerSocket(ours), ping_every=60, clock=lambda: now[0])
    for _ in range(100):  # a pong and a ping each ping period, for as long as it likes
        assert board._spend(2 * (FRAME_COST + 11))
        now[0] += 25
    assert not board._spend(INPUT_ALLOWANCE + 1)
    assert board.closing[0] == 1008
    ours.close()
    theirs.close()


def test_a_malformed_frame_closes_the_board_with_the_protocol_s_code():
    board, theirs, woken = board_pair()
    theirs.sendall(bytes(FrameProtocol(client=False, extensions=[]).ping(b"unmasked")))
    assert woken.wait(10)
    assert not board.answer()
    opcode, (code, _) = frames_from(theirs.recv(200))[0]
    assert (opcode, code) == (Opcode.CLOSE, 1002)
    finish(board, theirs)


def test_no_ping_before_it_is_due():
    ours, theirs = socket.socketpair()
    board = BoardSocket(FakeServerSocket(ours), ping_every=60)
    assert board.keep_alive()
    theirs.setblocking(False)
    try:
        theirs.recv(100)
        raise AssertionError("a ping was sent early")
    except BlockingIOError:
        pass
    ours.close()
    theirs.close()


def test_a_board_that_takes_nothing_for_two_ping_periods_is_cut_off():
    ours, theirs = socket.socketpair()
    ws = FakeServerSocket(ours)
    board = BoardSocket(ws, ping_every=0.1)
    hung = threading.Timer(10, theirs.close)  # without the limit the write would wait for ever
    hung.start()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        board.send(b"x" * 20_000_000)  # far more than the socket's buffers hold; nobody reads
    hung.cancel()
    assert 0.2 <= time.monotonic() - started < 5
    assert not board.connected
    ours.close()
    theirs.close()


def test_a_board_that_reads_slowly_gets_everything_however_long_the_whole_write_takes():
    ours, theirs = socket.socketpair()
    board = BoardSocket(FakeServerSocket(ours), ping_every=0.1)  # takes nothing for 0.2 s: cut
    data = bytes(range(256)) * 40_000  # 10 MB: many socket buffers' worth
    received = bytearray()

    def read_slowly():
        while len(received) < len(data):
            received.extend(theirs.recv(65536))
            time.sleep(0.005)

    theirs.settimeout(10)  # so a failed write cannot leave the reader waiting for ever
    reader = threading.Thread(target=read_slowly, daemon=True)
    reader.start()
    started = time.monotonic()
    board.send(data)
    reader.join(timeout=30)
    assert time.monotonic() - started > 0.2  # longer in all than the limit, never stalled that long
    assert bytes(received) == data and board.connected
    ours.close()
    theirs.close()


def test_a_write_from_the_hub_goes_out_as_whole_frames_when_the_socket_takes_it():
    board, theirs, _ = board_pair()
    assert board.write_now([(1, "bet stop"), (2, "odds")], time.monotonic()) is True
    assert frames_from(theirs.recv(100)) == [(Opcode.TEXT, "bet stop"), (Opcode.TEXT, "odds")]
    finish(board, theirs)


def test_what_a_full_socket_does_not_take_from_the_hub_the_handler_writes_first():
    # The hub never waits on a board: what the socket does not take at once stays with the
    # board, and goes out ahead of anything its handler writes next, pongs included.
    board, theirs, _ = board_pair()
    large = "x" * 4_000_000  # more than the socket buffers of both ends hold
    assert board.write_now([(1, large)], time.monotonic()) is False
    assert board.write_now([(2, "next")], time.monotonic()) is False  # behind the rest
    received = bytearray()

    def read_all():
        with contextlib.suppress(OSError):
            while chunk := theirs.recv(1 << 20):
                received.extend(chunk)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    board.owed_pong = b"p"
    assert board.answer()  # the handler, woken by the hub, writes the rest, then the pong
    board.send(text_frame("after"))
    board.sock.shutdown(socket.SHUT_WR)
    reader.join(timeout=30)
    assert frames_from(bytes(received)) == [
        (Opcode.TEXT, large),
        (Opcode.TEXT, "next"),
        (Opcode.PONG, b"p"),
        (Opcode.TEXT, "after"),
    ]
    finish(board, theirs)


def test_the_hub_writes_nothing_to_a_board_that_has_asked_to_close():
    # Its handler is to answer the close (the hub wakes it), not to go on sending it messages.
    board, theirs, woken = board_pair()
    theirs.sendall(BROWSER.close(4000, "gap in sequence"))
    assert woken.wait(10)
    assert board.write_now([(1, "bet stop")], time.monotonic()) is False
    assert nothing_written(theirs)
    assert board.answer() is False
    assert frames_from(theirs.recv(100)) == [(Opcode.CLOSE, (4000, ""))]
    finish(board, theirs)


def test_a_write_from_the_hub_to_a_board_gone_raises_nothing_and_marks_it_gone():
    board, theirs, _ = board_pair()
    theirs.close()
    assert board.write_now([(1, "bet stop")], time.monotonic()) is False
    assert not board.connected
    finish(board, theirs)


class Guard:
    """A board's guard answering as the test says: `at_once` to the hub (wait False), then
    `waited`, one answer per question, to the handler; it notes each question's `wait`."""

    def __init__(self, at_once=True, waited=(True,)):
        self.at_once, self.waited, self.asked = at_once, list(waited), []

    def may_write(self, wait):
        self.asked.append(wait)
        if not wait:
            return self.at_once
        return self.waited.pop(0) if len(self.waited) > 1 else self.waited[0]


def read_everything(theirs):
    """Read the browser's end on a thread until the board's end shuts; the bytes so far."""
    received = bytearray()

    def read():
        with contextlib.suppress(OSError):
            while chunk := theirs.recv(1 << 20):
                received.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, received


def test_what_the_guard_does_not_let_the_hub_write_at_once_the_handler_writes_once_let():
    guard = Guard(at_once=False, waited=[True])  # the hub may not wait to know: the handler may
    board, theirs, _ = board_pair(guard=guard)
    assert board.write_now([(1, "bet stop")], time.monotonic()) is False
    assert nothing_written(theirs)
    assert board.answer()
    assert frames_from(theirs.recv(100)) == [(Opcode.TEXT, "bet stop")]
    assert guard.asked[0] is False and guard.asked[1:] and all(guard.asked[1:])
    finish(board, theirs)


@pytest.mark.parametrize("pending", ["nothing", "the hub's messages", "a pong", "a close reply"])
def test_a_refused_board_is_written_nothing_more_whatever_is_pending(pending):
    board, theirs, _ = board_pair(guard=Guard(at_once=False, waited=[False]))
    if pending == "the hub's messages":
        assert board.write_now([(1, "bet stop")], time.monotonic()) is False
    elif pending == "a pong":
        theirs.sendall(BROWSER.ping(b"p"))
        wait_until(lambda: board.owed_pong == b"p", what="the ping read")
    elif pending == "a close reply":
        theirs.sendall(BROWSER.close(4000, "gap in sequence"))
        wait_until(lambda: board.closing is not None, what="the close read")
    with pytest.raises(BoardRefused):
        board.answer()  # the handler's wake: the hub's nudge, if nothing else
    assert nothing_written(theirs)
    assert not board.ws.connected  # so flask-sock writes no close frame after the handler
    finish(board, theirs)


@pytest.mark.parametrize("write", ["snapshot", "ping", "going away"])
def test_a_refused_board_s_handler_writes_nothing_of_its_own(write):
    now = [0]
    board, theirs, _ = board_pair(clock=lambda: now[0], guard=Guard(waited=[False]))
    with pytest.raises(BoardRefused):
        if write == "snapshot":
            board.send(text_frame("snapshot"))
        elif write == "ping":
            now[0] = 5
            board.keep_alive()
        else:
            board.close(1001, "going away")
    assert nothing_written(theirs)
    finish(board, theirs)


def test_a_frame_the_hub_began_is_finished_before_a_refusal_and_no_frame_after_it():
    guard = Guard(at_once=True, waited=[False])
    board, theirs, _ = board_pair(guard=guard)
    large = "x" * 4_000_000  # more than the socket buffers of both ends hold
    assert board.write_now([(1, large), (2, "next")], time.monotonic()) is False  # in part
    reader, received = read_everything(theirs)
    with pytest.raises(BoardRefused):
        board.answer()
    board.sock.shutdown(socket.SHUT_WR)
    reader.join(timeout=30)
    assert frames_from(bytes(received)) == [(Opcode.TEXT, large)]
    finish(board, theirs)


def test_a_long_write_of_the_handler_stops_at_the_frame_refused_during_it():
    # Asked before each of the socket's writes: the first goes, and the board's buffers fill
    # within the first frame; the next question is refused.
    guard = Guard(waited=[True, False])
    board, theirs, _ = board_pair(guard=guard)
    large = "x" * 4_000_000
    reader, received = read_everything(theirs)
    with pytest.raises(BoardRefused):
        board.send(message_frame(1, large) + message_frame(2, "next"))
    board.sock.shutdown(socket.SHUT_WR)
    reader.join(timeout=30)
    assert frames_from(bytes(received)) == [(Opcode.TEXT, large)]
    finish(board, theirs)


def test_a_board_cut_off_as_silent_gets_no_close_frame_after_its_handler():
    now = [0]
    board, theirs, _ = board_pair(clock=lambda: now[0])
    now[0] = 5
    assert board.keep_alive()
    now[0] = 10
    assert not board.keep_alive()  # no pong came back
    assert board.cut_off == "silent" and not board.ws.connected
    finish(board, theirs)


FRAMES_OF_EVERY_LENGTH = b"".join(text_frame("x" * n) for n in (5, 200, 70_000))  # 7, 204, 70010


@pytest.mark.parametrize(
    ("at", "end"),
    [(0, 0), (1, 7), (6, 7), (7, 7), (8, 211), (211, 211), (212, 70_221), (70_220, 70_221)],
)
def test_frame_end_finds_where_the_frame_holding_a_byte_ends(at, end):
    assert frame_end(FRAMES_OF_EVERY_LENGTH, at) == end


def test_the_frame_cache_is_bounded_by_bytes_as_well_as_by_count():
    cache = FrameCache(max_frames=100, max_bytes=250)
    first = cache.frame(1, "a" * 100)
    assert cache.frame(1, "a" * 100) is first
    cache.frame(2, "b" * 100)
    cache.frame(3, "c" * 100)  # over 250 bytes with the first: it goes
    assert list(cache.frames) == [2, 3] and cache.bytes <= 250
    assert cache.frame(4, "d" * 1000) == text_frame("d" * 1000)  # larger than the bound: alone
    assert list(cache.frames) == [4]


class RawBoard:
    """A /ws client on a bare socket: sends any frames, parses every frame the server writes."""

    def __init__(self, address, receive_buffer=None):
        host, port = address.rsplit(":", 1)
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((host, int(port)))
        self.sock.settimeout(30)
        self.sock.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101")
        self.parser = FrameProtocol(client=True, extensions=[])
        self.writer = FrameProtocol(client=True, extensions=[])
        self.parts = []

    def frames(self, size=65536):
        """The frames completed by one read: (opcode, payload), a text message whole."""
        data = self.sock.recv(size)
        if not data:
            raise ConnectionError("closed")
        self.parser.receive_bytes(data)
        out = []
        for frame in self.parser.received_frames():  # ParseFailed if a frame is corrupt
            if frame.opcode in (Opcode.TEXT, Opcode.CONTINUATION):
                self.parts.append(frame.payload)
                if frame.message_finished:
                    out.append((Opcode.TEXT, "".join(self.parts)))
                    self.parts = []
            else:
                out.append((frame.opcode, frame.payload))
        return out

    def close_code(self, deadline):
        """Read until the server's close frame; its code."""
        while time.monotonic() < deadline:
            for opcode, payload in self.frames():
                if opcode is Opcode.CLOSE:
                    return payload[0]
        raise AssertionError("no close frame")


@pytest.fixture
def raw_board():
    """Opens RawBoards; closes them whatever the test's outcome."""
    opened = []

    def open_board(address, receive_buffer=None):
        opened.append(RawBoard(address, receive_buffer))
        return opened[-1]

    yield open_board
    for board in opened:
        board.sock.close()


def health_answers(address):
    with urllib.request.urlopen(f"http://{address}/health", timeout=10) as answer:
        return json.load(answer) == {"status": "ok"}


def next_bet_stop(ws, deadline):
    while time.monotonic() < deadline:
        ws.settimeout(max(deadline - time.monotonic(), 0.1))
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_TEXT and json.loads(data)["type"] == "bet_stop":
            return json.loads(data)["data"]
    raise AssertionError("no BetStop in time")


def test_a_board_flooding_small_frames_is_closed_and_stalls_no_one(
    upstream, sqlite_database_url, raw_board
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        other = websocket.create_connection(f"ws://{address}/ws", timeout=30)
        assert json.loads(other.recv())["type"] == "snapshot"
        flooder = raw_board(address)
        chunk = b"".join(bytes(flooder.writer.send_data("x", fin=True)) for _ in range(2000))
        flooding = threading.Event()

        def flood():
            flooding.set()
            with contextlib.suppress(OSError):  # until the server closes the socket
                while True:
                    flooder.sock.sendall(chunk)

        threading.Thread(target=flood, daemon=True).start()
        assert flooding.wait(10)
        for number in range(5):
            stop = bet_stop(event_id(number), "all", None, number, None)
            upstream.send_frame(frames.BET_STOP, stop, 1000 + number)
            assert next_bet_stop(other, time.monotonic() + 20) == stop
            assert health_answers(address)
        assert flooder.close_code(time.monotonic() + 20) == 1008
        other.close()


def test_pings_during_a_multi_mb_snapshot_are_answered_outside_its_frame(
    upstream, sqlite_database_url, raw_board
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        for odds in big_board():
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        # MBs of odds to apply: what the test starts from, however busy the machine is.
        wait_for_lines(address, 400 * 40 * 2)
        board = raw_board(address, receive_buffer=4096)
        texts, pongs, pinged = [], [], []
        deadline = time.monotonic() + 60
        while not (texts and pongs and pongs[-1] == pinged[-1]):
            assert time.monotonic() < deadline, "the snapshot and a pong for the last ping"
            if len(pinged) < 40:  # while the snapshot is being written, a ping per small read
                pinged.append(f"p{len(pinged)}".encode())
                board.sock.sendall(board.writer.ping(pinged[-1]))
                time.sleep(0.002)  # the server's write finds the socket full
            for opcode, payload in board.frames(size=8192):  # parsing fails on a cut frame
                if opcode is Opcode.TEXT:
                    texts.append(json.loads(payload))
                elif opcode is Opcode.PONG:
                    pongs.append(payload)
        assert texts[0]["type"] == "snapshot" and len(texts[0]["lines"]) == 400 * 40 * 2
        assert set(pongs) <= set(pinged)


def test_messages_to_a_board_slow_to_read_arrive_whole_and_in_order_with_pongs_between(
    upstream, sqlite_database_url, raw_board
):
    # Most of these writes find the board's socket full: the hub hands each over as far as the
    # socket takes it, and the handler writes the rest, then answers pings, in frame order.
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        board = raw_board(address, receive_buffer=4096)
        snapshot = board.frames()
        assert snapshot[0][0] is Opcode.TEXT
        seq = json.loads(snapshot[0][1])["seq"]
        for odds in big_board():  # MBs of messages the board does not read for now
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        time.sleep(1)
        changed, pongs, pinged = set(), [], []
        deadline = time.monotonic() + 60
        while len(changed) < 400 or pongs[-1:] != pinged[-1:]:
            assert time.monotonic() < deadline, "every change and a pong for the last ping"
            if len(pinged) < 40:
                pinged.append(f"p{len(pinged)}".encode())
                board.sock.sendall(board.writer.ping(pinged[-1]))
            for opcode, payload in board.frames(size=8192):  # parsing fails on a cut frame
                if opcode is Opcode.TEXT:
                    message = json.loads(payload)
                    assert message["seq"] == seq + 1
                    seq = message["seq"]
                    changed |= {line["event_id"] for line in message.get("lines", [])}
                elif opcode is Opcode.PONG:
                    pongs.append(payload)
            time.sleep(0.0005)
        assert pongs == sorted(set(pongs), key=pinged.index)  # each once, in order


def test_a_board_s_close_is_answered_and_its_handler_ends(sqlite_database_url, raw_board):
    with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
        board = raw_board(address)
        assert board.frames()[0][0] is Opcode.TEXT  # the snapshot
        board.sock.sendall(board.writer.close(4000, "gap in sequence"))
        assert board.close_code(time.monotonic() + 20) == 4000
        wait_until(lambda: boards(address) == 0, what="the handler to end")


def test_boards_on_the_same_snapshot_share_one_frame_of_it():
    shared = SharedFrame()
    snapshot = json.dumps({"type": "snapshot", "lines": ["x" * 100] * 1000})
    first = shared.of(snapshot)
    assert first == text_frame(snapshot)  # the frame a board is sent
    assert shared.of(snapshot) is first  # the next board gets the same bytes, not a copy
    changed = json.dumps({"type": "snapshot", "lines": []})
    assert shared.of(changed) == text_frame(changed) and shared.of(changed) is not first
