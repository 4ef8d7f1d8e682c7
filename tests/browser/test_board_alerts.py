"""Alerts: a BetStop flashes its card (and beeps if asked), the tab says what is down, a product
down cannot be missed and is logged with its duration."""

import re

import pytest

from feed.upstream import frames
from tests import feed_messages as messages
from tests.board_page import (
    GREY,
    HEALTHY,
    UP,
    PlayedSocket,
    log_entry,
    new_page,
    now_ms,
    open_played,
    page_server,
    shot,
    snapshot,
    texts,
    two_events,
)
from tests.servers import feed_process, gunicorn, web_dyno

pytestmark = pytest.mark.browser

LIVE_DOWN = {
    "connected": True,
    "products": {
        "1": {"up": False, "alive_age_ms": 25_000, "offset_s": 0},
        "3": {"up": True, "alive_age_ms": 0, "offset_s": 0},
    },
}


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
        markets = [messages.market(1, messages.line(specifiers=None))]  # no specifiers at all
        odds = messages.odds(markets, messages.event_id(9), stamp=1000)
        upstream.send_frame(frames.ODDS_CHANGE, odds)
        page = new_page(browser, address)
        page.wait_for_selector('.line[data-status="active"]')
        upstream.alive(offset=30)  # the odds source is late: both products down
        page.wait_for_selector("#outage-banner:not([hidden])")
        assert "LIVE FEED DOWN" in page.locator("#outage-banner").inner_text()
        assert "PREMATCH FEED DOWN" in page.locator("#outage-banner").inner_text()
        page.wait_for_function("document.title.startsWith('Live + Prematch DOWN')")
        # The start (down until the first alive, within 20 s) lost nothing: no entry of its own.
        assert page.locator("#bet-stop-log li.outage:not(.ended)").count() == 2
        assert len(outage_log(page, "30 s behind")) == 2
        upstream.alive()
        page.wait_for_selector("#outage-banner", state="hidden")
        assert page.locator("#bet-stop-log li.outage.ended").count() == 2
        assert outage_log(page, "upstream not connected yet") == []
        ended = outage_log(page, "30 s behind")
        assert len(ended) == 2 and all(re.search(r" · lasted 0:\d\d$", text) for text in ended)
        page.context.close()


def hms(page, ms):
    """`ms` on the page's own 24-hour clock, as the board writes it: a time of today as it is,
    one of another day (just after midnight) with its day and month."""
    return page.evaluate(
        "ms => { const date = new Date(ms);"
        " const today = new Date().toDateString() === date.toDateString();"
        " return new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit',"
        " second: '2-digit', hourCycle: 'h23', ...(today ? {} : {day: 'numeric', month: 'short'})"
        "}).format(date); }",
        ms,
    )


def test_the_servers_outages_are_in_the_log_with_why_since_until_and_for_how_long(browser, address):
    now = now_ms()
    behind = "the source is 30 s behind"
    ended = {
        "product": 1,
        "reason": "no alive for 20 s",
        "since": now - 100_000,
        "until": now - 40_000,
        "duration_ms": 60_000,
    }
    going_on = {"product": 3, "reason": behind, "since": now - 90_000}
    going_on |= {"until": None, "duration_ms": None}
    down = {"up": False, "alive_age_ms": 0, "offset_s": 30, "reason": behind}
    health = {"connected": True, "products": {"1": UP, "3": down | {"down_since": now - 90_000}}}
    events, lines = two_events()
    played = PlayedSocket(snapshot(events, lines, health=health) | {"outages": [ended, going_on]})
    page = open_played(browser, address, played)
    log = page.locator("#bet-stop-log li.outage")
    since, until = hms(page, now - 90_000), hms(page, now - 40_000)
    assert texts(log) == [
        f"{since} Prematch feed down · {behind} · still down",
        f"{hms(page, now - 100_000)} Live feed down · no alive for 20 s"
        f" · until {until} · lasted 1:00",
    ]
    # The banner counts from when the server says the product went down, not from this page.
    banner = page.locator("#outage-banner").inner_text()
    assert re.search(rf"PREMATCH FEED DOWN since {since} \(1:3\d\)", banner), banner
    assert behind in banner
    # Its end comes with the health message that brings the product back: the same entry.
    back = now_ms()
    played.send(
        {
            "type": "health",
            "health": HEALTHY,
            "outages": [going_on | {"until": back, "duration_ms": back - going_on["since"]}],
        }
    )
    page.wait_for_selector("#outage-banner", state="hidden")
    assert log.count() == 2
    assert re.fullmatch(
        rf"{since} Prematch feed down · {behind} · until \d\d:\d\d:\d\d · lasted 1:3\d",
        log.first.inner_text(),
    )
    page.context.close()


