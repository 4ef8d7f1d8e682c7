"""Benchmark the board in headless Chromium: a big board and a burst of messages.

    make bench-board      (or: python -m bench.board [--events 500] [--lines 20] [--burst 1000])

A local upstream feeds the app (gunicorn + gevent) `--events` events of `--lines` lines each; the
page is loaded and timed until the board is painted; then the upstream sends a burst of BetStops
and odds changes and the page reports how long each message took to apply and the longest frame
(time between two animation frames) while the burst lasted.
"""

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

from bench.load import percentile
from feed import frames
from tests.board_page import CHROMIUM, FLAGS
from tests.servers import ROOT, gunicorn
from tests.upstream import free_port, wait_until


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


def write_recording(path, events, lines, burst, burst_at):
    """The upstream's whole script as a `flask feed record` file: the board, then the burst."""
    now = int(time.time() * 1000)
    entries = [(0.0, frames.encode_text(frames.ALIVE, {"offset_time": 0}, now))]
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
    # Alives all along, so the feed reads healthy for the whole run.
    for second in range(0, int(burst_at) + 60, 5):
        entries.append((float(second), frames.encode_text(frames.ALIVE, {"offset_time": 0}, now)))
    entries.sort(key=lambda entry: entry[0])
    with open(path, "w", encoding="utf-8") as out:
        for offset, text in entries:
            out.write(json.dumps({"t": offset, "text": text}) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--burst-at", type=float, default=60.0, help="seconds after connecting")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    total = args.events * (args.lines // 2) * 2
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/board.sqlite"
        env = os.environ | {"DATABASE_URL": url, "FEED_ENABLED": "0"}
        flask = [sys.executable, "-m", "flask", "--app", "app"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        recording = f"{tmp}/upstream.jsonl"
        write_recording(recording, args.events, args.lines, args.burst, args.burst_at)
        port = free_port()
        upstream = subprocess.Popen(
            [*flask, "feed", "replay", recording, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: _listening(port), what="the replayed upstream")
            with (
                gunicorn(url, FEED_URL=f"ws://127.0.0.1:{port}/ws") as address,
                sync_playwright() as playwright,
            ):
                connected = time.monotonic()
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = browser.new_page(
                    # Playwright compiles wait_for_function's predicates with eval in the
                    # page, which the app's Content-Security-Policy forbids.
                    viewport={"width": 1280, "height": 800},
                    bypass_csp=True,
                )
                page.goto(f"http://{address}/")
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
                browser.close()
        finally:
            upstream.terminate()
            upstream.wait(timeout=10)
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


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
