"""A board socket's writes: whole frames, one frame per message for every board, pings."""

import socket
import threading
import time

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from feed.stream import BoardSocket, FrameCache, message_frame, text_frame


class FakeServerSocket:
    """What BoardSocket uses of a simple-websocket connection."""

    def __init__(self, sock):
        self.sock, self.connected, self.pong_received = sock, True, True


def frames_from(raw):
    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(raw)
    return [(frame.opcode, frame.payload) for frame in reader.received_frames()]


def test_text_frame_is_one_unmasked_text_frame():
    assert frames_from(text_frame("héllo " * 20_000)) == [(Opcode.TEXT, "héllo " * 20_000)]


def test_a_message_is_framed_once_for_every_board():
    text = '{"type":"bet_stop"}'
    assert message_frame(7, text) is message_frame(7, text)
    assert message_frame(8, text) is not message_frame(7, text)


def test_pings_when_due_and_gives_up_on_a_board_that_never_answers():
    ours, theirs = socket.socketpair()
    ws = FakeServerSocket(ours)
    board = BoardSocket(ws, ping_every=0)
    assert board.keep_alive()
    assert frames_from(theirs.recv(100)) == [(Opcode.PING, b"board")]
    assert not board.keep_alive()  # no pong came back
    ws.pong_received = True  # simple-websocket saw the pong
    assert board.keep_alive()
    ours.close()
    theirs.close()


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


def test_the_frame_cache_is_bounded_by_bytes_as_well_as_by_count():
    cache = FrameCache(max_frames=100, max_bytes=250)
    first = cache.frame(1, "a" * 100)
    assert cache.frame(1, "a" * 100) is first
    cache.frame(2, "b" * 100)
    cache.frame(3, "c" * 100)  # over 250 bytes with the first: it goes
    assert list(cache.frames) == [2, 3] and cache.bytes <= 250
    assert cache.frame(4, "d" * 1000) == text_frame("d" * 1000)  # larger than the bound: alone
    assert list(cache.frames) == [4]
