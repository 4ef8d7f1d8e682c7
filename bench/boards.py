"""Boards that keep every message: a few websocket clients in one process, for bench.stop_burst.

Unlike bench.crowd's (thousands of clients that only stamp BetStops), each board here keeps every
text message it gets with the moment it arrived, parses it as a browser does before it reads the
next (unless told not to), and is read as a trader's board only afterwards (`summary`). A board
answers pings and nothing else, and notes the code of a close from the server.

Driven from another process through a pipe (see `serve`): connect N, forget, summarise, close.
"""

import asyncio
import base64
import gc
import json
import os
import socket
import time

from bench.crowd import CLOSE, PING, PONG, TEXT, frame


class Board(asyncio.Protocol):
    """One board: the upgrade, then frames, each text payload kept with its receipt time."""

    def __init__(self, ready, decode):
        self.ready, self.decode = ready, decode
        self.buffer, self.at = bytearray(), 0
        self.upgraded = False
        self.transport = None
        self.received = []  # (monotonic receipt time, payload)
        self.mark = 0  # where what is counted begins (`forget`)
        self.closed = None  # the server's close code

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data):
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in self.buffer[: self.buffer.find(b"\r\n")]:
                self.transport.close()
                return
            self.upgraded, self.at = True, end + 4
        buffer, at = self.buffer, self.at
        while len(buffer) - at >= 2:
            length, start = buffer[at + 1] & 0x7F, at + 2
            if length == 126:
                length, start = int.from_bytes(buffer[at + 2 : at + 4]), at + 4
            elif length == 127:
                length, start = int.from_bytes(buffer[at + 2 : at + 10]), at + 10
            if len(buffer) < start + length:
                break
            opcode = buffer[at] & 0x0F
            payload = bytes(buffer[start : start + length])
            at = start + length
            if opcode == PING:
                self.transport.write(frame(PONG, payload))
            elif opcode == CLOSE:
                self.closed = int.from_bytes(payload[:2], "big")
                self.transport.close()
            elif opcode == TEXT:
                self.received.append((now, payload))
                if self.decode:  # as a browser parses each message before it reads the next
                    json.loads(payload)
                if not self.ready.done():
                    self.ready.set_result(True)
        del buffer[:at]  # one move per read, not one per frame
        self.at = 0

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_result(False)


def summary(board, last_key):
    """What the board shows, read from everything it got, and what it got since the mark: the
    figures the benchmark reports. The BetStop stamped `last_key` makes it current."""
    seq, gaps, snapshots, lines, current_at = None, 0, 0, {}, None
    for number, (at, payload) in enumerate(board.received):
        message = json.loads(payload)
        kind = message.get("type")
        if kind == "snapshot":
            snapshots += number >= board.mark
            seq = message["seq"]
            lines = {line_key(line): line for line in message["lines"]}
            stops = [entry.get("sent_at") for entry in message.get("bet_stops") or []]
            if current_at is None and last_key in stops:
                current_at = at
            continue
        if seq is None or message.get("seq") != seq + 1:
            gaps += 1
        seq = message.get("seq")
        for line in message.get("lines") or []:
            lines[line_key(line)] = line
        stamp = (message.get("data") or {}).get("timestamp") if kind == "bet_stop" else None
        if current_at is None and stamp == last_key:
            current_at = at
    counted = board.received[board.mark :]
    return {
        "messages": len(counted),
        "bytes": sum(len(payload) for _, payload in counted),
        "snapshots": snapshots,  # in the stream since the mark: brought current in band
        "gaps": gaps,
        "closed": board.closed,
        "current_at": current_at,
        "lines": {key: (line["status"], line["outcomes"]) for key, line in lines.items()},
    }


def line_key(line):
    return f"{line['event_id']}/{line['market_id']}/{line['specifiers']}"


async def _serve(pipe):
    loop = asyncio.get_running_loop()
    boards = []
    while True:
        command, *args = await loop.run_in_executor(None, pipe.recv)
        if command == "connect":
            port, count, decode, receive_buffer = args
            for _ in range(count):
                ready = loop.create_future()
                sock = socket.socket()
                if receive_buffer:  # as small as a board's link buffers: no megabytes in flight
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
                sock.connect(("127.0.0.1", port))
                sock.setblocking(False)
                _, board = await loop.create_connection(
                    lambda ready=ready, decode=decode: Board(ready, decode), sock=sock
                )
                boards.append(board)
                await asyncio.wait_for(ready, 60)
            pipe.send(len(boards))
        elif command == "forget":  # count from here on
            for board in boards:
                board.mark = len(board.received)
            pipe.send(True)
        elif command == "stamps":  # when the BetStop stamped so reached each board, in any form
            key = f'"sent_at":{args[0]}'.encode()  # its log entry: its message, or a snapshot
            pipe.send([next((t for t, p in b.received if key in p), None) for b in boards])
        elif command == "closed":  # how many boards the server closed
            pipe.send(sum(board.closed is not None for board in boards))
        elif command == "stall":  # every board stops reading for a while, as a busy tab does
            for board in boards:
                board.transport.pause_reading()
                loop.call_later(args[0], board.transport.resume_reading)
            pipe.send(True)
        elif command == "summary":
            pipe.send([summary(board, args[0]) for board in boards])
        elif command == "close":
            for board in boards:
                board.transport.close()
            await asyncio.sleep(0.2)
            pipe.send(True)
            return


def serve(pipe):
    """A client process's main: obey (command, *args) from `pipe` until told to close."""
    gc.disable()  # a stamp must not wait for the collector walking every payload kept
    asyncio.run(_serve(pipe))