def outage_log(page, reason):
    return [text for text in texts(page.locator("#bet-stop-log li.outage")) if reason in text]


def an_outage_of_a_second(upstream, page):
    """Both products down (the source is 30 s late) for a second or so, then up again."""
    upstream.alive(offset=30)
    page.wait_for_selector("#outage-banner:not([hidden])", timeout=10_000)
    page.wait_for_timeout(1100)
    upstream.alive()
    page.wait_for_selector("#outage-banner", state="hidden", timeout=10_000)


ENDED_BEHIND = re.compile(
    r"\d\d:\d\d:\d\d (Live|Prematch) feed down · the source is 30 s behind"
    r" · until \d\d:\d\d:\d\d · lasted 0:0[1-4]"
)


def test_every_board_shows_the_servers_outages_after_a_reload_and_when_it_connects_later(
    browser, upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        first = new_page(browser, address)
        first.wait_for_selector('#feed-banner[data-feed-status="up"]')
        an_outage_of_a_second(upstream, first)
        seen = outage_log(first, "30 s behind")
        assert len(seen) == 2 and all(ENDED_BEHIND.fullmatch(text) for text in seen), seen
        later = new_page(browser, address)  # a board that connects after the outage
        assert outage_log(later, "30 s behind") == seen
        # The start, until the first alive within 20 s, lost nothing: no entry.
        assert outage_log(later, "upstream not connected yet") == []
        assert len(texts(later.locator("#bet-stop-log li.outage"))) == 2
        first.reload()
        first.wait_for_function("marketBoard.synced")
        assert outage_log(first, "30 s behind") == seen
        later.context.close()
        first.context.close()


@pytest.mark.slow
def test_a_deployed_boards_log_shows_the_feed_process_outages_after_a_reload(
    browser, upstream, sqlite_database_url, redis_bus_url
):
    url, prefix = redis_bus_url
    settings = {"REDIS_URL": url, "REDIS_PREFIX": prefix, "FEED_URL": upstream.url}
    with (
        feed_process(sqlite_database_url, DYNO="feed.1", **settings),
        web_dyno(sqlite_database_url, WEB_CONCURRENCY="2", **settings) as (address, _),
    ):
        upstream.wait_connected(timeout=20)
        upstream.alive()
        first = new_page(browser, address)
        first.wait_for_selector('#feed-banner[data-feed-status="up"]', timeout=20_000)
        an_outage_of_a_second(upstream, first)
        seen = outage_log(first, "30 s behind")
        assert len(seen) == 2 and all(ENDED_BEHIND.fullmatch(text) for text in seen), seen
        # Boards that connect later, on either web worker, and the first one reloaded.
        later = [new_page(browser, address) for _ in range(3)]
        first.reload()
        first.wait_for_function("marketBoard.synced")
        for page in [*later, first]:
            page.wait_for_selector('#feed-banner[data-feed-status="up"]', timeout=10_000)
            assert outage_log(page, "30 s behind") == seen
            page.context.close()


def moved(played, index, home):
    """The snapshot's line `index` again, its home odds at `home`."""
    was = played.snapshot["lines"][index]
    outcomes = {oid: dict(o) for oid, o in was["outcomes"].items()}
    first = next(iter(outcomes))
    outcomes[first]["odds"] = home
    return dict(was, outcomes=outcomes)


CELL = '.line[data-event-id="sr:match:1"][data-market-id="1"] [data-outcome-id="1"]'


def test_an_odds_move_shows_an_arrow_and_a_short_tint_of_its_own_colour(page, played):
    cell = page.locator(CELL)
    still = cell.evaluate("e => getComputedStyle(e).backgroundColor")
    played.odds([moved(played, 0, 2.4)])
    page.wait_for_selector(f'{CELL}[data-move="up"]')
    arrow = cell.locator(".odds").evaluate("e => getComputedStyle(e, '::after').content")
    assert arrow == '"▲"'
    tinted = cell.evaluate("e => getComputedStyle(e).backgroundColor")
    assert tinted != still
    # Short: the tint goes after about a second, the arrow stays a little longer.
    page.wait_for_function(
        f"getComputedStyle(document.querySelector('{CELL}')).backgroundColor === '{still}'",
        timeout=1800,
    )
    assert cell.get_attribute("data-move") == "up"
    page.wait_for_selector(f"{CELL}:not([data-move])", state="attached", timeout=5000)
    played.odds([moved(played, 0, 1.9)])
    page.wait_for_selector(f'{CELL}[data-move="down"]')
    assert cell.locator(".odds").evaluate("e => getComputedStyle(e, '::after').content") == '"▼"'
    # Not the red of the Live badge, BetStops and outages.
    badge = page.locator(".badge.live").first
    live_red = badge.evaluate("e => getComputedStyle(e).backgroundColor")
    down = cell.evaluate("e => getComputedStyle(e).backgroundColor")
    arrow_colour = cell.locator(".odds").evaluate("e => getComputedStyle(e, '::after').color")
    assert live_red not in (down, arrow_colour)
    assert page.evaluate("document.getAnimations().length") == 0


def test_a_suspended_line_keeps_its_grey_when_its_odds_move(page, played):
    played.bet_stop("sr:match:1", played.snapshot["lines"][:1])
    page.wait_for_selector('.line[data-event-id="sr:match:1"][data-market-id="1"][data-stop]')
    played.odds([moved(played, 0, 2.6) | {"status": "suspended", "reason": "all"}])
    page.wait_for_selector(f'{CELL}[data-move="up"]')
    assert page.locator(CELL).evaluate("e => getComputedStyle(e).backgroundColor") == GREY
    assert page.locator(CELL).evaluate("e => getComputedStyle(e).borderColor") != (
        page.locator(".badge.live").first.evaluate("e => getComputedStyle(e).backgroundColor")
    )


def test_odds_moves_can_be_turned_off_and_it_is_remembered(page, played):
    assert page.is_checked("#odds-moves")
    page.uncheck("#odds-moves")
    page.reload()
    page.wait_for_function("marketBoard.synced && marketBoard.pending === 0")
    assert not page.is_checked("#odds-moves")
    played.odds([moved(played, 0, 2.4)])
    page.wait_for_function(
        f"document.querySelector('{CELL} .odds').textContent === '2.40'", timeout=3000
    )
    page.wait_for_timeout(300)
    assert page.locator(CELL).get_attribute("data-move") is None
    assert "tint" not in classes(page, CELL)


def chip(page, product):
    return page.locator(f'#feed-banner .product[data-product="{product}"]')


def test_a_product_is_late_at_half_the_servers_alive_timeout(page, played):
    # The server's FEED_ALIVE_TIMEOUT_SECONDS comes with its health: 4 s, so late past 2 s.
    late = {"up": True, "alive_age_ms": 2_500, "offset_s": 0}
    health = {"connected": True, "products": {"1": late, "3": UP}, "alive_timeout_ms": 4_000}
    played.health(health)
    # Within 3 s: by the page's own clock, the age would pass the default's 10 s after 7.5 s.
    late_chip = '#feed-banner .product[data-product="1"][data-late="true"]'
    page.wait_for_selector(late_chip, timeout=3000)
    assert chip(page, 3).get_attribute("data-late") == "false"
    # Without it, a server's default (20 s): the same age is not late.
    played.health({"connected": True, "products": {"1": late, "3": UP}})
    page.wait_for_selector(
        '#feed-banner .product[data-product="1"][data-late="false"]', timeout=3000
    )


def test_a_product_whose_alive_is_late_turns_amber_before_it_is_down(page, played):
    late = {"up": True, "alive_age_ms": 9_000, "offset_s": 0}
    played.health({"connected": True, "products": {"1": late, "3": UP}})
    page.wait_for_function(
        "document.querySelector('#feed-banner .product[data-product=\"1\"] .alive-age')"
        ".textContent === 'alive 9 s ago'"
    )
    assert chip(page, 1).locator(".product-state").inner_text() == "up"
    # Past 10 s without an alive, by the page's own clock, before any new message: late.
    late_chip = '#feed-banner .product[data-product="1"][data-late="true"]'
    page.wait_for_selector(late_chip, timeout=4000)
    assert chip(page, 1).locator(".product-state").inner_text() == "late"
    amber = chip(page, 1).locator(".product-state").evaluate("e => getComputedStyle(e).color")
    green = chip(page, 3).locator(".product-state").evaluate("e => getComputedStyle(e).color")
    assert amber != green
    assert page.locator("#feed-banner").get_attribute("data-feed-status") == "up"
    assert page.locator("#feed-banner .banner-state").inner_text() == "Feed late"
    played.health(LIVE_DOWN)
    page.wait_for_selector('#feed-banner .product[data-product="1"][data-up="false"]')
    assert chip(page, 1).get_attribute("data-late") == "false"
    assert chip(page, 1).locator(".product-state").inner_text() == "down"


def test_after_a_reconnect_the_banner_does_not_say_no_alive_yet(page, played):
    waiting = {
        "up": False,
        "alive_age_ms": None,
        "offset_s": 0,
        "alives_before": True,
        "reason": "no alive since the reconnect",
    }
    played.health({"connected": True, "products": {"1": waiting, "3": waiting}})
    page.wait_for_selector('#feed-banner .product[data-product="1"][data-up="false"]')
    assert chip(page, 1).locator(".alive-age").inner_text() == "no alive since the reconnect"
    assert "no alive yet" not in page.locator("#feed-banner").inner_text()


def test_a_start_up_that_lost_nothing_leaves_no_outage_in_the_log(browser, address):
    now = now_ms()
    starting = {"up": False, "alive_age_ms": None, "offset_s": 0}
    starting |= {"reason": "upstream not connected yet", "down_since": now - 2_000}
    start = [
        {
            "product": product,
            "reason": "upstream not connected yet",
            "since": now - 2_000,
            "until": None,
            "duration_ms": None,
            "startup": True,
        }
        for product in (1, 3)
    ]
    events, lines = two_events()
    health = {"connected": True, "products": {"1": starting, "3": starting}}
    played = PlayedSocket(snapshot(events, lines, health=health) | {"outages": start})
    page = open_played(browser, address, played)
    # Down while it starts (the banner says so), but no entry yet.
    page.wait_for_selector("#outage-banner:not([hidden])")
    assert page.locator("#bet-stop-log li.outage").count() == 0
    back = now_ms()
    ended = [o | {"until": back, "duration_ms": back - o["since"]} for o in start]
    played.send({"type": "health", "health": HEALTHY, "outages": ended})
    page.wait_for_selector("#outage-banner", state="hidden")
    page.wait_for_timeout(1200)  # a clock tick: this page logs nothing of its own either
    assert page.locator("#bet-stop-log li.outage").count() == 0
    page.context.close()


def test_a_start_up_that_lasts_past_20_seconds_is_an_outage(browser, address):
    now = now_ms()
    starting = {"up": False, "alive_age_ms": None, "offset_s": 0}
    starting |= {"reason": "upstream not connected yet", "down_since": now - 25_000}
    start = {
        "product": 1,
        "reason": "upstream not connected yet",
        "since": now - 25_000,
        "until": None,
        "duration_ms": None,
        "startup": True,
    }
    events, lines = two_events()
    health = {"connected": True, "products": {"1": starting, "3": UP}}
    played = PlayedSocket(snapshot(events, lines, health=health) | {"outages": [start]})
    page = open_played(browser, address, played)
    entry = page.locator("#bet-stop-log li.outage")
    entry.wait_for()
    assert entry.inner_text().endswith("Live feed down · upstream not connected yet · still down")
    page.context.close()


def test_a_log_entry_says_which_markets_why_and_when_they_reopened_after_how_long(page, played):
    played.bet_stop(
        "sr:match:1", played.snapshot["lines"][:2], groups="regular_play", betstop_reason=1
    )
    stop = played.entries[-1]
    entry = page.locator("#bet-stop-log li.bet-stop").first
    entry.wait_for()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d Arsenal v Benfica · regular play · Possible goal · suspended"
        r" · 2 lines: 1x2, Total 2\.5 · still stopped",
        entry.inner_text(),
    ), entry.inner_text()
    played.reopened(stop, reopened=1)
    page.wait_for_function(
        "document.querySelector('#bet-stop-log li.bet-stop').textContent"
        ".endsWith('1 of 2 still stopped')"
    )
    played.reopened(stop, reopened=1, at=stop["received_at"] + 42_000)
    page.wait_for_function(
        "document.querySelector('#bet-stop-log li.bet-stop').textContent.includes('reopened')"
    )
    reopened = r" · 2 lines: 1x2, Total 2\.5 · reopened \d\d:\d\d:\d\d · stopped 42 s$"
    assert re.search(reopened, entry.inner_text()), entry.inner_text()
    played.bet_stop("sr:match:2", played.snapshot["lines"][2:])
    page.wait_for_function(
        "document.querySelector('#bet-stop-log li.bet-stop').textContent"
        ".endsWith(' · 1 line: Winner (incl. overtime) · still stopped')"
    )


