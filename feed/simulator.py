"""A simulated upstream odds feed that speaks the real protocol over a real websocket.

`Simulator` is the feed's world, with no I/O and no clock of its own: three dozen matches of
football, basketball, tennis and ice hockey, each with its sport's markets (named, and put in
BetStop groups, by the shipped market descriptions), going from prematch to live to ended and
replaced by new fixtures. `advance(now)` returns every message due by `now` (milliseconds of
simulated time): for a seed, the same messages however often it is called.

What a trader sees:

- Matches in play move forward only: halves, quarters, periods or sets with their breaks, then
  ended (overtime, sudden death and penalties where the sport has them); scores only go up, at
  each sport's pace (a basketball game ends near 170 points, a tennis match at two sets).
- About one BetStop a second across the board, each from an incident of its sport (a possible
  goal, a possible card, a game point, a video review, ...), naming only groups that the match's
  markets have; then an odds change listing the lines it stopped as suspended, with the incident's
  `betstop_reason` (UOF's ids), and a few seconds later the odds that reopen them, after a goal
  or not. A half, quarter, period or set that ends stops and settles its own markets.
- Odds that follow the score and the clock (a simple model of each sport), moving all the time.
- Settlements: of a market when its result is known (the next goal, a total passed, a period),
  and of everything a few seconds after the match ends. A bet cancel every half minute or so, a
  fixture cancellation every two minutes or so, and a new fixture for each match that ends.
- Alives every 5 s, and now and then an outage (no alive for longer than the feed allows).
  Frames go out in both forms (text JSON and binary) and odds changes in both shapes. Every
  connected client gets every message, subscribed or not.
"""

import asyncio
import base64
import collections
import functools
import heapq
import itertools
import json
import logging
import math
import random
import time
from dataclasses import dataclass

from websockets.asyncio.server import broadcast, serve

from feed.market.descriptions import MarketDescriptions
from feed.upstream import frames

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
SPORT_MIX = ("football", "football", "basketball", "tennis", "ice_hockey")  # slot i: [i % 5]
LIVE, PREMATCH = 1, 3
HOME, AWAY = 0, 1

# A match's phases (UOF match status, play or break, seconds; a set lasts as long as its games),
# shorter than the real ones so that `make run` shows whole matches.
PLAY, BREAK = "play", "break"
PHASES = {
    "football": ((6, PLAY, 240), (31, BREAK, 60), (7, PLAY, 240)),
    "basketball": (
        (13, PLAY, 120),
        (301, BREAK, 30),
        (14, PLAY, 120),
        (302, BREAK, 60),
        (15, PLAY, 120),
        (303, BREAK, 30),
        (16, PLAY, 120),
    ),
    "tennis": ((8, PLAY, None), (9, PLAY, None), (10, PLAY, None)),
    "ice_hockey": (
        (1, PLAY, 180),
        (301, BREAK, 45),
        (2, PLAY, 180),
        (302, BREAK, 45),
        (3, PLAY, 180),
    ),
}
NOT_STARTED, OVERTIME, PENALTIES = 0, 40, 50
ENDED, AFTER_OVERTIME, AFTER_PENALTIES = 100, 110, 120
BASKETBALL_OVERTIME, HOCKEY_OVERTIME, SHOOTOUT = (40, PLAY, 60), (40, PLAY, 90), (50, PLAY, 20)

# The sports' pace, per second of play: goals, corners and bookings (both sides together);
# basketball possessions (one side's each) and what a scoring one is worth; tennis games.
GOALS = {"football": 2.7 / 480, "ice_hockey": 5.6 / 540}
COUNTED = {"corners": 10 / 480, "bookings": 4 / 480}  # football's, which stop nothing
POSSESSION_S, POINTS = (2.5, 3.5), (1, 2, 2, 2, 3, 3)
POSSESSION_POINTS = sum(POINTS) / len(POINTS)
POINTS_VARIANCE = sum(p * p for p in POINTS) / len(POINTS) / 2 - (POSSESSION_POINTS / 2) ** 2
GAME_S = (12, 24)
MARGIN = 1.06  # the bookmaker's: the prices' implied chances add up to 106 %

