"""Histories in which a line the feed stopped read bettable on a board, each as a plain test.

Each was found by test_fail_closed_model.py and shrunk, or written next to one that was: the
same fault on another path, or a fault found while reading it. Here it is played against the real
market rules and relay (tests/feed_history.py), and two boards read the line as static/board/
does: one that followed the relay all along and one connecting at the end. Where the rule lets the
line read bettable before the step that stops it, the test checks that first, so that it shows
what the step changed.
"""

import pytest

from feed.market import published
from tests import feed_messages as messages
from tests.feed_history import CONNECTING, FOLLOWING, FeedHistory
from tests.feed_messages import (
    ALIVE,
    BET_CANCEL,
    BET_SETTLEMENT,
    BET_STOP,
    EVENT,
    FIXTURE_CHANGE,
    LIVE,
    ODDS_CHANGE,
    PREMATCH,
    active,
    alive,
    bet_stop,
    odds_change,
)

BOTH = [FOLLOWING, CONNECTING]
DAY_MS = 86_400_000


@pytest.fixture
def history(feed_app):
    """Connected, both products alive."""
    history = FeedHistory(feed_app)
    history.connect()
    history.send(ALIVE, alive())
    yield history
    history.close()  # the database up again, whatever the test did


def open_line(history, product=LIVE, stamp=None, market=1):
    """An odds change listing the line active; it reads bettable."""
    stamp = history.clock() if stamp is None else stamp
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(market)], product, stamp))
    assert history.bettable_on(EVENT, market) == BOTH, history.transcript()


def assert_stopped(history, market=1, specifiers=""):
    boards = history.bettable_on(EVENT, market, specifiers)
    assert boards == [], f"the line reads bettable on {boards}\n{history.transcript()}"


# Products --------------------------------------------------------------------------------------


def test_odds_without_a_product_are_prematch_odds_too(feed_app):
    # Such a line belongs to both products: with prematch never alive, it must read stopped.
    history = FeedHistory(feed_app)
    history.connect()
    history.send(ALIVE, alive(LIVE))
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], None, history.clock()))
    assert_stopped(history)


def test_a_prematch_update_does_not_take_a_line_out_of_live_bet_stops(history):
    now = history.clock()
    open_line(history, LIVE, now - 2000)
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], PREMATCH, now - 1000))
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    assert_stopped(history)


def test_a_prematch_update_does_not_take_a_line_out_of_live_outages(history):
    now = history.clock()
    open_line(history, LIVE, now - 2000)
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], PREMATCH, now - 1000))
    history.send(ALIVE, alive(LIVE, offset=30))  # the live source is 30 s behind
    assert_stopped(history)


@pytest.mark.parametrize("then", ["live_stops_the_event", "live_falls_behind"])
def test_live_odds_older_than_the_lines_prematch_odds_still_put_it_under_live(history, then):
    now = history.clock()
    open_line(history, PREMATCH, now)
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
    assert history.bettable_on(EVENT, 1) == BOTH, history.transcript()
    if then == "live_stops_the_event":
        history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    else:
        history.send(ALIVE, alive(LIVE, offset=30))  # the live source 30 s behind
    assert_stopped(history)


def test_live_odds_do_not_lift_a_prematch_stop_the_line_is_under(history):
    # The line is prematch's as well once prematch has fed it: prematch's stop holds it.
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, "all", PREMATCH, now))
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], PREMATCH, now))
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now))
    assert_stopped(history)


# Feed health and gaps --------------------------------------------------------------------------


def test_an_alive_with_subscribed_0_stops_its_product(history):
    open_line(history)
    history.send(ALIVE, alive(LIVE, subscribed=0))
    assert_stopped(history)


@pytest.mark.parametrize(
    "outage",
    ["no alive for 21 s", "the source 30 s behind", "the socket down"],
)
def test_a_line_open_before_an_outage_stays_stopped_after_it(history, outage):
    open_line(history)
    if outage == "no alive for 21 s":
        history.silence(21)
    elif outage == "the source 30 s behind":
        history.send(ALIVE, alive(offset=30))
    else:
        history.disconnect()
        history.connect()
    history.send(ALIVE, alive())  # healthy again: what was sent meanwhile is unknown
    assert_stopped(history)


def test_a_restored_line_stays_stopped_until_new_odds(history):
    open_line(history)
    history.restart()
    history.connect()
    history.send(ALIVE, alive())
    assert_stopped(history)


@pytest.mark.parametrize("groups", ["no_such_group", "1st_half|no_such_group", "score 1st_half"])
def test_a_bet_stop_naming_a_group_no_market_has_stops_the_whole_event(history, groups):
    open_line(history)
    history.send(BET_STOP, bet_stop(EVENT, groups, LIVE, history.clock()))
    assert_stopped(history)


