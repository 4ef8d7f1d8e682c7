"""The login under gunicorn + gevent, as deployed: what wrong logins write to its log."""

import json
import re

import pytest
import requests

from accounts import users
from app import create_app
from database import db
from tests.conftest import base_config
from tests.servers import gunicorn

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def add_account(database_url, username):
    app = create_app(base_config(database_url))
    with app.app_context():
        users.add(username, PASSWORD)
        db.engine.dispose()


def form_token(http, base, headers=None):
    """GET the login form in `http`'s session; the CSRF token its posts must carry."""
    page = http.get(f"{base}/login", headers=headers, timeout=10)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_wrong_logins_write_one_json_line_each_and_no_traceback(database_url, tmp_path):
    add_account(database_url, "alice")
    tries = [
        ("alice", "wrong password!"),
        ("nobody", PASSWORD),
        ("al\x00ice", "wrong\x00password"),
        ('mallory\n{"level": "INFO", "message": "login"}', PASSWORD),  # within 50 characters
    ]
    stderr = tmp_path / "stderr"
    with (
        stderr.open("w") as written,
        gunicorn(
            database_url, written, BOARD_LOGIN="on", FEED_ENABLED="0", LOG_FORMAT="json"
        ) as address,
    ):
        base = f"http://{address}"
        http = requests.Session()
        token = form_token(http, base)
        for username, password in tries:
            form = {"username": username, "password": password, "csrf_token": token}
            answer = http.post(f"{base}/login", data=form, allow_redirects=False, timeout=10)
            assert answer.status_code == 401
        http.close()
    text = stderr.read_text()
    assert "Traceback" not in text
    entries = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    failed = [(e["level"], e["message"]) for e in entries if e["logger"] == "accounts.views"]
    assert failed == [
        ("WARNING", f"login failed (address 127.0.0.1, account {username!r})")
        for username, _ in tries
    ]
    assert not [e for e in entries if "exception" in e]