def test_the_history_says_which_markets_why_when_they_reopened_and_one_line(page, played):
    at = now_ms() - 60_000
    one, two = played.snapshot["lines"][:2]
    scorer = dict(two, market_id=40, specifiers="total=1.5", name="{$competitor1} total")
    markets = [one, two, scorer, two, two]
    stops = [
        log_entry("sr:match:1", [one], "1st_half|incl_ot", "suspended", at, betstop_reason=1)
        | {"still_stopped": 0, "reopened_lines": 1, "followed": False}
        | {"reopened_at": at + 42_000, "duration_ms": 42_000},
        log_entry("sr:match:1", markets, "all", "suspended", at - 1000, betstop_reason="VAR"),
        log_entry("sr:match:1", [one, two], "score", "deactivated", at - 2000)
        | {"still_stopped": 0, "closed_lines": 2, "followed": False},
        log_entry("sr:match:1", [one, two], "all", "suspended", at - 3000)
        | {"still_stopped": 1, "reopened_lines": 1, "followed": False},
        # Logged before the log named markets and followed them.
        {
            "event_id": "sr:match:1",
            "groups": "all",
            "status": "suspended",
            "sent_at": at - 4000,
            "received_at": at - 4000,
            "lines_hit": 1,
        },
    ]
    page.route("**/feed/bet-stops?*", lambda route: route.fulfill(json={"bet_stops": stops}))
    page.locator('.event[data-event-id="sr:match:1"] .history-button').click()
    page.wait_for_selector("#history[open] .history-list li >> nth=4")
    entries = texts(page.locator("#history .history-list li"))
    reopened = clock_text(page, at + 42_000)
    assert entries[0].endswith(
        " · 1st half, incl. overtime · Possible goal · suspended · 1 line: 1x2"
        f" · reopened {reopened} · stopped 42 s"
    ), entries[0]
    assert entries[1].endswith(
        " · all · VAR · suspended · 5 lines: 1x2, Total 2.5, Arsenal total 1.5 +2 more"
        " · still stopped"
    ), entries[1]
    assert entries[2].endswith(
        " · score · deactivated · 2 lines: 1x2, Total 2.5 · closed, not reopened"
    )
    assert entries[3].endswith(
        " · 2 lines: 1x2, Total 2.5 · 1 of 2 still stopped, no longer followed"
    )
    assert entries[4].endswith(" · all · suspended · 1 line"), entries[4]


def clock_text(page, ms):
    """A time as the page writes it (its clock, in its locale and time zone)."""
    return page.evaluate(
        "ms => new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit',"
        " second: '2-digit', hourCycle: 'h23'}).format(new Date(ms))",
        ms,
    )
