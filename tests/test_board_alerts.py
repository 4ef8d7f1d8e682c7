"""Alerts: a BetStop flashes its card (and beeps if asked), the tab says what is down, a product
down cannot be missed and is logged with its duration."""

import re

import pytest

from feed import frames
from tests.board_page import (
    HEALTHY,
    PlayedSocket,
    chromium,
    new_page,
    open_played,
    page_server,
    shot,
    snapshot,
    two_events,
)
from tests.servers import gunicorn

pytestmark = pytest.mark.browser

LIVE_DOWN = {
    "connected": True,
    "products": {
        "1": {"up": False, "alive_age_ms": 25_000, "offset_s": 0},
        "3": {"up": True, "alive_age_ms": 0, "offset_s": 0},
    },
}


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.fixture(scope="module")
def address(sqlite_template, tmp_path_factory):
    yield from page_server(sqlite_template, tmp_path_factory)


@pytest.fixture
def played():
    events, lines = two_events()
    return PlayedSocket(snapshot(events, lines))


@pytest.fixture
def page(browser, address, played):
    page = open_played(browser, address, played)
    yield page
    page.context.close()


def classes(page, selector):
    return page.locator(selector).evaluate("e => [...e.classList]")


def test_a_bet_stop_flashes_its_card_briefly_and_only_its_card(page, played):
    hit = played.snapshot["lines"][:2]
    played.bet_stop("sr:match:1", hit)
    page.wait_for_selector('.event[data-event-id="sr:match:1"].stop-flash')
    assert "stop-flash" not in classes(page, '.event[data-event-id="sr:match:2"]')
    # Briefly: the one shared sweep takes it off, and nothing animates meanwhile.
    assert page.evaluate("document.getAnimations().length") == 0
    page.wait_for_selector(
        '.event[data-event-id="sr:match:1"]:not(.stop-flash)', state="attached", timeout=5000
    )


def test_the_sound_is_off_by_default_and_the_toggle_is_remembered(page, played):
    assert not page.is_checked("#sound")
    played.bet_stop("sr:match:1", played.snapshot["lines"][:1])
    page.wait_for_selector("#bet-stop-log li")
    assert page.evaluate("marketBoard.sounds") == 0
    page.check("#sound")
    page.reload()
    page.wait_for_function("marketBoard.synced")
    assert page.is_checked("#sound")
    played.bet_stop("sr:match:1", played.snapshot["lines"][:1])
    page.wait_for_function("marketBoard.sounds === 1")
    page.uncheck("#sound")
    page.reload()
    page.wait_for_function("marketBoard.synced")
    assert not page.is_checked("#sound")


def test_the_tab_title_and_icon_say_how_many_lines_are_stopped_and_what_is_down(page, played):
    assert page.title() == "Market board"
    assert page.locator("#favicon").get_attribute("href").endswith("favicon-ok.svg")
    played.bet_stop("sr:match:1", played.snapshot["lines"][:2])
    page.wait_for_function("document.title === '2 stopped — Market board'")
    assert page.locator("#favicon").get_attribute("href").endswith("favicon-stopped.svg")
    played.health(LIVE_DOWN)
    # Both live lines were stopped already; the live lines of no other event exist.
    page.wait_for_function("document.title === 'Live DOWN · 2 stopped — Market board'")
    assert page.locator("#favicon").get_attribute("href").endswith("favicon-down.svg")
    played.health(HEALTHY)
    page.wait_for_function("document.title === '2 stopped — Market board'")


def test_a_product_down_shows_a_banner_with_since_when_and_the_servers_reason(page, played):
    played.health(LIVE_DOWN | {"reason": "relay link down"})
    banner = page.locator("#outage-banner")
    page.wait_for_selector("#outage-banner:not([hidden])")
    text = banner.inner_text()
    assert re.search(r"LIVE FEED DOWN since \d\d:\d\d:\d\d \(0:0\d\)", text), text
    assert "relay link down" in text
    assert "relay link down" in page.locator("#feed-banner").inner_text()
    # It cannot be missed: across the window, in red, fixed in view whatever is scrolled.
    box = banner.bounding_box()
    assert box["width"] >= 1280 and 0 <= box["y"] <= 800 - box["height"]
    assert banner.evaluate("e => getComputedStyle(e).position") == "fixed"
    assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(179, 38, 30)"
    shot(page, "product-down", docs=True)
    played.health(HEALTHY)
    page.wait_for_selector("#outage-banner", state="hidden")


def test_an_outage_is_an_entry_in_the_log_with_its_duration_when_it_ends(page, played):
    played.health(LIVE_DOWN)
    entry = page.locator("#bet-stop-log li.outage")
    page.wait_for_selector("#bet-stop-log li.outage")
    assert re.fullmatch(r"\d\d:\d\d:\d\d Live feed down · still down", entry.inner_text())
    page.wait_for_timeout(1200)
    played.health(HEALTHY)
    page.wait_for_selector("#bet-stop-log li.outage.ended")
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d Live feed down · until \d\d:\d\d:\d\d · lasted 0:0[1-3]",
        entry.inner_text(),
    )
    # A BetStop after it goes above it: newest first.
    played.bet_stop("sr:match:1", played.snapshot["lines"][:1])
    page.wait_for_selector("#bet-stop-log li.bet-stop")
    assert page.locator("#bet-stop-log li").first.get_attribute("class") == "bet-stop"


def test_an_upstream_outage_end_to_end_banner_log_and_title(browser, upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(
            frames.ODDS_CHANGE,
            {
                "event_id": "sr:match:9",
                "product": 1,
                "timestamp": 1000,
                "markets": [{"id": 1, "lines": [{"outcomes": [{"id": "1", "odds": 2.0}]}]}],
            },
        )
        page = new_page(browser, address)
        page.wait_for_selector('.line[data-status="active"]')
        upstream.alive(offset=30)  # the odds source is late: both products down
        page.wait_for_selector("#outage-banner:not([hidden])")
        assert "LIVE FEED DOWN" in page.locator("#outage-banner").inner_text()
        assert "PREMATCH FEED DOWN" in page.locator("#outage-banner").inner_text()
        page.wait_for_function("document.title.startsWith('Live + Prematch DOWN')")
        assert page.locator("#bet-stop-log li.outage").count() == 2
        upstream.alive()
        page.wait_for_selector("#outage-banner", state="hidden")
        assert page.locator("#bet-stop-log li.outage.ended").count() == 2
        page.context.close()
