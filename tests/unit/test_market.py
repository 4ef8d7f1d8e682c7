"""The feed's market rules, one table or behaviour a test."""

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feed.market.descriptions import MarketDescriptions
from feed.market.model import (
    MarketLine,
    MessageError,
    Outcome,
    bet_stop_status,
    normalise_specifiers,
)
from feed.market.rules import MarketState
from feed.upstream import frames
from feed.upstream.frames import (
    BET_CANCEL,
    BET_SETTLEMENT,
    BET_STOP,
    FIXTURE_CHANGE,
    ODDS_CHANGE,
    Frame,
)
from tests import feed_messages as messages
from tests.feed_messages import EVENT

DESCRIPTIONS = MarketDescriptions(
    {
        "1": {"name": "1x2", "groups": ["all", "score", "regular_play"]},
        "18": {"name": "Total", "groups": ["all", "score", "regular_play"]},
        "166": {"name": "Total corners", "groups": ["all", "corner", "regular_play"]},
        "60": {"name": "1st half - 1x2", "groups": ["all", "score", "1st_half"]},
    }
)


def odds_old(ts, markets, event=EVENT, product=1):
    """An odds change in the older shape: markets = [(id, specifiers, status, {outcome: odds})]."""
    odds_markets = [
        messages.old_market(
            mid, spec, status, [messages.outcome(o, odds, active=1) for o, odds in prices.items()]
        )
        for mid, spec, status, prices in markets
    ]
    return messages.frame(ODDS_CHANGE, messages.odds_old(odds_markets, event, product, ts))


def bet_stop(ts, groups="all", market_status="suspended", event=EVENT):
    return messages.frame(BET_STOP, messages.bet_stop(event, groups, 1, ts, market_status))


@pytest.fixture
def state():
    state = MarketState(DESCRIPTIONS)
    state.apply(
        odds_old(
            100,
            [
                (1, "", 1, {"1": 2.1, "2": 3.3, "3": 3.6}),
                (18, "total=2.5", 1, {"12": 1.9, "13": 1.9}),
                (166, "total=9.5", 1, {"12": 1.8, "13": 2.0}),
                (999, "", 1, {"1": 1.5}),  # not in the descriptions: groups unknown
            ],
        )
    )
    return state


def status(state, market_id, specifiers=""):
    return state.lines[(EVENT, market_id, specifiers)].status


def test_odds_change_older_shape_creates_lines_with_odds(state):
    line = state.lines[(EVENT, 1, "")]
    assert (line.status, line.product, line.updated_at) == ("active", 1, 100)
    assert {k: o.odds for k, o in line.outcomes.items()} == {"1": 2.1, "2": 3.3, "3": 3.6}
    assert line.groups == ("all", "score", "regular_play")
    assert line.name == "1x2"


def test_odds_change_newer_shape_is_accepted():
    state = MarketState(DESCRIPTIONS)
    frame = Frame(
        ODDS_CHANGE,
        5,
        {
            "event_id": EVENT,
            "product": 3,
            "timestamp": 5,
            "markets": [
                {
                    "id": 18,
                    "name": "Total goals",
                    "lines": [
                        {
                            "specifiers": "total=2.5",
                            "line_status": "active",
                            "outcomes": [{"id": "12", "odds": "1.95"}],
                        },
                        {
                            "specifiers": "total=3.5",
                            "status": -1,
                            "outcomes": [{"id": "12", "odds": 2.6}],
                        },
                    ],
                }
            ],
        },
    )
    applied = state.apply(frame)
    assert [(line.specifiers, line.status) for line in applied.lines] == [
        ("total=2.5", "active"),
        ("total=3.5", "suspended"),
    ]
    assert state.lines[(EVENT, 18, "total=2.5")].outcomes["12"].odds == 1.95
    assert state.lines[(EVENT, 18, "total=2.5")].name == "Total goals"
    assert state.lines[(EVENT, 18, "total=2.5")].product == 3


@pytest.mark.parametrize(
    ("feed_status", "ours"),
    [
        (None, "active"),
        (1, "active"),
        (-1, "suspended"),
        (0, "deactivated"),
        (-2, "handed_over"),
        (-3, "settled"),
        (-4, "cancelled"),
        ("inactive", "deactivated"),
        ("suspended", "suspended"),
    ],
)
def test_odds_change_status_mapping(feed_status, ours):
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(1, [(1, "", feed_status, {"1": 2.0})]))
    assert status(state, 1) == ours


def test_specifiers_name_a_line_whatever_their_order():
    assert normalise_specifiers("total=2.5|hcp=1") == normalise_specifiers("hcp=1|total=2.5")


