"""The upstream frames of the burst benchmark: a board, odds changes, BetStops, a huge frame.

Plain functions of a seed and a time, so that the benchmark and the relay in one process play
the same frames: `python -m bench.bursts [huge]` profiles applying them one by one, and
`python -m bench.bursts steps` shows the longest step the relay takes on each burst, in CPU time.
"""

import cProfile
import io
import pstats
import random
import sys
import time

from feed.upstream import frames

EVENT = "sr:match:{}"
FIRST_EVENT = 91_000_000
MARKETS = ((1, ""), (18, "total=2.5"), (18, "total=3.5"), (16, "hcp=-1"), (16, "hcp=1"))


def event_id(index):
    return EVENT.format(FIRST_EVENT + index)


def _line(market_id, specifiers, rng, status=1):
    outcomes = ("1", "2", "3") if market_id == 1 else ("12", "13")
    return {
        "id": market_id,
        "specifiers": specifiers,
        "status": status,
        "outcomes": [
            {"id": o, "odds": round(rng.uniform(1.05, 9.0), 2), "active": 1} for o in outcomes
        ],
    }


def odds_change(event, lines, stamp):
    """An odds change (the older shape) of `lines`: (market id, specifiers) pairs, all active."""
    rng = random.Random(stamp ^ hash(event))
    data = {
        "event_id": event,
        "product": 1,
        "timestamp": stamp,
        "odds_markets": [_line(m, s, rng) for m, s in lines],
    }
    return frames.encode_text(frames.ODDS_CHANGE, data, stamp)


def board(events, stamp):
    """One odds change per event listing each of MARKETS active."""
    return [odds_change(event_id(i), MARKETS, stamp) for i in range(events)]


def backlog(count, events, stamp, seed=7):
    """`count` odds changes of three lines each on random events, stamped from `stamp` on."""
    rng = random.Random(seed)
    return [
        odds_change(event_id(rng.randrange(events)), rng.sample(MARKETS, 3), stamp + i // 100)
        for i in range(count)
    ]


def bet_stop(event, stamp):
    """A BetStop of every group of `event`, live."""
    data = {
        "event_id": event,
        "product": 1,
        "groups": "all",
        "market_status": "suspended",
        "timestamp": stamp,
    }
    return frames.encode_text(frames.BET_STOP, data, stamp)


def huge_odds_change(event, lines, stamp):
    """One odds change of `lines` lines of totals (20,000: about 2.4 MB)."""
    pairs = [(18, f"total={i}.5") for i in range(lines)]
    return odds_change(event, pairs, stamp)


def alive(stamp):
    data = {"timestamp": stamp, "subscribed": 1}
    return frames.encode_text(frames.ALIVE, data, stamp)


def relay_in_process(slice_lines=None):
    """A relay with the real rules, health and hub, a store that keeps nothing, fed the board."""
    from feed.board.hub import LocalHub
    from feed.market.descriptions import MarketDescriptions
    from feed.market.health import FeedHealth
    from feed.market.rules import MarketState
    from feed.relay import SLICE_LINES, Relay

    class NoStore:
        def changed(self, lines, event):
            pass

        def log_bet_stop(self, applied, received_ms):
            return {"event_id": applied.event_id}

        def update_bet_stop(self, row):
            pass

    relay = Relay(
        MarketState(MarketDescriptions.load(None)),
        FeedHealth(),
        LocalHub(),
        NoStore(),
        clock=lambda: int(time.time() * 1000),
        slice_lines=slice_lines or SLICE_LINES,
    )
    now = int(time.time() * 1000)
    relay.connection(True)
    for raw in [alive(now), *board(40, now)]:
        relay.receive(raw)
    return relay, now


def steps(args):
    """The longest step the relay takes on each burst, in CPU time: how long the worker's loop
    waits for it at most, whoever else shares the cores. The collector is set as the worker sets
    it (gunicorn.conf.py)."""
    import gc

    for name in ("backlog", "huge"):
        relay, now = relay_in_process()
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 100)
        work = (
            [huge_odds_change(event_id(0), 20_000, now + 1)]
            if name == "huge"
            else backlog(10_000, 40, now + 1)
        )
        work.append(bet_stop(event_id(3), now + 2))
        for raw in work:
            relay.receive.add(raw)
        longest, count, total, stop_at = 0.0, 0, 0.0, None
        while True:
            started = time.thread_time()
            more = relay.receive.advance(0)
            spent = time.thread_time() - started
            longest, count, total = max(longest, spent), count + 1, total + spent
            if stop_at is None and relay.counts["bet_stops_ahead"]:
                stop_at = total
            if not more:
                break
        print(
            f"{name}: {count} steps, {total * 1000:.0f} ms CPU in all, the longest"
            f" {longest * 1000:.1f} ms; the BetStop out after {stop_at * 1000:.1f} ms CPU"
        )


def profile(args):
    """Apply the benchmark's frames to a relay in this process and show where the time goes."""
    relay, now = relay_in_process()
    work = (
        [huge_odds_change(event_id(0), 20_000, now + 1)]
        if args == ["huge"]
        else backlog(10_000, 40, now + 1)
    )
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for raw in work:
        relay.receive(raw)
    profiler.disable()
    print(
        f"{len(work)} frames, {sum(map(len, work))} bytes: "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue())


if __name__ == "__main__":
    (steps if sys.argv[1:] == ["steps"] else profile)(sys.argv[1:])
