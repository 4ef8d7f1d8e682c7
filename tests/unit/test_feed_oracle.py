"""The oracle of the safety rule on its own: what it allows and what it stops, step by step."""

import pytest

from tests import feed_messages as messages
from tests.feed_messages import ALIVE, BET_STOP, EVENT, LIVE, ODDS_CHANGE, PREMATCH, active, alive
from tests.feed_oracle import Oracle

START = 1_764_843_686_000
LINE = (EVENT, 1, "")  # the 1x2: all|score|regular_play


def frame(cmd, data):
    return messages.text(cmd, data, START)


@pytest.fixture
def oracle():
    """Connected, both products alive."""
    oracle = Oracle(START)
    oracle.connect()
    oracle.receive(frame(ALIVE, alive()))
    return oracle


def odds(oracle, product=LIVE, stamp=START, lines=None):
    lines = [active(1)] if lines is None else lines
    oracle.receive(frame(ODDS_CHANGE, messages.odds_change(EVENT, lines, product, stamp)))


def stop(oracle, groups="all", product=LIVE, stamp=START, event_key="event_id"):
    data = messages.bet_stop(EVENT, groups, product, stamp, event_key=event_key)
    oracle.receive(frame(BET_STOP, data))


def test_odds_listing_a_line_active_on_a_healthy_feed_open_it(oracle):
    odds(oracle)
    assert oracle.allowed(LINE) == (True, "")


@pytest.mark.parametrize(
    ("groups", "product", "stops"),
    [
        ("all", LIVE, True),
        ("score", LIVE, True),
        ("1st_half|score", None, True),
        ("1st_half", LIVE, False),  # a group the 1x2 is not in
        ("1st_half|no_such_group", LIVE, True),  # a name no market has: the whole event
        (None, LIVE, True),
        (["all"], LIVE, True),  # unreadable: the whole event
        ("all", PREMATCH, False),  # a product that never fed the line
    ],
)
def test_what_a_bet_stop_covers(oracle, groups, product, stops):
    odds(oracle)
    stop(oracle, groups, product, START + 1000)
    assert oracle.allowed(LINE)[0] is not stops


def test_odds_stamped_at_or_before_a_stop_cannot_reopen(oracle):
    stop(oracle, stamp=START)
    odds(oracle, stamp=START)
    assert not oracle.allowed(LINE)[0]
    odds(oracle, stamp=START + 1)  # a millisecond ahead of its arrival: taken as START
    assert not oracle.allowed(LINE)[0]
    oracle.pass_time(1000)
    odds(oracle, stamp=START + 1)
    assert oracle.allowed(LINE)[0]


def test_a_stamp_in_the_future_is_taken_as_the_receive_time(oracle):
    stop(oracle, stamp=START)
    odds(oracle, stamp=START + 86_400_000)
    assert not oracle.allowed(LINE)[0]


def test_a_stamp_in_seconds_is_read_as_one(oracle):
    stop(oracle, stamp=START // 1000)
    odds(oracle, stamp=START - 1)
    assert not oracle.allowed(LINE)[0]


def test_odds_listing_a_line_otherwise_stop_it_unless_stamped_older(oracle):
    odds(oracle, stamp=START)
    odds(oracle, stamp=START - 1, lines=[(1, "", -1, "readable", "line_status")])
    assert oracle.allowed(LINE)[0]
    odds(oracle, stamp=START, lines=[(1, "", "active", "missing", "line_status")])
    assert not oracle.allowed(LINE)[0]


def test_odds_without_a_product_need_both_products_up(oracle):
    odds(oracle, product=None)
    assert oracle.allowed(LINE)[0]
    oracle.receive(frame(ALIVE, alive(PREMATCH, offset=30)))
    assert not oracle.allowed(LINE)[0]


@pytest.mark.parametrize(
    "gap",
    [
        lambda oracle: (oracle.disconnect(), oracle.connect()),
        lambda oracle: (oracle.restart(), oracle.connect()),
        lambda oracle: (oracle.takeover(), oracle.connect()),
        lambda oracle: oracle.pass_time(21_000),
        lambda oracle: oracle.receive(frame(ALIVE, alive(LIVE, subscribed=0))),
    ],
    ids=["reconnect", "restart", "takeover", "no alive for 21 s", "subscribed 0"],
)
def test_a_gap_stops_the_lines_opened_before_it(oracle, gap):
    odds(oracle)
    gap(oracle)
    oracle.receive(frame(ALIVE, alive()))
    assert not oracle.allowed(LINE)[0]
    odds(oracle, stamp=START + 1)  # odds after the gap open it again
    assert oracle.allowed(LINE)[0]


def test_odds_that_arrive_while_their_product_is_down_open_nothing():
    oracle = Oracle(START)
    oracle.connect()
    odds(oracle)
    oracle.receive(frame(ALIVE, alive()))
    assert not oracle.allowed(LINE)[0]


def test_a_clock_stepping_back_does_not_make_the_last_alive_younger(oracle):
    odds(oracle)
    oracle.step_clock(-3_600_000)
    oracle.pass_time(21_000)
    assert not oracle.allowed(LINE)[0]


def test_the_event_id_reads_the_same_under_any_key_as_a_string_or_a_number(oracle):
    odds(oracle)
    stop(oracle, event_key="match_id")
    assert not oracle.allowed(LINE)[0]
    oracle.receive(frame(ODDS_CHANGE, messages.odds_change(7, [active(1)], LIVE, START + 1)))
    oracle.receive(frame(BET_STOP, messages.bet_stop("7", "all", LIVE, START + 2)))
    assert not oracle.allowed(("7", 1, ""))[0]
