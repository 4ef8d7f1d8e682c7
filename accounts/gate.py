"""Who may open the board: a login session for its paths, and /ws only from the board's own pages.

One before-request check, by path, in front of every view: whatever is not listed as open needs
a session, so a page or endpoint added later is behind the login from its first day. The
wallet's callbacks are not behind it: they keep their own gate.
"""

import _thread
import hmac
import logging
import secrets
import threading
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for

from database import db, run_in_transaction
from ops import metrics

from . import sockets
from .models import User

# Open without a session: the login itself, static files, the platform's and on-call's checks
# (/metrics has its own gate), and the wallet's callbacks (their own gate).
OPEN_PATHS = frozenset({"/login", "/logout", "/health", "/ready", "/metrics"})
OPEN_PREFIXES = ("/static/", "/wallet/")
EPOCHS_FRESH_S = 1  # how old the view of the accounts may be that lets an open board be written
EPOCHS_UNASKED_S = 10  # the accounts are read while a board has asked within this long
log = logging.getLogger(__name__)


def check_board_request():
    """Refuse a board path to a foreign page or a visitor without a session."""
    path = request.path
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if path == "/ws" and not origin_allowed(
        request.headers.get("Origin"), request.host, current_app.config["BOARD_ORIGINS"]
    ):
        log.warning("refused a board socket from origin %r", request.headers.get("Origin"))
        abort(403)
    if not current_app.config["BOARD_LOGIN"]:
        return None
    user = session_user()
    if user is None:
        if path == "/ws" and request.headers.get("Upgrade", "").lower() == "websocket":
            return sockets.refuse_at_handshake(sockets.SESSION_ENDED, "login required")
        page = request.method == "GET" and request.accept_mimetypes.accept_html
        if path == "/" or (page and not path.startswith("/feed/")):
            return redirect(url_for("accounts.login"))
        return {"error": "login required"}, 401
    g.board_user = user
    if path == "/ws":
        g.board_watch = session_watch(user)
        sockets.guard_board(g.board_watch)
    return None


def tell_a_board_its_session_ended(response):
    """After /ws: a board whose session ended while open gets its 4401 close frame."""
    watch = g.pop("board_watch", None)
    if watch is not None and watch.ended:
        sockets.tell_session_ended()
        metrics.board_cut_off("session ended")
    return response


def origin_allowed(origin, host, listed):
    """True for no Origin (not a browser), the app's own host, or an origin listed."""
    if origin is None:
        return True
    if origin.rstrip("/") in {o.rstrip("/") for o in listed}:
        return True
    parts = urlsplit(origin)
    # Scheme aside: behind a router that ends TLS the app may see http for an https page.
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


# Sessions -------------------------------------------------------------------------------------


def start_session(user):
    """Open a board session for `user` (after a successful login)."""
    session.clear()
    session.permanent = True
    session["user"] = {"id": user.id, "epoch": user.session_epoch, "since": int(time.time())}
    session["csrf"] = secrets.token_urlsafe(32)


def session_user():
    """The active account of this request's session, or None (none, expired or ended)."""
    opened = session.get("user")
    if not isinstance(opened, dict) or _expired(opened):
        return None
    with db.engine.connect() as connection:  # returned to the pool at once, even for /ws
        user = connection.execute(sa.select(User).where(User.id == opened.get("id"))).first()
    if user is None or not user.active or user.session_epoch != opened.get("epoch"):
        return None
    return user


def _expired(opened):
    lifetime = current_app.config["BOARD_SESSION_HOURS"] * 3600
    since = opened.get("since")
    return not isinstance(since, int) or time.time() - since > lifetime


def session_watch(user):
    """The watch on this /ws request's session, for its board's socket to ask before writes."""
    opened = session["user"]
    app = current_app._get_current_object()
    epochs = app.extensions["accounts"].epochs
    left = opened["since"] + app.config["BOARD_SESSION_HOURS"] * 3600 - time.time()
    return SessionWatch(app, epochs, user.id, opened["epoch"], epochs.clock() + left)