def test_bet_stop_all_suspends_every_active_line_of_the_event_keeping_odds(state):
    applied = state.apply(bet_stop(200))
    assert len(applied.lines) == 4
    assert {line.status for line in state.lines.values()} == {"suspended"}
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.1
    assert state.lines[(EVENT, 1, "")].reason == "all"


def test_bet_stop_with_a_group_suspends_that_group_and_unknown_lines(state):
    applied = state.apply(bet_stop(200, groups="corner"))
    assert {line.market_id for line in applied.lines} == {166, 999}
    assert status(state, 1) == "active"
    assert status(state, 18, "total=2.5") == "active"


def test_bet_stop_with_several_groups(state):
    applied = state.apply(bet_stop(200, groups="corner|1st_half"))
    assert {line.market_id for line in applied.lines} == {166, 999}


def test_bet_stop_all_among_groups_means_all(state):
    assert len(state.apply(bet_stop(200, groups="corner|all")).lines) == 4


@pytest.mark.parametrize(
    ("market_status", "ours"),
    [
        (None, "suspended"),
        ("", "suspended"),
        ("suspended", "suspended"),
        ("-1", "suspended"),
        (-1, "suspended"),
        ("deactivated", "deactivated"),
        ("inactive", "deactivated"),
        ("0", "deactivated"),
        (0, "deactivated"),
        ("closed", "suspended"),
        ("settled", "suspended"),
    ],
)
def test_bet_stop_market_status(market_status, ours):
    assert bet_stop_status(market_status) == ours


def test_bet_stop_only_moves_active_lines(state):
    state.apply(odds_old(150, [(18, "total=2.5", 0, {"12": 1.9})]))  # deactivated
    state.apply(bet_stop(200, market_status="suspended"))
    assert status(state, 18, "total=2.5") == "deactivated"


def test_a_bet_stop_stamped_before_the_odds_it_follows_still_stops_the_line(state):
    # The upstream sent the stop after the odds: arrival is its order, whatever the stamps say.
    state.apply(odds_old(300, [(1, "", 1, {"1": 2.2})]))
    applied = state.apply(bet_stop(250))
    assert status(state, 1) == "suspended"
    assert (EVENT, 1, "") in {line.key for line in applied.lines}
    # Odds stamped between the two cannot reopen it; odds after the line's own stamp can.
    assert state.apply(odds_old(280, [(1, "", 1, {"1": 2.3})])).lines == []
    state.apply(odds_old(310, [(1, "", 1, {"1": 2.4})]))
    assert status(state, 1) == "active"


def test_odds_change_older_than_the_bet_stop_cannot_reopen(state):
    state.apply(bet_stop(200))
    assert state.apply(odds_old(150, [(1, "", 1, {"1": 2.2})])).lines == []
    assert status(state, 1) == "suspended"


def test_a_later_odds_change_listing_the_line_active_reopens_it(state):
    state.apply(bet_stop(200))
    state.apply(odds_old(250, [(1, "", 1, {"1": 2.2})]))
    assert status(state, 1) == "active"
    assert status(state, 18, "total=2.5") == "suspended"  # not listed: stays stopped


def test_bet_stop_for_another_event_touches_nothing(state):
    assert state.apply(bet_stop(200, event="sr:match:2")).lines == []
    assert {line.status for line in state.lines.values()} == {"active"}


def test_a_hand_over_newer_than_the_live_odds_stops_the_line_until_live_odds_come():
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(100, [(1, "", 1, {"1": 2.0})], product=1))
    state.apply(odds_old(110, [(1, "", -2, {"1": 2.0})], product=3))
    assert status(state, 1) == "handed_over"
    state.apply(odds_old(120, [(1, "", 1, {"1": 2.1})], product=1))
    assert status(state, 1) == "active"


def test_a_hand_over_older_than_the_live_odds_is_ignored():
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(120, [(1, "", 1, {"1": 2.0})], product=1))
    state.apply(odds_old(110, [(1, "", -2, {"1": 2.0})], product=3))
    assert status(state, 1) == "active"


def test_handed_over_suspends_a_prematch_line():
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(100, [(1, "", 1, {"1": 2.0})], product=3))
    state.apply(odds_old(110, [(1, "", -2, {"1": 2.0})], product=3))
    assert status(state, 1) == "handed_over"


def test_feed_groups_win_over_the_description_table():
    state = MarketState(DESCRIPTIONS)
    frame = Frame(
        ODDS_CHANGE,
        1,
        {
            "event_id": EVENT,
            "product": 1,
            "timestamp": 1,
            "markets": [
                {
                    "id": 1,
                    "groups": "all|special",
                    "lines": [{"specifiers": "", "outcomes": [{"id": "1", "odds": 2.0}]}],
                }
            ],
        },
    )
    state.apply(frame)
    assert state.lines[(EVENT, 1, "")].groups == ("all", "special")
    assert state.apply(bet_stop(5, groups="special")).lines[0].market_id == 1