# Incidents, the BetStops they cause: (weight, UOF betstop reason, groups, what may follow: a
# goal of either side or of the side named).
INCIDENTS = {
    "football": (
        (4, 1, "score", "goal"),  # possible goal
        (1, 4, "all", "home goal"),  # possible goal (home)
        (1, 5, "all", "away goal"),  # possible goal (away)
        (1, 8, "all", "goal"),  # possible penalty
        (1, 2, "all", None),  # possible red card
        (2, 62, "booking|bookings", None),  # possible card
        (3, 28, "score|corner|corners", None),  # possible dangerous goal position
        (0.5, 22, "all", None),  # goal under review
        (0.5, 37, "all", None),  # video review
        (0.3, 3, "all", None),  # scout lost
    ),
    "ice_hockey": (
        (4, 1, "score", "goal"),
        (1, 4, "all", "home goal"),
        (1, 5, "all", "away goal"),
        (0.5, 65, "all", "goal"),  # empty net
        (1, 72, "all", None),  # possible penalty (home, hockey)
        (1, 73, "all", None),  # possible penalty (away, hockey)
        (1, 63, "score|period", None),  # delayed penalty
        (0.5, 37, "all", None),
        (0.3, 3, "all", None),
    ),
    "basketball": (
        (2, 37, "all", None),
        (1, 3, "all", None),
        (1, 11, "score", None),  # connected to supervisor
        (1, 24, "score|incl_ot", None),  # disconnection
        (0.5, 0, "quarter", None),  # unknown
    ),
    "tennis": (
        (5, 13, "score", None),  # game point
        (1, 13, "score|set", None),
        (1, 14, "score|set", None),  # tie-break, at 6-6 only
        (1, 61, "all", None),  # possible challenge
        (0.5, 3, "all", None),
        (0.5, 11, "all", None),
    ),
}
INCIDENT_GAP_S = (0.5, 1.5)  # between two incidents anywhere on the board: about one a second
RESOLVE_S = (2, 8)  # from an incident's BetStop to the odds that reopen its lines
INCIDENT_WEIGHT = {"football": 1.0, "ice_hockey": 1.0, "tennis": 0.8, "basketball": 0.4}
MATCH_ENDED_REASON, TIE_BREAK = 12, 14
SHARED = {"all", "score", "regular_play"}  # groups of whole-match markets too
CANCEL_GAP_S, FIXTURE_CANCEL_GAP_S = (20, 40), (100, 160)
VOID_INCORRECT_ODDS, VOID_INCORRECT_STATISTICS = 12, 13  # UOF void reasons
WARM_UP_S = 720  # the world runs this long, unseen, before the first client: matches under way
DESCRIPTIONS = MarketDescriptions.load()
STATUS_CODES = {"active": 1, "suspended": -1, "handed_over": -2}  # the older shape's


@dataclass
class Line:
    """One market line of a match, as the simulator prices and settles it."""

    market_id: int
    specifiers: str
    kind: str  # how it is priced and settled: 1x2, total, handicap, winner, ...
    outcomes: tuple
    value: float = 0.0  # the total or handicap it is about
    period: int = 0  # the half, quarter, period or set it is about; the goal, for next_goal
    status: str = "active"  # active, suspended or handed_over

    @property
    def key(self):
        return (self.market_id, self.specifiers)

    @property
    def groups(self):
        return frozenset(DESCRIPTIONS.groups(self.market_id) or ())


class Match:
    """One simulated match: its clock, score, strength and open lines."""

    def __init__(self, number, sport, home, away, start_time, form):
        self.event_id = f"sr:match:{61000000 + number}"
        self.number, self.sport, self.name = number, sport, f"{home} v {away}"
        self.start_time, self.form = start_time, form  # form > 0: the home side is stronger
        self.product = PREMATCH
        self.phases, self.phase, self.status = list(PHASES[sport]), -1, NOT_STARTED
        self.phase_ends = None  # ms; None for a set, which ends with its games
        self.period = 0  # the half, quarter, period or set under way (or last), from 1
        self.score, self.periods = [0, 0], {}  # the match's; each period's
        self.regulation = None  # the score when regulation time ended
        self.corners, self.bookings = [0, 0], [0, 0]
        self.games, self.sets = [0, 0], []  # tennis: this set's games, each finished set's
        self.possession = HOME
        self.lines = {}
        self.incident = None  # the reason of the BetStop under way
        self.ended = self.cancelled = False
        for line in opening_lines(self):
            self.lines[line.key] = line

    @property
    def in_play(self):
        return self.status != NOT_STARTED and not self.ended

    @property
    def playing(self):
        return self.in_play and self.phases[self.phase][1] == PLAY

    def active_lines(self):
        return [line for line in self.lines.values() if line.status == "active"]

    def tally(self, line):
        """What the line is decided on, (home, away): goals, points, corners, sets or games."""
        if line.kind in COUNTED:
            return tuple(getattr(self, line.kind))
        if self.sport == "tennis":
            if line.kind == "period_winner":
                finished = len(self.sets) >= line.period
                return tuple(self.sets[line.period - 1] if finished else self.games)
            if line.kind in ("total", "handicap"):
                done = [sum(side) for side in zip(*self.sets, strict=True)] if self.sets else [0, 0]
                return (done[HOME] + self.games[HOME], done[AWAY] + self.games[AWAY])
            return tuple(self.score)
        if line.kind.startswith("period_"):
            return tuple(self.periods.get(line.period, (0, 0)))
        if line.market_id == 1 and self.sport == "ice_hockey":  # 1x2 of regulation time
            return tuple(self.regulation or self.score)
        return tuple(self.score)

    def play_left(self, now, period=None):
        """Seconds of regulation play left (in `period` only, when given)."""
        if self.ended or self.phase >= len(PHASES[self.sport]):
            return 0.0
        left, number = 0.0, 0
        for index, (_, kind, seconds) in enumerate(PHASES[self.sport]):
            if kind != PLAY:
                continue
            number += 1
            if period is not None and number != period:
                continue
            if index > self.phase:
                left += seconds or 0
            elif index == self.phase and self.phase_ends is not None:
                left += max(0.0, (self.phase_ends - now) / 1000)
        return left


