"""The BetStop log's latest entries, and when the lines each one stopped left the stop.

An entry holds the lines its BetStop stopped (those whose status it changed) until each one
leaves the stop, in one of two ways:

- reopened: a message the rules applied left it active (bettable) again; odds that a product
  being down keeps from opening it do not count, the later odds that open it do;
- closed: settled or cancelled (a cancelled fixture too), or dropped from memory with its event:
  it ended without reopening.

Deactivated, handed over, or suspended for another reason (a feed gap) is still stopped. Once none
is left, `reopened_at` is when the last of those that reopened did (null when none reopened: all
closed) and `duration_ms` how long the entry held them. Only the latest KEPT entries are followed:
one pushed out with lines still stopped is followed no more (`followed` false) and stays as it
was. A line is held by one entry at most: a BetStop stops only active lines, which none holds.

Bookkeeping only: no clock (times are handed in), no I/O. Each call returns what changed, as
(entry, row): the entry as the boards have it, and the fields its row of the log is to be given,
for the caller to persist and publish.
"""

import collections

from feed.market.model import ACTIVE, CLOSED

KEPT = 100  # entries followed: the relay's BetStop list in snapshots


def progress(entry):
    """An entry's reopening fields: what a `bet_stop_reopened` message carries of it."""
    fields = ("still_stopped", "reopened_lines", "closed_lines", "reopened_at", "duration_ms")
    return {key: entry[key] for key in ("entry_id", "event_id", *fields, "followed")}


class Held:
    """A followed entry: its lines still stopped (in the order it hit them), its latest reopen."""

    __slots__ = ("entry", "keys", "last_reopen")

    def __init__(self, entry, last_reopen=None):
        self.entry, self.keys, self.last_reopen = entry, {}, last_reopen

    def row(self, followed=True):
        """The fields of the entry's row: `reopened_at` there is the latest reopen so far (the
        entry shows it once none is still stopped)."""
        entry = self.entry
        return {
            "entry_id": entry["entry_id"],
            "stopped": [[market_id, specifiers] for _, market_id, specifiers in self.keys],
            "reopened_lines": entry["reopened_lines"],
            "closed_lines": entry["closed_lines"],
            "reopened_at": self.last_reopen,
            "followed": followed,
        }


