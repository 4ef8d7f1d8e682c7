"""The board in a real browser: headless Chromium via Playwright, against the app under gunicorn."""

import json
import re

import pytest

from feed.upstream import frames
from tests.board_page import GREY, shot
from tests.feed_messages import EVENT, bet_stop, fixture_change, match_odds
from tests.servers import gunicorn
from tests.upstream import wait_until

pytestmark = pytest.mark.browser


NAME = 'Lions <img src=x onerror="window.__injected=1"> v Tigers'


@pytest.fixture
def page(browser, upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(
            frames.FIXTURE_CHANGE, fixture_change(EVENT, 1, stamp=1, event_name=NAME)
        )
        upstream.send_frame(frames.ODDS_CHANGE, match_odds(1000))
        page = browser.new_page(
            # Playwright compiles wait_for_function's predicates with eval in the page, which
            # the app's Content-Security-Policy forbids; test_accounts_browser.py keeps it on.
            viewport={"width": 1280, "height": 800},
            bypass_csp=True,
        )
        page.clock.install()  # runs as time does, until a test moves it on
        page.goto(f"http://{address}/")
        page.wait_for_selector(f'.line[data-event-id="{EVENT}"][data-status="active"]')
        yield page
        page.close()


def line(page, market_id):
    return page.locator(f'.line[data-event-id="{EVENT}"][data-market-id="{market_id}"]')


def wait_status(page, market_id, status):
    page.wait_for_selector(
        f'.line[data-event-id="{EVENT}"][data-market-id="{market_id}"][data-status="{status}"]',
        timeout=5000,
    )


def test_odds_arrive_and_show(page):
    assert line(page, 1).locator('[data-outcome-id="1"] .odds').inner_text() == "2.00"
    assert page.locator("#feed-banner").get_attribute("data-feed-status") == "up"
    shot(page, "active")


def test_the_page_holds_no_inline_script_style_or_handler(page):
    # So that a Content-Security-Policy without 'unsafe-inline' lets the whole board work.
    inline = page.evaluate(
        """() => ({
            scripts: [...document.scripts].filter(s => !s.src).length,
            styles: document.querySelectorAll('style').length,
            attributes: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
                .map(a => a.name).filter(n => n === 'style' || n.startsWith('on'))),
        })"""
    )
    assert inline == {"scripts": 0, "styles": 0, "attributes": []}


def test_markup_in_an_event_name_is_shown_as_text(page):
    assert page.locator(f'.event[data-event-id="{EVENT}"] .event-name').inner_text() == NAME
    assert page.evaluate("window.__injected") is None
    assert page.locator(".event-name img").count() == 0


def test_bet_stop_all_greys_every_line_keeping_odds(page, upstream):
    upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, "all", stamp=2000))
    for market_id in (1, 166):
        wait_status(page, market_id, "suspended")
        row = line(page, market_id)
        assert row.get_attribute("aria-disabled") == "true"
        assert row.evaluate("e => getComputedStyle(e).backgroundColor") == GREY
        assert "BetStop: all" in row.locator(".state").inner_text()
    assert line(page, 1).locator('[data-outcome-id="1"] .odds').inner_text() == "2.00"
    assert line(page, 1).get_attribute("title").startswith("BetStop: all since ")
    assert page.locator("#suspended-count").inner_text() == "2"
    assert (
        page.locator("#bet-stop-log li.bet-stop")
        .first.inner_text()
        .endswith("all · suspended · 2 lines: 1x2, Total corners 9.5 · still stopped")
    )
    shot(page, "bet-stop-all")


