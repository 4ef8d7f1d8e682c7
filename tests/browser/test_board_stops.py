"""Stopped lines at a glance: why, since when, for how long; a layout that does not move."""

import re

import pytest

from feed.upstream import frames
from tests import feed_messages as messages
from tests.board_page import GREY, new_page, now_ms, page_server, shot
from tests.feed_messages import EVENT, LIVE, bet_stop, line, market, match_odds, outcome
from tests.servers import gunicorn
from tests.upstream import wait_until

pytestmark = pytest.mark.browser

PREMATCH = messages.event_id(801)  # an event of the prematch product
LINE = f'.line[data-event-id="{EVENT}"]'
CLOCK = re.compile(r"^\d\d:\d\d:\d\d$")


def odds(ts, status=1, price=2.0, handed_166=False, event=EVENT, product=LIVE):
    """match_odds() and two lines of total goals."""
    prices = [outcome("12", 1.9), outcome("13", 1.9)]
    totals = market(18, *(line(f"total={total}", status, prices) for total in ("2.5", "3.5")))
    status_166 = -2 if handed_166 else None
    return match_odds(ts, status, price, product, status_166, [totals], event)


@pytest.fixture
def served(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        fixture = messages.fixture_change(
            EVENT, 1, stamp=1, event_name="Porto v Roma", sport="football"
        )
        upstream.send_frame(frames.FIXTURE_CHANGE, fixture)
        upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() - 120_000))
        upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() - 120_000, event=PREMATCH, product=3))
        yield address


@pytest.fixture(scope="module")
def address_only(sqlite_template, tmp_path_factory):
    yield from page_server(sqlite_template, tmp_path_factory)


@pytest.fixture
def page(browser, served):
    page = new_page(browser, served)
    page.wait_for_selector(f'.line[data-event-id="{EVENT}"][data-market-id="18"]')
    yield page
    page.context.close()


def row(page, market_id, specifiers=None):
    selector = f'.line[data-event-id="{EVENT}"][data-market-id="{market_id}"]'
    if specifiers is not None:
        selector += f'[data-specifiers="{specifiers}"]'
    return page.locator(selector)


def wait_stop(page, market_id, kind):
    page.wait_for_selector(
        f'.line[data-event-id="{EVENT}"][data-market-id="{market_id}"][data-stop="{kind}"]',
        timeout=5000,
    )


def state(page, market_id):
    return row(page, market_id).first.locator(".state")


def seconds(counter):
    minutes, secs = counter.split(":")[-2:]
    return int(minutes) * 60 + int(secs)


def test_a_bet_stop_says_its_groups_its_reason_since_when_and_for_how_long(page, upstream):
    sent = now_ms() - 65_000
    stop = bet_stop(EVENT, "score", stamp=sent, market_status=None, betstop_reason=1)
    upstream.send_frame(frames.BET_STOP, stop)
    wait_stop(page, 1, "bet_stop")
    assert state(page, 1).locator(".why").inner_text() == "BetStop: score · Possible goal"
    note = page.locator(f'.event[data-event-id="{EVENT}"] .event-why')
    assert note.inner_text().startswith("BetStop: score · Possible goal · since ")
    since = state(page, 1).locator(".since").inner_text()
    assert CLOCK.match(since)
    expected = page.evaluate(
        "ms => new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit',"
        " second: '2-digit', hourCycle: 'h23'}).format(new Date(ms))",
        sent,
    )
    assert since == expected
    first = seconds(state(page, 1).locator(".for").inner_text())
    assert 64 <= first <= 80
    # A live counter, without hovering and without a reload.
    wait_until(
        lambda: seconds(state(page, 1).locator(".for").inner_text()) >= first + 2,
        timeout=6,
        what="the counter to count",
    )
    # The corners market is in no group named "score": it stays open.
    assert row(page, 166).get_attribute("data-status") == "active"
    assert row(page, 166).locator(".state").inner_text() == ""
    shot(page, "bet-stop-reason", docs=True)


