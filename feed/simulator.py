"""A simulated upstream odds feed that speaks the real protocol over a real websocket.

A few dozen events, live and prematch, whose odds move; BetStops with `all` and with groups, and
the odds changes that reopen them; alives every few seconds, and now and then an outage (no
alive for longer than the feed allows). Frames go out in both forms (text JSON and binary) and odds
changes in both shapes. Every connected client gets every message, subscribed or not.
"""

import asyncio
import base64
import json
import logging
import random
import time

from websockets.asyncio.server import broadcast, serve

from . import frames

log = logging.getLogger(__name__)

TEAMS = {
    "football": [
        "Arsenal",
        "Benfica",
        "Celtic",
        "Dortmund",
        "Everton",
        "Feyenoord",
        "Galatasaray",
        "Hajduk",
        "Inter",
        "Juventus",
        "Lazio",
        "Marseille",
        "Napoli",
        "Porto",
        "Roma",
        "Sevilla",
        "Torino",
        "Valencia",
    ],
    "basketball": ["Bulls", "Celtics", "Lakers", "Knicks", "Heat", "Nets", "Suns", "Spurs"],
    "tennis": ["Alcaraz", "Sinner", "Zverev", "Medvedev", "Rune", "Fritz", "Ruud", "Draper"],
    "ice_hockey": ["Bruins", "Canucks", "Flames", "Jets", "Kings", "Oilers", "Rangers", "Senators"],
}
# The match statuses a live event goes through (UOF codes: 6 1st half, 31 halftime, 13 1st
# quarter, 8 1st set, 1 1st period, ...).
STATUSES = {
    "football": [6, 31, 7],
    "basketball": [13, 14, 15, 16],
    "tennis": [8, 9, 10],
    "ice_hockey": [1, 2, 3],
}
# sport -> [(market id, specifiers, outcome ids)]
MARKETS = {
    "football": [
        (1, "", ["1", "2", "3"]),
        (18, "total=2.5", ["12", "13"]),
        (18, "total=3.5", ["12", "13"]),
        (16, "hcp=-0.5", ["1714", "1715"]),
        (29, "", ["74", "76"]),
        (60, "", ["1", "2", "3"]),
        (166, "total=9.5", ["12", "13"]),
        (139, "total=4.5", ["12", "13"]),
    ],
    "basketball": [
        (219, "", ["4", "5"]),
        (223, "hcp=-4.5", ["1714", "1715"]),
        (225, "total=160.5", ["12", "13"]),
    ],
    "tennis": [
        (186, "", ["4", "5"]),
        (187, "hcp=-2.5", ["1714", "1715"]),
        (189, "total=22.5", ["12", "13"]),
    ],
    "ice_hockey": [
        (406, "", ["4", "5"]),
        (1, "", ["1", "2", "3"]),
        (410, "hcp=-1.5", ["1714", "1715"]),
        (412, "total=5.5", ["12", "13"]),
        (443, "periodnr=1", ["1", "2", "3"]),
        (446, "periodnr=1|total=1.5", ["12", "13"]),
    ],
}
GROUPS = ["score", "corner", "booking", "1st_half", "regular_play", "incl_ot"]


