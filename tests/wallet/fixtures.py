"""The wallet's fixtures, for its tests in every folder (a plugin of tests/conftest.py): an
account with money, and what the books hold before a test acts."""

import pytest

from tests.wallet.calls import (
    LARGEST_AMOUNT,
    RICH,
    USER,
    deposit,
    event_settle_body,
    place_bet_body,
    row_counts,
)


@pytest.fixture
def funded(app):
    """The app, USER's account holding 100.0 real and 10.0 free credit."""
    deposit(app, USER, "100")
    deposit(app, USER, "10", free=True)
    return app


@pytest.fixture
def rows_before(funded):
    """How many rows each wallet table holds once funded: what a refused callback leaves."""
    return row_counts(funded)


@pytest.fixture
def open_bet(funded):
    """TX-OPEN, a bet of 7.0 placed by USER: something a cancel or settle could wrongly touch."""
    body = place_bet_body("TX-OPEN", amount="7")
    answer = funded.test_client().post("/wallet/place_bet", json=body)
    assert answer.json["code"] == "0000"
    return "TX-OPEN"


@pytest.fixture
def full_account(funded):
    """The app, RICH's account holding the most an account may hold: 100 of the largest amounts,
    one deposited and 99 paid in one event_settle."""
    deposit(funded, RICH, LARGEST_AMOUNT)
    payouts = [(f"FILL-{i}", RICH, LARGEST_AMOUNT) for i in range(99)]
    answer = funded.test_client().post("/wallet/event_settle", json=event_settle_body(*payouts))
    assert answer.json == {"code": "0000", "desc": ""}
    return funded
