"""Field values read at the edge: one unit and type, whatever the feed sent."""

import json

import pytest

from feed.market.health import FeedHealth
from feed.upstream import fields, frames

NOW = 1_000_000


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1764843686186, 1764843686186),
        ("1764843686186", 1764843686186),
        (" 1764843686186 ", 1764843686186),
        (1764843686186.7, 1764843686186),
        (1764843686186000, 1764843686186),  # microseconds
        ("1764843686186000", 1764843686186),
        (1764843686186000000, 1764843686186),  # nanoseconds
        (1764843686, 1764843686000),  # seconds
        (1764843686.186, 1764843686186),
        ("1764843686.186", 1764843686186),
        (200, 200),  # no real clock: replays and tests count from zero, in milliseconds
        (0, None),  # the feed's "not set"
        (1, 1),
        (-1, None),
        (10**20, None),
        (10**400, None),
        ("NaN", None),
        ("Infinity", None),
        (float("nan"), None),
        (float("inf"), None),
        ("soon", None),
        ("", None),
        (True, None),
        (None, None),
        ([1], None),
    ],
)
def test_timestamps_read_as_milliseconds(value, ms):
    assert fields.timestamp_ms(value) == ms


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (2, 2),
        (2.5, 2.5),
        ("2.5", 2.5),
        (" 3 ", 3),
        ("1e3", 1000.0),
        ("1e999", None),
        ("NaN", None),
        ("-Infinity", None),
        (float("nan"), None),
        (2**63, None),
        (2**63 - 1, 2**63 - 1),
        (str(2**63), None),
        ("9" * 20, None),
        ("9" * 400, None),
        ("", None),
        ("2,5", None),
        (False, None),
        ({"a": 1}, None),
    ],
)
def test_numbers_read_finite_or_not_at_all(value, number):
    assert fields.number(value) == number


@pytest.mark.parametrize(
    ("value", "integer"),
    [
        (3, 3),
        ("3", 3),
        ("-1", -1),
        (3.0, 3),
        ("3.0", 3),
        (3.5, None),
        (1e300, None),
        ("1e300", None),
        (10**400, None),
        ("1" * 5_000, None),
        (True, None),
    ],
)
def test_integers_read_whole_or_not_at_all(value, integer):
    assert fields.integer(value) == integer


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (None, "default"),
        ("", "default"),
        (True, True),
        (1, True),
        ("1", True),
        ("true", True),
        (" TRUE ", True),
        (False, False),
        (0, False),
        ("0", False),
        ("false", False),
        ("inactive", False),
        ("maybe", None),
        (2, None),
        ([1], None),
    ],
)
def test_flags_read_from_their_text(value, flag):
    assert fields.flag(value, default="default") == flag


def healthy(data):
    health = FeedHealth()
    health.socket(True)
    health.alive(data, NOW)
    return health


@pytest.mark.parametrize(
    ("offset", "up"),
    [
        ("30", False),  # text: 30 s behind, not 0
        (" 30.5 ", False),
        ("5", True),
        (5, True),
        (None, True),  # absent: on time
        ("NaN", False),  # what a bare NaN decodes to: unreadable, so taken as behind
        ("Infinity", False),
        ("soon", False),
    ],
)
def test_alive_offset_time_is_read_at_the_edge(offset, up):
    data = {} if offset is None else {"offset_time": offset}
    health = healthy(data)
    assert health.verdict(NOW) == {1: up, 3: up}
    json.dumps(health.report(NOW), allow_nan=False)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_a_bare_non_finite_offset_on_the_wire_means_the_source_is_down(literal):
    frame = frames.decode(f'{{"cmd": 10000, "data": {{"offset_time": {literal}}}}}')
    health = healthy(frame.data)
    assert health.verdict(NOW) == {1: False, 3: False}
    json.dumps(health.report(NOW), allow_nan=False)
