"""The board's websocket and its session: refused at the handshake without one, closed when it ends.

The board is told with close code 4401, which its page answers by showing the login. A board
whose session ends while it is open is refused its next write by its guard (gate.SessionWatch),
which the board's socket asks before every write, the hub's included: the handler ends as for a
board gone away, and the close frame goes out after it, so no second writer ever cuts into one
of its frames.
"""

import contextlib
import logging

from flask import Response, request
from simple_websocket import Server
from wsproto.frame_protocol import FrameProtocol

from infra.board_guard import GUARD

SESSION_ENDED = 4401
log = logging.getLogger(__name__)
SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


def guard_board(guard):
    """Put `guard` on this /ws request's board: its socket asks it before every write."""
    request.environ[GUARD] = guard


def tell_session_ended():
    """After this /ws request's handler has returned: send its board the 4401 close frame."""
    frame = bytes(FrameProtocol(client=False, extensions=[]).close(SESSION_ENDED, "session ended"))
    for key in SOCKET_KEYS:
        if key in request.environ:
            with contextlib.suppress(OSError):  # the board is gone already
                request.environ[key].sendall(frame)
            return


def refuse_at_handshake(code, reason):
    """Accept the upgrade only to close the socket with `code` at once: no snapshot, nothing."""
    ws = Server(request.environ)
    try:
        ws.close(reason=code, message=reason)
    except Exception:  # the board went away meanwhile
        log.debug("closing a refused board socket failed", exc_info=True)
    return _AnsweredSocket(ws.mode)


class _AnsweredSocket(Response):
    """The response of a socket answered already: the server writes nothing more."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def __call__(self, environ, start_response):
        if self.mode == "gunicorn":
            # gunicorn's worker takes StopIteration from the app as "close the connection".
            raise StopIteration()
        if self.mode == "werkzeug":
            return super().__call__(environ, start_response)
        return []
