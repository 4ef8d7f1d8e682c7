"""Which closed lines and events the market state forgets, so that memory and snapshots stay flat.

A line is closed once settled, cancelled or deactivated. One that a sweep has seen closed for
longer than the grace period is dropped from the state (and so from every later snapshot and from
the SUBSCRIBE list); an event goes with its last line, and an event cancelled or over with no line
at all goes after the same grace. Open lines, and events with an open line, are never dropped.
Time is ours, not the feed's: the sweep notes when it first saw each one closed, so a line with a
wild timestamp is kept no longer and dropped no sooner than any other.

Forgetting a closed line must not let stale odds reopen it: `MarketState.forget` tells the event's
memory (the BetStops lines created later obey) to stop every line of the event up to the newest
time the dropped lines carried, so odds stamped before the close create the line suspended, as the
rules would have kept it closed. Odds stamped later are the feed's newest word and apply. The
memory of an event with neither lines nor the event left is itself forgotten a day later.
"""

from .market import CANCELLED, DEACTIVATED, SETTLED

CLOSED = frozenset({SETTLED, CANCELLED, DEACTIVATED})
# Event statuses that say it is over: ours (a fixture change cancelling it) and UOF's match
# status codes for cancelled, abandoned and ended (full time, after extra time, after penalties).
FINISHED = frozenset({"cancelled", "70", "90", "100", "110", "120"})
MEMORY_KEPT_MS = 86_400_000  # how long an event's memory outlives its lines and the event


class Retention:
    """Remembers since when each line and event has been closed; `sweep` drops the expired."""

    def __init__(self, grace_ms):
        self.grace_ms = grace_ms
        # line key, event id or ("memory", event id) -> our time (ms) a sweep first saw it closed
        self.closed_since = {}

    def sweep(self, state, now_ms):
        """Drop from `state` what has been closed longer than the grace; return what went.

        Returns (line keys, event ids) dropped. Does no I/O; the caller holds the state's lock.
        """
        seen, dropped_lines, dropped_events = {}, [], []

        def expired(key):
            since = seen[key] = self.closed_since.get(key, now_ms)
            return now_ms - since >= self.grace_ms

        for event_id, lines in list(state.lines_by_event.items()):
            going = [k for k, line in lines.items() if line.status in CLOSED and expired(k)]
            if not going:
                continue
            for key in going:
                del seen[key]
            dropped_lines.extend(going)
            if state.forget(event_id, going):  # its last line went: so did the event
                dropped_events.append(event_id)
        for event_id, event in list(state.events.items()):
            if state.lines_by_event.get(event_id) or event.status not in FINISHED:
                continue
            if expired(event_id):
                del state.events[event_id]
                del seen[event_id]
                dropped_events.append(event_id)
        for event_id in list(state.memory):
            if event_id in state.events or state.lines_by_event.get(event_id):
                continue
            key = ("memory", event_id)
            seen[key] = since = self.closed_since.get(key, now_ms)
            if now_ms - since >= MEMORY_KEPT_MS:
                del state.memory[event_id]
                del seen[key]
        self.closed_since = seen
        return dropped_lines, dropped_events
