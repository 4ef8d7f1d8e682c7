"""`flask wallet ...`: the operator's cashier step and the ledger audit."""

import click
from flask import Blueprint, current_app
from sqlalchemy import func, select

from database import Busy, db, run_in_transaction

from . import audit as books
from . import ledger
from .errors import WalletError
from .formats import format_amount, parse_amount
from .models import Account, LedgerEntry

bp = Blueprint("wallet_cli", __name__, cli_group="wallet")
bp.cli.help = bp.cli.short_help = "The operator's cashier step and the ledger audit."


# "-5" is an AMOUNT to refuse, not an unknown option.
@bp.cli.command("deposit", context_settings={"ignore_unknown_options": True})
@click.argument("user_id")
@click.argument("amount")
@click.option("--free", is_flag=True, help="Credit free credit (chips) instead of real credit.")
def deposit(user_id, amount, free):
    """Create USER_ID's account if needed and credit AMOUNT to it."""
    if not 0 < len(user_id) <= 50:
        raise click.BadParameter("must be 1 to 50 characters", param_hint="USER_ID")
    try:
        units = parse_amount(amount, allow_zero=False)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT") from None
    clock = current_app.extensions["wallet"].clock
    try:
        account = run_in_transaction(
            lambda connection: ledger.deposit(connection, user_id, units, free=free, clock=clock)
        )
    except Busy as busy:
        raise click.ClickException(f"{busy}; nothing deposited, try again") from None
    except WalletError as refusal:
        raise click.ClickException(f"{refusal.desc}; nothing deposited") from None
    click.echo(
        f"{user_id}: balance {format_amount(account.balance)} "
        f"(real {format_amount(account.real_credit)}, free {format_amount(account.free_credit)})"
    )


@bp.cli.command("audit")
def audit():
    """Check every account, bet and payout against the ledger; exit non-zero on any mismatch.

    Then list the event payouts with no bet of their player behind them, per player and in
    all: the provider allows them, so they leave the exit status as it is.
    """
    problems = books.find_problems(db.session)
    for problem in problems:
        click.echo(problem, err=True)
    if not problems:
        accounts = db.session.scalar(select(func.count()).select_from(Account))
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
        click.echo(f"ledger consistent: {accounts} accounts and {entries} entries checked")
    for line in books.payouts_without_a_bet(db.session):
        click.echo(line)
    if problems:
        raise SystemExit(1)
