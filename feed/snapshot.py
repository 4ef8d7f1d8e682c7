"""The board's snapshot, kept as JSON text line by line so that no board waits for a rebuild.

Serialising a 100,000-line board whole takes about a second, during which a gevent worker does
nothing else. Here each event and line is serialised again only after it changed (by the relay's
ticker every second, or by the next snapshot if it comes first), and a snapshot is those texts
joined: tens of milliseconds for the same board.
"""

import time


class BoardSnapshot:
    """Every event and line of the board as JSON text, each redone only after it changed."""

    def __init__(self, encode, clock=time.perf_counter):
        self.encode = encode  # value -> JSON text: the relay's, strict
        self.clock = clock
        self.last_built = None  # {"ms", "bytes", "lines"} of the latest snapshot, for on-call
        self.events = {}  # event id -> text
        self.lines = {}  # (event id, market id, specifiers) -> text
        self.changed_events = {}  # event id -> JSON not serialised yet
        self.changed_lines = {}

    def reset(self, board):
        """Start again from a whole board: `{"events": [...], "lines": [...]}` as JSON."""
        self.events, self.lines = {}, {}
        self.changed_events = {event["event_id"]: event for event in board["events"]}
        self.changed_lines = {_key(line): line for line in board["lines"]}

    def changed(self, lines, event):
        """Note the JSON of lines and an event as just published (newest wins)."""
        for line in lines:
            self.changed_lines[_key(line)] = line
        if event is not None:
            self.changed_events[event["event_id"]] = event

    def forget(self, line_keys, event_ids):
        """Leave these lines and events out of every snapshot from now on."""
        for key in line_keys:
            self.lines.pop(key, None)
            self.changed_lines.pop(key, None)
        for event_id in event_ids:
            self.events.pop(event_id, None)
            self.changed_events.pop(event_id, None)

    def refresh(self):
        """Serialise what changed since the last time: the relay's ticker does it every second,
        so a new board's snapshot finds at most a second's changes left to do."""
        for key, line in self.changed_lines.items():
            self.lines[key] = self.encode(line)
        for event_id, event in self.changed_events.items():
            self.events[event_id] = self.encode(event)
        self.changed_lines, self.changed_events = {}, {}

    def text(self, head):
        """The snapshot: `head`'s fields, then `events` and `lines`, as one JSON object."""
        started = self.clock()
        self.refresh()
        text = "".join(
            (
                self.encode(head)[:-1],
                ',"events":[',
                ",".join(self.events.values()),
                '],"lines":[',
                ",".join(self.lines.values()),
                "]}",
            )
        )
        self.last_built = {
            "ms": round((self.clock() - started) * 1000, 1),
            "bytes": len(text),
            "lines": len(self.lines),
        }
        return text


def _key(line):
    return (line["event_id"], line["market_id"], line["specifiers"])