class SessionWatch:
    """Whether an open board may be written: while its session lasts, and never again once it
    has ended. The board's socket asks before every write (feed.stream.Unguarded says how)."""

    def __init__(self, app, epochs, user_id, epoch, ends_at):
        self.app, self.epochs = app, epochs
        self.user_id, self.epoch = user_id, epoch
        self.ends_at = ends_at  # on the epochs' clock
        self.ended = False
        # The view of the accounts that last found the session going on (its version), and
        # until when that holds: the hub asks for every board at every message.
        self.seen, self.good_until = None, 0.0

    def may_write(self, wait):
        epochs = self.epochs
        if self.ended:
            return False
        if self.seen == epochs.version and epochs.clock() <= self.good_until:
            return True
        seen = epochs.version  # before the answer: a change while it is made shows next time
        over = epochs.clock() > self.ends_at or epochs.session_ended(
            self.app, self.user_id, self.epoch, wait
        )
        if over is None:  # not known without reading: the handler asks again, and may read
            return False
        self.ended = over
        if not over:
            self.seen = seen
            self.good_until = min(epochs.read_at + EPOCHS_FRESH_S, self.ends_at)
        return not over


class AccountEpochs:
    """Every account's session epoch (None when disabled), as read at most EPOCHS_FRESH_S ago.

    Open boards ask before each write, and at least at every nudge of the hub (5 s). While they
    ask, a thread of the process reads the accounts every half EPOCHS_FRESH_S: one query serves
    all of its boards, and none is made once no board has asked for EPOCHS_UNASKED_S. Only a
    read slower than that half leaves the view too old: a board is then not written until its
    handler has read it (the hub, which may not wait, leaves the write to the handler). Logging
    out in this process changes the view at once.
    """

    def __init__(self, clock=time.monotonic, sleep=None, start_thread=None):
        self.clock = clock
        # Looked up now, in the worker, which gevent has patched: a greenlet that sleeps, and
        # that starting never waits for.
        self.sleep = sleep or time.sleep
        self.start_thread = start_thread or _thread.start_new_thread
        self.epochs = {}
        self.version = 0  # changes with the view
        self.read_at = None  # when the read the view comes from began: it holds what was before
        self.asked_at = None
        self.reading = False  # the thread reading while boards ask runs
        self.lock = threading.Lock()  # one read at a time
        self.failing = False

    def session_ended(self, app, user_id, epoch, wait=True):
        """True when the account is disabled or its epoch moved past `epoch`, else False; with
        `wait` false, None rather than read the accounts (no I/O, nothing waited for)."""
        now = self.asked_at = self.clock()
        if not self.reading:
            self.reading = True
            self.start_thread(self._read_while_asked, (app,))
        if self.read_at is None or now - self.read_at > EPOCHS_FRESH_S:
            if not wait:
                return None
            self._read(app, unless_fresh=True)
        # An account created since the last read is not known yet: nothing has ended.
        current = self.epochs.get(user_id, epoch)
        return current is None or current > epoch

    def moved(self, user_id, epoch):
        """This process moved the account to `epoch` (log out): its boards need not wait."""
        self.epochs[user_id] = epoch
        self.version += 1

    def _read_while_asked(self, app):
        try:
            while self.clock() - self.asked_at <= EPOCHS_UNASKED_S:
                self._read(app)
                self.sleep(EPOCHS_FRESH_S / 2)
        finally:
            self.reading = False

    def _read(self, app, unless_fresh=False):
        with self.lock:
            # A handler that found a read under way has waited for it, and needs none of its own.
            fresh = self.read_at is not None and self.clock() - self.read_at <= EPOCHS_FRESH_S
            if unless_fresh and fresh:
                return
            started = self.clock()
            try:
                with app.app_context():
                    # Through run_in_transaction: on SQLite it waits for the write lock the
                    # feed's writes hold (in sleeps the worker runs during) rather than fail.
                    rows = run_in_transaction(
                        lambda connection: connection.execute(
                            sa.select(User.id, User.session_epoch, User.active)
                        ).all()
                    )
                known = self.epochs
                # Never below an epoch this process moved the account to while reading.
                self.epochs = {
                    r.id: max(r.session_epoch, known.get(r.id) or 0) if r.active else None
                    for r in rows
                }
                self.version += 1
                if self.failing:
                    log.info("board sessions: accounts readable again")
                self.failing = False
            except Exception as exc:  # the database away: open boards keep the sessions they had
                if not self.failing:
                    log.warning(
                        "board sessions: cannot read accounts, keeping what is known: %s", exc
                    )
                self.failing = True
            self.read_at = started


# CSRF -----------------------------------------------------------------------------------------


def csrf_token():
    """This session's token for the forms it posts; made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_valid(sent):
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(sent), expected)