def test_bet_settlement_and_cancel_close_lines(state):
    state.apply(
        Frame(
            BET_SETTLEMENT,
            300,
            {
                "event_id": EVENT,
                "timestamp": 300,
                "outcomes": {
                    "market": [{"id": 1, "specifiers": "", "outcome": [{"id": "1", "result": 1}]}]
                },
            },
        )
    )
    state.apply(
        Frame(
            BET_CANCEL,
            300,
            {
                "event_id": EVENT,
                "timestamp": 300,
                "market": [{"id": 18, "specifiers": "total=2.5", "void_reason": 1}],
            },
        )
    )
    assert status(state, 1) == "settled"
    assert status(state, 18, "total=2.5") == "cancelled"
    state.apply(bet_stop(400))
    assert status(state, 1) == "settled"


def test_fixture_change_records_the_event(state):
    applied = state.apply(
        Frame(
            FIXTURE_CHANGE,
            1,
            {
                "event_id": EVENT,
                "product": 3,
                "change_type": 2,
                "start_time": 1765000000000,
                "event_name": "A v B",
            },
        )
    )
    assert (applied.event.start_time, applied.event.name) == (1765000000000, "A v B")


@pytest.mark.parametrize(
    "frame",
    [
        Frame(BET_STOP, 1, {"groups": "all"}),  # no event
        Frame(BET_STOP, 1, {"event_id": ["sr:match:1"]}),
        Frame(BET_STOP, 1, "not an object"),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "odds_markets": "x"}),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "markets": 5}),
        Frame(ODDS_CHANGE, None, {"event_id": EVENT, "odds_markets": [{"id": 1}]}),  # no time
        Frame(ODDS_CHANGE, "x", {"event_id": EVENT, "timestamp": "y", "odds_markets": []}),
        Frame(BET_SETTLEMENT, 1, {"event_id": EVENT, "outcomes": 5}),
        Frame(BET_SETTLEMENT, 1, {"event_id": EVENT, "outcomes": {"market": "x"}}),
        Frame(BET_CANCEL, 1, {"event_id": EVENT, "market": 3}),
    ],
)
def test_unusable_messages_raise_and_change_nothing(state, frame):
    before = {key: (line.status, line.updated_at) for key, line in state.lines.items()}
    with pytest.raises(MessageError):
        state.apply(frame)
    assert {key: (line.status, line.updated_at) for key, line in state.lines.items()} == before


def test_a_bad_market_in_a_cancel_is_skipped_and_the_others_close(state):
    frame = cancel(300, 18, "total=2.5")
    frame.data["market"][:0] = [3, {"id": "x"}]
    applied = state.apply(frame)
    assert status(state, 18, "total=2.5") == "cancelled"
    assert sorted(applied.skipped) == ["bad_market", "bad_market_id"]


def test_unknown_cmd_has_no_rule(state):
    assert state.apply(Frame(10100, 1, {"anything": 1})) is None


# What the feed stopped never reads active --------------------------------------------------------


def wire(cmd, data, time=None):
    """`data` as upstream would send it in a text frame, decoded at the edge as the relay does."""
    return frames.decode(messages.text(cmd, data, time))


def statuses(state, event=EVENT):
    return {key[1:]: line.status for key, line in state.lines.items() if key[0] == event}


ALL_SUSPENDED = {(1, ""): "suspended", (18, "total=2.5"): "suspended"} | {
    (166, "total=9.5"): "suspended",
    (999, ""): "suspended",
}


def test_a_bet_stop_before_any_odds_stops_the_lines_older_odds_create_later():
    state = MarketState(DESCRIPTIONS)
    state.apply(bet_stop(200))
    applied = state.apply(
        odds_old(150, [(1, "", 1, {"1": 2.0}), (166, "total=9.5", 1, {"1": 2.0})])
    )
    assert [(line.status, line.reason) for line in applied.lines] == [("suspended", "all")] * 2
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.0  # odds shown, not bettable
    state.apply(odds_old(250, [(1, "", 1, {"1": 2.1})]))
    assert statuses(state) == {(1, ""): "active", (166, "total=9.5"): "suspended"}


def test_a_remembered_partial_bet_stop_stops_its_groups_and_lines_of_unknown_groups():
    state = MarketState(DESCRIPTIONS)
    state.apply(bet_stop(200, groups="corner"))
    state.apply(
        odds_old(
            150,
            [(1, "", 1, {"1": 2.0}), (166, "total=9.5", 1, {"1": 2.0}), (999, "", 1, {"1": 2.0})],
        )
    )
    assert statuses(state) == {
        (1, ""): "active",
        (166, "total=9.5"): "suspended",
        (999, ""): "suspended",
    }


