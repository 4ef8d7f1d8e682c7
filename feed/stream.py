"""One board's websocket after the upgrade: frames written by its handler alone, and pings.

simple-websocket's `send` frames each message anew for every socket and makes one `send` call,
which under gevent may write only part of a large snapshot. Here a relay message becomes a frame
once for every board, writes are whole, and a board woken once writes all it has in one go.
Pings come from the same handler, so no second writer can cut into a frame.

A board that neither takes a write nor says anything (a pong) for two ping periods, plus however
late a ping may go out, is cut off: otherwise a client that stops reading would hold its handler
in a write for as long as its kernel keeps the connection open, which, for a peer that still
acknowledges, is for ever.
"""

import collections
import threading
import time

from wsproto.frame_protocol import FrameProtocol

PING = bytes(FrameProtocol(client=False, extensions=[]).ping(b"board"))


def text_frame(text):
    """`text` as one websocket text frame, as a server sends it (unmasked)."""
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text, fin=True))


class FrameCache:
    """The frames of the latest relay messages, by seq, bounded in number and in bytes."""

    def __init__(self, max_frames=4096, max_bytes=16 * 1024 * 1024):
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames = collections.OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def frame(self, seq, text):
        """The frame of relay message `seq`: built by the first board to send it, reused by all."""
        with self.lock:
            frame = self.frames.get(seq)
            if frame is not None:
                return frame
        frame = text_frame(text)  # outside the lock: a large one takes a while
        with self.lock:
            if seq not in self.frames:
                self.frames[seq] = frame
                self.bytes += len(frame)
                while len(self.frames) > 1 and (
                    len(self.frames) > self.max_frames or self.bytes > self.max_bytes
                ):
                    _, old = self.frames.popitem(last=False)  # the oldest published
                    self.bytes -= len(old)
            return self.frames[seq]


message_frame = FrameCache().frame


class BoardSocket:
    """Writes to one simple-websocket connection; the reading stays with simple-websocket."""

    def __init__(self, ws, ping_every, late_by=0):
        self.ws = ws
        self.ping_every = ping_every
        self.next_ping = time.monotonic() + ping_every
        # The socket's timeout bounds our writes and simple-websocket's reads alike. A live
        # board answers every ping, and a ping goes out at most `late_by` seconds after it is
        # due (when the handler is next woken), so a live board's side is never silent longer.
        ws.sock.settimeout(2 * ping_every + late_by)

    @property
    def connected(self):
        return self.ws.connected

    def send(self, data):
        """Write `data` whole; raise OSError if the board is gone or took nothing for too long."""
        # One send() is all a message needs unless the socket's buffer is full. Not sendall():
        # its timeout bounds the whole write, and a large snapshot to a slow but live board
        # may take longer; each send() waits at most the timeout for the board to take more.
        unsent = memoryview(data)
        try:
            while unsent:
                unsent = unsent[self.ws.sock.send(unsent) :]
        except OSError:
            # Not connected any more: the close frame is not sent, so closing does not wait on
            # this socket a second time.
            self.ws.connected = False
            raise

    def keep_alive(self):
        """Ping when due; False when the board never answered the last ping: it is gone."""
        now = time.monotonic()
        if now < self.next_ping:
            return True
        if not self.ws.pong_received:  # simple-websocket sets it on every pong it reads
            return False
        self.ws.pong_received = False
        self.send(PING)
        self.next_ping = now + self.ping_every
        return True