def test_bet_stop_with_a_group_greys_only_that_group_and_odds_reopen(page, upstream):
    stop = bet_stop(EVENT, "corner", product=None, stamp=2000, market_status=None)
    upstream.send_frame(frames.BET_STOP, stop)
    wait_status(page, 166, "suspended")
    assert line(page, 1).get_attribute("data-status") == "active"
    assert line(page, 1).evaluate("e => getComputedStyle(e).backgroundColor") != GREY
    upstream.send_frame(frames.ODDS_CHANGE, match_odds(3000, price=2.4))
    wait_status(page, 166, "active")
    page.wait_for_function(
        f"""() => document.querySelector('.line[data-event-id="{EVENT}"][data-market-id="1"]'
            + ' [data-outcome-id="1"]').classList.contains('flash-up')"""
    )
    # The log, and History from the database, say which market it was and when it reopened.
    ended = r" · corners · suspended · 1 line: Total corners 9\.5 · reopened [\d:]{8}"
    ended += r" · stopped \d+ s$"
    page.wait_for_function(
        "document.querySelector('#bet-stop-log li.bet-stop').textContent.includes('reopened')"
    )
    assert re.search(ended, page.locator("#bet-stop-log li.bet-stop").first.inner_text())

    def history():  # the first entry, once loaded ("" while the log has none written yet)
        page.locator(f'.event[data-event-id="{EVENT}"] .history-button').click()
        page.wait_for_function(
            "document.querySelector('#history[open] .history-state').textContent !== 'Loading…'"
        )
        entries = page.locator("#history .history-list li")
        text = entries.first.inner_text() if entries.count() else ""
        page.keyboard.press("Escape")
        page.wait_for_selector("#history:not([open])", state="attached")
        return text

    wait_until(lambda: re.search(ended, history()), what="the reopening in History")


def test_odds_flashes_run_no_animation_and_are_taken_off_by_one_timer(page, upstream):
    # A board left open all day: a flash is a class, not an animation restyling cells per frame.
    upstream.send_frame(frames.ODDS_CHANGE, match_odds(3000, price=2.4))
    cell = f'.line[data-event-id="{EVENT}"][data-market-id="1"] [data-outcome-id="1"]'
    page.wait_for_selector(f"{cell}.flash-up")
    assert page.evaluate("document.getAnimations().length") == 0
    page.clock.run_for(3_600)  # the flash's 2.5 s, and the clock's tick that takes it off
    assert page.locator(f"{cell}.flash-up").count() == 0
    upstream.send_frame(frames.ODDS_CHANGE, match_odds(4000, price=2.1))
    page.wait_for_selector(f"{cell}.flash-down")
    assert page.evaluate("document.getAnimations().length") == 0


def test_upstream_away_turns_the_banner_down_and_lines_suspended(page, upstream):
    upstream.stop()
    page.wait_for_selector('#feed-banner[data-feed-status="down"]', timeout=5000)
    wait_status(page, 1, "suspended")
    assert line(page, 1).locator('[data-outcome-id="1"] .odds').inner_text() == "2.00"
    shot(page, "feed-down")
    upstream.start()
    upstream.wait_connected()
    upstream.alive()
    page.wait_for_selector('#feed-banner[data-feed-status="up"]', timeout=10000)
    # The feed may have said more while it was away: the line waits for odds sent after.
    page.wait_for_selector(
        f'.line[data-event-id="{EVENT}"][data-market-id="1"][data-stop="feed_gap"]'
    )
    upstream.send_frame(frames.ODDS_CHANGE, match_odds(5000))
    wait_status(page, 1, "active")


def test_dropped_socket_reconnects_and_resyncs_without_stale_active_lines(page, upstream):
    page.evaluate("window.marketBoard.ws.close()")
    # While the page has no socket, nothing reads as bettable.
    page.wait_for_selector('#feed-banner[data-feed-status="down"]', timeout=2000)
    stop = bet_stop(EVENT, "all", product=None, stamp=5000, market_status=None)
    upstream.send_frame(frames.BET_STOP, stop)
    wait_status(page, 1, "suspended")
    page.wait_for_selector('#feed-banner[data-feed-status="up"]', timeout=10000)
    wait_until(
        lambda: line(page, 1).get_attribute("data-status") == "suspended", what="resynced state"
    )
    assert line(page, 166).get_attribute("data-status") == "suspended"


def test_bet_stop_log_lists_the_newest_first_after_a_resync(page, upstream):
    for number, groups in enumerate(("corner", "booking", "score")):
        stop = bet_stop(EVENT, groups, product=None, stamp=2000 + number, market_status=None)
        upstream.send_frame(frames.BET_STOP, stop)
        page.wait_for_function(
            f"document.querySelectorAll('#bet-stop-log li.bet-stop').length === {number + 1}"
        )
    page.reload()
    page.wait_for_selector("#bet-stop-log li.bet-stop >> nth=2")
    texts = page.locator("#bet-stop-log li.bet-stop").all_inner_texts()
    # In words ("corner" and "bookings" as the descriptions name their groups).
    assert [text.split(" · ")[1] for text in texts] == ["score", "bookings", "corners"]


