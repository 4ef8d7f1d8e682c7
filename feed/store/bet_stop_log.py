"""The BetStop log's rows: what a BetStop the rules applied becomes, its entry (the same object
live, in snapshots and read back), and what a restarted relay follows again."""

import uuid
from datetime import UTC, datetime

MARKETS_NAMED = 50  # of the lines a BetStop hit, those its entry names (lines_hit counts all)


def logged_row(applied, received_ms):
    """The row of the log for a BetStop the rules applied, received at `received_ms`: what the
    rules read, not the frame, so that read back after a restart it means what it meant."""
    hit = [[line.market_id, line.specifiers] for line in applied.lines]
    return {
        "event_id": applied.event_id,
        "product": applied.product,
        # Cut here too, as they also go to every board in the snapshot's BetStop list.
        "groups": applied.groups[:200],
        "market_status": applied.status,
        "status": applied.status,
        "sent_at": applied.timestamp,
        "received_at": datetime.fromtimestamp(received_ms / 1000, UTC),
        "lines_hit": len(hit),
        "lines": hit,
        "entry_id": uuid.uuid4().hex,
        "betstop_reason": applied.why,
        "markets": [
            {"market_id": line.market_id, "specifiers": line.specifiers, "name": line.name}
            for line in applied.lines[:MARKETS_NAMED]
        ],
        "stopped": list(hit),  # the relay's reopening updates replace it, never change it
        "reopened_lines": 0,
        "closed_lines": 0,
        "reopened_at": None,
        "followed": bool(hit),
    }


def row_of(entry):
    """The row of an entry read back from elsewhere (the bus), to log what the database may
    lack: what the entry says, no list of the lines it hit; None when it cannot be one."""
    received = entry.get("received_at")
    if not isinstance(received, int) or isinstance(received, bool):
        return None
    try:
        received_at = datetime.fromtimestamp(received / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    named = ("event_id", "product", "groups", "market_status", "status", "sent_at", "entry_id")
    counts = ("lines_hit", "reopened_lines", "closed_lines", "reopened_at")
    return {name: entry.get(name) for name in named + counts + ("betstop_reason", "markets")} | {
        "received_at": received_at,
        "lines": [],
        "stopped": [],
        "followed": False,
    }


def entry_of(row, received_ms):
    """A new row's entry: its `BetStopRecord.to_json()`, field for field."""
    entry = {k: row[k] for k in ("event_id", "product", "groups", "market_status", "status")}
    return entry | {
        "sent_at": row["sent_at"],
        "received_at": received_ms,
        "lines_hit": row["lines_hit"],
        "entry_id": row["entry_id"],
        "betstop_reason": row["betstop_reason"],
        "markets": row["markets"],
        "still_stopped": len(row["stopped"]),
        "reopened_lines": 0,
        "closed_lines": 0,
        "reopened_at": None,
        "duration_ms": None,
        "followed": row["followed"],
    }


def followed(records):
    """Of rows read back, those the relay still followed when it last wrote them: {entry id:
    (the lines still stopped, the latest reopen so far)}."""
    return {
        r.entry_id: (_line_pairs(r.stopped), r.reopened_at)
        for r in records
        if r.followed and r.entry_id and isinstance(r.stopped, list)
    }


def _line_pairs(value):
    """[[market_id, specifiers], ...] as a row keeps them, any other item left out."""
    return [
        [item[0], item[1]]
        for item in value
        if isinstance(item, list)
        and len(item) == 2
        and type(item[0]) is int
        and isinstance(item[1], str)
    ]
