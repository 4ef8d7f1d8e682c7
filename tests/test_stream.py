"""A board socket's writes: whole frames, one frame per message for every board, pings."""

import socket

from wsproto.frame_protocol import FrameProtocol, Opcode

from feed.stream import BoardSocket, message_frame, text_frame


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
