"""The simulated sports: teams, phases, paces, incidents, and each match's lines."""

import math
from dataclasses import dataclass

from feed.market.descriptions import MarketDescriptions

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


# The sides' pace, from their form -------------------------------------------------------


def goals_per_s(match, side):
    strength = 0.4 * match.form * (1 if side == HOME else -1)
    return GOALS[match.sport] / 2 * math.exp(strength)


def points_per_s(match, side):
    return scoring(match, side) * POSSESSION_POINTS / sum(POSSESSION_S)


def scoring(match, side):
    """The chance that a possession of `side` scores."""
    return 0.5 + 0.1 * math.tanh(match.form) * (1 if side == HOME else -1)
