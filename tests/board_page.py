"""The board in headless Chromium: the browser, and a /ws the test plays message by message.

Two ways to drive the page. Black-box: the app under gunicorn with a real upstream (tests/upstream)
and the page on its real /ws. Or, where the subject is what the page does with what it receives,
the page's /ws is answered by the test (Playwright's route_web_socket) with snapshots and messages
in the relay's shape, so that every case is exact and quick.
"""

import json
import os
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.servers import ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "artifacts"
DOCS = ROOT / "docs"
GREY = "rgb(217, 220, 225)"  # a stopped line's background (light theme)
UP = {"up": True, "alive_age_ms": 0, "offset_s": 0}
HEALTHY = {"connected": True, "products": {"1": UP, "3": UP}}


def now_ms():
    return int(time.time() * 1000)


def chromium():
    """Headless Chromium for a test module's `browser` fixture (yield from it)."""
    if not Path(CHROMIUM).exists():
        message = f"needs Chromium at {CHROMIUM} (bin/chromium installs it)"
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests; " + message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def shot(page, name, docs=False):
    """A screenshot for CI's artefacts, and for the README when `docs`."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"board-{name}.png")
    if docs and os.environ.get("BOARD_DOCS_SCREENSHOTS"):
        page.screenshot(path=DOCS / f"board-{name}.png")


def event(event_id, name, product=1, **fields):
    return {
        "event_id": event_id,
        "product": product,
        "name": name,
        "sport": "football",
        "start_time": None,
        "status": "",
        "home_score": None,
        "away_score": None,
    } | fields


def line(event_id, market_id, specifiers="", outcomes=None, product=1, **fields):
    """A line as the relay sends it; outcomes: {id: (odds, name)}."""
    outcomes = outcomes or {
        "1": (2.0, "{$competitor1}"),
        "2": (3.1, "X"),
        "3": (3.4, "{$competitor2}"),
    }
    return {
        "event_id": event_id,
        "market_id": market_id,
        "specifiers": specifiers,
        "product": product,
        "status": "active",
        "name": "1x2",
        "groups": ["all", "score", "regular_play"],
        "updated_at": now_ms(),
        "reason": "",
        "outcomes": {
            oid: {"odds": odds, "active": True, "name": name}
            for oid, (odds, name) in outcomes.items()
        },
    } | fields


class PlayedSocket:
    """The page's /ws, answered by the test: a snapshot on connect, then what the test sends."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.entries = []  # the log entries of the BetStops sent
        self.sockets = []
        self.seq = snapshot["seq"]

    def serve(self, ws):
        self.sockets.append(ws)
        self.seq = self.snapshot["seq"]
        ws.send(json.dumps(self.snapshot))

    def send(self, message):
        """Send a relay message (numbered here) to the newest socket."""
        self.seq += 1
        self.sockets[-1].send(json.dumps(message | {"seq": self.seq}))

    def bet_stop(self, event_id, lines, groups="all", status="suspended", **data):
        """A BetStop of `lines`, with its log entry as the relay makes it; returns them stopped
        (the entry is `self.entries[-1]`)."""
        received = now_ms()
        hit = [dict(x, status=status, reason=groups, updated_at=received) for x in lines]
        entry = log_entry(event_id, hit, groups, status, received, data.get("betstop_reason"))
        self.entries.append(entry)
        self.send(
            {
                "type": "bet_stop",
                "cmd": 10030,
                "time": received,
                "data": {"event_id": event_id, "groups": groups, "timestamp": received} | data,
                "received": received,
                "status": status,
                "lines": hit,
                "entry": entry,
            }
        )
        return hit

    def reopened(self, entry, reopened=0, closed=0, at=None):
        """The relay's word that `reopened` and `closed` more of the entry's lines left the stop
        (the last at `at`, now by default)."""
        at = at or now_ms()
        entry["reopened_lines"] += reopened
        entry["closed_lines"] += closed
        entry["still_stopped"] -= reopened + closed
        if not entry["still_stopped"]:
            entry["followed"] = False
            if entry["reopened_lines"]:
                entry["reopened_at"] = at
                entry["duration_ms"] = at - entry["received_at"]
        fields = ("entry_id", "event_id", "still_stopped", "reopened_lines", "closed_lines")
        fields += ("reopened_at", "duration_ms", "followed")
        change = {key: entry[key] for key in fields}
        self.send({"type": "bet_stop_reopened", "received": at, "progress": [change]})

    def odds(self, lines, event_=None):
        message = {"type": "odds_change", "cmd": 10020, "time": now_ms(), "data": {}}
        message["received"] = now_ms()
        message["lines"] = lines
        if event_ is not None:
            message["event"] = event_
        self.send(message)

    def health(self, health):
        self.send({"type": "health", "health": health})


def log_entry(event_id, hit, groups, status, received, betstop_reason=None, **fields):
    """A BetStop log entry as the relay makes it (feed/store/write_behind.py), of lines `hit`."""
    return {
        "event_id": event_id,
        "product": 1,
        "groups": groups,
        "market_status": status,
        "status": status,
        "sent_at": received,
        "received_at": received,
        "lines_hit": len(hit),
        "entry_id": uuid.uuid4().hex,
        "betstop_reason": None if betstop_reason is None else str(betstop_reason),
        "markets": [
            {"market_id": x["market_id"], "specifiers": x["specifiers"], "name": x["name"]}
            for x in hit[:50]
        ],
        "still_stopped": len(hit),
        "reopened_lines": 0,
        "closed_lines": 0,
        "reopened_at": None,
        "duration_ms": None,
        "followed": bool(hit),
    } | fields


