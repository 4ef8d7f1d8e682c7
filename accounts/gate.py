"""Who may open the board: a login session for its paths, and /ws only from the board's own pages.

One before-request check, by path, in front of every view: whatever is not listed as open needs
a session, so a page or endpoint added later is behind the login from its first day. The
wallet's callbacks are not behind it: they keep their own gate.
"""

import hmac
import logging
import secrets
import threading
import time
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, session, url_for

from database import db
from ops import metrics

from . import sockets
from .models import User

# Open without a session: the login itself, static files, the platform's and on-call's checks
# (/metrics has its own gate), and the wallet's callbacks (their own gate).
OPEN_PATHS = frozenset({"/login", "/logout", "/health", "/ready", "/metrics"})
OPEN_PREFIXES = ("/static/", "/wallet/")
EPOCHS_FRESH_S = 5  # how stale an open board's view of its account may be
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
        g.board_socket = sockets.bind_to_session(session_watch(user))
    return None


def tell_a_board_its_session_ended(response):
    """After /ws: a board whose session ended while open gets its 4401 close frame."""
    bound = g.pop("board_socket", None)
    if bound is not None and bound.ended:
        sockets.tell_session_ended(bound)
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
    """A cheap check, run on each write to an open board, of whether its session has ended."""
    opened = dict(session["user"])
    epochs = current_app.extensions["accounts"].epochs
    app = current_app._get_current_object()
    ends_at = opened["since"] + app.config["BOARD_SESSION_HOURS"] * 3600

    def session_over():
        return time.time() > ends_at or epochs.session_ended(app, user.id, opened["epoch"])

    return session_over


class AccountEpochs:
    """Every account's session epoch (None when disabled), read at most every few seconds.

    Open boards ask on each write; one query every EPOCHS_FRESH_S serves all of a process's
    boards. Logging out here updates it at once; elsewhere it shows within EPOCHS_FRESH_S.
    """

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.epochs = {}
        self.read_at = None
        self.lock = threading.Lock()
        self.failing = False

    def session_ended(self, app, user_id, epoch):
        """True when the account is disabled or its epoch moved past `epoch`."""
        if self.read_at is None or self.clock() - self.read_at > EPOCHS_FRESH_S:
            self._refresh(app)
        # An account created since the last read is not known yet: nothing has ended.
        current = self.epochs.get(user_id, epoch)
        return current is None or current > epoch

    def moved(self, user_id, epoch):
        """This process moved the account to `epoch` (log out): its boards need not wait."""
        self.epochs[user_id] = epoch

    def _refresh(self, app):
        # The first read is waited for; later, a board finding another one reading goes on
        # with what is known.
        if not self.lock.acquire(blocking=self.read_at is None):
            return
        try:
            with app.app_context(), db.engine.connect() as connection:
                rows = connection.execute(sa.select(User.id, User.session_epoch, User.active))
                self.epochs = {r.id: r.session_epoch if r.active else None for r in rows}
            if self.failing:
                log.info("board sessions: accounts readable again")
            self.failing = False
        except Exception as exc:  # the database away: open boards keep the sessions they had
            if not self.failing:
                log.warning("board sessions: cannot read accounts, keeping what is known: %s", exc)
            self.failing = True
        finally:
            self.read_at = self.clock()
            self.lock.release()


# CSRF -----------------------------------------------------------------------------------------


def csrf_token():
    """This session's token for the forms it posts; made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_valid(sent):
    expected = session.get("csrf")
    return bool(expected and sent) and hmac.compare_digest(str(sent), expected)
