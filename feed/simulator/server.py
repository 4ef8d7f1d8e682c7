"""The simulated feed over a real websocket, and recordings replayed."""

import asyncio
import base64
import json
import logging
import random
import time

from websockets.asyncio.server import broadcast, serve

from feed.simulator.messages import encode
from feed.simulator.world import Simulator
from feed.upstream import frames

log = logging.getLogger(__name__)


async def answer_commands(websocket):
    async for raw in websocket:
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if isinstance(message, dict) and message.get("cmd") == frames.PING:
            await websocket.send(frames.encode_text(frames.PING, "pong", int(time.time() * 1000)))


async def simulate(host, port, rate=20.0, seed=None, outage_every=180.0):
    """Serve the simulated feed until cancelled, in real time: `rate` odds changes a second."""
    simulator = Simulator(seed=seed, outage_every=outage_every, rate=rate)
    wire = random.Random(None if seed is None else f"{seed}/frames")  # text or binary
    clients = set()
    simulator.advance(int(time.time() * 1000))

    async def handler(websocket):
        now = int(time.time() * 1000)
        # Alives first, so a fresh connection reads healthy without waiting for the next round.
        for cmd, data in (simulator.alive(now) or []) + simulator.opening(now):
            await websocket.send(encode(cmd, data, now, wire))
        clients.add(websocket)
        try:
            await answer_commands(websocket)
        finally:
            clients.discard(websocket)

    async with serve(handler, host, port, compression=None):
        log.info("simulated feed on ws://%s:%s/ws", host, port)
        while True:
            await asyncio.sleep(min(0.05, 1 / rate))
            for at, cmd, data in simulator.advance(int(time.time() * 1000)):
                broadcast(clients, encode(cmd, data, at, wire))


class RecordingError(ValueError):
    """A file that is not a recording of `flask feed record`; says which line."""


def read_recording(path):
    """The entries of a recording: one JSON object a line with `t` and `text` or `binary`."""
    entries = []
    with open(path, encoding="utf-8", errors="replace") as recording:
        for number, line in enumerate(recording, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not (
                isinstance(entry, dict) and "t" in entry and ("text" in entry or "binary" in entry)
            ):
                raise RecordingError(
                    f"{path} is not a recording of `flask feed record`: line {number} is not"
                    ' JSON with "t" and "text" or "binary"'
                )
            entries.append(entry)
    return entries


async def replay(host, port, path, speed=1.0):
    """Serve a recording (JSON lines from `flask feed record`) to each client, at `speed`."""
    entries = read_recording(path)

    async def handler(websocket):
        commands = asyncio.create_task(answer_commands(websocket))
        start = time.monotonic()
        try:
            for entry in entries:
                delay = entry["t"] / speed - (time.monotonic() - start)
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = base64.b64decode(entry["binary"]) if "binary" in entry else entry["text"]
                await websocket.send(frame)
            await commands
        finally:
            commands.cancel()

    async with serve(handler, host, port, compression=None):
        log.info("replaying %s (%d frames) on ws://%s:%s/ws", path, len(entries), host, port)
        await asyncio.Future()


def record_line(raw, offset):
    """One line of a recording: the frame as received and when, relative to the start."""
    if isinstance(raw, bytes | bytearray):
        return json.dumps({"t": round(offset, 3), "binary": base64.b64encode(raw).decode()})
    return json.dumps({"t": round(offset, 3), "text": raw})
