"""The board's login in a real browser: headless Chromium via Playwright, against gunicorn."""

import re
import time

import pytest

from app import create_app
from database import db
from tests.board_page import ARTIFACTS
from tests.conftest import base_config
from tests.servers import gunicorn

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def server(sqlite_database_url):
    from accounts import users

    app = create_app(base_config(sqlite_database_url))
    with app.app_context():
        users.add("alice", PASSWORD)
        db.engine.dispose()
    with gunicorn(
        sqlite_database_url,
        BOARD_LOGIN="on",
        FEED_ENABLED="0",
        BOARD_PING_SECONDS="1",
        BOARD_NUDGE_SECONDS="1",
    ) as address:
        yield f"http://{address}"


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.policy_violations = []

    def watch(page):
        page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text
                and context.policy_violations.append(message.text)
            ),
        )

    context.on("page", watch)
    yield context
    context.close()


def until_true(page, expression, timeout=10):
    """Poll `expression` from here: wait_for_function would eval in the page, against its CSP."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def fill_login(page, username, password):
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.click('button[type="submit"]')


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"login-{name}.png", full_page=True)


def test_the_board_asks_for_a_login_and_then_shows_itself(server, context):
    page = context.new_page()
    page.goto(server + "/")
    assert page.url == server + "/login"
    shot(page, "form")
    fill_login(page, "alice", "not the password")
    assert page.locator(".error").inner_text() == "Wrong username or password."
    assert page.url == server + "/login"
    shot(page, "wrong")
    fill_login(page, "alice", PASSWORD)
    page.wait_for_url(server + "/")
    until_true(page, "window.marketBoard && window.marketBoard.synced")
    assert page.locator("#logout button").is_visible()
    assert page.locator("#login-off").count() == 0
    assert context.policy_violations == []


def test_a_tampered_csrf_token_is_refused(server, context):
    page = context.new_page()
    page.goto(server + "/login")
    page.evaluate("document.querySelector('input[name=csrf_token]').value = 'forged'")
    fill_login(page, "alice", PASSWORD)
    assert "expired" in page.locator(".error").inner_text()
    assert page.url == server + "/login"


def test_repeated_failures_are_refused_for_a_while(server, context):
    page = context.new_page()
    page.goto(server + "/login")
    # Five free failures, then each wait doubles: fail until the wait left is long enough for
    # the right password to arrive inside it on a busy machine.
    for _ in range(200):
        fill_login(page, "alice", "not the password")
        error = page.locator(".error").inner_text()
        left = re.fullmatch(r"Too many failed logins\. Try again in (\d+) seconds?\.", error)
        if left and int(left.group(1)) >= 3:
            break
        assert left or error == "Wrong username or password."
    else:
        raise AssertionError("the failures were never slowed")
    fill_login(page, "alice", PASSWORD)
    assert page.locator(".error").inner_text().startswith("Too many failed logins.")
    shot(page, "too-many")


def test_a_board_whose_session_ends_shows_the_login(server, context):
    board = context.new_page()
    board.goto(server + "/login")
    fill_login(board, "alice", PASSWORD)
    until_true(board, "window.marketBoard && window.marketBoard.synced")
    other = context.new_page()  # another tab of the same browser logs out
    other.goto(server + "/")
    other.click("#logout button")
    other.wait_for_url(server + "/login")
    board.wait_for_url(server + "/login", timeout=15000)  # told by the socket's 4401
    assert board.locator('input[name="username"]').is_visible()


def test_with_the_login_off_the_banner_says_so(sqlite_database_url, context):
    with gunicorn(sqlite_database_url, BOARD_LOGIN="off", FEED_ENABLED="0") as address:
        page = context.new_page()
        page.goto(f"http://{address}/")
        until_true(page, "window.marketBoard && window.marketBoard.synced")
        assert "Login off" in page.locator("#feed-banner #login-off").inner_text()
        assert page.locator("#logout").count() == 0
        assert context.policy_violations == []
        shot(page, "off")
