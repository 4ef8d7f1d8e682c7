"""Names on the board: markets and outcomes in words, match status, sport, times with their zone."""

import json
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from feed.upstream import frames
from tests import feed_messages as messages
from tests.board_page import (
    PlayedSocket,
    event,
    line,
    new_page,
    open_played,
    page_server,
    shot,
    snapshot,
    texts,
)
from tests.descriptions_xml import MARKETS_XML
from tests.feed_messages import EVENT, PREMATCH
from tests.servers import gunicorn

pytestmark = pytest.mark.browser


def market(market_id, specifiers, outcomes, **fields):
    """A market of one open line, its `outcomes` (ids, or (id, fields)) at 1.5, 1.6, ..."""
    priced = [
        messages.outcome(oid, 1.5 + n / 10, **extra)
        for n, (oid, extra) in enumerate((o, {}) if isinstance(o, str) else o for o in outcomes)
    ]
    return messages.market(market_id, messages.line(specifiers, 1, priced), **fields)


FOOTBALL = [
    market(1, "", ["1", "2", "3"]),
    market(18, "total=2.5", ["12", "13"]),
    market(16, "hcp=-0.5", ["1714", "1715"]),
    market(29, "", ["74", "76"]),
    market(8, "goalnr=2", ["6", "7", "8"]),
    market(9999, "total=1.5", ["12", "77"]),  # in no description
    # The feed's own names win over the templates.
    market(68, "total=0.5", [("12", {"name": "More"}), ("13", {"name": "Fewer"})], name="HT goals"),
]


def fixture(upstream, name="Arsenal v Benfica", **fields):
    now = int(time.time() * 1000)
    data = messages.fixture_change(EVENT, 1, stamp=now, event_name=name, sport="football")
    upstream.send_frame(frames.FIXTURE_CHANGE, data | fields)


def odds(markets, **fields):
    return messages.odds(markets, EVENT, stamp=int(time.time() * 1000), **fields)


def status_of(address):
    with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
        return json.loads(answer.read())


def block(page, heading):
    return page.locator(f'.event[data-event-id="{EVENT}"] .market').filter(
        has=page.locator("h3", has_text=heading)
    )


def outcome_names(page, heading):
    return texts(block(page, heading).locator(".outcome .oname"))


