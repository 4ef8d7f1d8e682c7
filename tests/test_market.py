"""The feed's market rules, one table or behaviour a test."""

import pytest

from feed.descriptions import MarketDescriptions
from feed.frames import BET_CANCEL, BET_SETTLEMENT, BET_STOP, FIXTURE_CHANGE, ODDS_CHANGE, Frame
from feed.market import MarketState, MessageError, bet_stop_status, normalise_specifiers

EVENT = "sr:match:1"
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
    return Frame(
        ODDS_CHANGE,
        ts,
        {
            "match_id": event,
            "product_id": product,
            "timestamp": ts,
            "odds_markets": [
                {
                    "id": mid,
                    "specifiers": spec,
                    **({} if status is None else {"status": status}),
                    "outcomes": [
                        {"id": o, "odds": odds, "active": 1} for o, odds in prices.items()
                    ],
                }
                for mid, spec, status, prices in markets
            ],
        },
    )


def bet_stop(ts, groups="all", market_status="suspended", event=EVENT):
    data = {"event_id": event, "product": 1, "groups": groups, "timestamp": ts}
    if market_status is not None:
        data["market_status"] = market_status
    return Frame(BET_STOP, ts, data)


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


def test_bet_stop_older_than_a_line_leaves_it_alone(state):
    state.apply(odds_old(300, [(1, "", 1, {"1": 2.2})]))
    applied = state.apply(bet_stop(250))
    assert status(state, 1) == "active"
    assert (EVENT, 1, "") not in {line.key for line in applied.lines}
    assert status(state, 18, "total=2.5") == "suspended"


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


def test_handed_over_ignored_once_live_odds_arrived():
    state = MarketState(DESCRIPTIONS)
    state.apply(odds_old(100, [(1, "", 1, {"1": 2.0})], product=1))
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
                {"id": 1, "groups": "all|special", "lines": [{"specifiers": "", "outcomes": []}]}
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
        Frame(BET_STOP, 1, {"event_id": EVENT, "groups": 7}),
        Frame(BET_STOP, 1, "not an object"),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "odds_markets": "x"}),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "odds_markets": [{"id": "one"}]}),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "odds_markets": [{"id": 1, "status": "weird"}]}),
        Frame(ODDS_CHANGE, 1, {"event_id": EVENT, "product": "live", "odds_markets": []}),
        Frame(
            ODDS_CHANGE,
            1,
            {
                "event_id": EVENT,
                "odds_markets": [{"id": 1, "outcomes": [{"id": "1", "odds": "x"}]}],
            },
        ),
        Frame(BET_CANCEL, 1, {"event_id": EVENT, "market": [3]}),
    ],
)
def test_unusable_messages_raise_and_change_nothing(state, frame):
    before = {key: (line.status, line.updated_at) for key, line in state.lines.items()}
    with pytest.raises(MessageError):
        state.apply(frame)
    assert {key: (line.status, line.updated_at) for key, line in state.lines.items()} == before


def test_a_bad_market_late_in_an_odds_change_leaves_the_earlier_ones_untouched(state):
    frame = odds_old(500, [(1, "", -1, {"1": 9.9})])
    frame.data["odds_markets"].append({"id": "broken"})
    with pytest.raises(MessageError):
        state.apply(frame)
    assert status(state, 1) == "active"
    assert state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.1


def test_unknown_cmd_has_no_rule(state):
    assert state.apply(Frame(10100, 1, {"anything": 1})) is None