def test_a_remembered_deactivating_bet_stop_creates_older_lines_deactivated():
    state = MarketState(DESCRIPTIONS)
    state.apply(bet_stop(200, market_status="deactivated"))
    state.apply(odds_old(150, [(1, "", 1, {"1": 2.0})]))
    assert status(state, 1) == "deactivated"


def test_a_bet_stop_on_a_suspended_line_still_extends_the_stop(state):
    state.apply(bet_stop(200))
    state.apply(bet_stop(400))
    assert state.apply(odds_old(300, [(1, "", 1, {"1": 2.2})])).lines == []
    assert status(state, 1) == "suspended"
    state.apply(odds_old(500, [(1, "", 1, {"1": 2.2})]))
    assert status(state, 1) == "active"


def test_a_bet_stop_on_a_deactivated_line_leaves_it_deactivated_but_older_odds_cannot_open_it(
    state,
):
    state.apply(odds_old(150, [(18, "total=2.5", 0, {"12": 1.9})]))
    state.apply(bet_stop(300))
    assert status(state, 18, "total=2.5") == "deactivated"
    state.apply(odds_old(200, [(18, "total=2.5", 1, {"12": 1.9})]))
    assert status(state, 18, "total=2.5") == "deactivated"


def test_a_repeated_bet_stop_extends_the_stop_but_reports_no_line_as_changed(state):
    state.apply(bet_stop(200))
    assert state.apply(bet_stop(400)).lines == []  # nothing for the boards to redraw
    assert {line.updated_at for line in state.lines.values()} == {400}
    assert {line.status for line in state.lines.values()} == {"suspended"}


def settlement(ts, market_id, specifiers=""):
    data = messages.bet_settlement(EVENT, market_id, specifiers, None, ts, certainty=None)
    return messages.frame(BET_SETTLEMENT, data)


def cancel(ts, market_id, specifiers=""):
    return messages.frame(BET_CANCEL, messages.bet_cancel(EVENT, market_id, specifiers, None, ts))


def restarted(state, bet_stops=()):
    """A new state loaded from `state`'s lines and events, as the store would hand them back."""
    lines = [
        MarketLine(
            **{name: value for name, value in line.to_json().items() if name != "outcomes"},
            outcomes={k: Outcome(**v) for k, v in line.to_json()["outcomes"].items()},
        )
        for line in state.lines.values()
    ]
    fresh = MarketState(DESCRIPTIONS)
    fresh.restore(list(state.events.values()), lines, bet_stops)
    return fresh


def test_a_stop_extended_on_a_stopped_line_survives_a_restart_through_the_log(state):
    log = [
        {"event_id": EVENT, "groups": "all", "product": 1, "status": "suspended", "sent_at": ts}
        for ts in (200, 400)
    ]
    state.apply(bet_stop(200))
    state.apply(bet_stop(400))
    fresh = restarted(state, log)
    fresh.apply(odds_old(300, [(1, "", 1, {"1": 2.2})]))
    assert status(fresh, 1) == "suspended"


def test_bet_stops_from_the_log_stop_lines_created_after_a_restart():
    state = MarketState(DESCRIPTIONS)
    logged = [
        {
            "event_id": EVENT,
            "groups": "corner",
            "product": 1,
            "status": "suspended",
            "sent_at": 200,
        },
        {"event_id": "sr:match:2", "groups": "all", "product": None, "status": "deactivated"},
    ]
    fresh = restarted(state, logged)
    fresh.apply(odds_old(150, [(1, "", 1, {"1": 2.0}), (166, "total=9.5", 1, {"1": 2.0})]))
    fresh.apply(odds_old(150, [(1, "", 1, {"1": 2.0})], event="sr:match:2"))
    assert statuses(fresh) == {(1, ""): "active", (166, "total=9.5"): "suspended"}
    assert statuses(fresh, "sr:match:2") == {(1, ""): "active"}  # no time: stops what it had
    fresh.apply(bet_stop(160, event="sr:match:2"))
    assert statuses(fresh, "sr:match:2") == {(1, ""): "suspended"}


def test_a_cancelled_fixture_stays_cancelled_after_a_restart(state):
    state.apply(fixture_change(200, 3))
    fresh = restarted(state)
    fresh.apply(odds_old(300, [(60, "", 1, {"1": 3.0})]))
    assert status(fresh, 60) == "cancelled"


