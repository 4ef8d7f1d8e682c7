"""Upstream frames in; market state, the database and relay messages to the browsers out."""

import collections
import contextlib
import logging
import threading
from dataclasses import replace
from logging import INFO, WARNING

from feed.board.json_text import finite, strict_json
from feed.board.snapshot import BoardSnapshot
from feed.intake import Intake
from feed.market.health import Outages
from feed.market.model import ACTIVE, FEED_GAP, SUSPENDED, ApplyFailed, MessageError
from feed.market.published import NOTHING, merged
from feed.market.reading import odds_line_count
from feed.market.reopening import BetStopLog, progress
from feed.upstream import fields, frames
from feed.upstream.frames import FrameError
from ops import metrics

log = logging.getLogger(__name__)

MESSAGE_TYPES = {
    frames.FIXTURE_CHANGE: "fixture_change",
    frames.ODDS_CHANGE: "odds_change",
    frames.BET_STOP: "bet_stop",
    frames.BET_SETTLEMENT: "bet_settlement",
    frames.BET_CANCEL: "bet_cancel",
    frames.MATCH_STATUS: "match_status",
}
HEALTH_REFRESH_MS = 5000  # health messages with no change of verdict: at most one per 5 s
IGNORED = {frames.PING, frames.LIVE_SCORE}  # known, and nothing on the board depends on them
RESTORED_BET_STOPS = 1000  # BetStops of the log the rules remember again after a restart
LOGGED_CHARS = 200  # of a skipped frame's description: a hostile frame must not fill the log
SLICE_LINES = 500  # lines of an odds change applied and published at a time (feed/intake.py)
LISTS_OF_LINES = ("odds_markets", "markets")  # left out of a slice's `data`: it has its lines


def _lines_in(frame):
    if frame.cmd != frames.ODDS_CHANGE or not isinstance(frame.data, dict):
        return 0
    return odds_line_count(frame.data)


