"""`flask users ...`: the board's accounts."""

import secrets
import sys

import click
from flask import Blueprint, current_app

from . import users

bp = Blueprint("accounts_cli", __name__, cli_group="users")
bp.cli.help = "The board's accounts: add, list, disable, enable, new password."
bp.cli.short_help = "The board's accounts: add, list, disable, enable, new password."
LOCAL = "local"


def read_password(prompt):
    """Ask twice at a terminal; read one line from standard input otherwise."""
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    line = sys.stdin.readline()
    if not line:
        raise click.UsageError("no password on standard input")
    return line.rstrip("\r\n")


@bp.cli.command("add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["viewer", "trader", "admin"]), default="trader", show_default=True
)
def add(username, role):
    """Create the account USERNAME; the password is asked for (or read from standard input)."""
    problem = users.username_problem(username)
    if problem:
        raise click.BadParameter(problem, param_hint="USERNAME")
    password = read_password(f"Password for {username}")
    try:
        user = users.add(username, password, role)
    except users.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {user.username} ({user.role})")


@bp.cli.command("list")
def list_accounts():
    """List the accounts: name, role, and whether they may log in."""
    accounts = users.all_accounts()
    if not accounts:
        click.echo("no accounts yet: flask --app app users add USERNAME")
    for user in accounts:
        state = "active" if user.active else "disabled"
        click.echo(f"{user.username:<24} {user.role:<8} {state}")


@bp.cli.command("disable")
@click.argument("username")
def disable(username):
    """Stop USERNAME from logging in; the account's open boards are closed."""
    try:
        user = users.disable(username)
    except users.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {user.username}")


@bp.cli.command("enable")
@click.argument("username")
def enable(username):
    """Let the disabled account USERNAME log in again, with the password it has."""
    user = users.find(username)
    if user is not None and user.active:
        click.echo(f"{user.username} is active already")
        return
    try:
        user = users.enable(username)
    except users.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"enabled {user.username}")


@bp.cli.command("passwd")
@click.argument("username")
def passwd(username):
    """Set a new password for USERNAME (asked for, or read from standard input)."""
    if users.find(username) is None:
        raise click.ClickException(f"no account named {username!r} (flask --app app users list)")
    password = read_password(f"New password for {username}")
    try:
        user = users.set_password(username, password)
    except users.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    if not user.active:
        # A new password is often the first thing tried for someone who cannot log in.
        click.echo(
            f"new password set for {user.username}; it stays disabled:"
            f" flask --app app users enable {user.username} lets it log in"
        )
        return
    click.echo(f"new password set for {user.username}; its open sessions are ended")


@bp.cli.command("local")
@click.option(
    "--url", default=None, help="The server's address; defaults to http://localhost:PORT."
)
def local(url):
    """For a new machine: make an account with a printed password if there is none."""
    url = url or f"http://localhost:{current_app.config['PORT']}"
    if not current_app.config["BOARD_LOGIN"]:
        click.echo(f"Board login is off (BOARD_LOGIN=off): anyone who reaches {url} sees it.")
        return
    if users.all_accounts():
        click.echo(
            f"Log in at {url}/login (accounts: flask --app app users list;"
            f" a new password: flask --app app users passwd {LOCAL})"
        )
        return
    password = secrets.token_urlsafe(12)
    users.add(LOCAL, password, "admin")
    click.echo(
        f"Board login at {url}/login  username: {LOCAL}  password: {password}\n"
        f"(made for this machine; change it with: flask --app app users passwd {LOCAL})"
    )
