"""A board that hears nothing: every line reads suspended and it connects again.

The server sends health at least every 5 s; a half-open connection or a frozen worker sends
nothing, and a board that kept showing "Feed connected" and open lines would be lying.
"""

import json
import os
import signal

import pytest

from feed.upstream import frames
from tests.board_page import (
    PlayedSocket,
    event,
    line,
    now_ms,
    snapshot,
)
from tests.feed_messages import EVENT, match_odds
from tests.servers import gunicorn
from tests.upstream import wait_until

pytestmark = pytest.mark.browser

LINE = f'.line[data-event-id="{EVENT}"]'


class SilentAfterFirst(PlayedSocket):
    """A /ws that sends one snapshot on the first connection, then nothing, on any connection."""

    def serve(self, ws):
        self.sockets.append(ws)
        if len(self.sockets) == 1:
            ws.send(json.dumps(self.snapshot))


def test_a_board_that_hears_nothing_for_twelve_seconds_reads_suspended_and_reconnects(
    browser, address_only
):
    played = SilentAfterFirst(snapshot([event(EVENT, "Ajax v PSV")], [line(EVENT, 1)]))
    context = browser.new_context(bypass_csp=True, locale="en-GB", timezone_id="Europe/Berlin")
    page = context.new_page()
    page.clock.install()
    page.route_web_socket("**/ws", played.serve)
    page.goto(f"http://{address_only}/")
    page.wait_for_function("window.marketBoard && marketBoard.synced && marketBoard.pending === 0")
    row = page.locator(LINE).first
    assert row.get_attribute("data-status") == "active"
    page.clock.run_for(11_000)  # within the silence allowed: nothing changes
    assert row.get_attribute("data-status") == "active"
    assert page.locator("#feed-banner").get_attribute("data-feed-status") == "up"
    page.clock.run_for(3_000)
    assert row.get_attribute("data-status") == "suspended"
    assert page.locator("#feed-banner .banner-state").inner_text() == "Reconnecting…"
    page.clock.run_for(1_000)  # the next try starts within the first backoff (under 0.5 s)
    assert len(played.sockets) == 2
    context.close()


def test_a_board_on_a_frozen_worker_reads_suspended_within_seconds(
    browser, upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, match_odds(now_ms()))
        context = browser.new_context(bypass_csp=True, locale="en-GB", timezone_id="Europe/Berlin")
        page = context.new_page()
        # The board measures its silence on the page's clock: the test runs that clock on
        # rather than waiting out the seconds, while the socket to the frozen worker is real.
        page.clock.install()
        page.goto(f"http://{address}/")
        row = page.locator(LINE).first
        wait_until(lambda: row.get_attribute("data-status") == "active", timeout=10)
        status = page.evaluate("fetch('/feed/status').then((answer) => answer.json())")
        worker = int(status["id"].rsplit(":", 1)[1])  # the worker that consumes and relays
        os.kill(worker, signal.SIGSTOP)  # the socket stays open; nothing more comes
        try:
            page.clock.run_for(14_000)  # the silence allowed (12 s), and some
            assert row.get_attribute("data-status") == "suspended"
            assert page.locator("#feed-banner .banner-state").inner_text() == "Reconnecting…"
        finally:
            os.kill(worker, signal.SIGCONT)
        context.close()


@pytest.fixture(scope="module")
def address_only(sqlite_template, tmp_path_factory):
    from tests.board_page import page_server

    yield from page_server(sqlite_template, tmp_path_factory)
