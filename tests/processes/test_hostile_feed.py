"""A hostile upstream against the app under gunicorn + gevent: nothing it sends costs a reconnect.

Every malformed frame the feed has been seen or imagined to send goes out between good BetStops;
a real board on /ws must get every good one, every message it reads must be strict JSON, and the
upstream must see one connection from start to end.
"""

import json
import os
import threading
import urllib.request
from pathlib import Path

import pytest
import websocket

from feed.upstream import frames
from tests import feed_messages as messages
from tests.feed_messages import LIVE, bet_stop, event_id
from tests.servers import gunicorn
from tests.upstream import wait_until

BAD_EVENT = event_id(666)  # the event of the malformed frames; the good BetStops are 0, 1, ...


def strict_loads(text):
    """json.loads that refuses NaN, Infinity and -Infinity, as a browser's JSON.parse does."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


class Board:
    """A /ws client that reads every message in a thread, each with a strict JSON parser."""

    def __init__(self, address):
        self.ws = websocket.create_connection(f"ws://{address}/ws", timeout=30)
        self.messages, self.errors = [], []
        self.closed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                opcode, data = self.ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    return
                self.messages.append(strict_loads(data.decode()))
        except Exception as exc:  # the test reads these: a board must never see one
            self.errors.append(exc)
        finally:
            self.closed.set()

    def bet_stops(self):
        return [m["data"] for m in self.messages if m.get("type") == "bet_stop"]

    def close(self):
        self.ws.close()


def status(address):
    with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
        return json.load(answer)


def text(cmd, data):
    return messages.text(cmd, data, 1000)


def odds_change(outcome=None, **line):
    """An odds change of BAD_EVENT's 1x2 line: its one outcome "1" at 2.0 (the only 2.0 in it)
    with the fields `outcome`, and the line's fields `line`."""
    outcomes = [messages.outcome() | (outcome or {})]
    market = messages.market(1, messages.line(**({"outcomes": outcomes} | line)))
    return messages.odds([market], BAD_EVENT, LIVE, 1000)


def hostile_frames(max_frame_bytes):
    """Every malformed frame of the feed-trust list, as the raw text or bytes upstream sends."""
    stop = bet_stop(BAD_EVENT, "all", None, 1000, None)
    return [
        # BetStops that are readable in part: envelope time a string or a float, groups a list
        # or in capitals, data itself a JSON string.
        json.dumps({"cmd": 10030, "time": "1764843686186", "data": stop}),
        json.dumps({"cmd": 10030, "time": 1764843686186.5, "data": stop}),
        text(10030, stop | {"groups": ["all"]}),
        text(10030, stop | {"groups": "ALL"}),
        text(10030, json.dumps(stop)),
        # Odds changes with one bad part: an empty price, an unknown status, microsecond stamps,
        # "active" as a string.
        text(10020, odds_change(outcome={"odds": ""})),
        text(10020, odds_change(status="sideways")),
        text(10020, odds_change() | {"timestamp": 1764843686186000}),
        text(10020, odds_change(outcome={"active": "false"})),
        text(10000, messages.alive(LIVE, "30", None, 0, last_alive_time=None)),
        # A prematch BetStop.
        text(10030, stop | {"product": 3}),
        # What used to raise out of the relay: deep nesting, outcomes a number, a non-finite
        # product, a price too large for a float, a cmd too long for an int.
        "[" * 100_000 + "]" * 100_000,
        '{"cmd": 10030, "data": ' + "[" * 100_000 + "]" * 100_000 + "}",
        text(10020, odds_change() | {"markets": [{"id": 1, "outcomes": 5}]}),
        text(10020, odds_change(outcomes=5)),
        text(10030, stop).replace('"timestamp"', '"product": Infinity, "timestamp"'),
        text(10020, odds_change()).replace("2.0", "9" * 400),
        '{"cmd": "' + "1" * 5000 + '", "data": {}}',
        # Non-finite prices and a non-finite anything a relay message echoes.
        text(10020, odds_change()).replace("2.0", "NaN"),
        text(10020, odds_change()).replace("2.0", "Infinity"),
        text(10020, odds_change()).replace("2.0", "-Infinity"),
        text(10030, stop).replace('"timestamp"', '"note": NaN, "timestamp"'),
        # Larger than a frame may be.
        text(10030, stop | {"padding": "x" * (max_frame_bytes + 1)}),
        frames.encode_binary(10030, stop | {"padding": "y" * max_frame_bytes}, 1000),
        # Binary frames that do not decode.
        b"\x1e\x27",
        frames.HEADER.pack(10030, 1000) + b"{not json",
        frames.HEADER.pack(10030, 1000) + b"[" * 100_000,
        # Many distinct unknown cmds.
        *(text(90_000 + number, {}) for number in range(20)),
        # Not JSON at all, or not an object.
        "{oops",
        "[]",
        b"\xff\xfe",
    ]


