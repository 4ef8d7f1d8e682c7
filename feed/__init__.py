"""The upstream odds feed, in the order a message goes: upstream/ (bytes to frames), market/
(frames to applied changes), relay.py (numbered messages), store/ (the tables), bus/ (between
processes), board/ (to every board's socket); runtime.py says which shape this process runs."""

from feed.board.stream import BOARD_SOCKET_OPTIONS
from feed.board.views import bp, sock
from feed.cli import bp as cli_bp
from feed.runtime import FeedRuntime


def init_app(app):
    """Attach the feed's runtime, its websocket and endpoints, and `flask feed ...`."""
    # No reading thread for simple-websocket: a second writer, and a reader that never yields;
    # feed/board/stream.py reads each board and its handler alone writes (pings, pongs, closes).
    app.config.setdefault("SOCK_SERVER_OPTIONS", BOARD_SOCKET_OPTIONS)
    app.extensions["feed"] = FeedRuntime(app)
    app.register_blueprint(bp)
    sock.init_app(app)
    app.register_blueprint(cli_bp)
