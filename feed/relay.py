"""Upstream frames in; market state, the database and relay messages to the browsers out."""

import collections
import json
import logging
import threading

from . import frames
from .frames import FrameError
from .market import MessageError

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


class Relay:
    """Applies each upstream message to the state and publishes what changed, in order.

    Every relay message carries a sequence number; the snapshot carries the number of the last
    message it includes, so a browser can tell it missed one and resync.
    """

    def __init__(self, state, health, hub, store, clock):
        self.state, self.health, self.hub, self.store = state, health, hub, store
        self.clock = clock  # milliseconds since the epoch
        self.seq = 0
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.bet_stops = collections.deque(maxlen=100)
        self.verdict = health.verdict(clock())
        self.health_published = 0  # when the last health message went out (ms)
        self._snapshot = None  # (seq, text) of the last snapshot served

    def restore(self):
        events, lines = self.store.load()
        self.state.restore(events, lines)
        self._snapshot = None
        self.bet_stops.extend(reversed(self.store.recent_bet_stops(self.bet_stops.maxlen)))

    def receive(self, raw):
        """Handle one raw websocket frame from upstream; never raises for bad input."""
        received = self.clock()
        try:
            frame = frames.decode(raw)
        except FrameError as exc:
            self._count_bad(exc.kind, exc)
            return
        self.handle(frame, received)

    def handle(self, frame, received):
        with self.lock:
            self.counts["frames"] += 1
            if frame.cmd == frames.ALIVE:
                self.health.alive(frame.data, received)
                # Not only a change of verdict: the board shows the alive's age, and corrects it
                # with each of these (at most one per HEALTH_REFRESH_MS, as each goes to everyone).
                self._publish_health(received, refresh=True)
                return
            try:
                applied = self.state.apply(frame)
            except MessageError as exc:
                self._count_bad(exc.kind, exc)
                return
            if applied is None:
                if frame.cmd not in IGNORED:
                    self._count_once(
                        f"unknown_cmd_{frame.cmd}", "ignoring unknown cmd %s", frame.cmd
                    )
                return
            message = {
                "type": MESSAGE_TYPES[frame.cmd],
                "cmd": frame.cmd,
                "time": frame.time,
                "data": frame.data,
                "received": received,
                "lines": [line.to_json() for line in applied.lines],
            }
            if applied.event is not None:
                message["event"] = applied.event.to_json()
            if frame.cmd == frames.BET_STOP:
                message["status"] = applied.status
                entry = self.store.log_bet_stop(frame, applied, received)
                self.bet_stops.append(entry)
            self.store.changed(message["lines"], message.get("event"))
            self._publish(message)

    def connection(self, connected):
        """The upstream socket went up or down."""
        with self.lock:
            self.health.socket(connected)
            self._snapshot = None  # `connected` shows in the snapshot even when no verdict changes
            self._publish_health(self.clock())

    def tick(self):
        """Called every second: notice an alive that is overdue."""
        with self.lock:
            self._publish_health(self.clock())

    def snapshot(self):
        """(seq, text) of the whole board as of message `seq`.

        The board changes only with `seq`: one serialisation serves every browser that connects
        before the next change, so a thousand reconnecting boards cost one, not a thousand.
        """
        with self.lock:
            if self._snapshot is None or self._snapshot[0] != self.seq:
                board = self.state.snapshot() | {
                    "type": "snapshot",
                    "seq": self.seq,
                    "health": self.health.report(self.clock()),
                    "bet_stops": list(self.bet_stops),
                }
                self._snapshot = (self.seq, json.dumps(board, separators=(",", ":")))
            return self._snapshot

    def _publish_health(self, now, refresh=False):
        verdict = self.health.verdict(now)
        if verdict != self.verdict:
            self.verdict = verdict
            log.warning("feed health: %s", verdict)
        elif not refresh or now - self.health_published < HEALTH_REFRESH_MS:
            return
        self.health_published = now
        self._publish({"type": "health", "health": self.health.report(now)})

    def _publish(self, message):
        # Serialised once here, whatever the number of browsers.
        self.seq += 1
        message["seq"] = self.seq
        self.hub.publish(self.seq, json.dumps(message, separators=(",", ":")))

    def _count_bad(self, kind, exc):
        self.counts["bad_frames"] += 1
        self._count_once(kind, "skipping malformed frame: %s", exc)

    def _count_once(self, kind, message, *args):
        self.counts[kind] += 1
        if self.counts[kind] == 1:  # log each kind once; the counts tell the rest
            log.warning(message, *args)
