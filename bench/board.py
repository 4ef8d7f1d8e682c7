"""Benchmark the board in headless Chromium: a big board and a burst, or a board left open.

    make bench-board        (or: python -m bench.board [--events 500] [--lines 20] [--burst 1000])
    make bench-board-idle   (or: python -m bench.board --idle [--seconds 60])

Burst: a local upstream feeds the app (gunicorn + gevent) `--events` events of `--lines` lines
each; the page is loaded and timed until the board is painted; then the upstream sends a burst of
BetStops and odds changes and the page reports how long each message took to apply and the longest
frame (time between two animation frames) while the burst lasted.

Idle: the board a trader leaves open all day: 30 events x 8 markets (football, with names), 20
odds changes and one BetStop a second, at 1280x800. Chrome's own count of the page's main-thread
busy time (the TaskDuration of the DevTools Performance domain) over `--seconds` of wall time.
"""

import argparse
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from bench.load import percentile
from feed.upstream import frames
from tests.board_page import CHROMIUM, FLAGS, listening
from tests.servers import ROOT, gunicorn
from tests.upstream import free_port, wait_until


@contextlib.contextmanager
def replayed_board(entries):
    """The app under gunicorn fed by `flask feed replay` of `entries` [(seconds, text)]; yield
    (address, browser, connected) with `connected` the monotonic time the replay began."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/board.sqlite"
        env = os.environ | {"DATABASE_URL": url, "FEED_ENABLED": "0", "WALLET_OPEN": "1"}
        flask = [sys.executable, "-m", "flask", "--app", "app"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        recording = f"{tmp}/upstream.jsonl"
        with open(recording, "w", encoding="utf-8") as out:
            for offset, text in sorted(entries, key=lambda entry: entry[0]):
                out.write(json.dumps({"t": offset, "text": text}) + "\n")
        port = free_port()
        upstream = subprocess.Popen(
            [*flask, "feed", "replay", recording, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: listening(port), what="the replayed upstream")
            with (
                gunicorn(url, FEED_URL=f"ws://127.0.0.1:{port}/ws") as address,
                sync_playwright() as playwright,
            ):
                connected = time.monotonic()
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                try:
                    yield address, browser, connected
                finally:
                    browser.close()
        finally:
            upstream.terminate()
            upstream.wait(timeout=10)


def open_board(browser, address):
    """The board in a new page at 1280x800."""
    page = browser.new_page(
        # Playwright compiles wait_for_function's predicates with eval in the page, which the
        # app's Content-Security-Policy forbids.
        viewport={"width": 1280, "height": 800},
        bypass_csp=True,
    )
    page.goto(f"http://{address}/")
    return page


def alives(now, until):
    """Alives every 5 s, so that the feed reads healthy for the whole run."""
    return [
        (float(second), frames.encode_text(frames.ALIVE, {"offset_time": 0}, now))
        for second in range(0, int(until) + 5, 5)
    ]


# Burst --------------------------------------------------------------------------------------------


def event_odds(number, lines, ts, price=2.0):
    markets = []
    for market in range(lines // 2):
        markets.append(
            {
                "id": 1000 + market,  # unknown to the description table: every BetStop hits them
                "lines": [
                    {
                        "specifiers": f"total={spec}.5",
                        "outcomes": [
                            {"id": "12", "odds": round(price + market * 0.01, 2)},
                            {"id": "13", "odds": round(price + 0.5, 2)},
                        ],
                    }
                    for spec in (1, 2)
                ],
            }
        )
    return {
        "event_id": f"sr:match:{number}",
        "product": 1 if number % 2 else 3,
        "timestamp": ts,
        "markets": markets,
    }


def burst_recording(events, lines, burst, burst_at):
    """The upstream's whole script: the board, then the burst."""
    now = int(time.time() * 1000)
    entries = []
    for number in range(events):
        entries.append(
            (0.0, frames.encode_text(frames.ODDS_CHANGE, event_odds(number, lines, 1000), now))
        )
    for i in range(burst):
        number = i % events
        if i % 2:
            data = {
                "event_id": f"sr:match:{number}",
                "groups": "all" if i % 4 == 1 else "corner",
                "timestamp": 2000 + i,
            }
            entries.append((burst_at, frames.encode_text(frames.BET_STOP, data, now)))
        else:
            data = event_odds(number, lines, 2000 + i, price=2.0 + i / 1000)
            entries.append((burst_at, frames.encode_text(frames.ODDS_CHANGE, data, now)))
    return alives(now, burst_at + 60) + entries