def test_each_reason_reads_distinctly(page, upstream):
    # A prematch line handed over to the live producer.
    handed = odds(now_ms(), event=PREMATCH, product=3, handed_166=True)
    upstream.send_frame(frames.ODDS_CHANGE, handed)
    page.wait_for_selector(f'.line[data-event-id="{PREMATCH}"][data-stop="handed_over"]')
    handed_over = page.locator(f'.line[data-event-id="{PREMATCH}"][data-market-id="166"]')
    assert handed_over.locator(".why").inner_text() == "Handed over"
    stop = bet_stop(EVENT, "all", product=None, stamp=now_ms(), market_status=None)
    upstream.send_frame(frames.BET_STOP, stop)
    wait_stop(page, 1, "bet_stop")
    assert state(page, 1).locator(".why").inner_text() == "BetStop: all"
    bet_stop_colour = state(page, 1).locator(".why").evaluate("e => getComputedStyle(e).color")
    upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() + 1000))  # everything reopens
    wait_active(page, 1)
    upstream.alive(offset=30)  # the odds source is late: every product is down
    wait_stop(page, 1, "feed_down")
    assert state(page, 1).locator(".why").inner_text() == "Live feed down"
    assert row(page, 1).get_attribute("data-status") == "suspended"
    feed_down_colour = state(page, 1).locator(".why").evaluate("e => getComputedStyle(e).color")
    assert feed_down_colour != bet_stop_colour
    upstream.alive()
    # Back, but what the feed said meanwhile is unknown: the line waits for fresh odds, and says
    # so, not "BetStop".
    wait_stop(page, 1, "feed_gap")
    assert state(page, 1).locator(".why").inner_text() == "Feed gap: waiting for fresh odds"
    gap_colour = state(page, 1).locator(".why").evaluate("e => getComputedStyle(e).color")
    assert gap_colour != bet_stop_colour
    upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() + 2000))
    wait_active(page, 1)
    # The board may reconnect and resync within a frame: record what the line said meanwhile.
    page.evaluate(
        """selector => {
            window.seen = [];
            const row = document.querySelector(selector);
            new MutationObserver(() => window.seen.push(
                [row.dataset.stop, row.querySelector('.why').textContent])
            ).observe(row, {attributes: true, attributeFilter: ['data-stop']});
            marketBoard.ws.close();
        }""",
        f'{LINE}[data-market-id="1"]',
    )
    page.wait_for_function("window.seen.length > 0")
    assert page.evaluate("window.seen[0]") == ["reconnecting", "Reconnecting"]
    page.wait_for_selector(
        f'.line[data-event-id="{EVENT}"][data-market-id="1"][data-status="active"]', timeout=15000
    )


def wait_active(page, market_id):
    page.wait_for_selector(
        f'.line[data-event-id="{EVENT}"][data-market-id="{market_id}"][data-status="active"]'
    )


def boxes(page):
    """Where every odds cell, line and state slot of the event is, in page coordinates."""
    return page.evaluate(
        """event => [...document.querySelectorAll(
              `.event[data-event-id="${event}"] .outcome, .event[data-event-id="${event}"] .line,
               .event[data-event-id="${event}"] .state`)].map(e => {
            const r = e.getBoundingClientRect();
            return [r.x, r.y + scrollY, r.width, r.height].map(v => Math.round(v * 100) / 100);
        })""",
        EVENT,
    )


def test_odds_stay_exactly_where_they_were_when_lines_stop_and_reopen(page, upstream):
    before = boxes(page)
    assert len(before) == 4 + 4 + 9  # lines, a state slot each, and their cells
    stop = bet_stop(EVENT, "all", product=None, stamp=now_ms(), market_status=None)
    upstream.send_frame(frames.BET_STOP, stop)
    wait_stop(page, 18, "bet_stop")
    assert row(page, 18).first.evaluate("e => getComputedStyle(e).backgroundColor") == GREY
    assert boxes(page) == before
    upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() + 1000, price=2.5))
    wait_active(page, 18)
    assert boxes(page) == before
    upstream.alive(offset=30)
    wait_stop(page, 1, "feed_down")
    page.wait_for_selector("#outage-banner:not([hidden])")
    assert boxes(page) == before  # the outage banner lies over the board, it moves nothing
    upstream.alive()
    wait_stop(page, 1, "feed_gap")
    assert boxes(page) == before
    upstream.send_frame(frames.ODDS_CHANGE, odds(now_ms() + 2000, price=2.6))
    wait_active(page, 1)
    assert boxes(page) == before