@pytest.mark.slow
def test_hostile_feed_loses_no_good_bet_stop_and_never_reconnects(upstream, database_url):
    max_frame = 256 * 1024
    settings = {"FEED_URL": upstream.url, "FEED_MAX_FRAME_BYTES": str(max_frame)}
    with gunicorn(database_url, **settings) as address:
        upstream.wait_connected()
        board = Board(address)
        wait_until(lambda: board.messages, what="the snapshot")
        sent = []
        for number, raw in enumerate(hostile_frames(max_frame)):
            upstream.send(raw)
            good = bet_stop(event_id(number), "all", None, number, None)
            upstream.send_frame(frames.BET_STOP, good, 2000 + number, binary=number % 2 == 1)
            sent.append(good)
        wait_until(
            lambda: len([s for s in board.bet_stops() if s in sent]) == len(sent) or board.errors,
            timeout=60,
            what="every good BetStop on the board",
        )
        assert board.errors == []
        assert [s for s in board.bet_stops() if s in sent] == sent
        assert upstream.accepted == 1 and len(upstream.connections) == 1  # never a reconnect
        # The good BetStops went ahead of the frames before them: those are applied after.
        wait_until(
            lambda: status(address)["counts"].get("unknown_cmd") == 20, what="every frame applied"
        )
        counts = status(address)["counts"]
        assert counts["frame_too_large"] == 2
        assert counts["unknown_cmd"] == 20
        # A new board's snapshot is strict JSON too, whatever the state holds.
        later = Board(address)
        wait_until(lambda: later.messages or later.errors, what="a second snapshot")
        assert later.errors == [] and later.messages[0]["type"] == "snapshot"
        board.close()
        later.close()


def worker_pid(master_pid):
    """The pid of gunicorn's (single) worker, the child of its master."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def gunicorn_master():
    """Our own child process that runs gunicorn (started by tests.servers.gunicorn)."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    masters = [
        int(pid) for pid in children if b"gunicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(masters) == 1, masters
    return masters[0]


def peak_rss_mb(pid):
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow
def test_a_50_mb_frame_is_skipped_without_growing_the_worker(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        board = Board(address)
        wait_until(lambda: board.messages, what="the snapshot")
        worker = worker_pid(gunicorn_master())
        before = peak_rss_mb(worker)
        huge = bet_stop(BAD_EVENT, "all", None, None, None, padding="x" * 50_000_000)
        upstream.send_frame(frames.BET_STOP, huge, 1000)
        good = bet_stop(event_id(1), "all", None, 2000, None)
        upstream.send_frame(frames.BET_STOP, good, 2000)
        wait_until(lambda: good in board.bet_stops() or board.errors, timeout=60, what="it")
        grown = peak_rss_mb(worker) - before
        assert grown < 40, f"the worker's peak memory grew by {grown:.0f} MB"
        assert board.errors == []
        assert [s["event_id"] for s in board.bet_stops()] == [good["event_id"]]
        assert upstream.accepted == 1
        assert status(address)["counts"]["frame_too_large"] == 1
        board.close()


def test_many_distinct_unknown_cmds_are_one_count_and_one_warning(app, caplog):
    relay = app.extensions["feed"].relay
    with caplog.at_level("WARNING", logger="feed.relay"):
        for number in range(2000):
            relay.receive(text(50_000 + number, {}))
    assert relay.counts["unknown_cmd"] == 2000
    assert not [kind for kind in relay.counts if kind.startswith("unknown_cmd_")]
    warnings = [r for r in caplog.records if "unknown cmd" in r.getMessage()]
    assert len(warnings) == 1 and "50000" in warnings[0].getMessage()
    assert len(json.dumps(relay.counts)) < 200


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        text(10020, odds_change(outcomes=5)),
        text(10030, bet_stop(BAD_EVENT, None, 1e999, None, None)).replace("Infinity", "1e999"),
        text(10020, odds_change()).replace("2.0", "9" * 400),
        '{"cmd": "' + "1" * 5000 + '", "data": {}}',
    ],
    ids=["nested", "outcomes_number", "product_infinite", "odds_400_digits", "cmd_5000_digits"],
)
def test_no_frame_raises_out_of_the_relay(app, raw):
    relay = app.extensions["feed"].relay
    with app.extensions["feed"].hub.subscribe() as board:
        relay.receive(raw)  # skipped, or applied as far as it reads: never raised
        relay.receive(text(10030, bet_stop(event_id(1), "all", None, None, None)))
        sent = [strict_loads(message) for _, message in board.take(0)]
    assert sent[-1]["type"] == "bet_stop"
    assert sent[-1]["data"]["event_id"] == event_id(1)
