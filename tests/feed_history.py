"""A feed history played against the real market rules and relay, with the oracle watching.

Every step goes to both: a frame to `Relay.receive` and `Oracle.receive`, the socket to
`Relay.connection`; a second of silence is one `tick()`, and the store's thread writes what is
queued (it writes every FEED_FLUSH_SECONDS, a second). A restart writes the store and starts a
new relay from the same database, restored, as the embedded process does when it starts; a
takeover is the deployed shape's: the leader is killed, what its store had queued is lost, and a
standby's new relay restores from the database. While the database is down the store's writes
and the restore fail: the rows stay queued, and a relay that could not restore runs without the
last known board and restores once the database is back, as the consumer retries it. Two boards
read what the relay published: one that has followed it all along (and takes a fresh snapshot
after a gap or a restart, as a board does when it reconnects) and one connecting now. The steps
are logged as sent, for the message of a failing test.
"""

import json

from sqlalchemy.exc import OperationalError

import feed.store.write_behind
from database import db
from feed.market import published
from feed.store.models import BetStopRecord, FeedEvent, FeedLine
from feed.store.spill import Spill, spill_path
from feed.store.write_behind import FeedStore
from feed.term import Term
from tests.board_view import BoardView
from tests.feed_oracle import Oracle, line_key, stamp_ms

CLOCK_START = 1_764_843_686_000  # our clock (ms) when a history starts
FOLLOWING, CONNECTING = "a board following the relay", "a board connecting now"


def _refused(work, *args, **kwargs):
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


class CapturedHub:
    """What the relay publishes, kept for the boards to read and, as the bus keeps it, for
    the leader after it: the term's first board (its checkpoint) and every message since."""

    def __init__(self):
        self.published = []
        self.checkpoint = None
        self.since = []

    def publish(self, seq, text):
        self.published.append((seq, text))
        self.since.append(text)

    def wait_sent(self, seq, timeout):
        return True

    def board(self):
        """What a standby reads back from the bus."""
        return published.read(self.checkpoint, self.since)


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
        self.database_is_down = False
        self.restore_pending = False  # a relay that could not restore yet: it retries
        if not emptied:
            with app.app_context(), db.engine.begin() as connection:
                for model in (FeedLine, FeedEvent, BetStopRecord):
                    connection.exec_driver_sql(f"DELETE FROM {model.__tablename__}")
        Spill(spill_path(app)).clear()  # BetStops an earlier history left waiting on disk
        self._start(restore=False)  # an empty database: nothing to restore

    def clock(self):
        return self.oracle.clock()

    def _start(self, restore=True, bus=published.NOTHING):
        self.store = FeedStore(self.app, self.clock)
        self.hub = CapturedHub()

        # Ages are real time: our clock may step, the relay's monotonic clock does not.
        def elapsed():
            return self.clock_start + self.oracle.real_ms

        self.relay = Term(self.app, self.store, self.hub, self.clock, elapsed).relay
        self.restore_pending = restore
        if restore:  # as the consumer begins a term (Consumer._begin)
            self.bus_board = self.relay.begin(bus)
            self._restore()
            if self.restore_pending:  # the database is slow: what needs none goes in now
                self.relay.take_over(self.bus_board)
        self.hub.checkpoint = self.relay.snapshot()[1]  # a new leader's first checkpoint
        self.board = BoardView(self.hub.checkpoint)
        self.connecting = None  # (snapshot text, the board a connecting board reads from it)

    def _restore(self):
        """Load the last known board; while the database is down it stays to be done."""
        try:
            self.relay.restore(self.bus_board)
        except OperationalError:
            self._note("(the new relay could not load the last known board: it will retry)")
            return
        self.restore_pending = False

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

    def send_burst(self, sent):
        """Frames (cmd, data) that arrive together: the relay queues them as its upstream client
        does and applies them as it applies a backlog, BetStops first, one step at a time and
        an odds change one line a slice, each frame queued after the step that follows the one
        before it (a BetStop may then land in the middle of an odds change). The oracle takes
        them in the order they arrived."""
        intake = self.relay.receive
        intake.slice_lines = 1
        for cmd, data in sent:
            time = stamp_ms(data.get("timestamp")) if isinstance(data, dict) else None
            time = self.clock() if time is None else time
            text = json.dumps({"cmd": cmd, "time": time, "data": data}, separators=(",", ":"))
            self.oracle.receive(text)
            self._note(f"receive, queued behind {len(intake)} frames: {text}")
            intake.add(text)
            intake.advance(0)
        while intake.advance(0):
            pass

    def connect(self):
        self.oracle.connect()
        self._note("upstream connected")
        self.relay.connection(True)

    def disconnect(self):
        self.oracle.disconnect()
        self._note("upstream disconnected")
        self.relay.connection(False)

    def restart(self):
        """The process stops (what it queued written, unless the database is down) and starts
        again from the database."""
        self.follow()
        self.store.write()  # never raises: while the database is down the queue is lost
        self.oracle.restart()
        written = "state lost, the database down" if self.database_is_down else "state written"
        self._note(f"process restarted: {written}, a new relay restored from the database")
        self._start()

    def takeover(self, bus_lost=False, board=None):
        """The leader is killed (what its store queued is lost); a standby restores and leads.

        `bus_lost`: Redis lost its data too, so the standby has only the database. `board`:
        what the standby reads from the bus instead of all the leader published (an older
        board: Redis was away while the leader went on; or a checkpoint and nothing since).
        """
        self.follow()
        self.oracle.takeover()
        self._note(
            "leader killed, its queue unwritten: a standby restores from what it published on"
            " the bus, and from the database"
        )
        board = self.hub.board() if board is None else board
        self._start(bus=published.NOTHING if bus_lost else board)

    def database_down(self):
        """The database refuses every transaction of the store until `database_up()`."""
        if not self.database_is_down:
            self.database_is_down = True
            self.run_in_transaction = feed.store.write_behind.run_in_transaction
            feed.store.write_behind.run_in_transaction = _refused
            self._note("the database goes down: the store's writes and reads fail")

    def database_up(self):
        """The database is back; a relay that could not restore restores now."""
        if self.database_is_down:
            self.database_is_down = False
            feed.store.write_behind.run_in_transaction = self.run_in_transaction
            self._note("the database is back")
            if self.restore_pending:
                self._restore()
                if not self.restore_pending:
                    self._note("the relay loads the last known board")

    def close(self):
        """Leave the database up for whatever runs next."""
        self.database_up()

    def silence(self, seconds, every_second=None):
        """Let `seconds` pass with nothing from upstream, ticking the relay and writing the
        store each second."""
        first = self.oracle.step + 1
        self._note(
            f"{seconds} s of silence, a tick and a write every second"
            f" (steps {first}-{first + seconds - 1})"
        )
        for _ in range(seconds):
            self.oracle.pass_time(1000)
            self.relay.tick()
            self.store.write()  # never raises: while the database is down the rows wait
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