def test_a_cancelled_fixture_looks_cancelled_and_nothing_on_it_reads_bettable(page, upstream):
    page.wait_for_function("document.getElementById('suspended-count').textContent.trim() === '0'")
    upstream.send_frame(frames.FIXTURE_CHANGE, messages.fixture_change(EVENT, 3, stamp=now_ms()))
    card = page.locator(f'.event[data-event-id="{EVENT}"]')
    page.wait_for_selector(f'.event[data-event-id="{EVENT}"].cancelled')
    assert card.locator(".event-notice").is_visible()
    assert card.locator(".event-notice").inner_text().startswith("Fixture cancelled")
    assert card.locator(".event-name").evaluate("e => getComputedStyle(e).textDecorationLine") == (
        "line-through"
    )
    # The feed closes a cancelled fixture's lines: none shows as bettable, no heading stays empty.
    lines = card.locator(".line")
    page.wait_for_function(
        f"""[...document.querySelectorAll('{LINE}')].every(
            e => e.dataset.status === 'cancelled' && e.getAttribute('aria-disabled') === 'true')"""
    )
    assert lines.count() == 4
    assert not card.locator(".market").first.is_visible()
    shot(page, "cancelled-fixture", docs=True)
    page.check("#show-closed")
    for n in range(4):
        assert lines.nth(n).is_visible()
        assert lines.nth(n).locator(".why").inner_text() == "Cancelled"


def test_lines_of_a_cancelled_fixture_the_feed_left_open_read_stopped(browser, address_only):
    """Whatever the feed does with the lines, the board never shows a cancelled event bettable."""
    from tests.board_page import PlayedSocket, event, line, open_played, snapshot

    played = PlayedSocket(
        snapshot(
            [event("sr:match:1", "Ajax v PSV", status="cancelled")],
            [line("sr:match:1", 1), line("sr:match:1", 18, "total=2.5", name="Total")],
        )
    )
    page = open_played(browser, address_only, played)
    rows = page.locator('.line[data-event-id="sr:match:1"]')
    for n in range(2):
        assert rows.nth(n).get_attribute("data-status") == "suspended"
        assert rows.nth(n).get_attribute("data-stop") == "fixture_cancelled"
        assert rows.nth(n).locator(".why").inner_text() == "Fixture cancelled"
    assert page.locator("#suspended-count").inner_text() == "2"
    page.context.close()


def test_closed_lines_are_hidden_or_labelled_by_kind_and_an_empty_market_has_no_heading(
    page, upstream
):
    settled = messages.bet_settlement(EVENT, 166, "total=9.5", stamp=now_ms(), outcome_id="12")
    upstream.send_frame(frames.BET_SETTLEMENT, settled)
    cancelled = messages.bet_cancel(EVENT, 18, "total=2.5", stamp=now_ms())
    upstream.send_frame(frames.BET_CANCEL, cancelled)
    page.wait_for_selector(f'{LINE}[data-market-id="166"][data-status="settled"]', state="attached")
    page.wait_for_selector(
        f'{LINE}[data-market-id="18"][data-specifiers="total=2.5"][data-status="cancelled"]',
        state="attached",
    )
    corners = page.locator(f'.event[data-event-id="{EVENT}"] .market[data-market-id="166"]')
    assert not row(page, 166).is_visible()
    assert not row(page, 18, "total=2.5").is_visible()
    assert not corners.is_visible()  # no empty heading
    totals = page.locator(f'.event[data-event-id="{EVENT}"] .market[data-market-id="18"] h3')
    assert totals.is_visible()  # one line still open
    page.check("#show-closed")
    assert corners.is_visible()
    assert row(page, 166).locator(".why").inner_text() == "Settled"
    assert row(page, 18, "total=2.5").locator(".why").inner_text() == "Cancelled"
    stop = bet_stop(EVENT, "all", None, now_ms() + 1000, market_status="deactivated")
    upstream.send_frame(frames.BET_STOP, stop)
    page.wait_for_selector(f'{LINE}[data-market-id="1"][data-status="deactivated"]')
    assert row(page, 1).locator(".why").inner_text() == "Deactivated"
    shot(page, "closed-lines")


