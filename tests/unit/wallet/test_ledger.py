"""The money rules, one behaviour a test, through the callbacks' HTTP interface."""

import json
import logging

import pytest
import sqlalchemy as sa

from database import db
from tests.wallet.calls import (
    LARGEST_AMOUNT,
    MOST_HELD,
    RICH,
    USER,
    audit,
    cancel_bet_body,
    credits,
    deposit,
    event_settle_body,
    place_bet_body,
    row_counts,
    settle_body,
    statements_run,
)
from wallet.models import Bet


def post(client, callback, body):
    answer = client.post(f"/wallet/{callback}", json=body)
    assert answer.status_code == 200
    return answer.json


def test_get_balance_answers_in_the_providers_format(client, funded):
    answer = post(client, "get_balance", {"userId": USER})
    assert answer["code"] == "0000"
    assert answer["balance"] == "110.0"
    assert len(answer["balanceTs"]) == 28 and answer["balanceTs"].endswith("+0800")
    assert answer["desc"] == ""
    assert "realCredit" not in answer and "freeCredit" not in answer


@pytest.mark.parametrize("app_config", [{"WALLET_FREE_CREDIT": True}])
def test_free_credit_split_is_reported_when_enabled(client, funded):
    answer = post(client, "get_balance", {"userId": USER})
    assert (answer["realCredit"], answer["freeCredit"]) == ("100.0", "10.0")


def test_unknown_user_is_refused(client, funded):
    assert post(client, "get_balance", {"userId": "nobody"}) == {
        "code": "9999",
        "desc": "unknown userId 'nobody'",
    }


def test_place_bet_debits_free_credit_first(app, client, funded):
    answer = post(client, "place_bet", place_bet_body("TX-1", amount="25.5"))
    assert (answer["code"], answer["balance"]) == ("0000", "84.5")
    assert credits(app, USER) == (845_000, 0)


def test_place_bet_repeat_debits_once(app, client, funded):
    first = post(client, "place_bet", place_bet_body("TX-1"))
    again = post(client, "place_bet", place_bet_body("TX-1"))
    assert first["code"] == again["code"] == "0000"
    assert again["balance"] == "60.0"
    assert credits(app, USER) == (600_000, 0)


@pytest.mark.parametrize(
    ("change", "named"),
    [({"betAmount": "51.0"}, "betAmount"), ({"roundId": "RND-2"}, "roundId")],
)
def test_same_txid_with_another_payload_is_refused(app, client, funded, change, named):
    post(client, "place_bet", place_bet_body("TX-1"))
    answer = post(client, "place_bet", place_bet_body("TX-1") | change)
    assert answer["code"] == "9999"
    assert answer["desc"] == f"txId TX-1 was already placed with another {named}"
    assert credits(app, USER) == (600_000, 0)


def test_same_txid_from_another_user_is_refused(app, client, funded):
    deposit(app, "other", "100")
    post(client, "place_bet", place_bet_body("TX-1"))
    answer = post(client, "place_bet", place_bet_body("TX-1", user="other"))
    assert answer["desc"] == "txId TX-1 was already placed with another userId"
    assert credits(app, "other") == (1_000_000, 0)


def test_insufficient_balance_moves_nothing(app, client, funded):
    before = row_counts(app)
    answer = post(client, "place_bet", place_bet_body("TX-1", amount="110.0001"))
    assert answer == {
        "code": "9999",
        "desc": "insufficient balance: betAmount 110.0001 > balance 110.0",
    }
    assert row_counts(app) == before


@pytest.mark.parametrize("app_config", [{"WALLET_CODES": {"insufficient_balance": "1018"}}])
def test_operator_maps_a_named_failure_to_the_providers_code(client, funded):
    answer = post(client, "place_bet", place_bet_body("TX-1", amount="500"))
    assert answer["code"] == "1018"


