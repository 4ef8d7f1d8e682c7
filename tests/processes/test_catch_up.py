"""Boards that fall a whole backlog behind are brought current in band, never dropped: over real
sockets, against gunicorn + gevent, as the platform runs it."""

import socket
import threading

import websocket

from feed.upstream import frames
from tests.board_view import BoardView
from tests.feed_messages import bet_stop, big_board, event_id, line, market, odds, outcome
from tests.servers import gunicorn, receive_snapshot
from tests.upstream import wait_until

CLOSE = 0x8


class ReadingBoard:
    """A board's socket read on a thread of its own into a BoardView, as a browser applies
    each message; `hold` keeps it from reading until set (a board that stalls)."""

    def __init__(self, address, receive_buffer=None):
        options = {}
        if receive_buffer:
            options["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
        self.ws = websocket.create_connection(f"ws://{address}/ws", timeout=60, **options)
        self.view = BoardView(self.ws.recv())
        self.hold = threading.Event()
        self.closed = None  # the server's close code, if it closed the board
        self.stopped = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        self.hold.wait()
        while not self.stopped:
            try:
                opcode, data = self.ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return
            if opcode == CLOSE:
                self.closed = int.from_bytes(data[:2], "big")
                return
            if opcode == websocket.ABNF.OPCODE_TEXT:
                self.view.apply(data.decode())

    def close(self):
        self.stopped = True
        self.ws.close()
        self.thread.join(timeout=10)


def lines_by_key(lines):
    return {(x["event_id"], x["market_id"], x["specifiers"]): x for x in lines}


def test_a_burst_of_10000_bet_stops_drops_no_board_and_each_ends_in_the_feeds_state(
    upstream, sqlite_database_url
):
    # Pings far apart: the stalled board below takes no write for as long as the burst lasts.
    settings = {"FEED_URL": upstream.url, "BOARD_PING_SECONDS": "120"}
    with gunicorn(sqlite_database_url, **settings) as address:
        upstream.wait_connected()
        upstream.alive()
        for change in big_board(events=40, markets=10):
            upstream.send_frame(frames.ODDS_CHANGE, change, 1000)
        wait_until(lambda: len(receive_snapshot(address)["lines"]) == 800, timeout=30)
        # Few reading boards: each decodes and applies all 10,000 BetStops in this process.
        boards = [ReadingBoard(address) for _ in range(3)]
        # One board stalls through the whole burst, with a small receive buffer: far more than a
        # backlog behind by the time it reads again.
        stalled = ReadingBoard(address, receive_buffer=4096)
        for board in boards:
            board.hold.set()
        try:
            for number in range(10_000):
                stop = bet_stop(event_id(number % 40), "all", None, 2000 + number)
                upstream.send_frame(frames.BET_STOP, stop, 2000 + number)
            wait_until(
                lambda: (
                    [e["sent_at"] for e in receive_snapshot(address)["bet_stops"][-1:]] == [11_999]
                ),
                timeout=120,
                what="the last BetStop applied",
            )
            stalled.hold.set()
            feed = receive_snapshot(address)
            for board in [*boards, stalled]:
                wait_until(lambda b=board: b.view.seq >= feed["seq"] or b.closed, timeout=120)
                assert board.closed is None  # never dropped
                assert board.view.synced  # no gap in its numbers
                assert board.view.lines == lines_by_key(feed["lines"])
                assert not board.view.bettable()  # every line of every event stopped
            assert stalled.view.snapshots >= 1  # brought current in band, not reconnected
        finally:
            for board in [*boards, stalled]:
                board.close()


TOTALS = range(1, 17)  # lines of each odds change: 3,000 of them make ~20 MB of messages


def test_a_board_brought_current_shows_the_latest_state_of_every_line_it_missed(
    upstream, sqlite_database_url
):
    event = event_id(1)
    settings = {"FEED_URL": upstream.url, "BOARD_BACKLOG_BYTES": "65536"}
    with gunicorn(sqlite_database_url, **settings) as address:
        upstream.wait_connected()
        upstream.alive()
        stalled = ReadingBoard(address, receive_buffer=4096)
        try:
            # The same lines again and again, well past the backlog's bytes and past what the
            # sockets' buffers hold (a few MB on loopback): each state but the last is one the
            # board must never end on.
            for number in range(3000):
                price = 1.01 + number / 1000
                lines = [line(f"total={t}.5", outcomes=[outcome("12", price)]) for t in TOTALS]
                change = odds([market(18, *lines)], event, stamp=2000 + number)
                upstream.send_frame(frames.ODDS_CHANGE, change, 2000 + number)
            last = 1.01 + 2999 / 1000

            def priced():
                prices = [
                    line["outcomes"]["12"]["odds"] for line in receive_snapshot(address)["lines"]
                ]
                return prices and set(prices) == {last}

            # Then the BetStop, once the odds are in (one sent with them would go ahead of them).
            wait_until(priced, timeout=60, what="the last odds applied")
            upstream.send_frame(frames.BET_STOP, bet_stop(event, "all", None, 9000), 9000)
            wait_until(
                lambda: receive_snapshot(address)["bet_stops"],
                timeout=60,
                what="the BetStop applied",
            )
            feed = receive_snapshot(address)
            stalled.hold.set()
            wait_until(lambda: stalled.view.seq >= feed["seq"] or stalled.closed, timeout=60)
            assert stalled.closed is None and stalled.view.synced
            assert stalled.view.snapshots >= 1
            assert stalled.view.lines == lines_by_key(feed["lines"])
            for t in (1, 2):
                shown = stalled.view.line(event, 18, f"total={t}.5")
                assert shown["status"] == "suspended"  # the BetStop's effect, never missed
                assert shown["outcomes"]["12"]["odds"] == last
            # The stream goes on from the snapshot's number, with no gap.
            upstream.send_frame(frames.BET_STOP, bet_stop(event, "all", None, 9001), 9001)
            wait_until(lambda: stalled.view.seq > feed["seq"], timeout=30)
            assert stalled.view.synced and stalled.closed is None
        finally:
            stalled.close()
