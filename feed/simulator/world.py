"""The simulated world: matches that go from prematch to ended, and the messages they cause.

No I/O and no clock of its own: `advance(now)` returns every message due by `now`.
"""

import heapq
import itertools
import random

from feed.simulator.chances import tie_breaker, winning
from feed.simulator.messages import odds_data
from feed.simulator.play import Play
from feed.simulator.sports import (
    AFTER_OVERTIME,
    AFTER_PENALTIES,
    AWAY,
    BASKETBALL_OVERTIME,
    CANCEL_GAP_S,
    COUNTED,
    ENDED,
    FIXTURE_CANCEL_GAP_S,
    GAME_S,
    HOCKEY_OVERTIME,
    HOME,
    LIVE,
    MATCH_ENDED_REASON,
    NOT_STARTED,
    OVERTIME,
    PENALTIES,
    PHASES,
    PLAY,
    POSSESSION_S,
    PREMATCH,
    SHARED,
    SHOOTOUT,
    SPORT_MIX,
    TEAMS,
    VOID_INCORRECT_ODDS,
    VOID_INCORRECT_STATISTICS,
    WARM_UP_S,
    Match,
    period_lines,
)
from feed.upstream import frames


class Simulator(Play):
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
                    data = odds_data(match, lines, self.now, index % 2 == 0, reason)
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

    # Money on the lines ------------------------------------------------------------------------

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
            data = odds_data(match, lines, self.clock, self.shapes.random() < 0.5, reason)
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