# Sportradar's betstop reasons (descriptions/betstop_reasons.xml, as the UOF SDKs' fixtures hold
# it) in words, including those a sport of its own tells apart (72-75: ice hockey).
REASONS = [
    (0, "Unknown"),
    (9, "Possible penalty (home)"),
    (24, "Disconnection"),
    (53, "Scout disconnection (TV signal)"),
    (54, "Possible offsetting penalty"),
    (72, "Possible penalty (home, hockey)"),
    (75, "Delayed penalty (away, hockey)"),
    (79, "Rollback event"),
    (80, "Reason 80"),  # past the table: the number, never a wrong word
]


def test_betstop_reasons_read_as_sportradars_descriptions(browser, address_only):
    from tests.board_page import PlayedSocket, event, line, open_played, snapshot

    played = PlayedSocket(snapshot([event("sr:match:1", "Ajax v PSV")], [line("sr:match:1", 1)]))
    page = open_played(browser, address_only, played)
    why = page.locator('.line[data-event-id="sr:match:1"] .why')
    for code, words in REASONS:
        played.bet_stop("sr:match:1", played.snapshot["lines"], betstop_reason=code)
        page.wait_for_function(
            "text => document.querySelector('.line .why').textContent === text",
            arg=f"BetStop: all · {words}",
            timeout=5000,
        )
        assert why.inner_text() == f"BetStop: all · {words}"
    page.context.close()


def test_an_event_says_how_many_of_the_lines_its_bet_stop_hit_are_still_stopped(
    browser, address_only
):
    from tests.board_page import PlayedSocket, event, line, open_played, snapshot

    totals = {"12": (1.8, "Over"), "13": (2.0, "Under")}
    lines = [line("sr:match:1", 1)] + [
        line("sr:match:1", 18, f"total={n}.5", totals, name="Total") for n in range(7)
    ]
    played = PlayedSocket(snapshot([event("sr:match:1", "Ajax v PSV")], lines))
    page = open_played(browser, address_only, played)
    note = page.locator('.event[data-event-id="sr:match:1"] .event-why')
    count = page.locator('.event[data-event-id="sr:match:1"] .event-stopped')
    hit = played.bet_stop("sr:match:1", lines)
    page.wait_for_function(
        "document.querySelector('.event-why').textContent.endsWith('8 of 8 still stopped')"
    )
    expected = r"BetStop: all · since \d\d:\d\d:\d\d · 8 of 8 still stopped"
    assert re.fullmatch(expected, note.inner_text())
    reopened = [dict(x, status="active", reason="", updated_at=now_ms()) for x in hit[1:]]
    played.odds(reopened)
    page.wait_for_function("document.querySelector('.event-stopped').textContent === '1 stopped'")
    assert note.inner_text().endswith(" · 1 of 8 still stopped")
    # After a reload the snapshot says the same: its log entry, and its lines still stopped.
    stop = {
        "event_id": "sr:match:1",
        "groups": "all",
        "status": "suspended",
        "sent_at": hit[0]["updated_at"],
        "received_at": hit[0]["updated_at"],
        "lines_hit": 8,
    }
    played.snapshot = snapshot([event("sr:match:1", "Ajax v PSV")], hit[:1] + reopened, [stop])
    page.reload()
    page.wait_for_function("marketBoard.synced && marketBoard.pending === 0")
    page.wait_for_function("document.querySelector('.event-stopped').textContent === '1 stopped'")
    assert note.inner_text().endswith(" · 1 of 8 still stopped")
    played.odds([dict(hit[0], status="active", reason="", updated_at=now_ms())])
    page.wait_for_function("document.querySelector('.event-stopped').textContent === ''")
    assert note.inner_text() == ""
    assert count.inner_text() == ""
    page.context.close()
