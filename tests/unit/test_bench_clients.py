"""The relay benchmark's clients stamp exactly the BetStops, whatever else a message holds."""

import json
import os
from unittest import mock

with mock.patch.dict(os.environ):  # the benchmarks' settings stay out of the other tests
    from bench import crowd


def relay_message(cmd, data, lines=()):
    """A message in the relay's shape: type, cmd, time, the upstream's data, then the lines."""
    kind = "bet_stop" if cmd == 10030 else "odds_change"
    return json.dumps(
        {"type": kind, "cmd": cmd, "time": 1, "data": data, "lines": list(lines)}
    ).encode()


def test_a_bet_stop_is_stamped_with_the_upstream_timestamp():
    message = relay_message(10030, {"event_id": "sr:match:1", "timestamp": 1733550000123})
    assert crowd.bet_stop_stamp(message) == 1733550000123


def test_the_stamp_is_found_whichever_key_comes_first():
    assert crowd.bet_stop_stamp(b'{"timestamp": 5, "x": 1, "cmd": 10030}') == 5
    assert crowd.bet_stop_stamp(b'{"cmd":10030,"data":{"timestamp":6}}') == 6


def test_a_message_that_is_no_bet_stop_is_not_stamped():
    assert crowd.bet_stop_stamp(relay_message(10031, {"timestamp": 4})) is None
    assert crowd.bet_stop_stamp(b'{"cmd":100301,"timestamp":4}') is None
    assert crowd.bet_stop_stamp(b'{"cmd":10030}') is None


def test_a_long_message_with_a_timestamp_per_line_and_no_bet_stop_is_not_stamped():
    # 3,000 timestamps: the single pattern this replaced rescanned the rest of the message from
    # each of them (seconds for this one); the two searches read it once.
    lines = [{"market_id": i, "timestamp": i} for i in range(3000)]
    assert crowd.bet_stop_stamp(relay_message(10031, {"timestamp": 1}, lines)) is None
    stop = relay_message(10030, {"timestamp": 7}, lines)
    assert crowd.bet_stop_stamp(stop) == 7
