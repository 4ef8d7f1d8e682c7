"""What happens in play: incidents and the BetStops they cause, goals, possessions, games, and
the odds that follow them."""

from feed.simulator.chances import game_chance
from feed.simulator.sports import (
    AFTER_OVERTIME,
    AWAY,
    COUNTED,
    ENDED,
    GAME_S,
    GOALS,
    HOME,
    INCIDENT_GAP_S,
    INCIDENT_WEIGHT,
    INCIDENTS,
    OVERTIME,
    PENALTIES,
    POINTS,
    POSSESSION_S,
    RESOLVE_S,
    TIE_BREAK,
    Line,
    goals_per_s,
    scoring,
)


class Play:
    """The play-by-play of the simulated world's matches; the world (world.Simulator) keeps the
    matches, the clock and the queue of what is due."""

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