def test_cancel_refunds_exactly_the_split_it_debited(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1", amount="30"))  # 10 free + 20 real
    answer = post(client, "cancel_bet", cancel_bet_body("TX-1"))
    assert (answer["code"], answer["balance"]) == ("0000", "110.0")
    assert credits(app, USER) == (1_000_000, 100_000)


def test_cancel_twice_refunds_once(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    first = post(client, "cancel_bet", cancel_bet_body("TX-1"))
    again = post(client, "cancel_bet", cancel_bet_body("TX-1", reason="VOID_ROUND"))
    assert first["code"] == again["code"] == "0000"
    assert again["balance"] == "110.0"
    assert credits(app, USER) == (1_000_000, 100_000)
    assert audit(app) == []


def test_cancel_records_its_reason(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    post(client, "cancel_bet", cancel_bet_body("TX-1", reason="BET_REQUEST_TIME_OUT"))
    with app.app_context():
        assert db.session.get(Bet, "TX-1").cancel_reason == "BET_REQUEST_TIME_OUT"


def test_cancel_before_bet_leaves_a_tombstone_and_the_bet_gets_8001(app, client, funded):
    answer = post(client, "cancel_bet", cancel_bet_body("TX-1", reason="BET_REQUEST_TIME_OUT"))
    assert (answer["code"], answer["balance"]) == ("0000", "110.0")
    late = post(client, "place_bet", place_bet_body("TX-1"))
    assert late == {"code": "8001", "desc": "txId TX-1 was cancelled before it was placed"}
    assert credits(app, USER) == (1_000_000, 100_000)
    with app.app_context():
        tombstone = db.session.get(Bet, "TX-1")
        assert (tombstone.state, tombstone.amount) == ("cancelled", None)
        assert tombstone.cancel_reason == "BET_REQUEST_TIME_OUT"


def test_place_bet_repeated_after_its_cancel_answers_8001(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    post(client, "cancel_bet", cancel_bet_body("TX-1"))
    again = post(client, "place_bet", place_bet_body("TX-1"))
    assert again == {"code": "8001", "desc": "txId TX-1 has been cancelled"}
    assert credits(app, USER) == (1_000_000, 100_000)


def test_cancel_for_a_user_never_seen_answers_0000_with_nothing(app, client, funded):
    answer = post(client, "cancel_bet", cancel_bet_body("TX-1", user="ghost"))
    assert (answer["code"], answer["balance"]) == ("0000", "0.0")
    assert credits(app, "ghost") is None


def test_cancel_of_a_bet_whose_account_is_gone_refunds_nothing_and_alerts(
    app, client, funded, caplog
):
    post(client, "place_bet", place_bet_body("TX-1"))
    with app.app_context():
        # An operator removed the account by hand, its ledger with it.
        db.session.execute(
            sa.text(
                "DELETE FROM wallet_ledger WHERE account_id IN "
                "(SELECT id FROM wallet_accounts WHERE user_id = :user)"
            ),
            {"user": USER},
        )
        db.session.execute(
            sa.text("DELETE FROM wallet_accounts WHERE user_id = :user"), {"user": USER}
        )
        db.session.commit()
    before = row_counts(app)
    with caplog.at_level(logging.ERROR, logger="wallet.alerts"):
        answer = post(client, "cancel_bet", cancel_bet_body("TX-1"))
    assert answer == {
        "code": "9999",
        "desc": "txId TX-1 is a bet of userId 'hrgpl0001', who has no account any more: "
        "nothing refunded",
    }
    assert row_counts(app) == before
    assert "cancel_bet for a bet whose account is gone: txId='TX-1'" in caplog.text


OUT_OF_RANGE = "ts is outside the years 0001 to 9999 once its offset applies"
NOT_MONEY = [
    # (field, what arrives (None: left out), what the bet records, what the warning says)
    ("reason", "ROUND_CANCELLED", "ROUND_CANCELLED", "reason must be one of"),
    ("reason", "", "", "reason is empty"),
    ("reason", None, None, "reason is missing"),
    ("reason", 7, None, "reason must be a string"),
    ("reason", "R" * 1_000_000, "R" * 30, "reason is longer than 30 characters"),
    ("reason", "VOID\x00ROUND", "VOID\ufffdROUND", "reason contains a control character"),
    ("gameType", "", "", "gameType is empty"),
    ("gameType", None, "", "gameType is missing"),
    ("gameType", "LIVE-CASINO-X", "LIVE-CASIN", "gameType is longer than 10 characters"),
    ("gameCode", "", "", "gameCode is empty"),
    ("gameCode", "B\ud800", "B\ufffd", "gameCode is not valid Unicode"),
    ("gameCode", ["BACCARAT"], "", "gameCode must be a string"),
    ("ts", "2022-10-14T15:00:00.000+0000", None, None),  # another offset: read as it says
    ("ts", "2022-10-14T23:00:00.000+08:00", None, "ts is longer than 28 characters"),
    ("ts", "2022-10-14T15:00:00Z", None, "ts must be 28 characters"),
    ("ts", None, None, "ts is missing"),
    ("ts", "9" * 1_000_000, None, "ts is longer than 28 characters"),
    # Real dates and times until their offset takes them past year 1 or year 9999.
    ("ts", "0001-01-01T00:00:00.000+0800", None, OUT_OF_RANGE),
    ("ts", "9999-12-31T23:59:59.999-0800", None, OUT_OF_RANGE),
    ("ts", 1.5, None, "ts must be a string, got a number"),
    ("reason", 1e308, None, "reason must be a string, got a number"),
    ("reason", {"why": ["VOID_ROUND"]}, None, "reason must be a string, got an object"),
    ("gameType", True, "", "gameType must be a string, got a boolean"),
]
RECORDED = {"reason": "cancel_reason", "gameType": "game_type", "gameCode": "game_code"}


@pytest.mark.parametrize("placed", [True, False], ids=["refund", "tombstone"])
@pytest.mark.parametrize(("name", "sent", "recorded", "warning"), NOT_MONEY)
def test_a_refund_is_never_refused_for_a_detail_that_moves_no_money(
    app, client, funded, caplog, placed, name, sent, recorded, warning
):
    if placed:
        post(client, "place_bet", place_bet_body("TX-1", amount="30"))
    body = cancel_bet_body("TX-1")
    if sent is None:
        del body[name]
    else:
        body[name] = sent
    with caplog.at_level(logging.WARNING, logger="wallet.views"):
        answer = post(client, "cancel_bet", body)
    assert (answer["code"], answer["balance"]) == ("0000", "110.0")
    assert credits(app, USER) == (1_000_000, 100_000)
    with app.app_context():
        bet = db.session.get(Bet, "TX-1")
        assert bet.state == "cancelled"
        column = RECORDED.get(name)
        if column and (column == "cancel_reason" or not placed):
            assert getattr(bet, column) == recorded
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if warning is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warning in warnings[0] and "TX-1" in warnings[0]
        assert len(warnings[0]) < 500
    assert audit(app) == []


# Over the 4,300 digits Python reads an integer from text in (sys.get_int_max_str_digits).
HUGE = "9" * 5000


@pytest.mark.parametrize("placed", [True, False], ids=["refund", "tombstone"])
@pytest.mark.parametrize("name", ["ts", "reason", "gameType", "gameCode", "extra"])
@pytest.mark.parametrize("value", [HUGE, f"-{HUGE}", f"[{HUGE}]", f'{{"n": {HUGE}}}'])
def test_a_refund_is_never_refused_for_a_huge_number_in_a_detail(
    app, client, funded, placed, name, value
):
    if placed:
        post(client, "place_bet", place_bet_body("TX-1", amount="30"))
    # json.dumps cannot write such an integer either: it goes into the text.
    data = json.dumps(cancel_bet_body("TX-1") | {name: "HUGE"}).replace('"HUGE"', value)
    answer = client.post("/wallet/cancel_bet", data=data, content_type="application/json")
    assert answer.status_code == 200
    assert (answer.json["code"], answer.json.get("balance")) == ("0000", "110.0")
    assert credits(app, USER) == (1_000_000, 100_000)
    with app.app_context():
        assert db.session.get(Bet, "TX-1").state == "cancelled"
    assert audit(app) == []


def test_cancel_by_another_user_is_refused(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    answer = post(client, "cancel_bet", cancel_bet_body("TX-1", user="thief"))
    assert answer == {"code": "9999", "desc": "txId TX-1 belongs to another userId than 'thief'"}
    assert credits(app, USER) == (600_000, 0)


def test_cancel_after_settle_moves_nothing_and_alerts(app, client, funded, caplog):
    post(client, "place_bet", place_bet_body("TX-1"))
    post(client, "settle", settle_body("TX-1", win="100"))
    with caplog.at_level(logging.ERROR, logger="wallet.alerts"):
        answer = post(client, "cancel_bet", cancel_bet_body("TX-1"))
    assert answer == {
        "code": "9999",
        "desc": "txId TX-1 is already settled and cannot be cancelled",
    }
    assert credits(app, USER) == (1_600_000, 0)
    assert "cancel_bet after settle: txId='TX-1'" in caplog.text


def test_settle_credits_the_win_once(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    first = post(client, "settle", settle_body("TX-1", win="120.5"))
    again = post(client, "settle", settle_body("TX-1", win="120.5"))
    assert first["code"] == again["code"] == "0000"
    assert again["balance"] == "180.5"
    assert credits(app, USER) == (1_805_000, 0)


def test_settle_with_another_win_is_refused(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    post(client, "settle", settle_body("TX-1", win="100"))
    answer = post(client, "settle", settle_body("TX-1", win="999"))
    assert answer == {"code": "9999", "desc": "txId TX-1 was already settled with winAmount 100.0"}


def test_losing_settle_moves_nothing_and_closes_the_bet(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    answer = post(client, "settle", settle_body("TX-1", win="0"))
    assert (answer["code"], answer["balance"]) == ("0000", "60.0")
    assert post(client, "cancel_bet", cancel_bet_body("TX-1"))["code"] == "9999"


@pytest.mark.parametrize(
    ("setup", "desc"),
    [
        ([], "txId TX-1 has not been placed"),
        ([("cancel_bet", cancel_bet_body("TX-1"))], "txId TX-1 has been cancelled"),
    ],
)
def test_settle_without_a_live_bet_is_refused(app, client, funded, setup, desc):
    for callback, body in setup:
        post(client, callback, body)
    before = credits(app, USER)
    assert post(client, "settle", settle_body("TX-1")) == {"code": "9999", "desc": desc}
    assert credits(app, USER) == before


def test_event_settle_pays_each_settle_id_once(app, client, funded):
    deposit(app, "u2", "1")
    body = event_settle_body(("S1", USER, "5"), ("S2", "u2", "7.25"))
    assert post(client, "event_settle", body) == {"code": "0000", "desc": ""}
    assert post(client, "event_settle", body) == {"code": "0000", "desc": ""}
    assert credits(app, USER) == (1_050_000, 100_000)
    assert credits(app, "u2") == (82_500, 0)


def test_event_settle_repeating_a_settle_id_inside_the_batch_pays_once(app, client, funded):
    body = event_settle_body(("S1", USER, "5"), ("S1", USER, "5"))
    assert post(client, "event_settle", body)["code"] == "0000"
    assert credits(app, USER) == (1_050_000, 100_000)


def test_event_settle_with_changed_content_is_refused(app, client, funded):
    post(client, "event_settle", event_settle_body(("S1", USER, "5")))
    answer = post(client, "event_settle", event_settle_body(("S1", USER, "6")))
    assert answer == {"code": "9999", "desc": "settleId S1 was already paid with other content"}
    assert credits(app, USER) == (1_050_000, 100_000)


def test_a_batch_adding_up_past_the_most_an_account_may_hold_is_refused_whole(app, client, funded):
    before = row_counts(app)
    # Each payout within the largest amount; together, ten times what a bigint can hold.
    payouts = [(f"S-{i:04d}", USER, LARGEST_AMOUNT) for i in range(1000)]
    answer = post(client, "event_settle", event_settle_body(*payouts))
    assert answer == {
        "code": "9999",
        "desc": f"the payout of settleId S-0099 ({LARGEST_AMOUNT}.0) would take the balance to "
        f"100000000000110.0, over the most an account may hold ({MOST_HELD})",
    }
    assert row_counts(app) == before
    assert credits(app, USER) == (1_000_000, 100_000)


def with_a_bet_of_one(client):
    """RICH bets 1.0 of a full account: TX-R."""
    post(client, "place_bet", place_bet_body("TX-R", user=RICH, amount="1"))


def paid_back(client):
    """RICH bets 1.0 (TX-R) and is paid 1.0 back by an event payout: the account is full again."""
    with_a_bet_of_one(client)
    post(client, "event_settle", event_settle_body(("S-BACK", RICH, "1")))


@pytest.mark.parametrize(
    ("setup", "callback", "body", "credit"),
    [
        (
            lambda client: None,
            "event_settle",
            event_settle_body(("S-OVER", RICH, "0.0001")),
            "the payout of settleId S-OVER (0.0001)",
        ),
        (
            with_a_bet_of_one,
            "settle",
            settle_body("TX-R", user=RICH, bet="1", win="2"),
            "the win of txId TX-R (2.0)",
        ),
        (
            paid_back,
            "cancel_bet",
            cancel_bet_body("TX-R", user=RICH),
            "the refund of txId TX-R (1.0)",
        ),
    ],
    ids=["event_settle", "settle", "cancel_bet"],
)
def test_a_credit_past_the_most_an_account_may_hold_is_refused(
    app, client, full_account, setup, callback, body, credit
):
    setup(client)
    before, held = row_counts(app), credits(app, RICH)
    over = "100000000000000.0001" if callback == "event_settle" else "100000000000001.0"
    assert post(client, callback, body) == {
        "code": "9999",
        "desc": f"{credit} would take the balance to {over}, "
        f"over the most an account may hold ({MOST_HELD})",
    }
    assert row_counts(app) == before
    assert credits(app, RICH) == held


def test_every_balance_change_is_a_ledger_entry(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1"))
    post(client, "cancel_bet", cancel_bet_body("TX-1"))
    post(client, "place_bet", place_bet_body("TX-2"))
    post(client, "settle", settle_body("TX-2"))
    with app.app_context():
        kinds = db.session.scalars(sa.text("SELECT kind FROM wallet_ledger ORDER BY id")).all()
    assert kinds == ["deposit", "deposit", "bet", "cancel", "bet", "settle"]
    assert audit(app) == []


def test_a_refund_is_one_read_and_one_write_on_postgresql(app, client, funded):
    post(client, "place_bet", place_bet_body("TX-1", amount="70"))
    with statements_run(app) as statements:
        assert post(client, "cancel_bet", cancel_bet_body("TX-1"))["balance"] == "110.0"
    first_words = [sql.split()[0] for sql, _parameters in statements]
    with app.app_context():
        backend = db.engine.dialect.name
    if backend == "postgresql":
        # wallet_lock_and_find sets the transaction's time limits, locks the account and reads
        # the bet; then one WITH ... UPDATE writes the account, the ledger entry and the bet.
        assert first_words == ["SELECT", "WITH"]
    else:
        # BEGIN IMMEDIATE takes SQLite's write lock up front, then each write on its own.
        assert first_words == ["BEGIN", "SELECT", "SELECT", "UPDATE", "INSERT", "UPDATE"]
    assert credits(app, USER) == (1_000_000, 100_000)
    assert audit(app) == []