@pytest.mark.parametrize(("close", "closed"), [(settlement, "settled"), (cancel, "cancelled")])
def test_a_closed_line_stays_closed_whatever_odds_follow(state, close, closed):
    state.apply(close(300, 1))
    state.apply(odds_old(400, [(1, "", 1, {"1": 2.2})]))
    state.apply(odds_old(500, [(1, "", -1, {"1": 2.2})]))
    assert status(state, 1) == closed
    state.apply(bet_stop(600))
    assert status(state, 1) == closed


@pytest.mark.parametrize(("feed_status", "closed"), [(-3, "settled"), (-4, "cancelled")])
def test_an_odds_change_that_closes_a_line_closes_it_however_late_it_comes(
    state, feed_status, closed
):
    state.apply(bet_stop(300))
    state.apply(odds_old(200, [(1, "", feed_status, {"1": 2.2})]))
    state.apply(odds_old(400, [(1, "", 1, {"1": 2.2})]))
    assert status(state, 1) == closed
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.1  # older odds are not shown


@pytest.mark.parametrize(("close", "closed"), [(settlement, "settled"), (cancel, "cancelled")])
def test_a_line_closed_before_its_odds_arrive_stays_closed(close, closed):
    state = MarketState(DESCRIPTIONS)
    state.apply(close(300, 1))
    state.apply(odds_old(200, [(1, "", 1, {"1": 2.2})]))
    state.apply(odds_old(400, [(1, "", 1, {"1": 2.2})]))
    assert status(state, 1) == closed


def fixture_change(ts, change_type, event=EVENT):
    return messages.frame(FIXTURE_CHANGE, messages.fixture_change(event, change_type, 1, ts))


@pytest.mark.parametrize("change_type", [3, "3"])
def test_a_cancelled_fixture_closes_its_lines_and_every_line_that_comes_later(state, change_type):
    applied = state.apply(fixture_change(200, change_type))
    assert applied.event.status == "cancelled"
    assert {line.status for line in applied.lines} == {"cancelled"}
    assert set(statuses(state).values()) == {"cancelled"}
    state.apply(odds_old(300, [(1, "", 1, {"1": 2.2}), (60, "", 1, {"1": 3.0})]))
    assert set(statuses(state).values()) == {"cancelled"}
    assert status(state, 60) == "cancelled"


def test_a_fixture_change_that_cancels_nothing_leaves_the_lines(state):
    state.apply(fixture_change(200, 2))
    assert set(statuses(state).values()) == {"active"}


BET_STOP_DATA = {"event_id": EVENT, "market_status": "suspended", "product": 1, "groups": "all"}


@pytest.mark.parametrize(
    ("time", "data"),
    [
        ("200", BET_STOP_DATA | {"timestamp": 200}),  # envelope time as text
        (200.5, BET_STOP_DATA | {"timestamp": 200}),  # envelope time as a float
        ("soon", BET_STOP_DATA | {"timestamp": 200}),  # envelope time unreadable
        ("200", BET_STOP_DATA),  # only the envelope's time, as text
        (None, BET_STOP_DATA | {"timestamp": "200"}),  # data's time as text
        (None, BET_STOP_DATA),  # no time anywhere: the event's newest
        (0, BET_STOP_DATA | {"timestamp": 0}),  # 0 is no time either
        (200, BET_STOP_DATA | {"groups": ["all"]}),
        (200, BET_STOP_DATA | {"groups": ["score", "corner"]}),  # and 999: groups unknown
        (200, BET_STOP_DATA | {"groups": "ALL"}),
        (200, BET_STOP_DATA | {"groups": " All "}),
        (200, BET_STOP_DATA | {"groups": "score|CORNER"}),
        (200, BET_STOP_DATA | {"groups": 7}),  # unreadable: the whole event
        (200, BET_STOP_DATA | {"groups": {"name": "all"}}),
        (200, BET_STOP_DATA | {"groups": [1, 2]}),
        (200, BET_STOP_DATA | {"groups": None}),
        (200, BET_STOP_DATA | {"market_status": "closed"}),
        (200, BET_STOP_DATA | {"market_status": {"x": 1}}),
        (200, BET_STOP_DATA | {"product": float("inf")}),  # a bare Infinity on the wire
        (200, BET_STOP_DATA | {"product": float("nan")}),
        (200, BET_STOP_DATA | {"product": "x"}),
        (200, BET_STOP_DATA | {"product": 10**400}),
        (200, BET_STOP_DATA | {"timestamp": float("nan")}),
        (200, BET_STOP_DATA | {"timestamp": 10**400}),
    ],
)
def test_a_bet_stop_that_names_the_event_suspends_whatever_else_it_holds(state, time, data):
    applied = state.apply(wire(BET_STOP, data, time))
    assert statuses(state) == ALL_SUSPENDED
    assert len(applied.lines) == 4
    json.dumps([line.to_json() for line in applied.lines], allow_nan=False)