def opening_lines(match):
    """The lines a match opens with: its sport's markets, at lines near even for its sides."""
    form, sport = match.form, match.sport
    if sport == "football":
        hcp = -1.5 if form > 0.3 else -0.5 if form > 0 else 0.5 if form > -0.3 else 1.5
        return [
            Line(1, "", "1x2", ("1", "2", "3")),
            Line(18, "total=2.5", "total", ("12", "13"), 2.5),
            Line(18, "total=3.5", "total", ("12", "13"), 3.5),
            Line(16, f"hcp={hcp:g}", "handicap", ("1714", "1715"), hcp),
            Line(29, "", "btts", ("74", "76")),
            Line(60, "", "period_1x2", ("1", "2", "3"), period=1),
            Line(8, "goalnr=1", "next_goal", ("6", "7", "8"), period=1),
            Line(166, "total=9.5", "corners", ("12", "13"), 9.5),
            Line(139, "total=4.5", "bookings", ("12", "13"), 4.5),
        ]
    if sport == "basketball":
        home, away = (points_per_s(match, side) * 480 for side in (HOME, AWAY))
        hcp, total = -math.floor(home - away) - 0.5, math.floor(home + away) + 0.5
        return [
            Line(219, "", "winner", ("4", "5")),
            Line(223, f"hcp={hcp:g}", "handicap", ("1714", "1715"), hcp),
            Line(225, f"total={total:g}", "total", ("12", "13"), total),
            quarter_line(match, 1),
        ]
    if sport == "tennis":
        hcp = -2.5 if form > 0.2 else -1.5 if form > 0 else 1.5 if form > -0.2 else 2.5
        return [
            Line(186, "", "winner", ("4", "5")),
            Line(187, f"hcp={hcp:g}", "handicap", ("1714", "1715"), hcp),
            Line(189, "total=22.5", "total", ("12", "13"), 22.5),
            Line(202, "setnr=1", "period_winner", ("4", "5"), period=1),
        ]
    hcp = -1.5 if form > 0 else 1.5
    return [
        Line(406, "", "winner", ("4", "5")),
        Line(1, "", "1x2", ("1", "2", "3")),
        Line(410, f"hcp={hcp:g}", "handicap", ("1714", "1715"), hcp),
        Line(412, "total=5.5", "total", ("12", "13"), 5.5),
        *period_lines(match, 1),
    ]


def quarter_line(match, quarter):
    expected = sum(points_per_s(match, side) for side in (HOME, AWAY)) * 120
    total = math.floor(expected) + 0.5
    return Line(
        236, f"quarternr={quarter}|total={total:g}", "period_total", ("12", "13"), total, quarter
    )


def period_lines(match, number):
    """The markets of one half, quarter, period or set, opened as it starts."""
    if match.sport == "basketball":
        return [quarter_line(match, number)]
    if match.sport == "tennis":
        return [Line(202, f"setnr={number}", "period_winner", ("4", "5"), period=number)]
    if match.sport == "ice_hockey":
        return [
            Line(443, f"periodnr={number}", "period_1x2", ("1", "2", "3"), period=number),
            Line(446, f"periodnr={number}|total=1.5", "period_total", ("12", "13"), 1.5, number),
        ]
    if number == 2:
        return [Line(83, "", "period_1x2", ("1", "2", "3"), period=2)]
    return []


# Chances ------------------------------------------------------------------------------------


def winning(line, home, away, tie_home=0.5):
    """The outcomes a line pays with this tally, each with its share: [(outcome id, share)]."""
    if line.kind in ("1x2", "period_1x2"):
        return [("1" if home > away else "2" if home == away else "3", 1.0)]
    if line.kind in ("total", "period_total", *COUNTED):
        return [("12" if home + away > line.value else "13", 1.0)]
    if line.kind == "handicap":
        return [("1714" if home + line.value > away else "1715", 1.0)]
    if line.kind == "btts":
        return [("74" if home and away else "76", 1.0)]
    if home == away:  # a winner market before overtime, penalties or a tie-break decide
        return [("4", tie_home), ("5", 1 - tie_home)]
    return [("4" if home > away else "5", 1.0)]


def chances(match, line, now):
    """Each outcome's chance, by a simple model of the sport: what the prices come from."""
    if line.kind == "next_goal":
        home, away = (goals_per_s(match, side) * match.play_left(now) for side in (HOME, AWAY))
        none = math.exp(-(home + away))
        if home + away == 0:
            return {"6": 0.0, "7": 1.0, "8": 0.0}
        return {
            "6": (1 - none) * home / (home + away),
            "7": none,
            "8": (1 - none) * away / (home + away),
        }
    if match.sport == "basketball":
        return basketball_chances(match, line, now)
    if match.sport == "tennis" and not match.ended:
        return tennis_chances(match, line)
    found = collections.defaultdict(float)
    tie_home = tie_breaker(match)
    for weight, (home, away) in futures(match, line, now):
        for outcome, share in winning(line, home, away, tie_home):
            found[outcome] += weight * share
    return found


