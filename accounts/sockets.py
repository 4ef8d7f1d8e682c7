"""The board's websocket and its session: refused at the handshake without one, closed when it ends.

The board is told with close code 4401, which its page answers by showing the login. A board
whose session ends while it is open is told by refusing its handler's next write at a frame
boundary: the handler ends as for a board gone away, and the close frame goes out after it,
so no second writer ever cuts into one of its frames.
"""

import contextlib
import logging

from flask import Response, request
from simple_websocket import Server
from wsproto.frame_protocol import FrameProtocol

SESSION_ENDED = 4401
log = logging.getLogger(__name__)
SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


class SessionEnded(ConnectionAbortedError):
    """The board's session ended: nothing more is written to it but the close frame."""


class SessionBoundSocket:
    """A board's network socket that takes no new frame once `session_over()` says so."""

    def __init__(self, sock, session_over):
        self._sock = sock
        self._session_over = session_over
        self._mid_frame = False  # the last send() took part of its data: a frame is unfinished
        self.ended = False

    def send(self, data, *flags):
        self._refuse_if_over()
        sent = self._sock.send(data, *flags)
        self._mid_frame = sent < len(data)
        return sent

    def sendall(self, data, *flags):
        self._refuse_if_over()
        return self._sock.sendall(data, *flags)

    def _refuse_if_over(self):
        # Never in the middle of a frame: the rest of it goes out first.
        if not self._mid_frame and (self.ended or self._session_over()):
            self.ended = True
            raise SessionEnded("the board's session ended")

    def __getattr__(self, name):
        return getattr(self._sock, name)


def bind_to_session(session_over):
    """Make this /ws request's socket refuse writes once `session_over()` is true."""
    for key in SOCKET_KEYS:
        if key in request.environ:
            bound = SessionBoundSocket(request.environ[key], session_over)
            request.environ[key] = bound
            return bound
    return None


def tell_session_ended(bound):
    """After the board's handler has returned: send it the 4401 close frame."""
    frame = bytes(FrameProtocol(client=False, extensions=[]).close(SESSION_ENDED, "session ended"))
    with contextlib.suppress(OSError):  # the board is gone already
        bound._sock.sendall(frame)


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
