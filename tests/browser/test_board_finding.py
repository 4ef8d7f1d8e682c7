"""Finding things: dense view, sort, group, pins, filters on the count and the log, the log's
links, each event's BetStop history, the keyboard, dark mode, a phone."""

import time

import pytest

from feed.upstream import frames
from tests import feed_messages as messages
from tests.board_page import (
    PlayedSocket,
    busy_board,
    event,
    line,
    new_page,
    now_ms,
    open_played,
    page_server,
    shot,
    snapshot,
    texts,
)
from tests.servers import gunicorn

pytestmark = pytest.mark.browser

HOUR = 3600_000


def board():
    now = now_ms()
    events = [
        event(
            "sr:match:4", "Sinner v Alcaraz", product=3, sport="tennis", start_time=now + 3 * HOUR
        ),
        event(
            "sr:match:3", "Lakers v Celtics", product=3, sport="basketball", start_time=now + HOUR
        ),
        event("sr:match:2", "Celtic v Dortmund", start_time=now - HOUR // 2, status="7"),
        event("sr:match:1", "Arsenal v Benfica", start_time=now - HOUR, status="6"),
    ]
    lines = []
    for number, (product, main) in enumerate([(1, 1), (1, 1), (3, 219), (3, 186)], start=1):
        event_id = f"sr:match:{number}"
        if main in (219, 186):
            two_way = {"4": (1.6, "{$competitor1}"), "5": (2.3, "{$competitor2}")}
            lines.append(line(event_id, main, "", two_way, product=product, name="Winner"))
        else:
            lines.append(line(event_id, 1, product=product))
        lines.append(
            line(
                event_id,
                18,
                "total=2.5",
                {"12": (1.8, "Over 2.5"), "13": (2.0, "Under 2.5")},
                product=product,
                name="Total",
            )
        )
    return snapshot(events, lines)


@pytest.fixture(scope="module")
def address(sqlite_template, tmp_path_factory):
    yield from page_server(sqlite_template, tmp_path_factory)


@pytest.fixture
def played():
    return PlayedSocket(board())


@pytest.fixture
def page(browser, address, played):
    page = open_played(browser, address, played)
    page.wait_for_timeout(200)  # the first ordering pass
    yield page
    page.context.close()


def order(page):
    # Text content, not inner text: an off-screen card's content is not rendered.
    return page.locator("#events .event:not([hidden]) .event-name").all_text_contents()


def lines_of(played, event_id):
    return [x for x in played.snapshot["lines"] if x["event_id"] == event_id]


def count(page):
    return page.locator("#suspended-count").inner_text().strip()


def test_live_first_then_start_time_or_the_latest_bet_stop_first(page, played):
    assert order(page) == [
        "Arsenal v Benfica",
        "Celtic v Dortmund",
        "Lakers v Celtics",
        "Sinner v Alcaraz",
    ]
    page.select_option("#sort", "bet-stop")
    played.bet_stop("sr:match:4", lines_of(played, "sr:match:4"))
    page.wait_for_selector("#sort-now[data-due]")
    page.click("#sort-now")  # at once, not at the next 10 s
    page.wait_for_function(
        "document.querySelector('#events .event-name').textContent.startsWith('Sinner')"
    )
    played.bet_stop("sr:match:2", lines_of(played, "sr:match:2"))
    page.wait_for_selector("#sort-now[data-due]")
    page.click("#sort-now")
    page.wait_for_function(
        "document.querySelector('#events .event-name').textContent.startsWith('Celtic')"
    )
    assert order(page) == [
        "Celtic v Dortmund",
        "Sinner v Alcaraz",
        "Arsenal v Benfica",
        "Lakers v Celtics",
    ]
    page.reload()  # the choice is kept by the browser
    page.wait_for_function("marketBoard.synced")
    assert page.locator("#sort").input_value() == "bet-stop"


def test_group_by_sport(page):
    page.check("#group-sport")
    page.wait_for_selector("#events .group-head")
    sequence = page.evaluate(
        """[...document.querySelectorAll('#events > *')].map(e =>
            e.classList.contains('group-head') ? '# ' + e.textContent
                                                : e.querySelector('.event-name').textContent)"""
    )
    assert sequence == [
        "# Basketball",
        "Lakers v Celtics",
        "# Football",
        "Arsenal v Benfica",
        "Celtic v Dortmund",
        "# Tennis",
        "Sinner v Alcaraz",
    ]
    shot(page, "grouped")


def test_a_pinned_event_stays_on_top_across_a_reload(page):
    card = page.locator('.event[data-event-id="sr:match:4"]')
    card.locator(".pin").click()
    assert card.locator(".pin").get_attribute("aria-pressed") == "true"
    assert order(page)[0] == "Sinner v Alcaraz"
    page.reload()
    page.wait_for_function("marketBoard.synced && marketBoard.pending === 0")
    page.wait_for_timeout(200)
    assert order(page)[0] == "Sinner v Alcaraz"
    assert page.locator('.event[data-event-id="sr:match:4"] .pin').get_attribute(
        "aria-pressed"
    ) == ("true")
    assert page.locator("#events .group-head").first.text_content() == "Pinned"
    page.locator('.event[data-event-id="sr:match:4"] .pin').click()
    assert order(page)[0] == "Arsenal v Benfica"


def test_filters_and_search_apply_to_the_count_and_the_log(page, played):
    played.bet_stop("sr:match:1", lines_of(played, "sr:match:1"))
    played.bet_stop("sr:match:3", lines_of(played, "sr:match:3"))
    page.wait_for_function("document.querySelectorAll('#bet-stop-log li').length === 2")
    page.wait_for_function("document.getElementById('suspended-count').textContent === '4'")
    page.select_option("#product-filter", "1")
    page.wait_for_function("document.getElementById('suspended-count').textContent === '2'")
    assert texts(page.locator("#bet-stop-log li:not([hidden]) .log-event")) == ["Arsenal v Benfica"]
    page.select_option("#product-filter", "")
    page.select_option("#sport-filter", "Basketball")
    page.wait_for_function("document.getElementById('suspended-count').textContent === '2'")
    assert order(page) == ["Lakers v Celtics"]
    assert texts(page.locator("#bet-stop-log li:not([hidden]) .log-event")) == ["Lakers v Celtics"]
    page.select_option("#sport-filter", "")
    page.fill("#event-search", "arsenal")
    assert order(page) == ["Arsenal v Benfica"]
    page.wait_for_function("document.getElementById('suspended-count').textContent === '2'")
    page.fill("#event-search", "no such team")
    page.wait_for_selector("#no-match:not([hidden])")
    assert "no such team" in page.locator("#no-match").inner_text()
    assert count(page) == "0"
    assert page.locator("#bet-stop-log li:not([hidden])").count() == 0
    page.fill("#event-search", "")
    page.wait_for_selector("#no-match", state="hidden")
    assert count(page) == "4"


def test_a_log_entry_scrolls_to_its_event_and_highlights_it(browser, address):
    now = now_ms()
    events = [event(f"sr:match:{n}", f"Home {n} v Away {n}", start_time=now + n) for n in range(40)]
    played = PlayedSocket(snapshot(events, [line(f"sr:match:{n}", 1) for n in range(40)]))
    page = open_played(browser, address, played)
    target = page.locator('.event[data-event-id="sr:match:37"]')
    assert not target.evaluate("e => e.getBoundingClientRect().top < innerHeight")
    played.bet_stop("sr:match:37", [line("sr:match:37", 1)])
    page.locator("#bet-stop-log li .log-jump").first.click()
    page.wait_for_function(
        """() => { const r = document.querySelector('.event[data-event-id="sr:match:37"]')
                     .getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"""
    )
    assert "highlight" in target.evaluate("e => [...e.classList]")
    assert page.evaluate("document.activeElement.dataset.eventId") == "sr:match:37"
    page.context.close()


def test_the_dense_view_is_one_row_per_event_with_its_main_market_and_its_stopped_count(
    page, played
):
    played.bet_stop("sr:match:1", lines_of(played, "sr:match:1"))
    page.check("#dense")
    card = page.locator('.event[data-event-id="sr:match:1"]')
    assert card.locator('.market[data-market-id="1"]').is_visible()
    assert not card.locator('.market[data-market-id="18"]').is_visible()
    assert card.locator(".event-stopped").inner_text() == "2 stopped"
    basketball = page.locator('.event[data-event-id="sr:match:3"]')
    assert basketball.locator('.market[data-market-id="219"]').is_visible()
    shot(page, "dense-cards")
    rows = "[...document.querySelectorAll('#events .event')]"
    heights = page.evaluate(f"{rows}.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 60  # one row each
    card.locator(".expand").click()
    assert card.locator('.market[data-market-id="18"]').is_visible()
    card.locator(".expand").click()
    assert not card.locator('.market[data-market-id="18"]').is_visible()
    page.uncheck("#dense")  # the card view stays available
    assert card.locator('.market[data-market-id="18"]').is_visible()


def test_the_dense_view_shows_thirty_events_at_1080p_each_with_its_market_named(browser, address):
    played = PlayedSocket(busy_board(60))
    page = open_played(browser, address, played, viewport=(1920, 1080))
    page.check("#dense")
    page.wait_for_timeout(200)
    visible = page.evaluate(
        """() => [...document.querySelectorAll('#events .event')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight;
        }).map(e => e.dataset.eventId)"""
    )
    assert len(visible) >= 30, len(visible)
    for event_id in visible:
        heading = page.locator(f'.event[data-event-id="{event_id}"] .market.main h3')
        assert heading.is_visible(), event_id
        assert heading.inner_text() in ("1x2", "Total")
    stopped = page.locator('.event[data-event-id="sr:match:1002"]')
    assert stopped.locator(".event-stopped").inner_text() == "1 stopped"
    shot(page, "dense", docs=True)
    page.context.close()


def test_the_keyboard_reaches_every_event_and_line(page):
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "event-search"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.eventId") == "sr:match:1"
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.eventId") == "sr:match:2"
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.dataset.eventId") == "sr:match:1"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    # Tab goes from the event into its controls and lines.
    for _ in range(4):
        page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "line"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    # Enter opens an event in the dense view.
    page.check("#dense")
    page.locator('.event[data-event-id="sr:match:2"]').focus()
    page.keyboard.press("Enter")
    card = page.locator('.event[data-event-id="sr:match:2"]')
    assert card.locator('.market[data-market-id="18"]').is_visible()
    assert card.locator(".expand").get_attribute("aria-expanded") == "true"


def test_enter_folds_a_card_to_its_main_market_in_the_card_view_and_opens_it_again(page):
    card = page.locator('.event[data-event-id="sr:match:1"]')
    other = page.locator('.event[data-event-id="sr:match:2"]')
    total = card.locator('.market[data-market-id="18"]')
    assert total.is_visible()
    assert card.locator(".expand").get_attribute("aria-expanded") == "true"
    card.focus()
    page.keyboard.press("Enter")
    assert not total.is_visible()
    assert card.locator('.market[data-market-id="1"]').is_visible()  # its main market stays
    assert card.locator(".expand").get_attribute("aria-expanded") == "false"
    assert other.locator('.market[data-market-id="18"]').is_visible()  # only the focused card
    assert page.evaluate("document.activeElement.dataset.eventId") == "sr:match:1"
    page.keyboard.press("Enter")
    assert total.is_visible()
    assert card.locator(".expand").get_attribute("aria-expanded") == "true"
    # The mouse does the same with the card's Markets button.
    card.locator(".expand").click()
    assert not total.is_visible()
    # Each view keeps its own: the dense row is closed as before, and opens on its own.
    page.check("#dense")
    assert card.locator(".expand").get_attribute("aria-expanded") == "false"
    card.focus()
    page.keyboard.press("Enter")
    assert total.is_visible()
    page.uncheck("#dense")
    assert not total.is_visible()  # still folded in the card view
    assert card.locator(".expand").get_attribute("aria-expanded") == "false"


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(browser, address, played):
    page = open_played(browser, address, played, color_scheme="dark")
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(18, 22, 28)"
    shot(page, "dark", docs=True)
    page.click("#theme")  # auto -> dark
    page.click("#theme")  # dark -> light
    assert page.locator("#theme").inner_text() == "Theme: light"
    assert page.evaluate(background) == "rgb(246, 247, 249)"
    page.reload()
    page.wait_for_function("marketBoard.synced")
    assert page.evaluate(background) == "rgb(246, 247, 249)"
    page.click("#theme")  # light -> auto: the system's dark again
    assert page.evaluate(background) == "rgb(18, 22, 28)"
    page.context.close()


def test_on_a_phone_the_header_is_small_and_the_log_is_reachable(browser, address, played):
    page = open_played(
        browser, address, played, viewport=(390, 844), is_mobile=True, has_touch=True
    )
    header = page.locator("#bar").bounding_box()
    assert header["height"] < 844 / 4
    assert not page.locator("#product-filter").is_visible()
    page.click("#controls-toggle")
    assert page.locator("#product-filter").is_visible()
    page.click("#controls-toggle")
    shot(page, "phone", docs=True)
    page.click(".to-log")
    page.wait_for_function(
        "document.getElementById('log').getBoundingClientRect().top < innerHeight"
    )
    assert page.locator("#log h2").is_visible()
    page.context.close()


def test_each_event_opens_its_own_bet_stop_history_by_name(browser, upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        for number, name in ((1, "Arsenal v Benfica"), (2, "Celtic v Dortmund")):
            event = messages.event_id(number)
            fixture = messages.fixture_change(event, 1, stamp=1, event_name=name)
            upstream.send_frame(frames.FIXTURE_CHANGE, fixture)
            markets = [messages.market(1, messages.line(specifiers=None))]
            upstream.send_frame(frames.ODDS_CHANGE, messages.odds(markets, event, stamp=1000))
        base = int(time.time() * 1000)
        for n, groups in enumerate(("score", "corners", "all")):
            stop = messages.bet_stop(messages.event_id(1), groups, None, base + n, None)
            upstream.send_frame(frames.BET_STOP, stop)
        stop = messages.bet_stop(messages.event_id(2), None, None, base + 9, None)
        upstream.send_frame(frames.BET_STOP, stop)
        page = new_page(browser, address)
        page.wait_for_selector("#bet-stop-log li.bet-stop >> nth=3")
        time.sleep(1.5)  # the log is written to the database within a second
        page.locator('.event[data-event-id="sr:match:1"] .history-button').click()
        page.wait_for_selector("#history[open] .history-list li >> nth=2")
        assert page.locator("#history-title").inner_text() == "BetStops of Arsenal v Benfica"
        entries = texts(page.locator("#history .history-list li"))
        assert len(entries) == 3  # its own, not the other event's
        assert [e.split(" · ")[1] for e in entries] == ["all", "corners", "score"]
        assert all("Arsenal v Benfica" in e and "sr:match" not in e for e in entries)
        shot(page, "history")
        page.keyboard.press("Escape")
        assert not page.locator("#history").is_visible()
        page.context.close()