def test_a_bet_stop_sent_with_its_data_encoded_twice_is_applied(state):
    raw = json.dumps({"cmd": BET_STOP, "time": 200, "data": json.dumps(BET_STOP_DATA)})
    state.apply(frames.decode(raw))
    assert statuses(state) == ALL_SUSPENDED


def test_groups_as_a_list_stop_only_those_groups(state):
    state.apply(wire(BET_STOP, BET_STOP_DATA | {"groups": ["Corner"], "timestamp": 200}))
    assert {key for key, value in statuses(state).items() if value == "suspended"} == {
        (166, "total=9.5"),
        (999, ""),
    }


def test_bet_stop_says_what_it_could_not_read(state):
    applied = state.apply(wire(BET_STOP, {"event_id": EVENT, "groups": 7, "product": "x"}))
    assert sorted(applied.skipped) == ["bad_groups", "bad_product", "bad_timestamp"]
    assert (applied.groups, applied.product, applied.timestamp) == ("all", None, 100)


def newer_shape(ts, markets, product=1):
    return messages.frame(ODDS_CHANGE, messages.odds(markets, EVENT, product, ts))


def test_one_bad_price_costs_only_its_line_which_reads_suspended(state):
    frame = odds_old(
        200,
        [
            (1, "", 1, {"1": ""}),  # unreadable price: suspended, the old odds greyed
            (18, "total=2.5", -1, {"12": 1.9}),
            (166, "total=9.5", 1, {"12": 1.7}),
        ],
    )
    applied = state.apply(frame)
    assert statuses(state) == {
        (1, ""): "suspended",
        (18, "total=2.5"): "suspended",
        (166, "total=9.5"): "active",
        (999, ""): "active",
    }
    assert state.lines[(EVENT, 166, "total=9.5")].outcomes["12"].odds == 1.7
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.1
    assert applied.skipped == ["bad_odds"]


def test_a_line_of_unknown_status_reads_suspended_and_the_others_apply(state):
    applied = state.apply(
        odds_old(200, [(18, "total=2.5", "weird", {}), (166, "total=9.5", -1, {})])
    )
    assert (status(state, 18, "total=2.5"), status(state, 166, "total=9.5")) == ("suspended",) * 2
    assert applied.skipped == ["unknown_status"]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ({"specifiers": "", "outcomes": 5}, "bad_outcomes"),
        ({"specifiers": "", "outcomes": [5]}, "bad_outcome"),
        ({"specifiers": "", "outcomes": [{"odds": 2.0}]}, "bad_outcome"),
        ({"specifiers": "", "outcomes": [{"id": "1", "odds": "NaN"}]}, "bad_odds"),
        ({"specifiers": "", "outcomes": [{"id": "1", "odds": float("inf")}]}, "bad_odds"),
        ({"specifiers": "", "outcomes": [{"id": "1", "odds": 10**400}]}, "bad_odds"),
        ({"specifiers": "", "outcomes": [{"id": "1", "odds": [2.0]}]}, "bad_odds"),
        ({"specifiers": "", "status": {"a": 1}, "outcomes": []}, "unknown_status"),
    ],
)
def test_a_line_whose_update_cannot_be_read_is_suspended_not_left_bettable(state, line, kind):
    applied = state.apply(
        wire(ODDS_CHANGE, newer_shape(200, [{"id": 1, "lines": [line]}, GOOD_18]).data, 200)
    )
    assert status(state, 1) == "suspended"
    assert status(state, 18, "total=2.5") == "suspended"  # the good line beside it applied
    assert kind in applied.skipped
    json.dumps(state.snapshot(), allow_nan=False)


GOOD_18 = {"id": 18, "lines": [{"specifiers": "total=2.5", "status": -1, "outcomes": []}]}


def test_unreadable_prices_built_in_code_are_refused_too(state):
    for ts, odds in enumerate((float("nan"), float("inf"), 10**400, True, "2,5"), start=1):
        state.apply(odds_old(200 * ts, [(1, "", 1, {"1": odds})]))
        assert status(state, 1) == "suspended"
        state.apply(odds_old(200 * ts + 1, [(1, "", 1, {"1": 2.0})]))
        assert status(state, 1) == "active"
    json.dumps(state.snapshot(), allow_nan=False)


def test_a_new_line_whose_update_cannot_be_read_is_created_suspended():
    state = MarketState(DESCRIPTIONS)
    applied = state.apply(odds_old(100, [(1, "", 1, {"1": "x", "2": 3.3})]))
    assert status(state, 1) == "suspended"
    assert {k: o.odds for k, o in state.lines[(EVENT, 1, "")].outcomes.items()} == {"2": 3.3}
    assert applied.skipped == ["bad_odds"]