@pytest.mark.parametrize("event_key", ["match_id", "sport_event_id"])
@pytest.mark.parametrize(
    "message",
    [
        (BET_STOP, lambda key, now: messages.bet_stop(EVENT, "all", LIVE, now, event_key=key)),
        (FIXTURE_CHANGE, lambda key, now: messages.fixture_change(EVENT, 3, LIVE, now, key)),
        (BET_SETTLEMENT, lambda key, now: messages.bet_settlement(EVENT, 1, "", LIVE, now, key)),
        (BET_CANCEL, lambda key, now: messages.bet_cancel(EVENT, 1, "", LIVE, now, key)),
    ],
    ids=["bet_stop", "fixture_cancelled", "bet_settlement", "bet_cancel"],
)
def test_a_message_naming_its_event_by_another_key_still_stops_the_line(
    history, message, event_key
):
    cmd, build = message
    open_line(history)
    history.send(cmd, build(event_key, history.clock()))
    assert_stopped(history)


def test_odds_stamped_in_the_future_do_not_outrank_a_later_bet_stop(history):
    # A stamp later than its arrival is taken as the arrival: the stop a second later is newer.
    open_line(history, stamp=history.clock() + DAY_MS)
    history.silence(1)
    history.send(ALIVE, alive())
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, history.clock()))
    assert_stopped(history)


def test_odds_stamped_in_the_future_do_not_lift_a_bet_stop_they_arrive_with(history):
    # Stamped a second ahead, they arrive in the same millisecond as the stop: no newer than it.
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now + 1000))
    assert_stopped(history)


def test_a_bet_stop_stamped_before_the_lines_last_odds_still_stops_it(history):
    # The rule orders BetStops by arrival: one that comes after the odds stops the line,
    # whatever its stamp (UOF's own ordering would let an older one pass).
    now = history.clock()
    open_line(history, stamp=now)
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now - 1000))
    assert_stopped(history)


def test_a_logged_bet_stop_whose_groups_came_as_a_list_holds_after_a_restart(history):
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, ["all"], LIVE, now))
    history.restart()
    history.connect()
    history.send(ALIVE, alive())
    # Odds stamped before the stop arrive after the restart: they cannot open the line.
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
    assert_stopped(history)


# Takeovers and database outages ----------------------------------------------------------------


def kill_the_leader(history):
    """The leader is killed before its store wrote; a standby takes over from the database."""
    history.takeover()


def kill_the_leader_after_our_clock_stepped_back(history):
    history.step_clock(-3_600_000)  # the standby's clock, or ours, an hour behind
    history.takeover()


def restart_while_the_database_is_down(history):
    """A restart whose last write fails; the new process restores once the database is back."""
    history.database_down()
    history.restart()
    history.database_up()


@pytest.mark.parametrize(
    "gap",
    [
        kill_the_leader,
        kill_the_leader_after_our_clock_stepped_back,
        restart_while_the_database_is_down,
    ],
    ids=["takeover", "takeover_our_clock_stepped_back", "restart_database_down"],
)
def test_a_bet_stop_the_database_never_got_holds_after_the_process_goes(history, gap):
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    gap(history)  # the stop was never written
    history.connect()
    history.send(ALIVE, alive())
    # Odds stamped no later than the stop, arriving after the gap: they cannot open the line.
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, history.clock()))
    assert history.clock() <= now
    assert_stopped(history)


def test_a_bet_stop_only_the_bus_held_is_written_by_the_leader_that_took_it_over(history):
    now = history.clock()
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    history.takeover()  # the stop was never written: the bus has it
    history.connect()
    history.restart()  # the new leader's state written; the next restores from the database
    history.connect()
    history.send(ALIVE, alive())
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now))
    assert_stopped(history)


# What the bus holds may be older or shorter than what the leader did: a checkpoint lists its
# latest 100 BetStops, Redis may be away while the leader goes on writing, and the database may
# answer after the bus's board is in.


def test_a_stale_bus_and_a_slow_database_lose_no_product_of_a_line(history):
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], PREMATCH, history.clock()))
    stale = history.hub.board()  # Redis away from here on: the bus keeps this
    history.silence(1)
    history.send(ALIVE, alive())
    open_line(history, LIVE)  # the database: live's, and so prematch's too
    history.silence(1)
    history.database_down()  # the standby takes the bus's board first
    history.takeover(board=stale)
    history.database_up()  # the database's joins it
    history.connect()
    history.send(ALIVE, alive())
    open_line(history, PREMATCH)
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, history.clock()))
    assert_stopped(history)


def test_a_stale_bus_with_a_slow_database_does_not_write_over_a_newer_line(history):
    now = history.clock()
    open_line(history, stamp=now)
    stale = history.hub.board()
    history.send(BET_SETTLEMENT, messages.bet_settlement(EVENT, 1, "", LIVE, now + 5))
    history.silence(1)  # the database: settled
    history.database_down()
    history.takeover(board=stale)
    history.database_up()
    history.silence(1)
    assert history.relay.state.lines[(EVENT, 1, "")].status == "settled"


