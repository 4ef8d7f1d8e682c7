"""The simulated feed over a few simulated minutes: what a trader watching it would check.

The simulator's message generator runs without a network, driven the way `flask feed simulate`
drives it (a step every 1/rate s), on simulated time: minutes in a second or two.
"""

import collections

import pytest

from feed.market.descriptions import MarketDescriptions
from feed.market.rules import MarketState
from feed.simulator.world import Simulator
from feed.upstream import frames

SECONDS = 240  # of simulated time
RATE = 20  # steps a second, as `flask feed simulate` takes by default
START = 1_800_000_000_000  # ms: any fixed time, for repeatable runs
SEEDS = (1, 2, 3)
DESCRIPTIONS = MarketDescriptions.load()
# Each sport's match statuses in the order a match goes through them (UOF codes); the end states
# share the last place.
ORDER = {
    "football": [[0], [6], [31], [7], [100]],
    "basketball": [[0], [13], [301], [14], [302], [15], [303], [16], [40], [100, 110]],
    "tennis": [[0], [8], [9], [10], [100]],
    "ice_hockey": [[0], [1], [301], [2], [302], [3], [40], [50], [100, 110, 120]],
}
ENDED = {100, 110, 120}


def run(seed, seconds=SECONDS, step_ms=1000 // RATE):
    """Every message of `seconds` of simulated feed: (time, cmd, data), in order."""
    simulator = Simulator(seed=seed, outage_every=0)
    now = START
    sent = [(now, cmd, data) for cmd, data in simulator.opening(now)]
    for _ in range(seconds * 1000 // step_ms):
        now += step_ms
        sent += [(now, cmd, data) for cmd, data in simulator.step(now)]
    return sent


@pytest.fixture(scope="module", params=SEEDS)
def feed(request):
    return run(request.param)


def event_of(data):
    return data.get("event_id") or data.get("match_id") or data.get("sport_event_id")


def sports(feed):
    return {event_of(d): d["sport"] for _, cmd, d in feed if cmd == frames.FIXTURE_CHANGE}


def odds_lines(data):
    """(market id, specifiers, status) of each line of an odds change, in either shape."""
    if "odds_markets" in data:
        return [(m["id"], m.get("specifiers", ""), m.get("status")) for m in data["odds_markets"]]
    return [
        (m["id"], line.get("specifiers", ""), line.get("line_status", line.get("status")))
        for m in data["markets"]
        for line in m["lines"]
    ]


def of(feed, cmd):
    return [(at, data) for at, sent, data in feed if sent == cmd]


def test_every_bet_stop_names_only_groups_its_events_markets_have(feed):
    markets = collections.defaultdict(set)
    for _, data in of(feed, frames.ODDS_CHANGE):
        markets[event_of(data)] |= {market_id for market_id, _, _ in odds_lines(data)}
    stops = of(feed, frames.BET_STOP)
    assert stops
    for _, data in stops:
        have = set().union(*(DESCRIPTIONS.groups(m) for m in markets[data["event_id"]]))
        assert set(data["groups"].split("|")) <= have, (data, sorted(have))


def test_each_sport_has_markets_of_its_own_with_known_names(feed):
    sport_of = sports(feed)
    markets = collections.defaultdict(set)
    for _, data in of(feed, frames.ODDS_CHANGE):
        markets[sport_of[event_of(data)]] |= {m for m, _, _ in odds_lines(data)}
    assert set(markets) == set(ORDER)
    assert all(DESCRIPTIONS.name(m) for m in set().union(*markets.values()))
    assert 1 in markets["football"] and 166 in markets["football"]  # 1x2, corners
    assert 219 in markets["basketball"] and 1 not in markets["basketball"]  # incl. overtime
    assert 186 in markets["tennis"] and markets["tennis"].isdisjoint({1, 166, 139, 60})
    assert 406 in markets["ice_hockey"] and markets["ice_hockey"].isdisjoint({166, 139, 60})


def match_statuses(feed):
    """(time, event, status) of every match status sent: in odds changes and in 10060."""
    for at, cmd, data in feed:
        if cmd == frames.ODDS_CHANGE and "match_status" in data:
            yield at, event_of(data), data["match_status"]
        elif cmd == frames.MATCH_STATUS:
            yield at, event_of(data), data["status_code"]


def test_match_statuses_only_go_forward(feed):
    sport_of = sports(feed)
    seen = {}
    for _, event, status in match_statuses(feed):
        order = ORDER[sport_of[event]]
        (place,) = [i for i, statuses in enumerate(order) if status in statuses]
        assert place >= seen.get(event, 0), (event, status, order)
        seen[event] = place
    # Matches start and end within the run: statuses are not stuck either.
    assert any(place == len(ORDER[sport_of[e]]) - 1 for e, place in seen.items())
    assert any(0 < place < len(ORDER[sport_of[e]]) - 1 for e, place in seen.items())


def scores(feed):
    for at, data in of(feed, frames.ODDS_CHANGE):
        if "home_score" in data:
            yield at, event_of(data), (data["home_score"], data["away_score"]), data


def test_scores_never_go_down(feed):
    last = {}
    for _, event, score, _ in scores(feed):
        before = last.get(event, (0, 0))
        assert score[0] >= before[0] and score[1] >= before[1], (event, before, score)
        last[event] = score
    assert any(sum(score) > 0 for score in last.values())


def test_scores_are_the_sports_own(feed):
    sport_of = sports(feed)
    for _, event, (home, away), data in scores(feed):
        sport, status = sport_of[event], data.get("match_status")
        if sport == "basketball" and status in (16, 40, 100, 110):
            assert home + away >= 90, (event, status, home, away)  # not "7 - 7 · 4th quarter"
        if sport == "tennis":
            assert max(home, away) <= 2, (event, home, away)  # sets, best of three
            if status == 100:
                assert sorted((home, away))[1] == 2
        if sport in ("football", "ice_hockey"):
            assert home + away <= 15, (event, home, away)


def test_bet_stops_come_at_about_one_a_second(feed):
    assert 0.5 <= len(of(feed, frames.BET_STOP)) / SECONDS <= 2


def test_settlements_bet_cancels_and_a_fixture_cancellation_occur(feed):
    assert len(of(feed, frames.BET_SETTLEMENT)) >= 10
    assert len(of(feed, frames.BET_CANCEL)) >= 3
    cancelled = [d for _, d in of(feed, frames.FIXTURE_CHANGE) if d.get("change_type") == 3]
    assert cancelled


def paid_by_score(market_id, specifiers, home, away):
    """The outcome a market on the match's score pays, by the rules of its description."""
    value = float(specifiers.split("=")[1]) if specifiers else 0.0
    if market_id == 1:
        return "1" if home > away else "2" if home == away else "3"
    if market_id in (18, 225, 412):  # totals
        return "12" if home + away > value else "13"
    if market_id in (16, 223, 410):  # handicaps
        return "1714" if home + value > away else "1715"
    if market_id == 29:  # both teams to score
        return "74" if home and away else "76"
    return "4" if home > away else "5"  # winners: 219, 406, 186 (sets)


def test_settlements_pay_one_outcome_as_the_score_shown_says(feed):
    sport_of, shown, checked = sports(feed), {}, 0
    on_the_score = {1, 18, 16, 29, 219, 223, 225, 406, 410, 412, 186}
    for _, cmd, data in feed:
        event = event_of(data)
        if cmd == frames.ODDS_CHANGE and "home_score" in data:
            shown[event] = (data["home_score"], data["away_score"])
        if cmd != frames.BET_SETTLEMENT:
            continue
        for market in data["outcomes"]["market"]:
            paid = [outcome["id"] for outcome in market["outcome"] if outcome["result"] == 1]
            assert len(paid) == 1, market
            if market["id"] not in on_the_score or (market["id"], sport_of[event]) == (
                1,
                "ice_hockey",  # regulation time only
            ):
                continue
            expected = paid_by_score(market["id"], market["specifiers"], *shown[event])
            assert paid == [expected], (event, market, shown[event])
            checked += 1
    assert checked >= 10


def test_suspending_odds_changes_give_a_uof_betstop_reason(feed):
    reasons = [
        data["betstop_reason"]
        for _, data in of(feed, frames.ODDS_CHANGE)
        if any(status in (-1, "suspended") for _, _, status in odds_lines(data))
    ]
    assert reasons and all(isinstance(r, int) and 0 <= r <= 79 for r in reasons)
    assert len(set(reasons)) > 3


def test_a_settled_or_cancelled_line_gets_no_odds_after(feed):
    closed = {}
    for at, cmd, data in feed:
        event = event_of(data)
        if cmd == frames.BET_SETTLEMENT:
            for market in data["outcomes"]["market"]:
                closed[(event, market["id"], market["specifiers"])] = at
        elif cmd == frames.BET_CANCEL:
            for market in data["market"]:
                closed[(event, market["id"], market["specifiers"])] = at
        elif cmd == frames.ODDS_CHANGE:
            for market_id, specifiers, _ in odds_lines(data):
                assert (event, market_id, specifiers) not in closed, (event, market_id, specifiers)


def test_the_app_reads_every_part_of_every_message(feed):
    state = MarketState(MarketDescriptions.load())
    for at, cmd, data in feed:
        applied = state.apply(frames.Frame(cmd, at, data), received=at)
        assert applied is None or applied.skipped == [], (cmd, data, applied.skipped)
    report = state.descriptions.report()
    assert (report["unknown_markets"], report["unknown_outcomes"]) == (0, 0), report


def test_a_seed_gives_the_same_feed_however_often_it_is_stepped():
    assert run(7, seconds=60) == run(7, seconds=60)
    coarse = [(cmd, data) for _, cmd, data in run(7, seconds=60, step_ms=1000)]
    fine = [(cmd, data) for _, cmd, data in run(7, seconds=60)]
    assert coarse == fine
    assert fine != [(cmd, data) for _, cmd, data in run(8, seconds=60)]


def test_the_whole_board_is_in_the_opening_and_live_events_are_in_play():
    simulator = Simulator(seed=1, outage_every=0)
    opening = simulator.opening(START)
    fixtures = [data for cmd, data in opening if cmd == frames.FIXTURE_CHANGE]
    assert 30 <= len(fixtures) <= 36  # but a match ended and not yet replaced
    assert {data["sport"] for data in fixtures} == set(ORDER)
    priced = {event_of(data) for cmd, data in opening if cmd == frames.ODDS_CHANGE}
    assert priced == {data["event_id"] for data in fixtures}
    in_play = [
        data
        for cmd, data in opening
        if cmd == frames.ODDS_CHANGE and data.get("match_status") not in (None, 0, *ENDED)
    ]
    assert len(in_play) >= 12  # a board with matches under way from the start
    stamps = [data["timestamp"] for _, data in opening if "timestamp" in data]
    assert max(stamps) <= START