def futures(match, line, now):
    """(chance, the line's tally at its end) for every way the rest of it can go."""
    if match.ended:
        yield 1.0, match.tally(line)
        return
    home, away = match.tally(line)
    if line.kind in COUNTED:
        for extra, chance in enumerate(poisson(COUNTED[line.kind] * match.play_left(now))):
            yield chance, (home + extra, away)
        return
    left = match.play_left(now, line.period if line.kind.startswith("period_") else None)
    home_goals = poisson(goals_per_s(match, HOME) * left)
    away_goals = poisson(goals_per_s(match, AWAY) * left)
    # Most markets read the difference (who wins, a handicap) or the sum (a total) alone: the
    # grid of scores is folded into it, as (difference, 0) or (sum, 0), before it is read.
    fold = {"total": by_sum, "period_total": by_sum, "btts": None}.get(line.kind, by_difference)
    folded = collections.defaultdict(float)
    for (x, px), (y, py) in itertools.product(enumerate(home_goals), enumerate(away_goals)):
        folded[fold(home + x, away + y) if fold else (home + x, away + y)] += px * py
    for tally, weight in folded.items():
        yield weight, tally


def by_sum(home, away):
    return (home + away, 0)


def by_difference(home, away):
    return (home - away, 0) if home >= away else (0, away - home)


def poisson(mean):
    """P(0), P(1), ... for a Poisson count of this mean, as far as they matter."""
    chances, chance = [], math.exp(-mean)
    for count in range(int(mean + 4 * math.sqrt(mean)) + 3):
        chances.append(chance)
        chance *= mean / (count + 1)
    return chances


def goals_per_s(match, side):
    strength = 0.4 * match.form * (1 if side == HOME else -1)
    return GOALS[match.sport] / 2 * math.exp(strength)


def points_per_s(match, side):
    return scoring(match, side) * POSSESSION_POINTS / sum(POSSESSION_S)


def scoring(match, side):
    """The chance that a possession of `side` scores."""
    return 0.5 + 0.1 * math.tanh(match.form) * (1 if side == HOME else -1)


def basketball_chances(match, line, now):
    home, away = match.tally(line)
    left = match.play_left(now, line.period if line.kind == "period_total" else None)
    more = [points_per_s(match, side) * left for side in (HOME, AWAY)]
    spread = math.sqrt(2 * POINTS_VARIANCE / sum(POSSESSION_S) * left)
    if line.kind in ("total", "period_total"):
        over = normal_above(home + away + sum(more) - line.value, spread)
        return {"12": over, "13": 1 - over}
    margin = home - away + more[HOME] - more[AWAY] + (line.value if line.kind == "handicap" else 0)
    first = normal_above(margin, spread)
    return (
        {"1714": first, "1715": 1 - first}
        if line.kind == "handicap"
        else {"4": first, "5": 1 - first}
    )


def normal_above(mean, spread):
    """P(X > 0) for X normal with this mean and standard deviation (0: no doubt left)."""
    if spread == 0:
        return 1.0 if mean > 0 else 0.0
    return 0.5 * (1 + math.erf(mean / (spread * math.sqrt(2))))


def tie_breaker(match):
    """The chance that the home side wins what is left when the score is level: overtime,
    penalties."""
    return 0.5 + 0.1 * math.tanh(match.form)


def game_chance(match):
    return round(0.5 + 0.12 * math.tanh(match.form), 3)


@functools.lru_cache(maxsize=4096)
def set_ends(home, away, chance):
    """{(home games, away games) at the end of a set: its chance} from this score, when the
    home player wins each game with `chance` (a tie-break at 6-6 counted as one game)."""
    if max(home, away) == 7 or (max(home, away) == 6 and abs(home - away) >= 2):
        return {(home, away): 1.0}
    ends = collections.defaultdict(float)
    for (h, a), weight in ((home + 1, away), chance), ((home, away + 1), 1 - chance):
        for end, inner in set_ends(h, a, chance).items():
            ends[end] += weight * inner
    return dict(ends)


@functools.lru_cache(maxsize=1024)
def match_outlook(sets, games, chance):
    """From sets won and this set's games of a best of three: the chance that the home player
    wins it, and {(home games, away games) still to come: their chance}."""
    if max(sets) == 2:  # over
        return float(sets[HOME] == 2), {(0, 0): 1.0}
    wins, to_come = 0.0, collections.defaultdict(float)
    for (home, away), weight in set_ends(*games, chance).items():
        won = (sets[HOME] + (home > away), sets[AWAY] + (away > home))
        added = (home - games[HOME], away - games[AWAY])
        if max(won) == 2:
            wins += weight * (won[HOME] == 2)
            to_come[added] += weight
            continue
        inner_wins, inner = match_outlook(won, (0, 0), chance)
        wins += weight * inner_wins
        for (more_home, more_away), inner_weight in inner.items():
            to_come[(added[HOME] + more_home, added[AWAY] + more_away)] += weight * inner_weight
    return wins, dict(to_come)


def tennis_chances(match, line):
    chance = game_chance(match)
    if line.kind == "period_winner":
        ends = set_ends(*match.games, chance).items()
        first = sum(weight for (home, away), weight in ends if home > away)
        return {"4": first, "5": 1 - first}
    wins, to_come = match_outlook(tuple(match.score), tuple(match.games), chance)
    if line.kind == "winner":
        return {"4": wins, "5": 1 - wins}
    home, away = match.tally(line)
    found = collections.defaultdict(float)
    for (more_home, more_away), weight in to_come.items():
        for outcome, share in winning(line, home + more_home, away + more_away):
            found[outcome] += weight * share
    return found