def test_an_entry_without_a_market_id_is_skipped_and_the_others_apply(state):
    frame = odds_old(200, [(18, "total=2.5", -1, {})])
    frame.data["odds_markets"][:0] = [{"id": "one"}, 7, {"id": None}]
    applied = state.apply(frame)
    assert status(state, 18, "total=2.5") == "suspended"
    assert sorted(applied.skipped) == ["bad_market", "bad_market_id", "bad_market_id"]


def test_a_market_whose_lines_cannot_be_told_apart_suspends_all_its_lines(state):
    state.apply(odds_old(150, [(18, "total=3.5", 1, {"12": 2.5})]))
    applied = state.apply(
        newer_shape(200, [{"id": 18, "lines": "x"}, {"id": 1, "lines": [{"specifiers": 5}]}])
    )
    assert statuses(state) == {
        (1, ""): "suspended",
        (18, "total=2.5"): "suspended",
        (18, "total=3.5"): "suspended",
        (166, "total=9.5"): "active",
        (999, ""): "active",
    }
    assert sorted(applied.skipped) == ["bad_lines", "bad_specifiers"]


def test_an_odds_change_of_unreadable_product_opens_nothing(state):
    state.apply(bet_stop(150))
    frame = odds_old(200, [(1, "", 1, {"1": 2.5})])
    frame.data["product_id"] = "live"
    applied = state.apply(frame)
    assert status(state, 1) == "suspended"
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.5
    assert (state.lines[(EVENT, 1, "")].product, applied.skipped) == (1, ["bad_product"])


def test_timestamps_in_microseconds_are_read_as_milliseconds():
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(1764843686100000, [(1, "", 1, {"1": 2.0})]))  # microseconds
    assert state.lines[(EVENT, 1, "")].updated_at == 1764843686100
    state.apply(bet_stop(1764843686200))  # milliseconds
    assert status(state, 1) == "suspended"
    state.apply(odds_old(1764843686150, [(1, "", 1, {"1": 2.0})]))
    assert status(state, 1) == "suspended"


@pytest.mark.parametrize("sent", ["1764843686.1", 1764843686.1, "1764843686100", 1764843686100.0])
def test_timestamps_in_seconds_or_as_text_are_read_as_milliseconds(sent):
    state = MarketState(DESCRIPTIONS)
    frame = odds_old(0, [(1, "", 1, {"1": 2.0})])
    frame.data["timestamp"] = sent
    state.apply(frame)
    assert state.lines[(EVENT, 1, "")].updated_at == 1764843686100


@pytest.mark.parametrize(
    ("active", "reads"),
    [
        ("false", False),
        ("False", False),
        ("0", False),
        (0, False),
        (False, False),
        ("inactive", False),
        ("garbage", False),  # unreadable: not bettable
        (None, True),  # absent: active, as UOF says
        ("true", True),
        ("1", True),
        (1, True),
        (True, True),
    ],
)
def test_outcome_active_flag_is_read_at_the_edge(active, reads):
    state = MarketState(DESCRIPTIONS)
    outcome = {"id": "1", "odds": 2.0} | ({} if active is None else {"active": active})
    state.apply(newer_shape(1, [{"id": 1, "lines": [{"specifiers": "", "outcomes": [outcome]}]}]))
    assert state.lines[(EVENT, 1, "")].outcomes["1"].active is reads


def two_products():
    """EVENT with a live 1x2 and total, and a prematch corners line."""
    state = MarketState(DESCRIPTIONS)
    state.apply(
        odds_old(100, [(1, "", 1, {"1": 2.1}), (18, "total=2.5", 1, {"12": 1.9})], product=1)
    )
    state.apply(odds_old(100, [(166, "total=9.5", 1, {"12": 1.8})], product=3))
    return state


@pytest.mark.parametrize(
    ("product", "stopped"),
    [
        (1, {1, 18}),
        ("1", {1, 18}),
        (3, {166}),
        (3.0, {166}),
        (None, {1, 18, 166}),  # no product: every product
        (2, {1, 18, 166}),  # not a product we know
        ("x", {1, 18, 166}),
        (float("inf"), {1, 18, 166}),
    ],
)
def test_a_bet_stop_stops_the_lines_of_its_own_product(product, stopped):
    state = two_products()
    data = {"event_id": EVENT, "groups": "all", "timestamp": 200}
    if product is not None:
        data["product"] = product
    state.apply(wire(BET_STOP, data))
    assert {key[0] for key, value in statuses(state).items() if value != "active"} == stopped


