"""The chances of each outcome, from the score and the clock, and their prices."""

import collections
import functools
import itertools
import math

from feed.simulator.sports import (
    AWAY,
    COUNTED,
    HOME,
    MARGIN,
    POINTS_VARIANCE,
    POSSESSION_S,
    goals_per_s,
    points_per_s,
)


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
