"""The frames the upstream client has read and the relay has not applied yet, and their order.

The relay applies frames in the order they arrive, with one exception: a BetStop waiting behind
other frames (a backlog of odds changes, a huge one being applied in slices) is applied first,
at once. Safety decides how:

- The stop itself, applied early, stops every open line of its scope now, and is remembered by
  its event (the rules' memory): odds stamped at or before it cannot reopen those lines.
- The frames it went ahead of arrived before it: applied in order, it would have stopped what
  they open. So until the oldest waiting frame reaches the stop's own place, whatever a frame
  changes is stopped again by it (MarketState.hold): an open line of its scope is stopped, as
  the stop would have stopped it after them, however the frame was stamped.

A line the stop covers therefore never reads bettable once the stop was applied, until odds that
arrive after it reopen it, as in order. What can differ from the order of arrival is only on the
side of stopping: odds of the frames it went ahead of, stamped before it, do not change lines it
had already stopped (they read its status, not theirs); and a group only those frames bring is
unknown to it, which stops the whole event. A BetStop without a time of its own (the rules then
take the event's newest) keeps its place: the frames before it may move that time; so does one
over 64 KiB, not looked at before its turn.

Frames are applied a few milliseconds at a time (`advance`), and an odds change of more than
`slice_lines` lines a slice at a time, each slice published as a message of its own: the client
reads whatever else has arrived in between, and the process answers its other requests.
"""

import collections
import time

from feed.upstream import fields, frames

AHEAD_FRAMES = 20_000  # frames read ahead at most: past either bound the rest waits upstream
AHEAD_BYTES = 32 * 1024 * 1024  # and bytes of them (characters of text frames)
STOPS_SENT_S = 0.05  # how long BetStops gone ahead may hold the rest until they have left

# A frame larger than this is not looked at as a BetStop before its turn: decoding it whole
# would hold the worker, and no BetStop is anywhere near as large.
BET_STOP_BYTES = 64 * 1024


class Waiting:
    """One frame read from upstream, waiting to be applied."""

    __slots__ = ("decoded", "done", "frame", "raw", "received", "size", "stop")

    def __init__(self, raw, received):
        self.raw, self.received, self.size = raw, received, len(raw)
        self.frame, self.decoded = None, False
        self.done = False  # applied ahead of its place
        self.stop = None  # (event id, Stop) when it is a BetStop applied ahead


class Intake:
    """The relay's way in: `intake(raw)` applies a frame at once; `add(raw)` queues it and
    `advance(budget)` applies what is queued, BetStops first."""

    def __init__(self, relay, slice_lines, clock=time.monotonic):
        self.relay = relay
        self.slice_lines = slice_lines
        self.clock = clock
        self.waiting = collections.deque()  # Waiting, in the order they arrived
        self.stops = collections.deque()  # those of them that may be BetStops, in that order
        self.ahead = {}  # event id -> the Stops applied ahead of the oldest waiting frame
        self.current = None  # the slices of the oldest waiting frame, while it is being applied
        self.bytes = 0  # of the frames waiting

    @property
    def full(self):
        """Whether as much waits as may: the client reads no further ahead until it drains (the
        rest waits in the socket's buffers, and the upstream waits for them)."""
        return len(self.waiting) >= AHEAD_FRAMES or self.bytes >= AHEAD_BYTES

    def __call__(self, raw):
        """Apply one raw websocket frame from upstream, whole; never raises."""
        received = self.relay.clock()
        frame = self.relay.decode(raw)
        if frame is not None:
            self.relay.handle(frame, received)

    def __len__(self):
        return len(self.waiting)

    def add(self, raw):
        """Queue a frame just read, to be applied by advance()."""
        entry = Waiting(raw, self.relay.clock())
        self.waiting.append(entry)
        self.bytes += entry.size
        if entry.size <= BET_STOP_BYTES and frames.may_be_bet_stop(raw):
            self.stops.append(entry)

    def advance(self, budget):
        """Apply queued frames for about `budget` seconds (one slice at least); return whether
        any still wait. A BetStop among them goes first; never raises."""
        until = self.clock() + budget
        while self.waiting:
            if self._stops_first():
                # Out to the boards before anything else is applied: in the feed process the
                # outlet sends them from a thread of its own, which the next frame's parse and
                # rules would otherwise keep from the interpreter lock.
                self.relay.wait_sent(STOPS_SENT_S)
                break
            self._next()
            if self.clock() >= until:
                break
        return bool(self.waiting)

    def _stops_first(self):
        applied_any = False
        while self.stops:
            entry = self.stops.popleft()  # the oldest first: BetStops keep their own order
            frame = self._frame(entry)
            if frame is None or not self._may_go_ahead(frame):
                continue
            applied = self.relay.handle(frame, entry.received)
            if entry is not self.waiting[0]:
                self.relay.counts["bet_stops_ahead"] += 1
            entry.done, applied_any = True, True
            if applied is not None and applied.stop is not None:
                entry.stop = (applied.event_id, applied.stop)
                self.ahead.setdefault(applied.event_id, []).append(applied.stop)
        return applied_any

    @staticmethod
    def _may_go_ahead(frame):
        if frame.cmd != frames.BET_STOP or not isinstance(frame.data, dict):
            return False
        # Its own time (or the frame's): without one the rules take the event's newest, which
        # the frames before it may move.
        return frame.time is not None or fields.timestamp_ms(frame.data.get("timestamp"))

    def _next(self):
        entry = self.waiting[0]
        if entry.done:
            self._done()
            if entry.stop is not None:  # its place: the frames from here on came after it
                event_id, stop = entry.stop
                stops = self.ahead[event_id]
                stops.remove(stop)
                if not stops:
                    del self.ahead[event_id]
            return
        if self.current is None:
            self.current = self._apply(entry)
        if next(self.current, None) is None:
            self.current = None
            self._done()

    def _done(self):
        self.bytes -= self.waiting.popleft().size

    def _apply(self, entry):
        # A step at a time: decoding (when no BetStop check did it first), then the slices.
        if not entry.decoded:
            for frame in self.relay.decode_in_steps(entry.raw):
                if frame is False:
                    yield True
            entry.frame, entry.decoded, entry.raw = frame, True, None
        if entry.frame is not None:
            yield from self.relay.handle_in_slices(
                entry.frame, entry.received, self.slice_lines, self.ahead
            )

    def _frame(self, entry):
        if not entry.decoded:
            entry.frame, entry.decoded = self.relay.decode(entry.raw), True
            entry.raw = None  # decoded once: the text need not be held as well
        return entry.frame
