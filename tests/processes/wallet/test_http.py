"""The wallet behind gunicorn, over real HTTP: what only a real server hands the app."""

import pytest
import requests
from werkzeug.exceptions import BadRequest, RequestTimeout, TooManyRequests

from app import create_app
from database import db
from tests.conftest import base_config
from tests.servers import gunicorn
from tests.wallet.calls import deposit, row_counts
from wallet.codes import Failure

pytestmark = pytest.mark.slow

BODY_LIMIT = 1024 * 1024


@pytest.fixture
def funded_url(sqlite_database_url):
    app = create_app(base_config(sqlite_database_url))
    deposit(app, "hrgpl0001", "100")
    with app.app_context():
        db.engine.dispose()
    return sqlite_database_url


@pytest.mark.parametrize(
    ("offered", "allowed"),
    [
        ("sécret-密".encode(), True),  # the configured secret's bytes, as they arrive
        ("sécret-密".encode()[:-1] + b"x", False),
        ("sécret-".encode("latin-1"), False),
        (b"secret-", False),
    ],
)
def test_a_secret_beyond_ascii_is_compared_as_the_bytes_that_arrive(funded_url, offered, allowed):
    with gunicorn(funded_url, FEED_ENABLED="0", WALLET_SECRET="sécret-密") as address:
        answer = requests.post(
            f"http://{address}/wallet/get_balance",
            json={"userId": "hrgpl0001"},
            headers={"X-Wallet-Secret": offered},
            timeout=30,
        ).json()
    if allowed:
        assert (answer["code"], answer["balance"]) == ("0000", "100.0")
    else:
        assert answer == {"code": "9999", "desc": "missing or wrong X-Wallet-Secret"}


def chunked(size):
    """A JSON body of `size` bytes, sent in chunks (no Content-Length)."""
    head, tail = b'{"userId": "', b'"}'
    filler = size - len(head) - len(tail)
    yield head
    for start in range(0, filler, 64 * 1024):
        yield b"x" * min(64 * 1024, filler - start)
    yield tail


@pytest.mark.parametrize(
    ("size", "desc"),
    [
        (BODY_LIMIT + 1, "body is too large"),
        (3 * BODY_LIMIT, "body is too large"),
        (BODY_LIMIT, "userId is longer than 50 characters"),
    ],
)
def test_a_chunked_body_over_the_limit_is_answered_too_large(funded_url, size, desc):
    app = create_app(base_config(funded_url))
    before = row_counts(app)
    with gunicorn(funded_url, FEED_ENABLED="0") as address:
        answer = requests.post(
            f"http://{address}/wallet/get_balance",
            data=chunked(size),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert answer.status_code == 200
    assert answer.json() == {"code": "9999", "desc": desc}
    assert row_counts(app) == before
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("refusal", "failure"),
    [
        (RequestTimeout, "busy"),
        (TooManyRequests, "busy"),
        (BadRequest, "malformed_request"),
    ],
)
def test_the_servers_own_refusals_answer_in_the_wallets_json(
    app, client, monkeypatch, refusal, failure
):
    import wallet.views

    def refused(mimetype):
        raise refusal()

    monkeypatch.setattr(wallet.views.schemas, "require_json", refused)
    app.extensions["wallet"].codes[Failure(failure)] = "7777"
    answer = client.post("/wallet/get_balance", json={"userId": "u1"})
    assert answer.status_code == refusal.code
    assert answer.json["code"] == "7777" and answer.json["desc"] == refusal.description
