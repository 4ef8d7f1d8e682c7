"""A feed history played against the real market rules and relay, with the oracle watching.

Every step goes to both: a frame to `Relay.receive` and `Oracle.receive`, the socket to
`Relay.connection`; a second of silence is one `tick()`; a restart writes the store and starts a
new relay from the same database, restored, as the embedded process does when it starts. Two
boards read what the relay published: one that has followed it all along (and takes a fresh
snapshot after a gap or a restart, as a board does when it reconnects) and one connecting now.
The steps are logged as sent, for the message of a failing test.
"""

import json

from database import db
from feed.store.models import BetStopRecord, FeedEvent, FeedLine
from feed.store.write_behind import FeedStore
from feed.term import Term
from tests.board_view import BoardView
from tests.feed_oracle import Oracle, line_key, stamp_ms

CLOCK_START = 1_764_843_686_000  # our clock (ms) when a history starts
FOLLOWING, CONNECTING = "a board following the relay", "a board connecting now"


class CapturedHub:
    """What the relay publishes, kept for the boards to read."""

    def __init__(self):
        self.published = []

    def publish(self, seq, text):
        self.published.append((seq, text))


class FeedHistory:
    """One history, from an empty database: call the steps, then ask `violations()`.

    `emptied=True` says the feed's tables are empty already (nothing written since they were
    last emptied), which saves emptying them again.
    """

    def __init__(self, app, clock_start=CLOCK_START, emptied=False):
        self.app = app
        self.oracle = Oracle(clock_start)
        self.clock_start = clock_start
        self.log = []
        if not emptied:
            with app.app_context(), db.engine.begin() as connection:
                for model in (FeedLine, FeedEvent, BetStopRecord):
                    connection.exec_driver_sql(f"DELETE FROM {model.__tablename__}")
        self._start(restore=False)  # an empty database: nothing to restore

    def clock(self):
        return self.oracle.clock()

    def _start(self, restore=True):
        self.store = FeedStore(self.app, self.clock)
        self.hub = CapturedHub()

        # Ages are real time: our clock may step, the relay's monotonic clock does not.
        def elapsed():
            return self.clock_start + self.oracle.real_ms

        self.relay = Term(self.app, self.store, self.hub, self.clock, elapsed).relay
        if restore:
            self.relay.restore()
        self.board = BoardView(self.relay.snapshot()[1])
        self.connecting = None  # (snapshot text, the board a connecting board reads from it)

    def _note(self, what):
        seconds = self.oracle.real_ms // 1000
        ours = self.clock() - self.clock_start - self.oracle.real_ms
        clock = f" (our clock {ours / 1000:+g} s)" if ours else ""
        self.log.append(f"{self.oracle.step:>4}  t={seconds:>4} s{clock}  {what}")

    # Steps -------------------------------------------------------------------------------------

    def send(self, cmd, data, time=None):
        """Send one text frame; its `time` is the data's stamp in ms, or our clock's reading."""
        if time is None:
            time = stamp_ms(data.get("timestamp")) if isinstance(data, dict) else None
        time = self.clock() if time is None else time
        text = json.dumps({"cmd": cmd, "time": time, "data": data}, separators=(",", ":"))
        self.oracle.receive(text)
        self._note(f"receive {text}")
        self.relay.receive(text)
        return text

    def connect(self):
        self.oracle.connect()
        self._note("upstream connected")
        self.relay.connection(True)

    def disconnect(self):
        self.oracle.disconnect()
        self._note("upstream disconnected")
        self.relay.connection(False)

    def restart(self):
        """The process stops (what it queued written) and starts again from the database."""
        self.follow()
        self.store.write()
        self.oracle.restart()
        self._note("process restarted: state written, a new relay restored from the database")
        self._start()

    def silence(self, seconds, every_second=None):
        """Let `seconds` pass with nothing from upstream, ticking the relay each second."""
        first = self.oracle.step + 1
        self._note(
            f"{seconds} s of silence, a tick every second (steps {first}-{first + seconds - 1})"
        )
        for _ in range(seconds):
            self.oracle.pass_time(1000)
            self.relay.tick()
            if every_second is not None:
                every_second()

    def step_clock(self, ms):
        """Our clock jumps by `ms` (back when negative); real time does not."""
        self.oracle.step_clock(ms)
        self._note(f"our clock steps {ms / 1000:+g} s")

    # The boards --------------------------------------------------------------------------------

    def follow(self):
        """The following board reads what was published; after a gap, a fresh snapshot."""
        published, self.hub.published = self.hub.published, []
        for _, text in published:
            self.board.apply(text)
        if not self.board.synced:
            self._note(f"({FOLLOWING} missed a number: it takes a fresh snapshot)")
            self.board = BoardView(self.relay.snapshot()[1])

    def boards(self):
        self.follow()
        text = self.relay.snapshot()[1]
        if self.connecting is None or self.connecting[0] is not text:
            self.connecting = (text, BoardView(text))  # the same text reads the same
        return [(FOLLOWING, self.board), (CONNECTING, self.connecting[1])]

    def bettable_on(self, event, market_id, specifiers=""):
        """The names of the boards on which the line reads bettable."""
        wanted = line_key(event, market_id, specifiers)
        return [
            name
            for name, board in self.boards()
            for key, _ in board.bettable()
            if line_key(*key) == wanted
        ]

    def violations(self):
        """(board, line as shown, why the oracle stops it) for each line read bettable wrongly."""
        found = []
        for name, board in self.boards():
            for key, line in board.bettable():
                allowed, why = self.oracle.allowed(line_key(*key))
                if not allowed:
                    found.append((name, line, why))
        return found

    def transcript(self):
        """The history so far, one step a line: step, real time, what happened."""
        return "the history (step, real time, what happened):\n" + "\n".join(self.log)

    def report(self, violations):
        """The violations and the history that led to them, readable."""
        shown = "\n".join(
            f"  {name} reads bettable {json.dumps(line)}\n    the oracle stops it: {why}"
            for name, line, why in violations
        )
        now = f"now: step {self.oracle.step}, t={self.oracle.real_ms // 1000} s"
        return f"a line the feed stopped reads bettable ({now}):\n{shown}\n{self.transcript()}"