def test_a_bet_stop_past_the_checkpoints_list_holds_after_a_takeover(history):
    now = history.clock()
    history.database_down()  # nothing the leader hears from here on is written
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, now))
    for number in range(100):  # more BetStops than a checkpoint lists
        history.send(BET_STOP, bet_stop(messages.event_id(1000 + number), "all", LIVE, now))
    # What the bus holds after the outlet's next checkpoint: the snapshot and nothing since.
    history.takeover(board=published.read(history.relay.snapshot()[1], []))
    history.connect()
    history.send(ALIVE, alive())
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, now - 1000))
    assert_stopped(history)


@pytest.mark.parametrize("slow_database", [False, True])
def test_a_stale_bus_undoes_no_cancelled_fixture_nor_settlement(history, slow_database):
    now = history.clock()
    open_line(history, stamp=now)
    stale = history.hub.board()
    # Stamped before the line's odds: the line's stamp stays, the versions tie.
    history.send(BET_SETTLEMENT, messages.bet_settlement(EVENT, 1, "", LIVE, now - 5))
    history.send(FIXTURE_CHANGE, messages.fixture_change(EVENT, 3, LIVE, now))
    history.silence(1)  # written: settled, and the event cancelled
    if slow_database:
        history.database_down()
    history.takeover(board=stale)
    history.database_up()
    history.connect()
    history.send(ALIVE, alive())
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1), active(18, "total=2.5")], LIVE))
    lines = history.relay.state.lines
    assert lines[(EVENT, 1, "")].status in {"settled", "cancelled"}
    assert lines[(EVENT, 18, "total=2.5")].status == "cancelled"


@pytest.mark.parametrize("gap", ["restart", "takeover"])
def test_a_line_prematch_fed_still_answers_to_prematch_stops_after_the_process_goes(history, gap):
    now = history.clock()
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], PREMATCH, now))
    open_line(history, LIVE, now)  # the line is live's and prematch's
    history.restart() if gap == "restart" else history.takeover()
    history.connect()
    history.silence(1)
    history.send(ALIVE, alive())
    open_line(history, LIVE)  # live odds after the gap: bettable
    history.send(BET_STOP, bet_stop(EVENT, "all", PREMATCH, history.clock()))
    assert_stopped(history)


def test_a_bet_stop_stamped_ahead_after_a_restart_on_a_clock_that_stepped_back(history):
    open_line(history)  # the database holds it, stamped with the newest receipt
    history.step_clock(-3_600_000)  # our clock an hour behind that receipt
    history.restart()
    history.connect()
    history.send(ALIVE, alive())
    # Stamped a day ahead, the stop reads as of its receipt: no older than the line's last odds.
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, history.clock() + DAY_MS))
    history.silence(1)
    history.send(ALIVE, alive())
    # Odds stamped now by our clock, an hour before the line's last odds: older than the stop,
    # they cannot open another line of the event either.
    total = active(18, "total=2.5")
    history.send(ODDS_CHANGE, odds_change(EVENT, [total], LIVE, history.clock()))
    assert_stopped(history, 18, "total=2.5")


# Odds changes ----------------------------------------------------------------------------------


def test_a_handover_newer_than_the_live_odds_stops_the_line(history):
    now = history.clock()
    open_line(history, LIVE, now - 1000)
    handed_over = (1, "", -2, "readable", "line_status")
    history.send(ODDS_CHANGE, odds_change(EVENT, [handed_over], PREMATCH, now))
    assert_stopped(history)


@pytest.mark.parametrize("outcomes", ["missing", "empty"])
def test_a_new_line_listed_active_with_no_odds_reads_stopped(history, outcomes):
    listed = (1, "", "active", "missing", "line_status")
    data = odds_change(EVENT, [listed], LIVE, history.clock())
    if outcomes == "empty":
        data["markets"][0]["lines"][0]["outcomes"] = []
    history.send(ODDS_CHANGE, data)
    assert_stopped(history)


def test_a_stopped_line_listed_active_again_with_no_odds_stays_stopped(history):
    # Reopened at the prices it had before the stop, which nobody sent again: not bettable.
    open_line(history)
    history.send(BET_STOP, bet_stop(EVENT, "all", LIVE, history.clock()))
    history.silence(1)
    listed = (1, "", "active", "missing", "line_status")
    history.send(ODDS_CHANGE, odds_change(EVENT, [listed], LIVE, history.clock()))
    assert_stopped(history)


# Health ----------------------------------------------------------------------------------------


def test_odds_that_come_before_their_products_first_alive_wait_for_fresh_odds(feed_app):
    # While the product is down, what it sent before may have been missed: the odds that came
    # then cannot open the line once the alive comes.
    history = FeedHistory(feed_app)
    history.connect()
    history.send(ODDS_CHANGE, odds_change(EVENT, [active(1)], LIVE, history.clock()))
    history.send(ALIVE, alive())
    assert_stopped(history)
    open_line(history)  # fresh odds, with the product up: bettable


def test_our_clock_stepping_back_does_not_keep_a_silent_feed_up(history):
    open_line(history)
    history.step_clock(-3_600_000)
    history.silence(21)  # no alive for 21 s of real time
    assert_stopped(history)
