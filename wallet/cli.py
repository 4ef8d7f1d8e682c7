"""`flask wallet ...`: the operator's cashier step, a player's balance and ledger, the audit."""

import shlex

import click
from flask import Blueprint, current_app
from sqlalchemy import func, select

from database import Busy, db, run_in_transaction

from . import audit as books
from . import history, ledger, schemas
from .codes import Failure
from .errors import WalletError
from .formats import format_amount, format_ts, parse_amount
from .models import Account, LedgerEntry

bp = Blueprint("wallet_cli", __name__, cli_group="wallet")
bp.cli.help = bp.cli.short_help = (
    "The operator's cashier step, a player's balance and ledger, and the ledger audit."
)
HISTORY_LIMIT = 20


def _user_id(_ctx, _param, value):
    # The callbacks' own rule: an account they would refuse to name cannot be opened or read.
    try:
        return schemas.user_id(value)
    except WalletError as refusal:
        raise click.BadParameter(refusal.desc) from None


# "-5" is an AMOUNT to refuse, not an unknown option.
@bp.cli.command("deposit", context_settings={"ignore_unknown_options": True})
@click.argument("user_id", callback=_user_id)
@click.argument("amount")
@click.option("--free", is_flag=True, help="Credit free credit (chips) instead of real credit.")
@click.option("--create", is_flag=True, help="Open USER_ID's account if it has none.")
def deposit(user_id, amount, free, create):
    """Credit AMOUNT to USER_ID's account; with --create, open it first if it has none."""
    try:
        units = parse_amount(amount, allow_zero=False)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="AMOUNT") from None
    clock = current_app.extensions["wallet"].clock
    try:
        account = run_in_transaction(
            lambda connection: ledger.deposit(
                connection, user_id, units, free=free, clock=clock, create=create
            )
        )
    except Busy as busy:
        raise click.ClickException(f"{busy}; nothing deposited, try again") from None
    except WalletError as refusal:
        message = f"{refusal.desc}; nothing deposited"
        if refusal.failure is Failure.UNKNOWN_USER:
            again = shlex.join(["wallet", "deposit", "--create", user_id, amount])
            message += f" (to open it: {again}{' --free' if free else ''})"
        raise click.ClickException(message) from None
    click.echo(_credit_line(user_id, account))


@bp.cli.command("balance")
@click.argument("user_id", callback=_user_id)
def balance(user_id):
    """Show USER_ID's balance: real and free credit."""
    account = _account(user_id)
    click.echo(_credit_line(user_id, account))


@bp.cli.command("history")
@click.argument("user_id", callback=_user_id)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=HISTORY_LIMIT,
    show_default=True,
    help="How many of the newest entries to show.",
)
def history_of(user_id, limit):
    """Show USER_ID's ledger, newest first: each balance change, the callback's txId or
    settleId behind it, and the balance it left."""
    entries, older = history.newest_entries(db.session, _account(user_id), limit)
    references = [_reference(entry) for entry in entries]
    width = max(map(len, references), default=0)
    for entry, reference in zip(entries, references, strict=True):
        moved = entry.real_delta + entry.free_delta
        click.echo(
            f"{format_ts(entry.created_at)}  {entry.kind:<12}  {reference:<{width}}  "
            f"{_signed(moved)} (real {_signed(entry.real_delta)}, "
            f"free {_signed(entry.free_delta)})  balance {format_amount(entry.balance_after)}"
        )
    if older:
        them = "it" if older == 1 else "them"
        entry_word = "entry" if older == 1 else "entries"
        click.echo(f"{older} older {entry_word} not shown (--limit {limit + older} shows {them})")


def _account(user_id):
    account = history.find_account(db.session, user_id)
    if account is None:
        raise click.ClickException(f"userId {user_id!r} has no account")
    return account


def _credit_line(user_id, account):
    return (
        f"{user_id}: balance {format_amount(account.balance)} "
        f"(real {format_amount(account.real_credit)}, free {format_amount(account.free_credit)})"
    )


def _reference(entry):
    name = history.REFERENCE_NAMES.get(entry.kind)
    return f"{name} {entry.reference}" if name else ""


def _signed(units):
    return f"+{format_amount(units)}" if units > 0 else format_amount(units)


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