def snapshot(events, lines, bet_stops=(), health=HEALTHY, seq=1):
    return {
        "type": "snapshot",
        "seq": seq,
        "health": health,
        "bet_stops": list(bet_stops),
        "events": events,
        "lines": lines,
    }


def open_played(browser, address, played, viewport=(1280, 800), clock=False, **context):
    """A new page (in its own context: its own storage unless one is given) on a played /ws;
    with `clock`, on Playwright's clock, which runs as time does until the test moves it."""
    if "storage_state" not in context:
        context.setdefault("locale", "en-GB")
        context.setdefault("timezone_id", "Europe/Berlin")
    # Playwright compiles wait_for_function's predicates with eval in the page, which the app's
    # Content-Security-Policy forbids.
    context.setdefault("bypass_csp", True)
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context)
    page = ctx.new_page()
    if clock:
        page.clock.install()
    page.route_web_socket("**/ws", played.serve)
    page.goto(f"http://{address}/")
    page.wait_for_function("window.marketBoard && marketBoard.synced && marketBoard.pending === 0")
    return page


def new_page(browser, address, viewport=(1280, 800), **context):
    """A page on the app's real /ws, in a fresh context (Berlin time, British English)."""
    context.setdefault("locale", "en-GB")
    context.setdefault("timezone_id", "Europe/Berlin")
    # Playwright compiles wait_for_function's predicates with eval in the page, which the app's
    # Content-Security-Policy forbids.
    context.setdefault("bypass_csp", True)
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context)
    page = ctx.new_page()
    page.goto(f"http://{address}/")
    page.wait_for_function("window.marketBoard && marketBoard.synced")
    return page


def texts(locator):
    return [text.strip() for text in locator.all_inner_texts()]


def listening(port):
    """Whether something (an upstream the board's app is to follow) accepts on the local port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def page_server(sqlite_template, tmp_path_factory):
    """The app under gunicorn with no upstream, only to serve the page (yield from it)."""
    import shutil

    from tests.servers import gunicorn

    path = tmp_path_factory.mktemp("board") / "board.sqlite"
    shutil.copy(sqlite_template, path)
    with gunicorn(f"sqlite:///{path}", FEED_ENABLED="0") as address:
        yield address


def two_events():
    """A live football match and a prematch basketball game, with named lines."""
    football = event("sr:match:1", "Arsenal v Benfica", home_score=1, away_score=0, status="6")
    basketball = event(
        "sr:match:2",
        "Lakers v Celtics",
        product=3,
        sport="basketball",
        start_time=now_ms() + 3 * 3600_000,
    )
    lines = [
        line("sr:match:1", 1),
        line(
            "sr:match:1",
            18,
            "total=2.5",
            {"12": (1.8, "Over 2.5"), "13": (2.0, "Under 2.5")},
            name="Total",
        ),
        line(
            "sr:match:2",
            219,
            "",
            {"4": (1.6, "{$competitor1}"), "5": (2.3, "{$competitor2}")},
            product=3,
            name="Winner (incl. overtime)",
        ),
    ]
    return [football, basketball], lines


AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, rules):
    """axe-core's violations of `rules` on the page as it is (bin/axe installs axe-core)."""
    if not AXE.exists():
        message = f"needs axe-core at {AXE} (bin/axe installs it)"
        if os.environ.get("CI"):
            pytest.fail("CI must run the accessibility tests; " + message)
        pytest.skip(message)
    if not page.evaluate("Boolean(window.axe)"):
        page.add_script_tag(path=AXE)
    found = page.evaluate(
        "rules => axe.run(document, {runOnly: {type: 'rule', values: rules}})"
        "  .then(r => r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n =>"
        "    ({target: n.target.join(' '), summary: n.failureSummary}))})))",
        list(rules),
    )
    return [f"{v['id']} {n['target']}: {n['summary']}" for v in found for n in v["nodes"]]


SPORTS = ["football", "basketball", "tennis", "ice_hockey"]
HOUR = 3600_000


def busy_board(count=60):
    """`count` events as a relay sends them, by id: prematch and live mixed, three markets each,
    some lines stopped by BetStops and the log of those."""
    now = now_ms()
    events, lines, stops = [], [], []
    for n in range(count):
        event_id = f"sr:match:{1000 + n}"
        live = n % 3 == 2  # the first events are prematch: the live ones sort above them
        start = now - (n % 90) * 60_000 if live else now + (n + 1) * HOUR // 4
        events.append(
            event(
                event_id,
                f"Home {n} v Away {n}",
                product=1 if live else 3,
                sport=SPORTS[n % len(SPORTS)],
                start_time=start,
                status="6" if live else "0",
                home_score=n % 3 if live else None,
                away_score=1 if live else None,
            )
        )
        product = 1 if live else 3
        lines.append(line(event_id, 1, product=product))
        for total in ("2.5", "3.5"):
            lines.append(
                line(
                    event_id,
                    18,
                    f"total={total}",
                    {"12": (1.8, f"Over {total}"), "13": (2.0, f"Under {total}")},
                    product=product,
                    name="Total",
                )
            )
        if live and n % 6 == 2:
            lines[-1] |= {"status": "suspended", "reason": "score", "updated_at": now - 5_000}
            stops.append(
                {
                    "event_id": event_id,
                    "groups": "score",
                    "status": "suspended",
                    "sent_at": now - 5_000,
                    "received_at": now - 5_000 + n,
                    "lines_hit": 1,
                }
            )
    return snapshot(events, lines, bet_stops=stops)