def test_a_remembered_bet_stop_stops_only_later_lines_of_its_product():
    state = MarketState(DESCRIPTIONS)
    state.apply(Frame(BET_STOP, 200, {"event_id": EVENT, "product": 3, "timestamp": 200}))
    state.apply(odds_old(150, [(1, "", 1, {"1": 2.0})], product=1))
    state.apply(odds_old(150, [(18, "total=2.5", 1, {"12": 1.9})], product=3))
    assert statuses(state) == {(1, ""): "active", (18, "total=2.5"): "suspended"}


HOSTILE = [
    {"event_id": EVENT, "odds_markets": [{"id": 1, "outcomes": 5}]},
    {"event_id": EVENT, "product": float("inf"), "odds_markets": [{"id": 1}]},
    {"event_id": EVENT, "odds_markets": [{"id": 1, "outcomes": [{"id": "1", "odds": 10**400}]}]},
    {"event_id": EVENT, "odds_markets": [{"id": 10**400}]},
    {"event_id": EVENT, "odds_markets": [{"id": float("nan")}]},
    {"event_id": EVENT, "odds_markets": [{"id": 1, "specifiers": {"a": 1}}]},
    {"event_id": EVENT, "odds_markets": [{"id": 1, "groups": [{"a": 1}], "name": 5}]},
    {"event_id": EVENT, "markets": {"id": 1}},
    {"event_id": EVENT, "markets": [{"id": 1, "lines": [{"outcomes": [{"id": {"x": 1}}]}]}]},
    {"event_id": EVENT, "timestamp": float("nan"), "markets": []},
    {"event_id": [EVENT]},
    {"event_id": 10**400, "groups": "all"},
    {"event_id": EVENT, "change_type": float("inf"), "start_time": 10**400},
    {"event_id": EVENT, "outcomes": 5, "market": 5},
    {"event_id": EVENT, "outcomes": {"market": [5, {"id": float("nan")}]}},
    {"event_id": EVENT, "home_score": float("nan"), "match_status": [1], "event_name": 5},
]


@pytest.mark.parametrize("data", HOSTILE)
@pytest.mark.parametrize("cmd", [ODDS_CHANGE, BET_STOP, BET_SETTLEMENT, BET_CANCEL, FIXTURE_CHANGE])
def test_hostile_data_raises_nothing_but_message_error(state, cmd, data):
    for frame in (wire(cmd, data, 200), Frame(cmd, 200, data)):  # decoded, and built in code
        with contextlib.suppress(MessageError):
            state.apply(frame)
    json.dumps(state.snapshot(), allow_nan=False)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**400)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["NaN", "Infinity", "1e999", "1", "3", "-1", "all", EVENT, "total=2.5"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
FIELDS = [
    "event_id", "match_id", "product", "product_id", "timestamp", "groups", "market_status",
    "odds_markets", "markets", "lines", "id", "specifiers", "status", "line_status", "outcomes",
    "odds", "active", "market", "change_type", "start_time", "home_score", "name", "groups",
]  # fmt: skip
feed_objects = st.recursive(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6),
    lambda children: st.dictionaries(
        st.sampled_from(FIELDS), children | st.lists(children, max_size=3) | json_values, max_size=6
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cmd=st.sampled_from([ODDS_CHANGE, BET_STOP, BET_SETTLEMENT, BET_CANCEL, FIXTURE_CHANGE, 10060]),
    data=feed_objects,
    time=json_values,
    through_the_wire=st.booleans(),
)
def test_any_message_raises_nothing_but_message_error_and_stays_strict_json(
    cmd, data, time, through_the_wire
):
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(100, [(1, "", 1, {"1": 2.1}), (999, "", 1, {"1": 1.5})]))
    data = data | {"event_id": EVENT} if "event_id" not in data else data
    frame = wire(cmd, data, time) if through_the_wire else Frame(cmd, time, data)
    try:
        applied = state.apply(frame)
    except MessageError:
        return
    json.dumps(state.snapshot(), allow_nan=False)
    json.dumps([line.to_json() for line in applied.lines], allow_nan=False)
    assert all(isinstance(kind, str) for kind in applied.skipped)


def test_names_the_feed_sent_stay_through_changes_that_send_none():
    state = MarketState(DESCRIPTIONS)

    def odds(ts, named):
        outcome = messages.outcome("12", 2.0 + ts / 1000, name="More" if named else None)
        line = messages.line("total=2.5", outcomes=[outcome])
        market = messages.market(18, line, name="Goals: over/under 2.5" if named else None)
        return messages.frame(ODDS_CHANGE, messages.odds([market], EVENT, stamp=ts))

    state.apply(odds(1000, named=True))
    (line,) = state.apply(odds(2000, named=False)).lines
    assert line.name == "Goals: over/under 2.5"
    assert line.outcomes["12"].name == "More"  # the template would say "Over 2.5"
    assert line.outcomes["12"].odds == 4.0
