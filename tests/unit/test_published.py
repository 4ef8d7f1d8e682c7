"""The board as the relay published it, read back by the leader after it, and merged with the
database's."""

import json

from feed.market import published
from feed.market.model import LIVE, PREMATCH, MarketLine, Outcome


def line_json(market_id=1, status="active", updated_at=1000, products=(LIVE,), **fields):
    return {
        "event_id": "sr:match:1",
        "market_id": market_id,
        "specifiers": "",
        "product": LIVE,
        "products": list(products),
        "status": status,
        "name": "1x2",
        "groups": ["all"],
        "updated_at": updated_at,
        "reason": "",
        "outcomes": {"1": {"odds": 2.0, "active": True}},
    } | fields


def entry(entry_id, received_at=2000):
    return {
        "entry_id": entry_id,
        "event_id": "sr:match:1",
        "groups": "all",
        "product": LIVE,
        "status": "suspended",
        "sent_at": received_at,
        "received_at": received_at,
    }


def stored(status="active", updated_at=1000, product=LIVE):
    outcomes = {"1": Outcome(2.0)}
    return MarketLine("sr:match:1", 1, "", product, status, outcomes, updated_at=updated_at)


def test_the_newest_of_each_line_and_every_bet_stop_once_are_read_back():
    checkpoint = json.dumps(
        {
            "type": "snapshot",
            "seq": 4,
            "events": [],
            "lines": [line_json()],
            "bet_stops": [entry("a")],
        }
    )
    texts = [
        json.dumps(
            {
                "type": "bet_stop",
                "seq": 5,
                "entry": entry("b"),
                "lines": [line_json(status="suspended", updated_at=2000)],
            }
        ),
        json.dumps({"type": "bet_stop", "seq": 6, "entry": entry("a")}),  # the same entry again
    ]
    board = published.read(checkpoint, texts)
    assert [(line.status, line.updated_at) for line in board.lines] == [("suspended", 2000)]
    assert [e["entry_id"] for e in board.bet_stops] == ["a", "b"]
    assert board.unread == 0


def test_what_does_not_read_is_left_out_and_counted():
    texts = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"lines": [line_json(market_id="x"), line_json(outcomes=[1]), {"a": 1}]}),
        json.dumps({"entry": {"entry_id": 7}}),
        json.dumps({"lines": [line_json(market_id=2, products=["9"])]}),
    ]
    board = published.read(None, texts)
    assert board.unread == 6
    # A line whose products do not read answers to both.
    assert [(line.market_id, sorted(line.products)) for line in board.lines] == [
        (2, [LIVE, PREMATCH])
    ]


def test_the_bus_wins_unless_the_database_holds_a_newer_line_and_products_join():
    bus = published.read(None, [json.dumps({"lines": [line_json(updated_at=2000)]})])
    _, lines, _ = published.merged([], [stored("suspended", 1000, PREMATCH)], [], bus)
    assert [(line.status, line.updated_at, sorted(line.products)) for line in lines] == [
        ("active", 2000, [LIVE, PREMATCH])
    ]
    _, lines, _ = published.merged([], [stored("suspended", 3000, PREMATCH)], [], bus)
    assert [(line.status, line.updated_at, sorted(line.products)) for line in lines] == [
        ("suspended", 3000, [LIVE, PREMATCH])
    ]


def test_bet_stops_the_database_lacks_come_first_newest_first():
    bus = published.read(None, [json.dumps({"entry": entry(name)}) for name in "abc"])
    _, _, logged = published.merged([], [], [entry("a")], bus)
    assert [e["entry_id"] for e in logged] == ["c", "b", "a"]
