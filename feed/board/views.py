"""The relay's endpoints: the browsers' websocket and the BetStop log."""

import logging

from flask import Blueprint, abort, current_app, render_template, request
from flask_sock import Sock

from database.fitting import Unstorable
from feed.board import modules as board_modules
from feed.board.stream import UNGUARDED, BoardSocket, SharedFrame, message_frame
from infra.board_guard import GUARD
from ops import metrics

bp = Blueprint("feed", __name__)
sock = Sock()
log = logging.getLogger(__name__)


@bp.before_request
def refuse_compression():
    # simple-websocket accepts per-message deflate whenever it is offered; on thousands of sockets
    # that halves fan-out throughput and triples memory. Without the offer there is none. Only
    # the feed's own routes pay for this look, not the wallet's callbacks.
    if request.endpoint == "feed.stream":
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


SNAPSHOT_FRAME = SharedFrame()  # the latest snapshot's frame, for every board that gets it


@sock.route("/ws", bp=bp)
def stream(ws):
    """Send the board's snapshot, then every relay message in order, from this handler only."""
    source = current_app.extensions["feed"].board
    seq, snapshot = source.snapshot()
    # Woken by a message, by the hub's nudge every few seconds (no timer per wait, as there
    # would be thousands of them), or by the board's reader when there is a pong or a close to
    # write. Idle handlers ping when nudged: up to BOARD_NUDGE_SECONDS after it is due, and ask
    # the board's guard (the login's, when it is on) whether it may still be written.
    guard = request.environ.get(GUARD, UNGUARDED)
    with source.subscribe(after=seq) as subscription:
        ping_every = current_app.config["BOARD_PING_SECONDS"]
        nudge_every = current_app.config["BOARD_NUDGE_SECONDS"]
        board = BoardSocket(ws, ping_every, nudge_every, subscription.wake, guard=guard)
        if board.plain:
            subscription.write_now = board.write_now  # while this handler waits in take()
        board.start_reading()
        try:
            board.send(SNAPSHOT_FRAME.of(snapshot))
            # answer() last: nothing yields between its look at the reader's news and take().
            while not subscription.dropped and board.keep_alive() and board.answer():
                if subscription.behind:
                    if not catch_up(source, subscription, board):
                        break
                    continue  # the snapshot's write yields: answer() again before take()
                out = [message_frame(s, text) for s, text in subscription.take()]
                if out:
                    board.send(b"".join(out))
                    metrics.sent_to_board(subscription.published)
            if source.closing and board.connected:
                board.close(1001, "going away")  # this process stops: the board tries another
            elif subscription.behind and board.connected:
                log.info("dropping a board socket that fell behind with no board to catch up on")
                board.cut_off = "fell behind"
                board.close(1013, "fell behind; reconnect and resync")
        except OSError:
            return  # the board went away mid-write, or its guard refused it (BoardRefused)
        finally:
            subscription.write_now = None  # it and the board refer to each other
            board.stop_reading()
            if board.cut_off:
                metrics.board_cut_off(board.cut_off)


def catch_up(source, subscription, board):
    """Bring a board that fell a whole backlog behind current: send it the board as it is now,
    in band, and go on from there. False when there is none to go on from (a web worker whose
    checkpoint is older than its backlog): the board is then closed, to resync on its own."""
    seq, snapshot = source.snapshot()
    if seq is None or not subscription.resume(seq):
        return False
    # The latest state of every line, whatever the board missed: it repaints from it and goes
    # on from its seq, as from a web worker's resync (static/board/connection.js).
    board.send(SNAPSHOT_FRAME.of(snapshot))
    metrics.board_caught_up()
    return True


@bp.get("/")
def board():
    """The traders' market board; it fills itself from /ws."""
    return render_template("board.html", modules=board_modules.page_modules())


@bp.get(board_modules.RULE)
def board_module(version, filename):
    """One of the board's modules, at the version of the set its page was rendered with."""
    return board_modules.send_module(version, filename)


@bp.get("/feed/bet-stops")
def bet_stops():
    """The latest BetStops, newest first: ?event_id= to filter, ?limit= up to 1000."""
    limit = min(max(request.args.get("limit", 100, type=int), 1), 1000)
    store = current_app.extensions["feed"].store
    try:
        return {"bet_stops": store.recent_bet_stops(limit, request.args.get("event_id") or None)}
    except Unstorable:
        abort(400)


@bp.get("/feed/status")
def status():
    """Role, bus link, boards, lag; feed health and the counts of frames seen and skipped."""
    return current_app.extensions["feed"].status()