class Simulator:
    """Generates the feed's messages for a set of made-up events."""

    def __init__(self, events=36, seed=None, outage_every=180.0, outage_length=25.0):
        self.rng = random.Random(seed)
        self.outage_every, self.outage_length = outage_every, outage_length
        self.events = []
        for number in range(events):
            sport = ("football", "football", "basketball", "tennis", "ice_hockey")[number % 5]
            home, away = self.rng.sample(TEAMS[sport], 2)
            self.events.append(
                {
                    "event_id": f"sr:match:{61000000 + number}",
                    "sport": sport,
                    "name": f"{home} v {away}",
                    "product": 1 if number % 3 else 3,
                    "start_time": int(time.time() * 1000) + number * 600_000,
                    "score": [0, 0],
                    "status": 0,  # index into STATUSES[sport]
                    "odds": {
                        (market_id, specifiers): {
                            o: round(self.rng.uniform(1.2, 6.0), 2) for o in outcomes
                        }
                        for market_id, specifiers, outcomes in MARKETS[sport]
                    },
                }
            )

    def opening(self, now):
        """The messages a new connection starts with: every fixture and its odds."""
        messages = []
        for event in self.events:
            messages.append((frames.FIXTURE_CHANGE, self._fixture(event, now)))
            messages.append((frames.ODDS_CHANGE, self._odds(event, now, event["odds"])))
        return messages

    def step(self, now):
        """The next message or two of the running feed."""
        event = self.rng.choice(self.events)
        roll = self.rng.random()
        if roll < 0.08:
            groups = "all" if self.rng.random() < 0.5 else self.rng.choice(GROUPS)
            data = {
                "event_id": event["event_id"],
                "product": event["product"],
                "groups": groups,
                "timestamp": now,
            }
            if self.rng.random() < 0.7:
                data["market_status"] = "suspended"
            return [(frames.BET_STOP, data)]
        keys = self.rng.sample(list(event["odds"]), k=min(3, len(event["odds"])))
        for key in keys:
            for outcome in event["odds"][key]:
                moved = event["odds"][key][outcome] * self.rng.uniform(0.93, 1.07)
                event["odds"][key][outcome] = round(min(max(moved, 1.01), 50.0), 2)
        if event["product"] == 1 and self.rng.random() < 0.05:
            event["score"][self.rng.randrange(2)] += 1
        if event["product"] == 1 and self.rng.random() < 0.01:
            event["status"] = (event["status"] + 1) % len(STATUSES[event["sport"]])
        return [(frames.ODDS_CHANGE, self._odds(event, now, {k: event["odds"][k] for k in keys}))]

    def alive(self, now, started):
        """An alive per product, or None while an outage is being simulated."""
        if self.outage_every and (now / 1000 - started) % self.outage_every > (
            self.outage_every - self.outage_length
        ):
            return None
        return [
            (
                frames.ALIVE,
                {
                    "product": product,
                    "last_alive_time": now // 1000 - 5,
                    "now_alive_time": now // 1000,
                    "offset_time": 0,
                },
            )
            for product in (1, 3)
        ]

    def _fixture(self, event, now):
        return {
            "event_id": event["event_id"],
            "product": event["product"],
            "change_type": 1,
            "start_time": event["start_time"],
            "timestamp": now,
            "event_name": event["name"],
            "sport": event["sport"],
        }

    def _odds(self, event, now, markets):
        if self.rng.random() < 0.5:  # the older shape
            data = {
                "match_id": event["event_id"],
                "product_id": event["product"],
                "timestamp": now,
                "odds_markets": [
                    {
                        "id": market_id,
                        "specifiers": specifiers,
                        "status": 1,
                        "outcomes": [
                            {"id": o, "odds": odds, "active": 1} for o, odds in prices.items()
                        ],
                    }
                    for (market_id, specifiers), prices in markets.items()
                ],
            }
        else:  # the newer shape
            grouped = {}
            for (market_id, specifiers), prices in markets.items():
                grouped.setdefault(market_id, []).append(
                    {
                        "specifiers": specifiers,
                        "is_main_line": True,
                        "line_status": "active",
                        "outcomes": [
                            {"id": o, "odds": odds, "active": 1} for o, odds in prices.items()
                        ],
                    }
                )
            data = {
                "event_id": event["event_id"],
                "product": event["product"],
                "timestamp": now,
                "markets": [{"id": mid, "lines": lines} for mid, lines in grouped.items()],
            }
        if event["product"] == 1:
            data["home_score"], data["away_score"] = event["score"]
            data["match_status"] = STATUSES[event["sport"]][event["status"]]
        return data


def encode(cmd, data, now, rng):
    """Text JSON most of the time, binary now and then: the real feed sends both."""
    if rng.random() < 0.25:
        return frames.encode_binary(cmd, data, now)
    return frames.encode_text(cmd, data, now)


async def answer_commands(websocket):
    async for raw in websocket:
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if isinstance(message, dict) and message.get("cmd") == frames.PING:
            await websocket.send(frames.encode_text(frames.PING, "pong", int(time.time() * 1000)))


async def simulate(host, port, rate=20.0, seed=None, outage_every=180.0):
    """Serve the simulated feed until cancelled: `rate` messages a second."""
    simulator = Simulator(seed=seed, outage_every=outage_every)
    clients = set()
    started = time.time()

    async def handler(websocket):
        now = int(time.time() * 1000)
        # Alives first, so a fresh connection reads healthy without waiting for the next round.
        for cmd, data in (simulator.alive(now, started) or []) + simulator.opening(now):
            await websocket.send(encode(cmd, data, now, simulator.rng))
        clients.add(websocket)
        try:
            await answer_commands(websocket)
        finally:
            clients.discard(websocket)

    async with serve(handler, host, port, compression=None):
        log.info("simulated feed on ws://%s:%s/ws", host, port)
        next_alive = 0.0
        while True:
            await asyncio.sleep(1 / rate)
            now = int(time.time() * 1000)
            messages = simulator.step(now)
            if time.time() >= next_alive:
                next_alive = time.time() + 5
                messages += simulator.alive(now, started) or []
            for cmd, data in messages:
                broadcast(clients, encode(cmd, data, now, simulator.rng))


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