def burst(args):
    total = args.events * (args.lines // 2) * 2
    entries = burst_recording(args.events, args.lines, args.burst, args.burst_at)
    with replayed_board(entries) as (address, browser, connected):
        page = open_board(browser, address)
        page.wait_for_function(
            f"window.marketBoard.lines.size >= {total}", timeout=int(args.burst_at * 1000)
        )
        page.reload()  # measure a first paint of the whole board
        page.wait_for_function("window.marketBoard.renderedAt > 0", timeout=60000)
        first_paint = page.evaluate(FIRST_PAINT)
        page.wait_for_function("window.marketBoard.builtAt > 0", timeout=60000)
        built = page.evaluate(WHOLE_BOARD)
        if time.monotonic() - connected > args.burst_at - 2:
            raise SystemExit("the board was not ready before the burst: raise --burst-at")
        page.evaluate(START_MEASURING)
        try:
            page.wait_for_function(
                f"marketBoard.stats.apply.length >= {args.burst}",
                timeout=int((args.burst_at + 120) * 1000),
            )
        except Exception:
            print("stalled:", page.evaluate(STALLED), flush=True)
            raise
        applied, frame_gaps = page.evaluate(STOP_MEASURING)
    print(
        f"# board benchmark {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: "
        f"{os.cpu_count()} cores, headless Chromium, "
        f"{args.events} events x {args.lines} lines = {total} lines"
    )
    print(f"first paint of the board        {first_paint:8.0f} ms")
    print(f"whole board built               {built:8.0f} ms   (the rest in 8 ms chunks)")
    print(
        f"apply per message  p50 {percentile(applied, 0.5):6.2f} ms   "
        f"p99 {percentile(applied, 0.99):6.2f} ms   max {max(applied):6.2f} ms"
    )
    print(
        f"longest frame during the burst  {max(frame_gaps):8.1f} ms   "
        f"(p99 {percentile(frame_gaps, 0.99):.1f} ms over {len(frame_gaps)} frames)"
    )


# Idle ---------------------------------------------------------------------------------------------

# Eight football markets an event, as the feed's ids and outcomes: every line has names to fill.
IDLE_MARKETS = [
    (1, "", ["1", "2", "3"]),
    (18, "total=2.5", ["12", "13"]),
    (16, "hcp=-0.5", ["1714", "1715"]),
    (29, "", ["74", "76"]),
    (8, "goalnr=1", ["6", "7", "8"]),
    (60, "", ["1", "2", "3"]),
    (166, "total=9.5", ["12", "13"]),
    (139, "total=4.5", ["12", "13"]),
]
IDLE_GROUPS = ["all", "score", "corners", "bookings", "1st_half"]


def idle_recording(events, rate, seconds, start_at, seed=7):
    """The board, then `rate` odds changes (two markets each) and one BetStop a second."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    prices = {
        (e, m): [round(rng.uniform(1.3, 5.0), 2) for _ in outcomes]
        for e in range(events)
        for m, (_, _, outcomes) in enumerate(IDLE_MARKETS)
    }

    def odds(number, market_indexes, ts):
        return {
            "event_id": f"sr:match:{9000 + number}",
            "product": 1,
            "timestamp": ts,
            "match_status": 6,
            "home_score": number % 3,
            "away_score": number % 2,
            "markets": [
                {
                    "id": IDLE_MARKETS[m][0],
                    "lines": [
                        {
                            "specifiers": IDLE_MARKETS[m][1],
                            "status": 1,
                            "outcomes": [
                                {"id": o, "odds": prices[number, m][k]}
                                for k, o in enumerate(IDLE_MARKETS[m][2])
                            ],
                        }
                    ],
                }
                for m in market_indexes
            ],
        }

    entries = []
    for number in range(events):
        fixture = {
            "event_id": f"sr:match:{9000 + number}",
            "product": 1,
            "change_type": 1,
            "event_name": f"Home {number} v Away {number}",
            "sport": "football",
            "timestamp": now,
        }
        entries.append((0.0, frames.encode_text(frames.FIXTURE_CHANGE, fixture, now)))
        board = odds(number, range(len(IDLE_MARKETS)), now)
        entries.append((0.0, frames.encode_text(frames.ODDS_CHANGE, board, now)))
    ts = now + 1
    for tick in range(int(seconds * rate)):
        at = start_at + tick / rate
        number = rng.randrange(events)
        moved = rng.sample(range(len(IDLE_MARKETS)), 2)
        for m in moved:
            prices[number, m] = [
                round(min(max(p * rng.uniform(0.95, 1.05), 1.01), 50.0), 2)
                for p in prices[number, m]
            ]
        ts += 1
        entries.append((at, frames.encode_text(frames.ODDS_CHANGE, odds(number, moved, ts), now)))
        if tick % int(rate) == 0:
            stop = {
                "event_id": f"sr:match:{9000 + rng.randrange(events)}",
                "groups": rng.choice(IDLE_GROUPS),
                "market_status": "suspended",
                "timestamp": ts,
            }
            entries.append((at, frames.encode_text(frames.BET_STOP, stop, now)))
    return alives(now, start_at + seconds) + entries


def idle(args):
    warmup = 10.0
    start_at = 15.0  # the load begins this long after the app connects upstream
    length = start_at + warmup + args.seconds + 15  # room for the page to load and settle
    entries = idle_recording(args.idle_events, args.rate, length - start_at, start_at)
    with replayed_board(entries) as (address, browser, connected):
        page = open_board(browser, address)
        page.wait_for_function(
            f"window.marketBoard.lines.size >= {args.idle_events * len(IDLE_MARKETS)}"
        )
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        # Measure inside the load only, after the page has settled into it.
        time.sleep(max(0.0, connected + start_at + warmup - time.monotonic()))
        page.evaluate("marketBoard.stats = {apply: []}")
        before, wall = _metrics(cdp), time.monotonic()
        time.sleep(args.seconds)
        after, wall = _metrics(cdp), time.monotonic() - wall
        applied = page.evaluate("marketBoard.stats.apply")
        stopped = page.evaluate("document.getElementById('suspended-count').textContent")
    busy = {name: (after[name] - before[name]) / wall for name in after if name in before}
    print(
        f"# idle board benchmark {datetime.now(UTC):%Y-%m-%d} on {platform.node()}: "
        f"{os.cpu_count()} cores, headless Chromium 1280x800, {args.idle_events} events x "
        f"{len(IDLE_MARKETS)} markets, {args.rate:g} odds changes + 1 BetStop a second, "
        f"{wall:.0f} s"
    )
    print(f"main thread busy (TaskDuration)     {busy['TaskDuration']:6.1%} of wall time")
    script, style, layout = (
        busy[n] for n in ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration")
    )
    print(f"  of which script {script:5.1%}, style {style:5.1%}, layout {layout:5.1%}")
    print(
        f"messages applied {len(applied)} ({len(applied) / wall:.1f}/s), "
        f"apply p50 {percentile(applied, 0.5):.2f} ms p99 {percentile(applied, 0.99):.2f} ms; "
        f"{stopped} lines stopped at the end"
    )


def _metrics(cdp):
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--burst-at", type=float, default=60.0, help="seconds after connecting")
    parser.add_argument("--idle", action="store_true", help="measure a board left open instead")
    parser.add_argument("--idle-events", type=int, default=30)
    parser.add_argument("--rate", type=float, default=20.0, help="idle: odds changes a second")
    parser.add_argument("--seconds", type=float, default=60.0, help="idle: measured wall time")
    args = parser.parse_args()
    if args.idle:
        idle(args)
    else:
        burst(args)


# From the start of navigation to the frame after the board's first screens were built from its
# snapshot, and to the end of building the rest.
FIRST_PAINT = "marketBoard.renderedAt - performance.getEntriesByType('navigation')[0].startTime"
WHOLE_BOARD = "marketBoard.builtAt - performance.getEntriesByType('navigation')[0].startTime"
STALLED = (
    "({applied: marketBoard.stats.apply.length, seq: marketBoard.seq, synced: marketBoard.synced})"
)
START_MEASURING = """() => {
    marketBoard.stats = {apply: []};
    window.__frames = []; let last = performance.now();
    const tick = (now) => { window.__frames.push(now - last); last = now;
                            if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
}"""
STOP_MEASURING = """() => {
    window.__stop = true;
    return [marketBoard.stats.apply, window.__frames];
}"""


if __name__ == "__main__":
    main()
