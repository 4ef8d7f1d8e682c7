"""The login under gunicorn + gevent, as deployed: a flood of wrong logins beside the wallet's
callbacks, and what wrong logins write to the log."""

import json
import re
import threading
import time

import pytest
import requests

from accounts import users
from app import create_app
from database import db
from tests.conftest import base_config
from tests.servers import gunicorn
from tests.wallet.calls import USER, deposit

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def add_account(database_url, username):
    app = create_app(base_config(database_url))
    with app.app_context():
        users.add(username, PASSWORD)
        db.engine.dispose()


def fund_wallet(database_url, user):
    app = create_app(base_config(database_url))
    deposit(app, user, "100")
    with app.app_context():
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
        # A NUL is refused with the request's values, before the login reads them: 400, logged
        # as nothing worse than any other bad request.
        nul = {"username": "al\x00ice", "password": "wrong\x00password", "csrf_token": token}
        assert http.post(f"{base}/login", data=nul, timeout=10).status_code == 400
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


def test_a_login_flood_from_ten_addresses_leaves_the_wallet_its_connections(
    postgres_database_url,
):
    fund_wallet(postgres_database_url, USER)
    settings = {
        "BOARD_LOGIN": "on",
        "FEED_ENABLED": "0",
        "PROXY_HOPS": "1",  # the flood's addresses are the X-Forwarded-For it sends
        # A small pool, waited for briefly: the flood's size that takes it from the wallet
        # stays modest.
        "DATABASE_POOL_SIZE": "4",
        "DATABASE_POOL_TIMEOUT": "0.5",
    }
    flooders, tries_each = 30, 1  # 3 wrong logins from each of 10 addresses, all at once
    logins, callbacks = [], []
    flooding = threading.Event()

    with gunicorn(postgres_database_url, **settings) as address:
        base = f"http://{address}"

        def flood(number):
            forwarded = {"X-Forwarded-For": f"198.51.100.{number % 10 + 1}"}
            with requests.Session() as http:
                token = form_token(http, base, forwarded)
                for attempt in range(tries_each):
                    form = {
                        "username": f"guess-{number}-{attempt}",
                        "password": "wrong password!",
                        "csrf_token": token,
                    }
                    answer = http.post(
                        f"{base}/login",
                        data=form,
                        headers=forwarded,
                        allow_redirects=False,
                        timeout=30,
                    )
                    logins.append(answer.status_code)

        def pay():
            with requests.Session() as http:
                while flooding.is_set():
                    answer = http.post(
                        f"{base}/wallet/get_balance", json={"userId": USER}, timeout=30
                    )
                    callbacks.append((answer.status_code, answer.json()))
                    time.sleep(0.02)

        flooding.set()
        wallet = [threading.Thread(target=pay) for _ in range(2)]
        threads = [threading.Thread(target=flood, args=(n,)) for n in range(flooders)]
        for thread in wallet + threads:
            thread.start()
        for thread in threads:
            thread.join()
        flooding.clear()
        for thread in wallet:
            thread.join()

    assert len(logins) == flooders * tries_each
    assert sorted(set(logins)) == [401]
    assert len(callbacks) >= 10
    refused = [body for status, body in callbacks if status != 200 or body["code"] != "0000"]
    assert refused == []
