"""Which closed lines and events the market state forgets, so that memory and snapshots stay flat.

A line is closed once settled, cancelled or deactivated. One that a sweep has seen closed for
longer than the grace period is dropped from the state (and so from every later snapshot and from
the SUBSCRIBE list); so is a line still open whose event is over (the feed never closed it). An
event goes with its last line, and an event cancelled or over with no line at all goes after the
same grace. An event that never got a line goes once its start is a grace past, or after a day
with none, and the oldest of them go first past MAX_IDLE_EVENTS: fixtures alone cannot grow the
board and the SUBSCRIBE list without bound.
Time is ours, not the feed's: the sweep notes when it first saw each one closed, so a line with a
wild timestamp is kept no longer and dropped no sooner than any other.

Forgetting a closed line must not let stale odds reopen it: `MarketState.forget` tells the event's
memory (the BetStops lines created later obey) to stop every line of the event up to the newest
time the dropped lines carried, so odds stamped before the close create the line suspended, as the
rules would have kept it closed. Odds stamped later are the feed's newest word and apply. The
memory of an event with neither lines nor the event left is itself forgotten a day later.
"""

from feed.market.model import CANCELLED, DEACTIVATED, SETTLED

CLOSED = frozenset({SETTLED, CANCELLED, DEACTIVATED})
# Event statuses that say it is over: ours (a fixture change cancelling it) and UOF's match
# status codes for cancelled, abandoned and ended (full time, after extra time, after penalties).
FINISHED = frozenset({"cancelled", "70", "90", "100", "110", "120"})
MEMORY_KEPT_MS = 86_400_000  # how long an event's memory outlives its lines and the event
IDLE_EVENT_MS = 86_400_000  # how long an event with no line at all is kept
MAX_IDLE_EVENTS = 5000  # events with no line kept at most; the longest without one go first


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
            event = state.events.get(event_id)
            over = event is not None and event.status in FINISHED
            going = [
                k for k, line in lines.items() if (over or line.status in CLOSED) and expired(k)
            ]
            if not going:
                continue
            for key in going:
                del seen[key]
            dropped_lines.extend(going)
            if state.forget(event_id, going):  # its last line went: so did the event
                dropped_events.append(event_id)
        idle = []
        for event_id, event in list(state.events.items()):
            if state.lines_by_event.get(event_id):
                continue
            if event.status in FINISHED:
                gone = expired(event_id)
            else:
                key = ("idle", event_id)
                seen[key] = since = self.closed_since.get(key, now_ms)
                started = event.start_time is not None and event.start_time + self.grace_ms < now_ms
                gone = started or now_ms - since >= IDLE_EVENT_MS
                idle.append((since, event_id))
                if gone:
                    del seen[key]
            if gone:
                del state.events[event_id]
                seen.pop(event_id, None)
                dropped_events.append(event_id)
        idle = [(since, event_id) for since, event_id in idle if event_id in state.events]
        for _since, event_id in sorted(idle)[: max(0, len(idle) - MAX_IDLE_EVENTS)]:
            del state.events[event_id]
            del seen[("idle", event_id)]
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