@pytest.fixture
def served(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        yield address


def test_market_and_outcome_names_are_filled_from_templates_and_the_events_competitors(
    browser, upstream, served
):
    fixture(upstream)
    upstream.send_frame(frames.ODDS_CHANGE, odds(FOOTBALL, match_status=6))
    page = new_page(browser, served)
    page.wait_for_selector(f'.line[data-event-id="{EVENT}"][data-market-id="68"]')
    headings = texts(page.locator(f'.event[data-event-id="{EVENT}"] .market h3'))
    assert headings == [
        "1x2",
        "Total",
        "Handicap",
        "Both teams to score",
        "2nd goal",
        "Market 9999",
        "HT goals",
    ]
    assert outcome_names(page, "1x2") == ["Arsenal", "X", "Benfica"]
    assert outcome_names(page, "Total") == ["Over 2.5", "Under 2.5"]
    assert outcome_names(page, "Handicap") == ["Arsenal (-0.5)", "Benfica (+0.5)"]
    assert outcome_names(page, "Both teams to score") == ["Yes", "No"]
    assert outcome_names(page, "2nd goal") == ["Arsenal", "None", "Benfica"]
    assert outcome_names(page, "Market 9999") == ["Over 1.5", "Outcome 77"]
    assert outcome_names(page, "HT goals") == ["More", "Fewer"]
    board_text = page.locator("#events").inner_text()
    assert "{" not in board_text and "}" not in board_text
    names = status_of(served)["names"]
    assert names["unknown_markets"] == 1
    assert names["examples"]["markets"] == ["9999"]
    shot(page, "names", docs=True)

    # The event's names may change, or come late: the board fills them as they are now.
    fixture(upstream, name="Arsenal FC v SL Benfica")
    page.wait_for_function(
        "document.querySelector('.line[data-market-id=\"16\"] .oname').textContent"
        " === 'Arsenal FC (-0.5)'"
    )
    assert outcome_names(page, "1x2") == ["Arsenal FC", "X", "SL Benfica"]


def test_without_competitor_names_a_three_way_market_reads_1_x_2(browser, upstream, served):
    fixture(upstream, name="")
    upstream.send_frame(frames.ODDS_CHANGE, odds([market(1, "", ["1", "2", "3"])]))
    page = new_page(browser, served)
    page.wait_for_selector(f'.line[data-event-id="{EVENT}"][data-market-id="1"]')
    assert outcome_names(page, "1x2") == ["1", "X", "2"]


def test_names_come_from_an_operators_markets_xml(browser, upstream, sqlite_database_url, tmp_path):
    path = tmp_path / "markets.xml"
    path.write_text(MARKETS_XML, encoding="utf-8")
    settings = {"FEED_URL": upstream.url, "FEED_MARKETS_FILE": str(path)}
    with gunicorn(sqlite_database_url, **settings) as address:
        upstream.wait_connected()
        upstream.alive()
        fixture(upstream)
        upstream.send_frame(
            frames.ODDS_CHANGE,
            odds([market(62, "goalnr=3", ["6", "7", "8"]), market(18, "total=2.5", ["12", "13"])]),
        )
        page = new_page(browser, address)
        page.wait_for_selector(f'.line[data-event-id="{EVENT}"][data-market-id="18"]')
        assert outcome_names(page, "1st half - 3rd goal") == ["Arsenal", "None", "Benfica"]
        # The file replaces the shipped table: market 18 is unknown now, its outcomes still read.
        assert outcome_names(page, "Market 18") == ["Over 2.5", "Under 2.5"]
        assert status_of(address)["names"]["unknown_markets"] == 1


def test_match_status_sport_and_score_in_words(browser, upstream, served):
    fixture(upstream)
    upstream.send_frame(
        frames.ODDS_CHANGE,
        odds([market(1, "", ["1", "2", "3"])], match_status=31, home_score=1, away_score=0),
    )
    page = new_page(browser, served)
    card = page.locator(f'.event[data-event-id="{EVENT}"]')
    page.wait_for_selector(f'.line[data-event-id="{EVENT}"]')
    assert card.locator(".event-meta").inner_text() == "1 – 0 · Halftime"
    assert card.locator(".event-sub").inner_text() == "Football"
    upstream.send_frame(frames.ODDS_CHANGE, odds([market(1, "", ["1", "2", "3"])], match_status=7))
    page.wait_for_function(
        "document.querySelector('.event-meta').textContent === '1 – 0 · 2nd half'"
    )


# Sportradar's match status descriptions (descriptions/en/match_status.xml, as the UOF SDKs'
# fixtures hold it), past the common ones too.
STATUSES = [
    ("6", "1st half"),
    ("71", "Game 1"),
    ("110", "After extra time"),  # Sportradar abbreviates it: AET
    ("147", "7th map"),
    ("155", "5th game"),
    ("401", "1st inning top"),
    ("418", "9th inning bottom"),
    ("422", "Break top2-bottom1"),
    ("437", "Break top9-bottom9"),
    ("444", "After sudden death"),
    ("445", "Break"),
    ("513", "Stumps"),
    ("519", "13th set"),
    ("600", "Status 600"),  # past the table: the number, never a wrong word
]


@pytest.fixture(scope="module")
def address(sqlite_template, tmp_path_factory):
    yield from page_server(sqlite_template, tmp_path_factory)


def test_every_match_status_of_sportradars_table_reads_in_its_words(browser, address):
    events = [event(f"sr:match:{code}", f"Home v Away {code}", status=code) for code, _ in STATUSES]
    played = PlayedSocket(snapshot(events, [line(e["event_id"], 1) for e in events]))
    page = open_played(browser, address, played)
    for code, words in STATUSES:
        meta = page.locator(f'.event[data-event-id="sr:match:{code}"] .event-meta')
        assert meta.text_content() == words, code
    page.context.close()


def test_times_read_on_a_24_hour_clock_with_day_month_and_the_zone(browser, upstream, served):
    start = int(datetime(2031, 3, 14, 18, 45, tzinfo=UTC).timestamp() * 1000)
    fixture = messages.fixture_change(
        EVENT, 1, PREMATCH, 1, event_name="Ajax v PSV", start_time=start
    )
    upstream.send_frame(frames.FIXTURE_CHANGE, fixture)
    odds = messages.odds([market(1, "", ["1"])], EVENT, PREMATCH, 1000)
    upstream.send_frame(frames.ODDS_CHANGE, odds)
    page = new_page(browser, served, timezone_id="Europe/Berlin", locale="en-US")
    page.wait_for_selector(f'.line[data-event-id="{EVENT}"]')
    meta = page.locator(f'.event[data-event-id="{EVENT}"] .event-meta').inner_text()
    # 18:45 UTC is 19:45 in Berlin in March; a 24-hour clock even in an en-US browser.
    assert "19:45" in meta and "Mar" in meta and "14" in meta and "PM" not in meta
    assert "Europe/Berlin" in page.locator("#timezone").inner_text()
    assert not page.locator(f'.event[data-event-id="{EVENT}"]').evaluate(
        "e => e.classList.contains('late')"
    )


def test_a_prematch_event_past_its_start_time_is_flagged(browser, upstream, served):
    start = int(time.time() * 1000) - 10 * 60_000
    fixture = messages.fixture_change(
        EVENT, 1, PREMATCH, 1, event_name="Late v Later", start_time=start
    )
    upstream.send_frame(frames.FIXTURE_CHANGE, fixture)
    odds = messages.odds([market(1, "", ["1"])], EVENT, PREMATCH, 1000)
    upstream.send_frame(frames.ODDS_CHANGE, odds)
    page = new_page(browser, served)
    card = page.locator(f'.event[data-event-id="{EVENT}"]')
    page.wait_for_selector(f'.event[data-event-id="{EVENT}"].late')
    assert card.locator(".event-notice").inner_text().startswith("Start time passed")
    assert card.locator(".event-notice").is_visible()


def test_the_simulated_feed_reads_in_words_with_no_bare_id_or_template(browser, tmp_path):
    """What `make run` shows: every market and outcome of the simulator named."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.board_page import DOCS, listening
    from tests.servers import ROOT
    from tests.upstream import free_port, wait_until

    url = f"sqlite:///{tmp_path}/board.sqlite"
    env = os.environ | {"DATABASE_URL": url, "FEED_ENABLED": "0"}
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    simulate = [*flask, "feed", "simulate", "--port", str(port), "--seed", "3"]
    simulator = subprocess.Popen(
        [*simulate, "--outage-every", "0"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: listening(port), what="the simulator")
        with gunicorn(url, FEED_URL=f"ws://127.0.0.1:{port}/ws") as address:
            page = new_page(browser, address)
            page.wait_for_function("marketBoard.lines.size >= 150", timeout=15000)
            page.wait_for_timeout(2000)  # a few odds moves and BetStops
            names = texts(page.locator(".outcome .oname"))
            assert names and not [name for name in names if name.isdigit() or "{" in name]
            headings = texts(page.locator(".market h3"))
            assert not [h for h in headings if "{" in h or h.startswith("Market ")]
            assert "Over 2.5" in names and "Yes" in names and "X" in names
            status = status_of(address)["names"]
            assert (status["unknown_markets"], status["unknown_outcomes"]) == (0, 0)
            shot(page, "simulated")
            if os.environ.get("BOARD_DOCS_SCREENSHOTS"):
                shutil.copy(ROOT / "artifacts" / "board-simulated.png", DOCS / "board.png")
            page.context.close()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def stopped_board():
    """A live match whose lines belong to the groups a BetStop names."""
    lines = [
        line("sr:match:1", 1, groups=["all", "score", "regular_play"]),
        line("sr:match:1", 60, "", name="1st half - 1x2", groups=["all", "1st_half"]),
        line(
            "sr:match:1",
            219,
            "",
            {"4": (1.6, "{$competitor1}"), "5": (2.3, "{$competitor2}")},
            name="Winner (incl. overtime)",
            groups=["all", "incl_ot"],
        ),
        line(
            "sr:match:1",
            446,
            "periodnr=3|total=1.5",
            {"12": (1.8, "Over 1.5"), "13": (2.0, "Under 1.5")},
            name="3rd period - total",
            groups=["all", "3rd_period"],
        ),
    ]
    return PlayedSocket(snapshot([event("sr:match:1", "Arsenal v Benfica", status="6")], lines))


@pytest.mark.parametrize("width", [1280, 1440, 1920])
def test_bet_stop_groups_read_in_words_and_whole_at_1280_px_and_wider(browser, address, width):
    played = stopped_board()
    page = open_played(browser, address, played, viewport=(width, 900))
    lines = played.snapshot["lines"]
    played.bet_stop("sr:match:1", lines[:1], groups="regular_play", betstop_reason=1)
    played.bet_stop("sr:match:1", lines[1:2], groups="1st_half")
    played.bet_stop("sr:match:1", lines[2:3], groups="incl_ot")
    played.bet_stop("sr:match:1", lines[3:], groups="3rd_period")
    page.wait_for_function(f"marketBoard.seq === {played.seq}")
    whys = page.locator('.line[data-event-id="sr:match:1"] .why')
    assert texts(whys) == [
        "BetStop: regular play · Possible goal",
        "BetStop: 1st half",
        "BetStop: incl. overtime",
        "BetStop: 3rd period",  # not in the table: its id made readable
    ]
    clipped = whys.evaluate_all(
        "ws => ws.filter(w => w.scrollWidth > w.clientWidth"
        " || w.closest('.state').scrollHeight > w.closest('.state').clientHeight)"
        ".map(w => w.textContent)"
    )
    assert clipped == []
    note = page.locator('.event[data-event-id="sr:match:1"] .event-why')
    assert note.inner_text().startswith("BetStop: 3rd period · since ")
    assert note.evaluate("e => e.scrollWidth <= e.clientWidth")
    log = texts(page.locator("#bet-stop-log li"))
    assert "regular play" in log[3] and "regular_play" not in log[3]
    if width == 1280:
        shot(page, "bet-stop-words")
    page.context.close()


def test_a_line_shows_only_the_specifier_values_its_market_name_does_not_carry(browser, address):
    lines = [
        line("sr:match:1", 446, "periodnr=1|total=1.5", name="1st period - total"),
        line("sr:match:1", 18, "total=2.5", name="Total"),
        line("sr:match:1", 16, "hcp=-1.5", name="Handicap -1.5"),
        line("sr:match:1", 447, "periodnr=1", name="1st period - 1x2"),
        line("sr:match:1", 8, "goalnr=2", name="2nd goal"),
    ]
    played = PlayedSocket(snapshot([event("sr:match:1", "Arsenal v Benfica")], lines))
    page = open_played(browser, address, played)
    specs = page.locator('.line[data-event-id="sr:match:1"] .spec').all_text_contents()
    assert specs == ["1.5", "2.5", "", "", ""]
    page.context.close()
