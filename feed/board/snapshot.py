"""The board's snapshot, kept as JSON text line by line so that no board waits for a rebuild.

Serialising a 100,000-line board whole takes about a second, during which a gevent worker does
nothing else. Here a line's text is the one the relay made for the message that changed it
(`encoded`), an event's is made again after it changed (by the relay's ticker every second, or by
the next snapshot if it comes first), and a snapshot is those texts joined: about 20 ms for the
same board.
"""

import time


class BoardSnapshot:
    """Every event and line of the board as JSON text, each redone only after it changed.

    An event's lines are also kept joined, until one of them changes: a snapshot then joins a
    few thousand texts, not a hundred thousand (twice the lines' text in memory, a snapshot of
    a 100,000-line board in well under the time it took to join them one by one).
    """

    def __init__(self, encode, clock=time.perf_counter):
        self.encode = encode  # value -> JSON text: the relay's, strict
        self.clock = clock
        self.events = {}  # event id -> text
        self.lines = {}  # event id -> {(event id, market id, specifiers) -> text}
        self.joined = {}  # event id -> the texts of its lines joined, while none has changed
        self.changed_events = {}  # event id -> JSON not serialised yet
        self.changed_lines = {}  # line key -> JSON not serialised yet
        self.last_built = None  # {"ms", "bytes", "lines"} of the latest snapshot, for on-call

    def reset(self, board):
        """Start again from a whole board: `{"events": [...], "lines": [...]}` as JSON."""
        self.events, self.lines, self.joined = {}, {}, {}
        self.changed_events = {event["event_id"]: event for event in board["events"]}
        self.changed_lines = {_key(line): line for line in board["lines"]}

    def changed(self, lines, event):
        """Note the JSON of lines and an event as just published (newest wins)."""
        for line in lines:
            self.changed_lines[_key(line)] = line
        if event is not None:
            self.changed_events[event["event_id"]] = event

    def encoded(self, lines, texts):
        """Note lines as just published, with their JSON text already made (`texts`)."""
        for line, text in zip(lines, texts, strict=True):
            key = _key(line)
            self.changed_lines.pop(key, None)  # an older change of it, not serialised yet
            event_lines = self.lines.get(key[0])
            if event_lines is None:
                event_lines = self.lines[key[0]] = {}
            event_lines[key] = text
            self.joined.pop(key[0], None)

    def forget(self, line_keys, event_ids):
        """Leave these lines and events out of every snapshot from now on."""
        for key in line_keys:
            self.changed_lines.pop(key, None)
            lines = self.lines.get(key[0])
            if lines is not None and lines.pop(key, None) is not None:
                self.joined.pop(key[0], None)
                if not lines:
                    del self.lines[key[0]]
        for event_id in event_ids:
            self.events.pop(event_id, None)
            self.changed_events.pop(event_id, None)

    def refresh(self):
        """Serialise what changed since the last time: the relay's ticker does it every second,
        so a new board's snapshot finds at most a second's changes left to do."""
        for key, line in self.changed_lines.items():
            lines = self.lines.get(key[0])
            if lines is None:
                lines = self.lines[key[0]] = {}
            lines[key] = self.encode(line)
            self.joined.pop(key[0], None)
        for event_id, event in self.changed_events.items():
            self.events[event_id] = self.encode(event)
        self.changed_lines, self.changed_events = {}, {}

    def text(self, head):
        """The snapshot: `head`'s fields, then `events` and `lines`, as one JSON object."""
        started = self.clock()
        self.refresh()
        parts = [self.encode(head)[:-1], ',"events":[', ",".join(self.events.values())]
        separator = '],"lines":['
        count = 0
        for event_id, lines in self.lines.items():
            joined = self.joined.get(event_id)
            if joined is None:
                joined = self.joined[event_id] = ",".join(lines.values())
            parts += (separator, joined)
            separator = ","
            count += len(lines)
        if separator != ",":  # no lines at all
            parts.append(separator)
        parts.append("]}")
        text = "".join(parts)  # the lines' text copied once
        self.last_built = {
            "ms": round((self.clock() - started) * 1000, 1),
            "bytes": len(text),
            "lines": count,
        }
        return text


def _key(line):
    return (line["event_id"], line["market_id"], line["specifiers"])
