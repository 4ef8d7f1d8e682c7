"""Thousands of websocket clients in one process, each stamping when a BetStop reaches it.

The clients are bare asyncio protocols: the moment bytes arrive is taken before anything else
is done with them, and a frame costs a few byte operations, so the stamp measures the server,
not the client. A client answers pings (websocket and Socket.IO), which every server under test
sends to find dead sockets; apart from that it only listens.

Driven from another process through a pipe (see `serve`): connect N, collect the stamps, close.
"""

import asyncio
import base64
import gc
import os
import re
import time

# Two searches, not one pattern with `.*?` between the two keys: that one rescans the rest of a
# message from every "timestamp" in it, quadratic in a long message that holds many of them and
# no BetStop (3.4 s for one of 53 KB with 3,000, against 34 us for these two).
BET_STOP = re.compile(rb'"cmd":\s*10030\b')
STAMP = re.compile(rb'"timestamp":\s*(\d+)')


def bet_stop_stamp(payload):
    """The upstream's `timestamp` of the BetStop in `payload`, or None if it holds none."""
    stamp = BET_STOP.search(payload) and STAMP.search(payload)
    return int(stamp.group(1)) if stamp else None


PING, PONG, TEXT, CLOSE = 0x9, 0xA, 0x1, 0x8
RECEIVED = [0]  # messages the clients of this process took since the last "received"


def frame(opcode, payload):
    """A masked client frame (clients must mask; the payloads here are tiny)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class Client(asyncio.Protocol):
    """One board: the upgrade, then frames; stamps every BetStop by its `timestamp` key."""

    def __init__(self, path, socketio, receipts, ready):
        self.path, self.socketio = path, socketio
        self.receipts, self.ready = receipts, ready
        self.buffer = b""
        self.upgraded = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data):
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._fail()
                return
            self.upgraded, self.buffer = True, rest
            if self.socketio:
                self.transport.write(frame(TEXT, b"40"))  # join the default namespace
        while len(self.buffer) >= 2:
            length, start = self.buffer[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(self.buffer[2:4]), 4
            elif length == 127:
                length, start = int.from_bytes(self.buffer[2:10]), 10
            if len(self.buffer) < start + length:
                return
            opcode = self.buffer[0] & 0x0F
            payload = self.buffer[start : start + length]
            self.buffer = self.buffer[start + length :]
            self._message(opcode, payload, now)

    def _message(self, opcode, payload, now):
        if opcode == PING:
            self.transport.write(frame(PONG, payload))
        elif opcode == CLOSE:
            self.transport.close()
        elif self.socketio and payload == b"2":
            self.transport.write(frame(TEXT, b"3"))  # Socket.IO's own heartbeat
        elif not self.ready.done():
            # The first message (our snapshot, the broadcast server's hello) or Socket.IO's
            # namespace answer says the client is in.
            if not self.socketio or payload.startswith(b"40"):
                self.ready.set_result(True)
        else:
            RECEIVED[0] += 1
            stamp = bet_stop_stamp(payload)
            if stamp is not None:
                self.receipts.append((stamp, now))

    def connection_lost(self, exc):
        self._fail()

    def _fail(self):
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport:
            self.transport.close()


async def connect(port, path, socketio, count, receipts, batch=100):
    """Open `count` clients, `batch` at a time; return (clients, how many got in)."""
    loop = asyncio.get_running_loop()
    clients, joined = [], 0
    for first in range(0, count, batch):
        waiting = []
        for _ in range(min(batch, count - first)):
            ready = loop.create_future()
            try:
                _, client = await loop.create_connection(
                    lambda ready=ready: Client(path, socketio, receipts, ready), "127.0.0.1", port
                )
            except OSError:
                continue
            clients.append(client)
            waiting.append(ready)
        try:
            results = await asyncio.wait_for(asyncio.gather(*waiting), 60)
        except TimeoutError:
            results = [r.done() and r.result() for r in waiting]
        joined += sum(results)
    return clients, joined


async def _serve(pipe):
    loop = asyncio.get_running_loop()
    receipts, clients = [], []
    while True:
        command, *args = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            clients, joined = await connect(*args, receipts)
            pipe.send(joined)
        elif command == "open":
            pipe.send(sum(1 for c in clients if not c.transport.is_closing()))
        elif command == "received":
            pipe.send(RECEIVED[0])
            RECEIVED[0] = 0
        elif command == "collect":
            pipe.send(receipts[:])
            receipts.clear()
        elif command == "close":
            for client in clients:
                client.transport.close()
            await asyncio.sleep(0.5)
            pipe.send(True)
            return


def serve(pipe):
    """A client process's main: obey (command, *args) from `pipe` until told to close."""
    # A stamp must not wait for the collector walking every client and receipt: this process
    # lives for one measurement, and what it allocates it keeps anyway.
    gc.disable()
    asyncio.run(_serve(pipe))