def big_snapshot(events=600, lines=30):
    health = {"up": True, "alive_age_ms": 0, "offset_s": 0}
    snapshot = {
        "type": "snapshot",
        "seq": 7,
        "health": {"connected": True, "products": {"1": health, "3": health}},
        "bet_stops": [],
        "events": [
            {"event_id": f"sr:match:{e}", "product": 1, "name": f"Home {e} v Away {e}"}
            for e in range(events)
        ],
        "lines": [
            {
                "event_id": f"sr:match:{e}",
                "market_id": 18,
                "specifiers": f"total={n}.5",
                "product": 1,
                "status": "active",
                "name": "Total",
                "groups": ["all"],
                "updated_at": 1000,
                "reason": None,
                "outcomes": {
                    "12": {"odds": 1.9, "active": True},
                    "13": {"odds": 1.9, "active": True},
                },
            }
            for e in range(events)
            for n in range(lines)
        ],
    }
    return snapshot


def test_a_message_during_a_big_first_render_is_not_undone_by_the_snapshot(
    browser, sqlite_database_url
):
    # The socket is played by the test here: what is under test is the order in which the page
    # builds a big board and applies a message that arrives meanwhile.
    snapshot = big_snapshot()
    last = dict(snapshot["lines"][-1], status="suspended", reason="all")
    stop = {
        "type": "bet_stop",
        "seq": 8,
        "cmd": 10030,
        "time": 2000,
        "data": {"event_id": last["event_id"], "groups": "all", "timestamp": 2000},
        "received": 2001,
        "status": "suspended",
        "lines": [last],
        "entry": {
            "event_id": last["event_id"],
            "product": 1,
            "groups": "all",
            "market_status": "",
            "status": "suspended",
            "sent_at": 2000,
            "received_at": 2001,
            "lines_hit": 1,
        },
    }

    sockets = []

    def serve(ws):
        sockets.append(ws)
        ws.send(json.dumps(snapshot))

    with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
        page = browser.new_page(
            # Playwright compiles wait_for_function's predicates with eval in the page, which
            # the app's Content-Security-Policy forbids; test_accounts_browser.py keeps it on.
            viewport={"width": 1280, "height": 800},
            bypass_csp=True,
        )
        page.route_web_socket("**/ws", serve)
        page.goto(f"http://{address}/")
        page.wait_for_function("marketBoard.synced && marketBoard.pending > 0", polling=5)
        sockets[0].send(json.dumps(stop))  # while most of the board is still to be built
        page.wait_for_function("marketBoard.pending === 0 && marketBoard.seq === 8")
        assert page.evaluate("marketBoard.lines.size") == len(snapshot["lines"])
        row = page.locator(
            f'.line[data-event-id="{last["event_id"]}"][data-specifiers="{last["specifiers"]}"]'
        )
        assert row.get_attribute("data-status") == "suspended"
        assert row.get_attribute("aria-disabled") == "true"
        page.close()


def test_relay_link_down_shows_every_line_suspended_with_its_reason(browser, sqlite_database_url):
    # The socket is played by the test: a web worker that lost Redis sends exactly this.
    from feed.bus.mirror import dumps, link_down_health

    snapshot = big_snapshot(events=3, lines=2)
    sockets = []

    def serve(ws):
        sockets.append(ws)
        ws.send(json.dumps(snapshot))

    with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route_web_socket("**/ws", serve)
        page.goto(f"http://{address}/")
        page.wait_for_selector('#feed-banner[data-feed-status="up"]')
        sockets[0].send(dumps({"type": "health", "seq": 8, "health": link_down_health()}))
        page.wait_for_selector('#feed-banner[data-feed-status="down"]')
        rows = page.locator(".line")
        assert rows.count() == 6
        for index in range(6):
            assert rows.nth(index).get_attribute("data-status") == "suspended"
            assert rows.nth(index).get_attribute("data-stop") == "feed_down"
            assert rows.nth(index).locator(".why").inner_text() == "relay link down"
            assert rows.nth(index).get_attribute("title").startswith("relay link down since ")
        assert "relay link down" in page.locator("#feed-banner").inner_text()
        assert "relay link down" in page.locator("#outage-banner").inner_text()
        page.close()
