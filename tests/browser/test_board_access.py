"""What every trader can read: contrast in both themes (axe-core's rules), a top-level heading,
a BetStop's reason whole on a phone, and the log's outage entries apart from the outage bar."""

import shutil

import pytest

from app import create_app
from database import db
from tests.board_page import (
    PlayedSocket,
    axe_violations,
    now_ms,
    shot,
    snapshot,
    two_events,
)
from tests.conftest import base_config
from tests.servers import gunicorn

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(sqlite_template, tmp_path_factory):
    """The app with its login on (the Log out button is a control too), and one account."""
    from accounts import users

    path = tmp_path_factory.mktemp("access") / "board.sqlite"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    app = create_app(base_config(url))
    with app.app_context():
        users.add("alice", PASSWORD)
        db.engine.dispose()
    with gunicorn(url, BOARD_LOGIN="on", FEED_ENABLED="0") as address:
        yield f"http://{address}"


def played_board():
    """Two events, one of them stopped by a BetStop, and an outage that ended a minute ago."""
    events, lines = two_events()
    now = now_ms()
    hit = [dict(x, status="suspended", reason="regular_play", updated_at=now) for x in lines[:2]]
    stop = {
        "event_id": "sr:match:1",
        "groups": "regular_play",
        "status": "suspended",
        "sent_at": now,
        "received_at": now,
        "lines_hit": 2,
    }
    board = snapshot(events, hit + lines[2:], bet_stops=[stop])
    board["outages"] = [
        {
            "product": 1,
            "reason": "no alive for 20 s",
            "since": now - 90_000,
            "until": now - 60_000,
            "duration_ms": 30_000,
        }
    ]
    return PlayedSocket(board)


def logged_in(browser, server, played, **context):
    context.setdefault("viewport", {"width": 1280, "height": 800})
    page = browser.new_context(bypass_csp=True, locale="en-GB", **context).new_page()
    page.route_web_socket("**/ws", played.serve)
    page.goto(server + "/login")
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(server + "/")
    page.wait_for_function("window.marketBoard && marketBoard.synced && marketBoard.pending === 0")
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_control_and_text_reads_at_4_5_to_1_or_better(browser, server, scheme):
    page = logged_in(browser, server, played_board(), color_scheme=scheme)
    assert page.locator("#logout button").is_visible()
    page.wait_for_selector('.line[data-stop="bet_stop"]')
    violations = axe_violations(page, ["color-contrast"])
    assert not violations, "\n".join(violations)
    page.context.close()


def test_an_ended_outage_is_a_log_entry_not_a_bar_across_the_window(browser, server):
    page = logged_in(browser, server, played_board())
    entry = page.locator("#bet-stop-log li.outage.ended")
    entry.wait_for()
    assert entry.evaluate("e => getComputedStyle(e).position") == "static"
    assert page.locator("#log").bounding_box()["x"] <= entry.bounding_box()["x"]
    assert not page.locator("#outage-banner").is_visible()
    page.context.close()


def test_on_a_phone_the_page_has_its_heading_and_a_bet_stops_reason_is_whole(browser, server):
    played = played_board()
    page = logged_in(
        browser,
        server,
        played,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    live = two_events()[1][:2]
    played.bet_stop("sr:match:1", live, groups="regular_play", betstop_reason=1)
    page.wait_for_function(
        "document.querySelector('.event[data-event-id=\"sr:match:1\"] .event-why').textContent"
    )
    why = page.locator('.event[data-event-id="sr:match:1"] .event-why')
    assert why.inner_text().startswith("BetStop: ")
    card = page.locator('.event[data-event-id="sr:match:1"]').bounding_box()
    box = why.bounding_box()
    assert why.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert box["x"] + box["width"] <= card["x"] + card["width"]
    violations = axe_violations(page, ["page-has-heading-one"])
    assert not violations, "\n".join(violations)
    assert page.locator("h1").is_visible()
    header = page.locator("#bar").bounding_box()
    assert header["height"] < 844 / 4
    shot(page, "phone-stopped")
    page.context.close()
