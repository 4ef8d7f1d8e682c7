"""The login page, the login itself, and logging out."""

import logging

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from database import Busy

from . import gate, passwords, users

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)
WRONG = "Wrong username or password."


@bp.get("/login")
def login():
    """The login form: username, password and the session's CSRF token."""
    if not current_app.config["BOARD_LOGIN"] or gate.session_user() is not None:
        return redirect("/")
    return render_template("login.html")


@bp.post("/login")
def log_in():
    """Check the credentials; on success, open a session and go to the board."""
    if not current_app.config["BOARD_LOGIN"]:
        return redirect("/")
    if not gate.csrf_valid(request.form.get("csrf_token")):
        return _form("This form has expired: please try again.", 400)
    username = request.form.get("username", "").strip()[: users.USERNAME_MAX]
    password = request.form.get("password", "")
    limiter = current_app.extensions["accounts"].limiter
    address = request.remote_addr or "unknown"
    # Refused before the password is looked at, so a right one in the wait tells nothing. A try
    # let in is counted as a failure already: tries sent at once cannot share one count.
    wait = limiter.admit(address, username)
    if wait:
        log.warning("login refused: too many failures (address %s, account %r)", address, username)
        message = f"Too many failed logins. Try again in {_duration(wait)}."
        return _form(message, 429, {"Retry-After": str(wait)})
    try:
        user = users.for_login(username)
    except Busy as busy:
        log.warning("login deferred (address %s): %s", address, busy)
        return _form("The login is busy. Try again in a moment.", 503, {"Retry-After": "1"})
    usable = user is not None and user.active
    if not passwords.verify_password(user.password_hash if usable else None, password):
        log.warning("login failed (address %s, account %r)", address, username)
        return _form(WRONG, 401)
    limiter.succeeded(address, username)
    gate.start_session(user)
    log.info("login: %s (%s)", user.username, user.role)
    return redirect("/")


@bp.post("/logout")
def log_out():
    """End every session of the account and go back to the login."""
    if not gate.csrf_valid(request.form.get("csrf_token")):
        return _form("This form has expired: please try again.", 400)
    opened = session.get("user")
    if isinstance(opened, dict) and isinstance(opened.get("id"), int):
        epoch = users.end_sessions(opened["id"])
        if epoch is not None:
            current_app.extensions["accounts"].epochs.moved(opened["id"], epoch)
    session.clear()
    return redirect(url_for("accounts.login"))


def _duration(seconds):
    """`seconds` for a person: in seconds under a minute, else in minutes rounded up."""
    count, unit = (seconds, "second") if seconds < 60 else (-(-seconds // 60), "minute")
    return f"{count} {unit}{'s' * (count > 1)}"


def _form(error, status, headers=None):
    username = request.form.get("username", "")[: users.USERNAME_MAX]
    return render_template("login.html", error=error, username=username), status, headers or {}
