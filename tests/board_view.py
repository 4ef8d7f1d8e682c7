"""What a trader's board reads, rebuilt from the relay's messages as static/board/ builds it.

A board takes a snapshot, then every message in sequence order; a number missed and it is out of
sync, when nothing on it reads bettable until a fresh snapshot. A snapshot in the stream (a web
worker resyncing, a board brought current after falling behind) replaces the whole board, and
the board goes on from its number. A line's own status comes from
the newest message carrying it, the feed's health from the newest health message, and a line
reads bettable only when it is active, the socket is connected, each of its products is up and
its event is not cancelled.
"""

import json

CANCELLED_FIXTURE = {"cancelled", "70", "90"}  # static/board/state.js: cancelled, abandoned


def line_key(line):
    return (line["event_id"], line["market_id"], line["specifiers"])


class BoardView:
    """One board: built from a snapshot's text, then `apply` each message's text in turn."""

    def __init__(self, snapshot_text):
        self.snapshots = 0  # those taken in the stream, after the first
        self._repaint(json.loads(snapshot_text))

    def _repaint(self, snapshot):
        self.seq = snapshot["seq"]
        self.synced = True
        self.health = snapshot.get("health")
        self.events = {event["event_id"]: event for event in snapshot.get("events") or []}
        self.lines = {line_key(line): line for line in snapshot.get("lines") or []}

    def apply(self, text):
        """One relay message; a gap in the numbers leaves the board out of sync."""
        message = json.loads(text)
        if message.get("type") == "snapshot":
            self.snapshots += 1
            self._repaint(message)
            return
        if not self.synced:
            return
        if message.get("seq") != self.seq + 1:
            self.synced = False
            return
        self.seq = message["seq"]
        if message.get("type") == "health":
            self.health = message.get("health")
            return
        event = message.get("event")
        if event:
            self.events[event["event_id"]] = event
        for line in message.get("lines") or []:
            self.lines[line_key(line)] = line

    def reads_bettable(self, line):
        if not self.synced or line.get("status") != "active":
            return False
        event = self.events.get(line["event_id"]) or {}
        if str(event.get("status") or "").lower() in CANCELLED_FIXTURE:
            return False
        health = self.health or {}
        if not health.get("connected"):
            return False
        products = health.get("products") or {}
        for product in line.get("products") or [line.get("product")]:
            if not (products.get(str(product)) or {}).get("up"):
                return False
        return True

    def bettable(self):
        """(key, line) of every line that reads bettable."""
        return [(key, line) for key, line in self.lines.items() if self.reads_bettable(line)]

    def line(self, event_id, market_id, specifiers=""):
        return self.lines.get((event_id, market_id, specifiers))
