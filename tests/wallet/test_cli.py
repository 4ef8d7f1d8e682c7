"""`flask wallet deposit`: the cashier step, refused with a sentence, never a traceback."""

from tests.wallet.calls import MOST_HELD, RICH, credits, row_counts


def test_a_deposit_past_the_most_an_account_may_hold_is_refused(full_account):
    before, held = row_counts(full_account), credits(full_account, RICH)
    result = full_account.test_cli_runner().invoke(args=["wallet", "deposit", RICH, "0.0001"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: a deposit (0.0001) would take the balance to 100000000000000.0001, over the most "
        f"an account may hold ({MOST_HELD}); nothing deposited\n"
    )
    assert row_counts(full_account) == before
    assert credits(full_account, RICH) == held