def price(chance):
    return round(min(max(1 / (max(chance, 1e-6) * MARGIN), 1.01), 51.0), 2)


# The world ----------------------------------------------------------------------------------


class Simulator:
    """Generates the feed's messages for a world of made-up matches, on simulated time."""

    def __init__(self, events=36, seed=None, outage_every=180.0, outage_length=25.0, rate=20.0):
        self.rng = random.Random(seed)  # the world
        self.shapes = random.Random(None if seed is None else f"{seed}/shapes")  # odds' shapes
        self.size = events
        self.outage_every, self.outage_length = outage_every, outage_length
        self.tick_ms = max(1.0, 1000 / rate)  # the clock counts whole milliseconds
        self.matches = []
        self.numbers = itertools.count()
        self.queue, self.order = [], itertools.count()
        self.origin = None  # ms: when the first client came; the world began WARM_UP_S before
        self.clock = None  # ms: the time of what is happening
        self.now = None  # ms: how far the world has run
        self.sent, self.quiet = [], False

    # What the server asks ----------------------------------------------------------------------

    def advance(self, now):
        """Every message due by `now` (ms), in order: [(time, cmd, data)]."""
        if self.origin is None:
            self._begin(now)
        self.sent = []
        while self.queue and self.queue[0][0] <= now:
            due, _, action, args = heapq.heappop(self.queue)
            self.clock = due
            action(*args)
        self.now = max(self.now, now)
        return self.sent

    def step(self, now):
        """The messages due by `now`: [(cmd, data)]."""
        return [(cmd, data) for _, cmd, data in self.advance(now)]

    def opening(self, now):
        """What a new connection starts with: every fixture and its open lines, as they are
        (a match that ended, until its settlement)."""
        if self.origin is None:
            self._begin(now)
        messages = []
        for index, match in enumerate(self.matches):
            if match.cancelled or not match.lines:
                continue
            messages.append((frames.FIXTURE_CHANGE, self._fixture(match, 1, self.now)))
            suspended = [line for line in match.lines.values() if line.status == "suspended"]
            active = [line for line in match.lines.values() if line.status != "suspended"]
            stopped_for = MATCH_ENDED_REASON if match.ended else match.incident
            for lines, reason in ((active, None), (suspended, stopped_for)):
                if lines:
                    data = self._odds_data(match, lines, self.now, index % 2 == 0, reason)
                    messages.append((frames.ODDS_CHANGE, data))
        return messages

    def alive(self, now):
        """An alive per product, or None while an outage is being simulated."""
        since = (now - (self.origin if self.origin is not None else now)) / 1000
        if self.outage_every and since % self.outage_every > self.outage_every - self.outage_length:
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
            for product in (LIVE, PREMATCH)
        ]

    @property
    def events(self):
        """The matches on the board now: [{"event_id", "product"}]."""
        return [{"event_id": m.event_id, "product": m.product} for m in self.matches]

    # Running -----------------------------------------------------------------------------------

    def _begin(self, now):
        """Make the board and run it, unseen, for WARM_UP_S: the first client sees matches
        under way, some ended and replaced."""
        self.origin, self.now = now, now - WARM_UP_S * 1000
        self.clock, self.quiet = self.now, True
        for slot in range(self.size):
            # Starts spread from the warm-up's beginning to a few minutes after the first client.
            start = self.now + int(
                (slot + self.rng.random()) / self.size * (WARM_UP_S + 480) * 1000
            )
            self._new_match(SPORT_MIX[slot % len(SPORT_MIX)], start)
        self._at(0, self._incident)
        self.advance(now)
        self.quiet = False
        self.clock = now
        self._at(0, self._alives)
        self._at(self.tick_ms, self._tick)
        self._at(self._seconds(CANCEL_GAP_S), self._cancel_bets)
        self._at(self._seconds(FIXTURE_CANCEL_GAP_S), self._cancel_fixture)

    def _at(self, delay_ms, action, *args):
        heapq.heappush(self.queue, (round(self.clock + delay_ms), next(self.order), action, args))

    def _seconds(self, bounds):
        return self.rng.uniform(*bounds) * 1000

    def _send(self, cmd, data):
        if not self.quiet:
            self.sent.append((self.clock, cmd, data))

    def _alives(self):
        for cmd, data in self.alive(self.clock) or []:
            self._send(cmd, data)
        self._at(5000, self._alives)

    def _tick(self):
        """Odds move: some open lines of a match, prematch or in play."""
        candidates = [
            m for m in self.matches if not m.ended and not m.incident and m.active_lines()
        ]
        if candidates:
            weights = [3 if m.in_play else 1 for m in candidates]
            match = self.rng.choices(candidates, weights)[0]
            match.form = min(1.0, max(-1.0, match.form + self.rng.gauss(0, 0.03)))
            lines = match.active_lines()
            chosen = self.rng.sample(lines, k=self.rng.randint(1, min(4, len(lines))))
            self._odds(match, chosen)
        self._at(self.tick_ms, self._tick)

    # Fixtures ----------------------------------------------------------------------------------

    def _new_match(self, sport, start):
        home, away = self.rng.sample(TEAMS[sport], 2)
        form = self.rng.uniform(-0.6, 0.6)
        match = Match(next(self.numbers), sport, home, away, start, form)
        self.matches.append(match)
        self._send(frames.FIXTURE_CHANGE, self._fixture(match, 1, self.clock))
        self._odds(match, list(match.lines.values()))
        self._at(max(0, start - self.clock), self._kick_off, match)
        return match

    def _replace(self, match):
        """A match that ended (or was cancelled) leaves the board; a new fixture of its sport
        takes its place, a few minutes before its start."""
        if match in self.matches:
            self.matches.remove(match)
            self._new_match(match.sport, self.clock + int(self._seconds((120, 480))))

    def _cancel_fixture(self):
        later = [
            m
            for m in self.matches
            if m.status == NOT_STARTED and m.start_time > self.clock + 60_000
        ]
        if later:
            match = self.rng.choice(later)
            match.ended = match.cancelled = True
            self._send(frames.FIXTURE_CHANGE, self._fixture(match, 3, self.clock))
            self._at(self._seconds((20, 60)), self._replace, match)
        self._at(self._seconds(FIXTURE_CANCEL_GAP_S), self._cancel_fixture)

    def _kick_off(self, match):
        if match.ended:
            return  # cancelled
        handed = list(match.lines.values())
        for line in handed:
            line.status = "handed_over"
        self._odds(match, handed)  # the prematch producer hands the lines over
        match.product = LIVE
        for line in handed:
            line.status = "active"
        self._enter(match, 0)

    # The clock ---------------------------------------------------------------------------------

    def _enter(self, match, phase):
        """Start a phase: a half, a break, a set, overtime, ..."""
        match.phase = phase
        match.status, kind, seconds = match.phases[phase]
        match.phase_ends = None if seconds is None else self.clock + seconds * 1000
        opened = []
        if kind == PLAY and phase < len(PHASES[match.sport]):
            match.period += 1
            match.periods[match.period] = [0, 0]
            if match.period > 1:
                opened = period_lines(match, match.period)
                match.lines.update((line.key, line) for line in opened)
        self._send(
            frames.MATCH_STATUS, {"sport_event_id": match.event_id, "status_code": match.status}
        )
        self._odds(match, match.active_lines())
        if seconds is not None:
            self._at(seconds * 1000, self._phase_over, match, phase)
        if kind == PLAY:
            if match.sport == "basketball":
                self._at(self._seconds(POSSESSION_S), self._possession, match, phase)
            elif match.sport == "tennis":
                self._at(self._seconds(GAME_S), self._game, match, phase)
            elif match.sport == "football":
                for counted, pace in COUNTED.items():
                    self._at(self.rng.expovariate(pace) * 1000, self._count, match, phase, counted)

    def _phase_over(self, match, phase):
        if match.ended or match.phase != phase:
            return  # ended sooner: a goal in sudden death
        status, kind, _ = match.phases[phase]
        regular = len(PHASES[match.sport])
        if kind == PLAY and phase < regular:
            self._period_over(match)
        if phase + 1 < len(match.phases):
            self._enter(match, phase + 1)
            return
        # The end of regulation time, or of an overtime.
        home, away = match.score
        if match.regulation is None:
            match.regulation = [home, away]
        if home != away or match.sport == "football":
            self._end(match, AFTER_OVERTIME if phase >= regular else ENDED)
            return
        if status == PENALTIES:
            winner = HOME if self.rng.random() < tie_breaker(match) else AWAY
            match.score[winner] += 1  # the shootout's winning goal, as UOF counts it
            self._end(match, AFTER_PENALTIES)
            return
        if match.sport == "ice_hockey" and phase < regular:  # the 1x2 of regulation: a draw
            self._settle(match, [line for line in match.lines.values() if line.key == (1, "")])
        if match.sport == "basketball":
            match.phases.append(BASKETBALL_OVERTIME)
        else:
            match.phases.append(SHOOTOUT if status == OVERTIME else HOCKEY_OVERTIME)
        self._enter(match, phase + 1)

    def _period_over(self, match):
        """A half, quarter, period or set ends: its markets are stopped, then settled."""
        own = [
            line
            for line in match.lines.values()
            if line.kind.startswith("period_") and line.period == match.period
        ]
        if own:
            # The group only they have: 1st_half, 2nd_half, quarter, period or set.
            group = sorted(set.intersection(*(set(line.groups) for line in own)) - SHARED)
            self._bet_stop(match, "|".join(group) or "all", own)
            self._settle(match, own)

    def _end(self, match, status):
        match.status, match.ended, match.phase_ends = status, True, None
        lines = list(match.lines.values())
        self._bet_stop(match, "all", lines)
        self._odds(match, lines, reason=MATCH_ENDED_REASON)
        self._send(frames.MATCH_STATUS, {"sport_event_id": match.event_id, "status_code": status})
        self._at(self._seconds((3, 10)), self._settle_all, match)

    def _settle_all(self, match):
        """Settle whatever the match still has open."""
        self._settle(match, list(match.lines.values()))
        self._at(self._seconds((30, 90)), self._replace, match)

    # Play --------------------------------------------------------------------------------------

    def _incident(self):
        """A BetStop somewhere on the board: the suspension, its reason, then what follows."""
        playing = [m for m in self.matches if m.playing and not m.incident and m.active_lines()]
        if playing:
            weights = [INCIDENT_WEIGHT[m.sport] for m in playing]
            match = self.rng.choices(playing, weights)[0]
            # Each incident names the groups of its kind that the match's open lines have.
            have = set().union(*(line.groups for line in match.active_lines()))
            incidents = []
            for weight, reason, groups, effect in INCIDENTS[match.sport]:
                named = "|".join(g for g in groups.split("|") if g in have)
                if named and (reason != TIE_BREAK or match.games == [6, 6]):
                    incidents.append((weight, reason, named, effect))
            if incidents:
                weighed = [incident[0] for incident in incidents]
                _, reason, groups, effect = self.rng.choices(incidents, weighed)[0]
                hit = self._hit(match, groups)
                self._bet_stop(match, groups, hit)
                match.incident = reason
                self._at(self._seconds((0.1, 0.6)), self._suspended, match, reason, hit)
                # The chance that it is a goal keeps each match at its sport's pace, however
                # many matches share the incidents: from the match's incidents a second (while
                # it has none under way, and it has one for RESOLVE_S after each), and the
                # share of them that may be a goal.
                per_s = INCIDENT_WEIGHT[match.sport] / sum(weights) * 2 / sum(INCIDENT_GAP_S)
                per_s /= 1 + per_s * sum(RESOLVE_S) / 2
                goals = sum(w for w, _, _, e in incidents if e) / sum(weighed)
                chance = GOALS.get(match.sport, 0) / per_s / goals if effect else 0.0
                self._at(self._seconds(RESOLVE_S), self._resolve, match, effect, chance)
        self._at(self._seconds(INCIDENT_GAP_S), self._incident)

    def _hit(self, match, groups):
        """The open lines a BetStop of `groups` stops."""
        if groups == "all":
            return match.active_lines()
        named = set(groups.split("|"))
        return [line for line in match.active_lines() if named & line.groups]

    def _suspended(self, match, reason, hit):
        lines = [line for line in hit if match.lines.get(line.key) is line]
        if lines and not match.ended:
            self._odds(match, lines, reason=reason)

    def _resolve(self, match, effect, chance):
        """The incident's end: a goal (a corner, a card) or not, and the stopped lines reopen."""
        match.incident = None
        if match.ended:
            return
        scored = (
            effect is not None
            and match.playing
            and match.status != PENALTIES  # the shootout is decided as a whole
            and self.rng.random() < min(0.9, chance)
        )
        results, opened = {}, []
        if scored:
            if effect == "goal":
                weights = [goals_per_s(match, HOME), goals_per_s(match, AWAY)]
                side = self.rng.choices((HOME, AWAY), weights)[0]
            else:
                side = HOME if effect == "home goal" else AWAY
            results, opened = self._goal(match, side)
        stopped = [line for line in match.lines.values() if line.status == "suspended"]
        for line in stopped:
            line.status = "active"
        others = [line for line in match.active_lines() if line not in stopped + opened]
        self._after_score(match, stopped + opened + others[:2], results)
        if scored and match.status == OVERTIME and match.sport == "ice_hockey":
            self._end(match, AFTER_OVERTIME)  # sudden death

    def _goal(self, match, side):
        """A goal: the result of the next-goal line it decides, and the line of the goal after."""
        match.score[side] += 1
        match.periods[match.period][side] += 1
        goal = [line for line in match.lines.values() if line.kind == "next_goal"]
        if not goal:
            return {}, []
        opened = []
        if match.play_left(self.clock) > 0:
            number = goal[0].period + 1
            line = Line(8, f"goalnr={number}", "next_goal", ("6", "7", "8"), period=number)
            match.lines[line.key] = line
            opened.append(line)
        return {goal[0].key: "6" if side == HOME else "8"}, opened

    def _count(self, match, phase, kind):
        """Football: a corner or a booking, which stops nothing but moves its market."""
        if match.ended or match.phase != phase:
            return
        weights = [goals_per_s(match, HOME), goals_per_s(match, AWAY)]
        getattr(match, kind)[self.rng.choices((HOME, AWAY), weights)[0]] += 1
        self._after_score(match, [line for line in match.active_lines() if line.kind == kind])
        self._at(self.rng.expovariate(COUNTED[kind]) * 1000, self._count, match, phase, kind)

    def _possession(self, match, phase):
        """Basketball: one side's possession; points or not."""
        if match.ended or match.phase != phase:
            return
        side, match.possession = match.possession, 1 - match.possession
        if self.rng.random() < scoring(match, side):
            points = self.rng.choice(POINTS)
            match.score[side] += points
            match.periods[match.period][side] += points
            active = match.active_lines()
            self._after_score(match, self.rng.sample(active, k=min(3, len(active))))
        self._at(self._seconds(POSSESSION_S), self._possession, match, phase)

    def _game(self, match, phase):
        """Tennis: a game won; a set, and the match, when it is the last of theirs."""
        if match.ended or match.phase != phase:
            return
        side = HOME if self.rng.random() < game_chance(match) else AWAY
        match.games[side] += 1
        home, away = match.games
        if max(home, away) == 7 or (max(home, away) == 6 and abs(home - away) >= 2):
            match.sets.append((home, away))
            match.games = [0, 0]
            match.score[side] += 1
            match.periods[match.period] = [home, away]
            self._after_score(
                match, [line for line in match.active_lines() if line.kind != "period_winner"]
            )
            if max(match.score) == 2:
                self._end(match, ENDED)
                return
            self._period_over(match)
            self._enter(match, phase + 1)
            return
        self._after_score(match, match.active_lines())
        self._at(self._seconds(GAME_S), self._game, match, phase)

    # Money on the lines ------------------------------------------------------------------------

    def _after_score(self, match, shown, results=None):
        """The score changed: an odds change of the `shown` lines that stay open, with the new
        score, then the settlement of what it decided (`results`, and any total passed)."""
        results = dict(results or {})
        for line in match.lines.values():
            home, away = match.tally(line)
            if line.kind in ("total", "period_total", *COUNTED) and home + away > line.value:
                results[line.key] = "12"
            elif line.kind == "btts" and home and away:
                results[line.key] = "74"
        self._odds(match, [line for line in shown if line.key not in results])
        self._settle(match, [match.lines[key] for key in results], results)

    def _settle(self, match, lines, results=None):
        """Settle `lines` (on their tally, unless `results` names the winner) and close them."""
        if not lines:
            return
        markets = []
        tie_home = tie_breaker(match)
        for line in lines:
            if results and line.key in results:
                paid = {results[line.key]: 1.0}
            elif line.kind == "next_goal":
                paid = {"7": 1.0}  # no more goals
            else:
                paid = dict(winning(line, *match.tally(line), tie_home))
            outcome = [
                {"id": o, "result": 1 if paid.get(o, 0) >= 0.5 else 0} for o in line.outcomes
            ]
            markets.append(
                {"id": line.market_id, "specifiers": line.specifiers, "outcome": outcome}
            )
            del match.lines[line.key]
        self._send(
            frames.BET_SETTLEMENT,
            {
                "event_id": match.event_id,
                "product": match.product,
                "timestamp": self.clock,
                "certainty": 2,
                "outcomes": {"market": markets},
            },
        )

    def _cancel_bets(self):
        """Now and then the bets of one line are void: the statistics or the odds were wrong."""
        lines = [
            (match, line)
            for match in self.matches
            if match.playing and not match.incident
            for line in match.active_lines()
            if line.kind not in ("1x2", "winner")
        ]
        if lines:
            match, line = self.rng.choice(lines)
            void = VOID_INCORRECT_STATISTICS if line.kind in COUNTED else VOID_INCORRECT_ODDS
            del match.lines[line.key]
            market = {"id": line.market_id, "specifiers": line.specifiers, "void_reason": void}
            self._send(
                frames.BET_CANCEL,
                {
                    "event_id": match.event_id,
                    "product": match.product,
                    "timestamp": self.clock,
                    "market": [market],
                },
            )
        self._at(self._seconds(CANCEL_GAP_S), self._cancel_bets)

    # Messages ----------------------------------------------------------------------------------

    def _bet_stop(self, match, groups, hit):
        for line in hit:
            line.status = "suspended"
        data = {
            "event_id": match.event_id,
            "product": match.product,
            "groups": groups,
            "timestamp": self.clock,
        }
        if self.rng.random() < 0.7:  # or left out, which means suspended too
            data["market_status"] = "suspended"
        self._send(frames.BET_STOP, data)

    def _odds(self, match, lines, reason=None):
        if not self.quiet and lines:
            data = self._odds_data(match, lines, self.clock, self.shapes.random() < 0.5, reason)
            self._send(frames.ODDS_CHANGE, data)

    def _fixture(self, match, change_type, now):
        return {
            "event_id": match.event_id,
            "product": match.product,
            "change_type": change_type,
            "start_time": match.start_time,
            "timestamp": now,
            "event_name": match.name,
            "sport": match.sport,
        }

    def _odds_data(self, match, lines, now, older_shape, reason=None):
        """An odds change of `lines`, in the older shape or the newer one."""
        prices = {}
        for line in lines:
            found = chances(match, line, now)
            prices[line.key] = {
                outcome: price(found.get(outcome, 0.0)) for outcome in line.outcomes
            }
        if older_shape:
            data = {
                "match_id": match.event_id,
                "product_id": match.product,
                "timestamp": now,
                "odds_markets": [
                    {
                        "id": line.market_id,
                        "specifiers": line.specifiers,
                        "status": STATUS_CODES[line.status],
                        "outcomes": [
                            {"id": o, "odds": odds, "active": 1}
                            for o, odds in prices[line.key].items()
                        ],
                    }
                    for line in lines
                ],
            }
        else:
            markets = {}
            for line in lines:
                market = markets.setdefault(line.market_id, [])
                market.append(
                    {
                        "specifiers": line.specifiers,
                        "is_main_line": not market,
                        "line_status": line.status,
                        "outcomes": [
                            {"id": o, "odds": odds, "active": 1}
                            for o, odds in prices[line.key].items()
                        ],
                    }
                )
            data = {
                "event_id": match.event_id,
                "product": match.product,
                "timestamp": now,
                "markets": [{"id": mid, "lines": found} for mid, found in markets.items()],
            }
        if match.product == LIVE:
            data["home_score"], data["away_score"] = match.score
            data["match_status"] = match.status
        if reason is not None:
            data["betstop_reason"] = reason
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
