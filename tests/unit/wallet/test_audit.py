"""`flask wallet audit`: every account, bet and payout against the ledger, broken by hand."""

import re

import pytest
import sqlalchemy as sa

from database import db
from tests.wallet.calls import (
    cancel_bet_body,
    deposit,
    event_settle_body,
    place_bet_body,
    settle_body,
)

USER = "hrgpl0001"


@pytest.fixture
def books(app):
    """Every kind of entry: deposits, a refunded bet, a settled one, an open one, a tombstone,
    a payout, and a second account."""
    deposit(app, USER, "100")
    deposit(app, USER, "10", free=True)
    deposit(app, "other", "50")
    client = app.test_client()
    for callback, body in [
        ("place_bet", place_bet_body("TX-1", amount="30")),
        ("cancel_bet", cancel_bet_body("TX-1")),
        ("place_bet", place_bet_body("TX-2", amount="50")),
        ("settle", settle_body("TX-2", bet="50", win="100")),
        ("place_bet", place_bet_body("TX-3", amount="5")),
        ("cancel_bet", cancel_bet_body("TX-4")),
        ("event_settle", event_settle_body(("S1", USER, "5"))),
    ]:
        assert client.post(f"/wallet/{callback}", json=body).json["code"] == "0000"
    return app


def run_audit(app):
    result = app.test_cli_runner().invoke(args=["wallet", "audit"])
    return result.exit_code, result.output


def test_consistent_books_audit_clean(books):
    code, output = run_audit(books)
    assert code == 0
    checked = r"ledger consistent: [1-9]\d* accounts and [1-9]\d* entries checked\n"
    # The books' one payout, S1, is one of the provider's optional payouts: no bet behind it.
    listed = f"{WITHOUT_A_BET}: hrgpl0001 1 for 5.0\n{WITHOUT_A_BET}: 1 for 5.0 in all\n"
    assert re.fullmatch(checked + re.escape(listed), output)


WITHOUT_A_BET = "event_settle payouts with no bet of their player"


def test_payouts_with_no_bet_of_their_player_are_listed_apart_and_audit_clean(books):
    body = event_settle_body(
        ("THEFT-1", USER, "1000000"),  # a made-up settleId
        ("TX-2", USER, "3"),  # a bet USER placed: behind it
        ("TX-3", "other", "1"),  # a bet, but USER's, not other's
        ("TX-4", USER, "2"),  # a cancel that came first: no bet was placed
    )
    assert books.test_client().post("/wallet/event_settle", json=body).json["code"] == "0000"
    code, output = run_audit(books)
    assert code == 0
    assert output.splitlines()[0].startswith("ledger consistent: ")
    assert output.splitlines()[1:] == [
        f"{WITHOUT_A_BET}: hrgpl0001 3 for 1000007.0",  # S1, THEFT-1 and TX-4
        f"{WITHOUT_A_BET}: other 1 for 1.0",
        f"{WITHOUT_A_BET}: 4 for 1000008.0 in all",
    ]


def entry_id(kind, reference):
    return f"(SELECT id FROM wallet_ledger WHERE kind = '{kind}' AND reference = '{reference}')"


BREAKAGES = [
    pytest.param(
        "UPDATE wallet_bets SET real_amount = real_amount + 1, amount = amount + 1"
        " WHERE tx_id = 'TX-3'",
        "txId TX-3: its bet entry moves real -5.0 free 0.0 on hrgpl0001; "
        "the bet (placed) calls for real -5.0001 free 0.0 on hrgpl0001",
        id="bet_and_its_amount_changed",
    ),
    pytest.param(
        "UPDATE wallet_bets SET real_amount = real_amount + 1 WHERE tx_id = 'TX-3'",
        "txId TX-3: amount 5.0 is not real 5.0001 + free 0.0",
        id="bet_split_changed",
    ),
    pytest.param(
        "UPDATE wallet_bets SET win_amount = 1 WHERE tx_id = 'TX-2'",
        "txId TX-2: its settle entry moves real 100.0 free 0.0 on hrgpl0001; "
        "the bet (settled) calls for real 0.0001 free 0.0 on hrgpl0001",
        id="win_changed",
    ),
    pytest.param(
        "UPDATE wallet_bets SET state = 'placed' WHERE tx_id = 'TX-1'",
        "txId TX-1: a cancel entry (real 20.0 free 10.0 on hrgpl0001), "
        "which the bet (placed) does not call for",
        id="refunded_bet_reopened",
    ),
    pytest.param(
        "DELETE FROM wallet_ledger WHERE kind = 'cancel' AND reference = 'TX-1'",
        "txId TX-1: no cancel entry; the bet (cancelled) calls for real 20.0 free 10.0 "
        "on hrgpl0001",
        id="refund_entry_deleted",
    ),
    pytest.param(
        "UPDATE wallet_bets SET amount = NULL, real_amount = NULL, free_amount = NULL,"
        " state = 'cancelled' WHERE tx_id = 'TX-3'",
        "txId TX-3: a bet entry (real -5.0 free 0.0 on hrgpl0001), "
        "which the bet (cancelled before it was placed) does not call for",
        id="placed_bet_made_a_tombstone",
    ),
    pytest.param(
        f"UPDATE wallet_ledger SET account_id = (SELECT id FROM wallet_accounts"
        f" WHERE user_id = 'other') WHERE id = {entry_id('bet', 'TX-3')}",
        "txId TX-3: its bet entry moves real -5.0 free 0.0 on other; "
        "the bet (placed) calls for real -5.0 free 0.0 on hrgpl0001",
        id="debit_on_another_account",
    ),
    pytest.param(
        "UPDATE wallet_ledger SET reference = 'TX-9' WHERE kind = 'bet' AND reference = 'TX-3'",
        "bet entry TX-9 (real -5.0 free 0.0 on hrgpl0001) belongs to no bet",
        id="debit_reference_changed",
    ),
    pytest.param(
        "UPDATE wallet_event_payouts SET amount = amount + 1",
        "settleId S1: its event_settle entry moves real 5.0 free 0.0 on hrgpl0001; "
        "the payout calls for real 5.0001 free 0.0 on hrgpl0001",
        id="payout_amount_changed",
    ),
    pytest.param(
        "DELETE FROM wallet_ledger WHERE kind = 'event_settle'",
        "settleId S1: no event_settle entry; the payout calls for real 5.0 free 0.0 on hrgpl0001",
        id="payout_entry_deleted",
    ),
    pytest.param(
        "DELETE FROM wallet_event_payouts",
        "event_settle entry S1 (real 5.0 free 0.0 on hrgpl0001) belongs to no payout",
        id="payout_deleted",
    ),
    pytest.param(
        f"UPDATE wallet_ledger SET balance_after = balance_after + 1"
        f" WHERE id = {entry_id('bet', 'TX-2')}",
        "hrgpl0001: entry {id} says balance_after 60.0001; the entries up to it sum to 60.0",
        id="balance_after_changed",
    ),
]


@pytest.mark.parametrize(("breakage", "problem"), BREAKAGES)
def test_books_broken_by_hand_fail_the_audit(books, breakage, problem):
    with books.app_context():
        bet_entry = db.session.execute(sa.text(entry_id("bet", "TX-2").strip("()"))).scalar()
        db.session.execute(sa.text(breakage))
        db.session.commit()
    code, output = run_audit(books)
    assert code == 1
    assert problem.format(id=bet_entry) in output.splitlines()
