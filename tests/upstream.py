"""A local upstream feed server for tests: the real protocol over a real websocket."""

import json
import socket
import threading
import time

from websockets.sync.server import serve

from feed.upstream import frames
from tests import feed_messages as messages


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """Accepts the feed client, records its commands, sends what the test says; can be killed."""

    def __init__(self, port=None, answer_pings=True):
        self.port = port or free_port()
        self.answer_pings = answer_pings
        self.commands = []  # (cmd, data) the clients sent
        self.connections = set()
        self.accepted = 0
        self.errors = []
        self.server = None

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self):
        self.server = serve(
            self._handle, "127.0.0.1", self.port, compression=None, ping_interval=None
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Kill the server and every connection, as a crash would."""
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        for connection in list(self.connections):
            connection.close()
        self.connections.clear()

    def drop(self):
        """Close every connection (1000, as a server ending a session does); keep serving.
        What the test sends from then on goes to later connections only."""
        for connection in list(self.connections):
            self.connections.discard(connection)
            connection.close()

    def send(self, raw):
        for connection in list(self.connections):
            connection.send(raw)

    def send_frame(self, cmd, data, time_ms=None, binary=False):
        time_ms = time_ms if time_ms is not None else int(time.time() * 1000)
        encode = frames.encode_binary if binary else frames.encode_text
        self.send(encode(cmd, data, time_ms))

    def alive(self, offset=0):
        now = int(time.time())
        data = messages.alive(offset=offset, subscribed=None, now_s=now, last_alive_time=now)
        self.send_frame(frames.ALIVE, data)

    # A wait for what a test starts from, not a measure: a server booting beside other tests'
    # workers on a busy machine may take many seconds to connect.
    def wait_connected(self, count=1, timeout=30):
        wait_until(lambda: len(self.connections) >= count, timeout, "the client to connect")

    def _handle(self, connection):
        self.connections.add(connection)
        self.accepted += 1
        try:
            for raw in connection:
                message = json.loads(raw)
                self.commands.append((message.get("cmd"), message.get("data")))
                if self.answer_pings and message.get("cmd") == frames.PING:
                    connection.send(
                        frames.encode_text(frames.PING, "pong", int(time.time() * 1000))
                    )
        except (
            Exception
        ) as exc:  # the connection died under us: what a test may be doing on purpose
            self.errors.append(exc)
        finally:
            self.connections.discard(connection)


def text_frame(payload):
    """A server's (unmasked) websocket text frame of `payload` (bytes)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x81, length])
    elif length < 1 << 16:
        head = bytes([0x81, 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + length.to_bytes(8, "big")
    return head + payload


def wait_until(predicate, timeout=10, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