class BetStopLog:
    """The latest entries (oldest first), the lines each still holds and which entry holds a
    line: every map is bounded by the lines of KEPT entries."""

    def __init__(self, kept=KEPT):
        self.kept = kept
        self.entries = collections.deque()
        self.held = {}  # entry id -> Held, for the entries with lines still stopped
        self.holder = {}  # line key -> the id of the entry that holds it
        self.changes = {}  # during a call: entry id -> (entry, its row, or None while held)

    def add(self, entry, keys, at):
        """Keep a new entry and follow the lines it stopped (`keys`); returns what changed (one
        pushed out while it held lines)."""
        while len(self.entries) >= self.kept:
            self._unfollow(self.entries.popleft())
        self.entries.append(entry)
        entry_id = entry.get("entry_id")
        if keys and entry_id is not None and entry.get("followed"):
            held = self.held[entry_id] = Held(entry)
            for key in keys:
                if key in self.holder:  # not by the rules: it was open in between
                    self._left(key, True, at)
                held.keys[key] = None
                self.holder[key] = entry_id
        return self._collect()

    def saw(self, lines, at):
        """The lines a message left as they are now, at `at` (ms): those open or closed leave
        their stop. Returns what changed."""
        holder = self.holder
        for line in lines:
            if line.key in holder:
                if line.status == ACTIVE:
                    self._left(line.key, True, at)
                elif line.status in CLOSED:
                    self._left(line.key, False, at)
        return self._collect()

    def forgot(self, keys, at):
        """Lines dropped from memory with their event: closed. Returns what changed."""
        for key in keys:
            if key in self.holder:
                self._left(key, False, at)
        return self._collect()

    def restore(self, entries, held, line_of, at):
        """Keep entries read back from the log (newest first) behind those kept since the start,
        as many as there is room for, and follow again what they held when last written (`held`:
        entry id -> (its row's `stopped`, its row's `reopened_at`)).

        What the feed said while no process listened is unknown: a line the state (`line_of`:
        line key -> line or None) has open now, or that a BetStop since the start holds, reopened;
        one it has closed or no longer has, closed; learnt at `at`. Entries read back still
        followed that there is no room for are followed no more. Returns what changed.
        """
        room = max(0, self.kept - len(self.entries))
        kept = entries[:room]
        for entry in entries[room:]:
            if entry.get("followed") and entry.get("entry_id") in held:
                stopped, last_reopen = held[entry["entry_id"]]
                entry["followed"] = False
                row = {"stopped": stopped, "reopened_at": last_reopen, "followed": False}
                self.changes[entry["entry_id"]] = (entry, self._fields(entry) | row)
        self.entries.extendleft(kept)  # newest first: the oldest ends leftmost
        restored = set()
        for entry in reversed(kept):  # oldest first
            entry_id = entry.get("entry_id")
            if not entry.get("followed") or entry_id not in held:
                continue
            stopped, last_reopen = held[entry_id]
            restored.add(entry_id)
            follow = self.held[entry_id] = Held(entry, last_reopen)
            counts = (entry["reopened_lines"], entry["closed_lines"])
            for market_id, specifiers in stopped:
                key = (entry["event_id"], market_id, specifiers)
                other = self.holder.get(key)
                if other is not None and other not in restored:
                    self._count(follow, True, at)  # a BetStop since the start hit it: it opened
                    continue
                if other is not None:  # an older entry read back: it opened in between
                    self._left(key, True, at)
                line = line_of(key)
                if line is None or line.status in CLOSED:
                    self._count(follow, False, at)
                elif line.status == ACTIVE:
                    self._count(follow, True, at)
                else:
                    follow.keys[key] = None
                    self.holder[key] = entry_id
            entry["still_stopped"] = len(follow.keys)
            if counts != (entry["reopened_lines"], entry["closed_lines"]):
                self.changes[entry_id] = (entry, None)
            if not follow.keys:
                self._end(entry_id)
        return self._collect()

    # One line leaving its stop -----------------------------------------------------------------

    def _left(self, key, reopened, at):
        entry_id = self.holder.pop(key)
        follow = self.held[entry_id]
        del follow.keys[key]
        self._count(follow, reopened, at)
        follow.entry["still_stopped"] = len(follow.keys)
        self.changes[entry_id] = (follow.entry, None)
        if not follow.keys:
            self._end(entry_id)

    @staticmethod
    def _count(follow, reopened, at):
        if reopened:
            follow.entry["reopened_lines"] += 1
            follow.last_reopen = at if follow.last_reopen is None else max(follow.last_reopen, at)
        else:
            follow.entry["closed_lines"] += 1

    def _end(self, entry_id):
        """None of the entry's lines is stopped any more: when the last reopened, how long."""
        follow = self.held.pop(entry_id)
        entry = follow.entry
        entry["still_stopped"], entry["followed"] = 0, False
        if follow.last_reopen is not None:
            entry["reopened_at"] = follow.last_reopen
            entry["duration_ms"] = max(0, follow.last_reopen - entry["received_at"])
        self.changes[entry_id] = (entry, follow.row(followed=False))

    def _unfollow(self, entry):
        """An entry pushed out of the list: it keeps what it held, followed no more."""
        follow = self.held.pop(entry.get("entry_id"), None)
        if follow is None:
            return
        for key in follow.keys:
            del self.holder[key]
        entry["followed"] = False
        self.changes[entry["entry_id"]] = (entry, follow.row(followed=False))

    @staticmethod
    def _fields(entry):
        return {k: entry[k] for k in ("entry_id", "reopened_lines", "closed_lines")}

    def _collect(self):
        """What changed since the last call: (entry, row), rows of those still held made now."""
        changes, self.changes = self.changes, {}
        return [
            (entry, row if row is not None else self.held[entry_id].row())
            for entry_id, (entry, row) in changes.items()
        ]
