"""One board's websocket after the upgrade: frames written by its handler alone, and pings.

simple-websocket's `send` frames each message anew for every socket and makes one `send` call,
which under gevent may write only part of a large snapshot. Here a relay message becomes a frame
once for every board, writes are whole (`sendall`), and a board woken once writes all it has in
one go. Pings come from the same handler, so no second writer can cut into a frame.
"""

import functools
import time

from wsproto.frame_protocol import FrameProtocol

PING_EVERY = 25  # seconds: inside any router's idle timeout, and how long a silent board may last
PING = bytes(FrameProtocol(client=False, extensions=[]).ping(b"board"))


def text_frame(text):
    """`text` as one websocket text frame, as a server sends it (unmasked)."""
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text, fin=True))


@functools.lru_cache(maxsize=4096)
def message_frame(seq, text):
    """The frame of relay message `seq`: built by the first board to send it, reused by all."""
    return text_frame(text)


class BoardSocket:
    """Writes to one simple-websocket connection; the reading stays with simple-websocket."""

    def __init__(self, ws, ping_every=PING_EVERY):
        self.ws = ws
        self.ping_every = ping_every
        self.next_ping = time.monotonic() + ping_every

    @property
    def connected(self):
        return self.ws.connected

    def send(self, data):
        # One send() is all a message needs unless the socket's buffer is full; sendall()
        # finishes what it could not take.
        sent = self.ws.sock.send(data)
        if sent < len(data):
            self.ws.sock.sendall(data[sent:])

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
