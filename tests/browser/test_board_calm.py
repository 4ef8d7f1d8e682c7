"""A board that holds still: drawn once in its final order, a log and an order that do not move
under the trader's pointer."""

import pytest

from tests.board_page import (
    PlayedSocket,
    busy_board,
    event,
    line,
    now_ms,
    open_played,
    page_server,
    snapshot,
)

pytestmark = pytest.mark.browser

# Every layout shift the page makes by itself (a shift right after an input is not one).
LAYOUT_SHIFTS = """
window.layoutShift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.layoutShift += entry.value;
  }
}).observe({type: "layout-shift", buffered: true});
"""


@pytest.fixture(scope="module")
def address(sqlite_template, tmp_path_factory):
    yield from page_server(sqlite_template, tmp_path_factory)


@pytest.mark.parametrize(
    "viewport, device",
    [((1920, 1080), {}), ((390, 844), {"is_mobile": True, "has_touch": True})],
    ids=["desktop", "phone"],
)
def test_the_board_is_drawn_once_in_its_final_order(browser, address, viewport, device):
    played = PlayedSocket(busy_board())
    context = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        locale="en-GB",
        timezone_id="Europe/Berlin",
        bypass_csp=True,
        **device,
    )
    context.add_init_script(LAYOUT_SHIFTS)
    page = context.new_page()
    page.route_web_socket("**/ws", played.serve)
    page.goto(f"http://{address}/")
    page.wait_for_function("window.marketBoard && marketBoard.synced && marketBoard.pending === 0")
    page.wait_for_timeout(1500)  # any later sorting pass, counters, the clock's first ticks
    first = page.locator("#events .event").first
    assert first.get_attribute("data-product") == "1"  # live first
    shift = page.evaluate("window.layoutShift")
    assert shift < 0.1, f"cumulative layout shift {shift:.3f}"
    context.close()


def logged_board():
    """Eight events and a log of a BetStop on each, the newest first."""
    now = now_ms()
    events = [event(f"sr:match:{n}", f"Home {n} v Away {n}", start_time=now + n) for n in range(8)]
    lines = [line(f"sr:match:{n}", 1) for n in range(8)]
    stops = [
        {
            "event_id": f"sr:match:{n}",
            "groups": "all",
            "status": "suspended",
            "sent_at": now - 60_000 + n,
            "received_at": now - 60_000 + n,
            "lines_hit": 1,
        }
        for n in range(8)
    ]
    return PlayedSocket(snapshot(events, lines, bet_stops=stops))


def test_the_log_holds_still_under_the_pointer_and_counts_what_waits(browser, address):
    played = logged_board()
    page = open_played(browser, address, played)
    target = page.locator('#bet-stop-log li[data-event-id="sr:match:4"] .log-jump')
    box = target.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    for n in (7, 6, 5):
        played.bet_stop(f"sr:match:{n}", [line(f"sr:match:{n}", 1)])
    played.bet_stop("sr:match:3", [])  # a BetStop that stopped no line
    page.wait_for_function(f"marketBoard.seq === {played.seq}")
    page.wait_for_timeout(300)
    assert target.bounding_box() == box
    under = page.evaluate(f"document.elementFromPoint({x}, {y}).closest('li').dataset.eventId")
    assert under == "sr:match:4"
    waiting = page.locator("#log-new")
    assert waiting.is_visible()
    assert waiting.inner_text() == "4 new"
    waiting.click()  # shows them, the pointer still over the log
    page.wait_for_function("document.querySelectorAll('#bet-stop-log li').length === 12")
    assert not waiting.is_visible()
    first = page.locator("#bet-stop-log li").first
    assert first.get_attribute("data-event-id") == "sr:match:3"
    # Held again; the pointer leaving shows what waits.
    played.bet_stop("sr:match:2", [line("sr:match:2", 1)])
    page.wait_for_function("document.getElementById('log-new').textContent === '1 new'")
    page.mouse.move(10, 790)
    page.wait_for_function("document.querySelectorAll('#bet-stop-log li').length === 13")
    assert not waiting.is_visible()
    page.context.close()


