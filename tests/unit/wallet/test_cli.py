"""`flask wallet ...`: the cashier step and what an operator reads of an account, refused with a
sentence, never a traceback."""

import re

import pytest

from tests.wallet.calls import (
    MOST_HELD,
    RICH,
    USER,
    cancel_bet_body,
    credits,
    event_settle_body,
    place_bet_body,
    row_counts,
    settle_body,
)


def wallet(app, *args):
    """Run `flask wallet ARGS...` as an operator does; return click's result."""
    return app.test_cli_runner().invoke(args=["wallet", *args])


def test_a_deposit_past_the_most_an_account_may_hold_is_refused(full_account):
    before, held = row_counts(full_account), credits(full_account, RICH)
    result = wallet(full_account, "deposit", RICH, "0.0001")
    assert result.exit_code == 1
    assert result.output == (
        "Error: a deposit (0.0001) would take the balance to 100000000000000.0001, over the most "
        f"an account may hold ({MOST_HELD}); nothing deposited\n"
    )
    assert row_counts(full_account) == before
    assert credits(full_account, RICH) == held


@pytest.mark.parametrize(
    ("user_id", "why"),
    [
        ("   ", "userId is empty"),
        (" hrgpl0001", "userId has whitespace at its start or end"),
        ("hrgpl0001 ", "userId has whitespace at its start or end"),
        ("hrgpl0001\u3000", "userId has whitespace at its start or end"),
        ("hrg\tpl0001", "userId contains a control character"),
        ("u" * 51, "userId is longer than 50 characters"),
    ],
)
def test_a_user_id_the_callbacks_refuse_is_refused_by_every_command_for_the_same_reason(
    funded, client, user_id, why
):
    before = row_counts(funded)
    answer = client.post("/wallet/get_balance", json={"userId": user_id})
    assert answer.json == {"code": "9999", "desc": why}
    for args in (
        ("deposit", "--create", user_id, "10"),
        ("balance", user_id),
        ("history", user_id),
    ):
        result = wallet(funded, *args)
        assert result.exit_code == 2, args
        assert result.output.splitlines()[-1] == f"Error: Invalid value for 'USER_ID': {why}"
    assert row_counts(funded) == before


def test_a_deposit_opens_an_account_only_when_told_to(app, client):
    before = row_counts(app)
    refused = wallet(app, "deposit", "hrgpl0002", "10")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: userId 'hrgpl0002' has no account; nothing deposited "
        "(to open it: wallet deposit --create hrgpl0002 10)\n"
    )
    assert row_counts(app) == before

    opened = wallet(app, "deposit", "--create", "hrgpl0002", "10")
    assert opened.exit_code == 0, opened.output
    assert opened.output == "hrgpl0002: balance 10.0 (real 10.0, free 0.0)\n"
    again = wallet(app, "deposit", "hrgpl0002", "2.5", "--free")
    assert again.output == "hrgpl0002: balance 12.5 (real 10.0, free 2.5)\n"
    answer = client.post("/wallet/get_balance", json={"userId": "hrgpl0002"})
    assert (answer.json["code"], answer.json["balance"]) == ("0000", "12.5")


def test_balance_shows_the_account_as_the_callbacks_report_it(funded, client):
    result = wallet(funded, "balance", USER)
    assert result.exit_code == 0
    assert result.output == f"{USER}: balance 110.0 (real 100.0, free 10.0)\n"
    answer = client.post("/wallet/get_balance", json={"userId": USER})
    assert answer.json["balance"] == "110.0"


def test_balance_of_a_user_without_an_account_is_refused(app):
    before = row_counts(app)
    result = wallet(app, "balance", "nobody")
    assert result.exit_code == 1
    assert result.output == "Error: userId 'nobody' has no account\n"
    assert row_counts(app) == before


TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0800"


def history_lines(result):
    """(time, the rest) of each line `wallet history` printed."""
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for line in lines:
        assert re.match(TIME + "  ", line), line
    return [(line[:28], line[30:]) for line in lines]


def test_history_lists_the_players_ledger_newest_first_with_each_callbacks_id(funded, client):
    for callback, body in (
        ("place_bet", place_bet_body("TX-H1", amount="30")),
        ("settle", settle_body("TX-H1", bet="30", win="45.5")),
        ("place_bet", place_bet_body("TX-H2", amount="5")),
        ("cancel_bet", cancel_bet_body("TX-H2", reason="VOID_ROUND")),
        ("event_settle", event_settle_body(("EV-H1", USER, "1.25"))),
    ):
        assert client.post(f"/wallet/{callback}", json=body).json["code"] == "0000", callback
    wallet(funded, "deposit", "other", "--create", "7")  # another player's: not listed

    lines = history_lines(wallet(funded, "history", USER))
    assert [rest for _time, rest in lines] == [
        "event_settle  settleId EV-H1  +1.25 (real +1.25, free 0.0)  balance 126.75",
        "cancel        txId TX-H2      +5.0 (real +5.0, free 0.0)  balance 125.5",
        "bet           txId TX-H2      -5.0 (real -5.0, free 0.0)  balance 120.5",
        "settle        txId TX-H1      +45.5 (real +45.5, free 0.0)  balance 125.5",
        "bet           txId TX-H1      -30.0 (real -20.0, free -10.0)  balance 80.0",
        "deposit                       +10.0 (real 0.0, free +10.0)  balance 110.0",
        "deposit                       +100.0 (real +100.0, free 0.0)  balance 100.0",
    ]
    times = [time for time, _rest in lines]
    assert times == sorted(times, reverse=True)
    assert client.post("/wallet/get_balance", json={"userId": USER}).json["balance"] == "126.75"


NEWEST_DEPOSIT = "+10.0 (real 0.0, free +10.0)  balance 110.0"  # the funded fixture's last


def test_history_shows_the_newest_entries_up_to_its_limit_and_says_how_many_are_older(funded):
    result = wallet(funded, "history", USER, "--limit", "1")
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()
    assert re.fullmatch(TIME + "  deposit +" + re.escape(NEWEST_DEPOSIT), first)
    assert second == "1 older entry not shown (--limit 2 shows it)"
    assert wallet(funded, "history", USER, "--limit", "0").exit_code == 2


def test_history_of_a_user_without_an_account_is_refused(app):
    result = wallet(app, "history", "nobody")
    assert result.exit_code == 1
    assert result.output == "Error: userId 'nobody' has no account\n"