class Relay:
    """Applies each upstream message to the state and publishes what changed, in order.

    Every relay message carries a sequence number; the snapshot carries the number of the last
    message it includes, so a browser can tell it missed one and resync.
    """

    def __init__(
        self,
        state,
        health,
        hub,
        store,
        clock,
        max_frame_bytes=frames.MAX_SIZE,
        elapsed=None,
        slice_lines=SLICE_LINES,
    ):
        self.state, self.health, self.hub, self.store = state, health, hub, store
        self.clock = clock  # milliseconds since the epoch: stamps, receipts, what boards show
        # Milliseconds on a clock that never steps (monotonic): how long since an alive. Our
        # wall clock stepping back an hour must not keep a silent feed up for an hour.
        self.elapsed = elapsed or clock
        self.max_frame_bytes = max_frame_bytes  # FEED_MAX_FRAME_BYTES: the client's limit too
        self.seq = 0
        self.restoring = False  # a restore from the database is awaited (`restore()` ends it)
        self.received = 0  # the latest receipt time (ms): receipts never go back with the clock
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        # Messages numbered under the lock wait here to be published after it is released, in
        # order, whichever thread drains them: a hub may yield to other greenlets while it
        # publishes, and the views take the lock for snapshots.
        self.outbox = collections.deque()
        self.publishing = threading.Lock()
        # The latest BetStop log entries (in snapshots), and when what each stopped reopened.
        self.log = BetStopLog()
        self.bet_stops = self.log.entries
        now, at = clock(), self.elapsed()
        self.verdict = health.verdict(at)
        # Products are down from the start until the feed says otherwise: a start-up outage, kept
        # for the boards' logs only if the feed takes longer than a running feed may (Outages).
        self.outages = Outages(startup_grace_ms=health.alive_timeout_ms)
        self.outages.update(
            self.verdict, lambda product: health.why_down(product, at), now, startup=True
        )
        self.health_published = 0  # when the last health message went out (ms)
        self._snapshot = None  # (seq, text) of the last snapshot served
        self.board = BoardSnapshot(self._encode)  # the state as JSON, redone line by line
        # receive(raw): one frame applied at once; the upstream client also queues frames in it
        # and has them applied a few milliseconds at a time, BetStops first (feed/intake.py).
        self.receive = Intake(self, slice_lines)

    def restore(self, published=NOTHING):
        """Load the last known board, and the latest BetStops, which the rules remember again.

        `published` is what the last leader published on the bus (feed/market/published.py): its
        store may not have written its last changes. Of each line the newer version wins,
        answering to every product either says fed it; a BetStop either holds is remembered.
        Whatever the upstream said while this process was not listening is unknown (it has no
        replay): every line restored open reads suspended ("feed gap") until odds reopen it.
        It may come after the first messages (a slow database is waited for in the background):
        the boards then resync from a snapshot that holds both. Returns the restored lines
        suspended for the gap.
        """
        events, lines = self.store.load()  # outside the lock: the relay goes on meanwhile
        # Newest first, with what the latest still held stopped when they were last written.
        logged, held = self.store.recent_bet_stops(RESTORED_BET_STOPS, held=True)
        events, lines, logged = merged(events, lines, logged, published)
        return self._restore(events, lines, logged, held, published.floors)

    def begin(self, published=NOTHING):
        """Begin from what the last process left that needs no database, and await `restore`:
        the BetStops it kept on disk (feed/store/spill.py) join `published` (what it published
        on the bus), which is returned for `restore` and `take_over`. Until the restore, no odds
        open a line. The bus's BetStops are queued for the log: the database may lack them."""
        spilled = self.store.take_spill()
        self.store.log_entries(published.bet_stops)
        self.restoring = True
        return published._replace(bet_stops=spilled + published.bet_stops)

    def take_over(self, published):
        """Take on what the last leader published on the bus, while the database is slow to
        answer: before the upstream is heard, a BetStop only the bus holds is remembered.

        The BetStops join the rules only (the log and History hold what the database does
        until it answers), and lines are suspended for the gap as restored ones are; a later
        `restore` adds what the database holds besides. Returns the lines suspended.
        """
        if not (published.events or published.lines or published.bet_stops):
            return []
        newest_first = list(reversed(published.bet_stops))
        lines = [replace(line) for line in published.lines]  # `restore` merges them later
        return self._restore(published.events, lines, newest_first, None, published.floors)

    def _restore(self, events, lines, logged, held, floors):
        # `held` None: entries only for the rules, not for the BetStop log.
        with self._changing():
            # Receipts go on from the newest moment the last process saw, as they never go
            # back: our clock may be behind the last process's.
            newest = max(
                [line.updated_at for line in lines]
                + [fields.integer(entry.get("received_at")) or 0 for entry in logged]
                + [0]
            )
            self.received = max(self.received, newest)
            changed = self.state.restore(events, lines, list(reversed(logged)), floors)
            # Before the gap below: a line open or closed as restored left its stop already.
            at = self.clock()
            if held is not None:  # the database's board: the one awaited
                self.restoring = False
                for _entry, row in self.log.restore(logged, held, self.state.lines.get, at):
                    self.store.update_bet_stop(row)
            gap = []
            for line in changed:
                if line.status == ACTIVE:
                    line.status, line.reason = SUSPENDED, FEED_GAP
                    gap.append(line)
            self.store.changed([line.to_json() for line in changed], None)
            if self.seq:
                # Boards have a board without these: a gap in the sequence, told at once by the
                # health message after it, makes every one resync.
                self._resync()
                self._publish_health(self.clock(), force=True)
            else:
                self.board.reset(self.state.snapshot())
                self._snapshot = None
        return gap

    def decode(self, raw):
        """The frame in one raw websocket frame from upstream, or None (counted) when it cannot
        be read; never raises, whatever the frame."""
        *_, frame = self.decode_in_steps(raw)
        return frame

    def decode_in_steps(self, raw):
        """decode() a step at a time (frames.decode_in_steps): yields False after each step but
        the last, then the frame, or None (counted); never raises."""
        try:
            for frame in frames.decode_in_steps(raw, self.max_frame_bytes):
                if frame is not None:
                    yield frame
                    return
                yield False
        except FrameError as exc:
            self._count_bad(exc.kind, exc)
        except Exception as exc:  # RecursionError, int limits...: what decoding did not foresee
            self._count_bad(f"error_{type(exc).__name__}", exc, trace=True)
        yield None

    def refuse(self, kind, detail):
        """Count a frame the client read through but did not pass on (too large, say)."""
        with self.lock:
            self._count_bad(kind, detail)

    def handle(self, frame, received, held=None):
        """Apply one decoded frame and publish what it changed; never raises. Returns what the
        rules applied (None when they applied nothing)."""
        slices = list(self.handle_in_slices(frame, received, None, held))
        return slices[-1] if slices else None

    def handle_in_slices(self, frame, received, size, held=None):
        """handle() an odds change of more than `size` lines (None: no limit) `size` lines at a
        time, each slice published as a message of its own: yields each slice's Applied once it
        is published and the lock is free again, for the caller to let the rest of the process
        run in between. Never raises.

        `held`: event id -> the BetStops applied before this frame though they arrived after it
        (feed/intake.py); what the frame changes is stopped again by them (MarketState.hold).
        """
        slices, part = None, 0
        while True:
            with self._changing():
                if slices is None:
                    # Our clock may step back: the order of receipts must not (stamps are
                    # bounded by them).
                    received = self.received = max(self.received, received)
                    self.counts["frames"] += 1
                    metrics.frame_received(frames.cmd_name(frame.cmd), frame.time or None, received)
                    sliced = size is not None and _lines_in(frame) > size
                    slices = self._slices(frame, received, size if sliced else None)
                try:
                    applied = next(slices, None)
                    if applied is not None:
                        part += 1
                        self._applied(frame, received, applied, held or {}, sliced and part)
                except Exception as exc:  # the rules or a message did not foresee this frame
                    self._count_bad(f"error_{type(exc).__name__}", exc, trace=True)
                    applied = None
            if applied is None:
                return
            yield applied

    def _slices(self, frame, received, size):
        # What the rules applied, a slice at a time; nothing once they are done or refused.
        if frame.cmd == frames.ALIVE:
            self.health.alive(frame.data, received, self.elapsed())
            # Not only a change of verdict: the board shows the alive's age, and corrects it
            # with each of these (at most one per HEALTH_REFRESH_MS, as each goes to everyone).
            self._publish_health(received)
            return
        try:
            for applied in self.state.apply_in_slices(frame, received, size):
                if applied is None:
                    if frame.cmd not in IGNORED:
                        # One bucket however many distinct values: the feed decides how many.
                        self._count_once(
                            "unknown_cmd", "ignoring unknown cmds, the first: %.40r", frame.cmd
                        )
                    return
                yield applied
        except MessageError as exc:
            self._count_bad(exc.kind, exc)
        except ApplyFailed as failed:
            # The message may have changed lines the boards were not told of: every line of its
            # event goes out as it is now, each open one suspended.
            self._count_bad(failed.kind, failed, trace=True)
            lines = [line.to_json() for line in failed.lines]
            self.store.changed(lines, None)
            texts = [self._encode(line) for line in lines]
            self.board.encoded(lines, texts)
            self._publish({"type": "apply_failed", "received": received}, texts)
            self._left_stops(self.log.saw(failed.lines, received), received)

    def _applied(self, frame, received, applied, held, part):
        # Publish what the rules applied: one message, or one slice of a message (`part`).
        if held:
            self.counts["held_lines"] += len(self.state.hold(held, applied.lines))
        if frame.cmd == frames.ODDS_CHANGE:
            self._hold_while_down(applied.lines)
        for kind in applied.skipped:  # parts the rules could not read: skipped or suspended
            self.counts["skipped_parts"] += 1
            self._count_once(kind, "skipping or suspending an unreadable part: %s", kind)
        try:
            lines = [line.to_json() for line in applied.lines]
            message = {
                "type": MESSAGE_TYPES[frame.cmd],
                "cmd": frame.cmd,
                "time": frame.time,
                "data": frame.data,
                "received": received,
            }
            if part:
                # Each slice's own lines; the message's other fields once in every slice.
                data = frame.data
                message["data"] = {k: v for k, v in data.items() if k not in LISTS_OF_LINES}
                message["part"] = part
            if applied.event is not None:
                message["event"] = applied.event.to_json()
            if frame.cmd == frames.BET_STOP:
                message["status"] = applied.status
                # The log entry: what the rules read, built once, the same in this message, in
                # snapshots, in /feed/bet-stops and for the rules after a restart.
                entry = self.store.log_bet_stop(applied, received)
                message["entry"] = entry
                keys = [line.key for line in applied.lines]
                # One pushed out of the list stops being followed: its row says so.
                for _entry, row in self.log.add(entry, keys, received):
                    self.store.update_bet_stop(row)
            self.store.changed(lines, message.get("event"))
            # Each line serialised once, for this message and for every snapshot after it: the
            # snapshot has no backlog of lines to serialise in one go, which stalled the worker.
            texts = [self._encode(line) for line in lines]
            self.board.encoded(lines, texts)
            self.board.changed((), message.get("event"))
            self._publish(message, texts)
            if frame.cmd != frames.BET_STOP:  # a BetStop stops lines: it never reopens any
                self._left_stops(self.log.saw(applied.lines, received), received)
        except Exception:
            self._resync()
            raise

    def _left_stops(self, changes, received):
        # Lines that left the stop of a BetStop in the log: its row, and the boards, learn it in
        # the message after the one that reopened or closed them.
        if not changes:
            return
        for _entry, row in changes:
            self.store.update_bet_stop(row)
        entries = [progress(entry) for entry, _row in changes]
        self._publish({"type": "bet_stop_reopened", "received": received, "progress": entries})

    def _hold_while_down(self, lines):
        # Odds of a product that is down (no alive yet, a source behind, a session lost) come
        # after messages that may have been missed: they cannot open a line. It waits for odds
        # sent once the product is back, as after any other gap.
        if self.restoring:
            # The last known board, and the BetStops the rules remember from it, are not loaded
            # yet (the database is slow or away): no odds open a line before they are.
            self.counts["gap_suspended"] += len(
                self.state.suspend(None, reason=FEED_GAP, lines=lines)
            )
            return
        down = [product for product, up in self.health.verdict(self.elapsed()).items() if not up]
        if down:
            self.counts["gap_suspended"] += len(
                self.state.suspend(down, reason=FEED_GAP, lines=lines)
            )

    def _resync(self):
        # The state changed and the boards may not have been told. A gap in the sequence
        # makes every board read suspended and resync from a fresh snapshot, rather than
        # show a line as it was before the change.
        self.seq += 1
        self._snapshot = None
        self.board.reset(self.state.snapshot())  # it may have missed the change too
        self.counts["resyncs"] += 1

    def connection(self, connected):
        """The upstream socket went up or down: the boards hear it, whatever the verdict."""
        with self._changing():
            self.health.socket(connected)
            self._snapshot = None  # `connected` shows in the snapshot even when no verdict changes
            # Products already down stay down, so the verdict may not change; `connected` does.
            self._publish_health(self.clock(), force=True)

    def tick(self):
        """Called every second: notice an alive that is overdue; keep the snapshot ready."""
        with self._changing():
            self._publish_health(self.clock())
            self.board.refresh()

    def wait_sent(self, timeout):
        """Wait until every message published so far has left this process, `timeout` seconds
        at most (the hub says how: at once where it writes to the boards on the worker's next
        turn; the feed process's outlet sends to the bus from a thread of its own)."""
        return self.hub.wait_sent(self.seq, timeout)

    def snapshot(self):
        """(seq, text) of the whole board as of message `seq`.

        The board changes only with `seq`: one serialisation serves every browser that connects
        before the next change, so a thousand reconnecting boards cost one, not a thousand.
        """
        with self.lock:
            if self._snapshot is None or self._snapshot[0] != self.seq:
                head = {
                    "type": "snapshot",
                    "seq": self.seq,
                    "health": self.health_report(),
                    "bet_stops": list(self.bet_stops),
                    "outages": self.outages.recent(),
                }
                self._snapshot = (self.seq, self.board.text(head))
            return self._snapshot

    def health_report(self):
        """Each product's health now, with its current outages: as the boards get it."""
        return self.health.report(self.elapsed(), self.outages)

    def prune(self, retention, now):
        """Let `retention` drop closed lines and events; boards see it in their next snapshot."""
        with self._changing():
            lines, events = retention.sweep(self.state, now)
            if lines or events:
                self.board.forget(lines, events)
                self._snapshot = None
                self._left_stops(self.log.forgot(lines, now), now)  # closed, in their event
        return lines, events

    def _publish_health(self, now, force=False):
        at = self.elapsed()
        verdict = self.health.verdict(at)
        outages = []
        if verdict != self.verdict:
            for product, up in verdict.items():  # one line per product that changed
                if up != self.verdict.get(product):
                    log.log(INFO if up else WARNING, self.health.describe(product, at))
            outages = self.outages.update(
                verdict, lambda product: self.health.why_down(product, at), now
            )
            went_down = [p for p, up in verdict.items() if not up and self.verdict.get(p)]
            self.verdict = verdict
            if went_down:
                self._suspend_for_gap(went_down, now)
        elif not force and at - self.health_published < HEALTH_REFRESH_MS:
            # At least one health message every HEALTH_REFRESH_MS, whatever happens upstream:
            # a board that hears nothing for longer knows its link is gone.
            return
        self.health_published = at
        report = self.health_report()
        # `outages`: those this change began or ended, for every board's log.
        self._publish({"type": "health", "health": report, "outages": outages})

    def _suspend_for_gap(self, products, now):
        # A product down (socket, alives, source, subscription) may have missed messages, and
        # the upstream has no replay: its open lines wait for odds sent after it is back.
        lines = [line.to_json() for line in self.state.suspend(products, reason=FEED_GAP)]
        if not lines:
            return
        self.counts["gap_suspended"] += len(lines)
        self.store.changed(lines, None)
        texts = [self._encode(line) for line in lines]
        self.board.encoded(lines, texts)
        message = {"type": "feed_gap", "products": sorted(products), "received": now}
        self._publish(message, texts)

    @contextlib.contextmanager
    def _changing(self):
        with self.lock:
            yield
        with self.publishing:
            while self.outbox:
                self.hub.publish(*self.outbox.popleft())

    def _publish(self, message, line_texts=None):
        # Serialised once here, whatever the number of browsers; published once the lock is free.
        message["seq"] = self.seq + 1
        text = self._encode(message)
        if line_texts is not None:  # the message's `lines`, already serialised
            text = f'{text[:-1]},"lines":[{",".join(line_texts)}]}}'
        self.seq += 1
        self.outbox.append((self.seq, text))

    def _encode(self, value):
        """Strict JSON of a message or snapshot: a browser's JSON.parse reads every one.

        A NaN or an infinity (in the echoed upstream data, say) goes out as null, counted; data
        nested deeper than the encoder goes is left out of the message, counted. The rest of the
        message, the lines it changed above all, still reaches the boards.
        """
        try:
            return strict_json(value)
        except (ValueError, RecursionError):
            pass
        try:
            text = strict_json(finite(value))
        except (ValueError, RecursionError):
            if "data" not in value:
                raise
            self._count_once(
                "data_not_encodable",
                "relaying a message without its data: %.40r",
                value.get("type"),
            )
            return strict_json(finite(value | {"data": None}))
        self._count_once(
            "non_finite_numbers",
            "relaying non-finite numbers as null, first in a %.40r",
            value.get("type"),
        )
        return text

    def _count_bad(self, kind, detail, trace=False):
        self.counts["bad_frames"] += 1
        self._count_once(kind, "skipping malformed frame: %.*s", LOGGED_CHARS, detail, trace=trace)

    def _count_once(self, kind, message, *args, trace=False):
        self.counts[kind] += 1
        metrics.frame_skipped(kind)
        if self.counts[kind] == 1:  # log each kind once; the counts tell the rest
            log.warning(message, *args, exc_info=trace)