def test_the_log_can_hide_bet_stops_that_stopped_no_line_and_remembers_it(browser, address):
    played = logged_board()
    page = open_played(browser, address, played)
    played.bet_stop("sr:match:3", [])
    page.wait_for_function("document.querySelectorAll('#bet-stop-log li').length === 9")
    empty = page.locator("#bet-stop-log li").first
    assert empty.is_visible()
    page.check("#log-hits-only")
    assert not empty.is_visible()
    assert page.locator("#bet-stop-log li:visible").count() == 8
    page.reload()
    page.wait_for_function("marketBoard.synced && marketBoard.pending === 0")
    assert page.is_checked("#log-hits-only")
    played.bet_stop("sr:match:3", [])
    played.bet_stop("sr:match:2", [line("sr:match:2", 1)])
    page.wait_for_function("document.querySelectorAll('#bet-stop-log li').length === 10")
    assert page.locator("#bet-stop-log li:visible").count() == 9
    page.context.close()


def test_bet_stops_do_not_move_the_card_under_the_pointer(browser, address):
    played = logged_board()
    page = open_played(browser, address, played, viewport=(1280, 1400), clock=True)
    page.select_option("#sort", "bet-stop")
    card = page.locator('.event[data-event-id="sr:match:3"]')
    box = card.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 10
    page.mouse.move(x, y)
    for n in (0, 1, 6, 2):  # events below it and above it, each the latest in turn
        played.bet_stop(f"sr:match:{n}", [line(f"sr:match:{n}", 1)])
        page.wait_for_timeout(400)
    page.wait_for_function(f"marketBoard.seq === {played.seq}")
    page.wait_for_timeout(600)
    assert card.bounding_box() == box
    under = page.evaluate(f"document.elementFromPoint({x}, {y}).closest('.event').dataset.eventId")
    assert under == "sr:match:3"
    # On demand, once the pointer is off the board: the latest BetStop first.
    page.click("#sort-now")
    page.wait_for_function(
        "document.querySelector('#events .event').dataset.eventId === 'sr:match:2'"
    )
    ids = page.locator("#events .event").evaluate_all("es => es.map(e => e.dataset.eventId)")
    assert ids[:4] == ["sr:match:2", "sr:match:6", "sr:match:1", "sr:match:0"]
    # By itself at most every 10 s: a BetStop a second does not reshuffle the top every second.
    # The page's clock stops here, and the test moves it on to either side of the 10 s.
    sorted_at = page.evaluate("marketBoard.orderedAt")
    played.bet_stop("sr:match:5", [line("sr:match:5", 1)])
    page.wait_for_selector("#sort-now[data-due]")
    # Paused a second ahead: the page's clock runs on while this is sent, and may not go back.
    page.clock.pause_at((page.evaluate("Date.now()") + 1_000) / 1000)  # Unix time in seconds
    now = page.evaluate("Date.now()")
    page.clock.run_for(sorted_at + 9_500 - now)
    first = "document.querySelector('#events .event').dataset.eventId"
    assert page.evaluate(first) == "sr:match:2"
    page.clock.run_for(1_000)
    assert page.evaluate(first) == "sr:match:5"
    page.context.close()


def test_a_log_held_for_long_keeps_only_what_it_can_show_and_counts_them_all(browser, address):
    played = logged_board()
    page = open_played(browser, address, played)
    page.hover("#log h2")
    for n in range(55):
        played.bet_stop(f"sr:match:{n % 8}", [line(f"sr:match:{n % 8}", 1)])
    page.wait_for_function(f"marketBoard.seq === {played.seq}")
    assert page.evaluate("marketBoard.logWaiting.length") == 50
    assert page.locator("#log-new").inner_text() == "55 new"
    page.click("#log-new")
    assert page.locator("#bet-stop-log li").count() == 50
    assert page.locator("#log-new").is_hidden()
    page.context.close()
