"""Upstream messages as the feed sends them (the `data` of a frame), in each shape it uses, and the
frames that carry them: every test builds what the feed sends from here.

A field given as None is left out of the message, as the feed leaves fields out.
"""

import json

from feed.upstream.frames import Frame

ALIVE, FIXTURE_CHANGE, ODDS_CHANGE, BET_STOP = 10000, 10010, 10020, 10030
BET_SETTLEMENT, BET_CANCEL = 10040, 10050
LIVE, PREMATCH = 1, 3
EVENT = "sr:match:1"  # the event of a test that needs only one

OUTCOMES = {
    "readable": [{"id": "1", "odds": 2.1, "active": 1}, {"id": "2", "odds": 1.75, "active": 1}],
    "empty_odds": [{"id": "1", "odds": ""}, {"id": "2", "odds": 1.75, "active": 1}],
    "not_a_list": 5,
    "no_id": [{"odds": 2.1, "active": 1}],
    "missing": None,  # not sent
}


def _fields(**named):
    return {key: value for key, value in named.items() if value is not None}


def event_id(number):
    """The id of the feed's event `number`, as the feed names a match."""
    return f"sr:match:{number}"


# Odds changes -----------------------------------------------------------------------------------


def outcome(outcome_id="1", odds=2.0, **fields):
    return {"id": outcome_id, "odds": odds} | _fields(**fields)


ONE_OUTCOME = "one outcome"  # a line's outcomes unless a test says otherwise: "1" at 2.0


def _outcomes(outcomes):
    return [outcome()] if outcomes is ONE_OUTCOME else outcomes


def line(specifiers="", status=None, outcomes=ONE_OUTCOME, **fields):
    """A line of a market in the newer shape; outcomes as given."""
    return _fields(specifiers=specifiers, status=status, outcomes=_outcomes(outcomes), **fields)


def market(market_id, *lines, **fields):
    """A market in the newer shape with `lines` (default: one line() of no specifiers)."""
    return {"id": market_id, "lines": list(lines) or [line()]} | _fields(**fields)


def odds(markets, event=EVENT, product=LIVE, stamp=None, **fields):
    """An odds change in the newer shape (`event_id`, `product`, `markets[].lines[]`)."""
    named = _fields(event_id=event, product=product, timestamp=stamp)
    return named | _fields(markets=markets, **fields)


def odds_of(market_ids, event=EVENT, product=LIVE, stamp=None, **line_fields):
    """An odds change listing one line of no specifiers in each of `market_ids`, all alike:
    `line_fields` are line()'s."""
    return odds([market(m, line(**line_fields)) for m in market_ids], event, product, stamp)


def old_market(market_id, specifiers="", status=None, outcomes=ONE_OUTCOME, **fields):
    """A market in the older shape: one line, its specifiers and status on the market."""
    listed = _fields(status=status, outcomes=_outcomes(outcomes))
    return {"id": market_id, "specifiers": specifiers} | listed | _fields(**fields)


def odds_old(markets, event=EVENT, product=LIVE, stamp=None, **fields):
    """An odds change in the older shape (`match_id`, `product_id`, `odds_markets[]`)."""
    named = _fields(match_id=event, product_id=product, timestamp=stamp)
    return named | _fields(odds_markets=markets, **fields)


def odds_change(event, lines, product=LIVE, stamp=None, shape="markets"):
    """An odds change listing `lines`: (market id, specifiers, status, outcomes, status key).

    shape "markets": the newer one (odds()); shape "odds_markets": the older one (odds_old()).
    A status None is not sent (active); outcomes name an entry of OUTCOMES.
    """
    if shape == "markets":
        markets = []
        for market_id, specifiers, status, outcomes, status_key in lines:
            listed = _fields(**{status_key: status, "outcomes": OUTCOMES[outcomes]})
            listed = {"specifiers": specifiers, "is_main_line": True} | listed
            markets.append(market(market_id, listed))
        return odds(markets, event, product, stamp)
    markets = [
        old_market(market_id, specifiers, status, OUTCOMES[outcomes])
        for market_id, specifiers, status, outcomes, _ in lines
    ]
    return odds_old(markets, event, product, stamp)


def active(market_id, specifiers=""):
    """A line as odds_change() lists it: active, readable outcomes."""
    return (market_id, specifiers, "active", "readable", "line_status")


def stopped(market_id, specifiers="", status="suspended"):
    return (market_id, specifiers, status, "readable", "line_status")


def match_odds(stamp, status=1, price=2.0, product=LIVE, status_166=None, more=(), event=EVENT):
    """A match's odds change: the 1x2 (home at `price`), total corners 9.5 (at `status_166` if
    given), then the markets `more`."""
    three_way = [outcome("1", price), outcome("2", 3.1), outcome("3", 3.4)]
    corners = [outcome("12", 1.8), outcome("13", 2.0)]
    status_166 = status if status_166 is None else status_166
    markets = [
        market(1, line("", status, three_way)),
        market(166, line("total=9.5", status_166, corners)),
        *more,
    ]
    return odds(markets, event, product, stamp)


def big_board(events=400, markets=40):
    """Odds for `events` events of `markets` two-line markets: a snapshot of several MB."""
    totals = [outcome("12", 1.9), outcome("13", 1.9)]
    for number in range(events):
        yield odds(
            [
                market(5000 + m, *(line(f"total={spec}.5", outcomes=totals) for spec in range(2)))
                for m in range(markets)
            ],
            event_id(number),
            stamp=1000,
        )


# BetStops, settlements, cancels, fixtures, alives -----------------------------------------------


def bet_stop(
    event=EVENT,
    groups="all",
    product=LIVE,
    stamp=None,
    market_status="suspended",
    event_key="event_id",
    product_key="product",
    **fields,
):
    return _fields(
        **{event_key: event, product_key: product},
        market_status=market_status,
        groups=groups,
        timestamp=stamp,
    ) | _fields(**fields)


def bet_settlement(
    event,
    market_id=None,
    specifiers="",
    product=LIVE,
    stamp=None,
    event_key="event_id",
    product_key="product",
    certainty=2,
    result=1,
    markets=None,
    outcome_id="1",
):
    """A settlement of the market (`market_id`, `specifiers`), or of each of `markets` (pairs
    of them); its outcome `outcome_id` at `result`, or no outcome when `result` is None."""
    markets = [(market_id, specifiers)] if markets is None else markets
    won = [] if result is None else [{"id": outcome_id, "result": result}]
    markets = [{"id": m, "specifiers": s, "outcome": list(won)} for m, s in markets]
    named = _fields(**{event_key: event, product_key: product}, timestamp=stamp)
    return named | _fields(certainty=certainty) | {"outcomes": {"market": markets}}


def bet_cancel(
    event,
    market_id,
    specifiers="",
    product=LIVE,
    stamp=None,
    event_key="event_id",
    product_key="product",
):
    market = {"id": market_id, "specifiers": specifiers, "void_reason": 1}
    return _fields(**{event_key: event, product_key: product}, timestamp=stamp) | {
        "market": [market]
    }


def fixture_change(
    event,
    change_type=3,
    product=LIVE,
    stamp=None,
    event_key="event_id",
    product_key="product",
    **fields,
):
    return _fields(
        **{event_key: event, product_key: product}, change_type=change_type, timestamp=stamp
    ) | _fields(**fields)


def alive(product=None, offset=0, subscribed=1, now_s=None, **fields):
    """An alive; `product` None speaks for every product, as an alive without one does.

    It says it was sent at `now_s` and the one before 10 s earlier; `fields` add to it or
    replace these (None: not sent)."""
    return _fields(
        **{
            "product": product,
            "last_alive_time": None if now_s is None else now_s - 10,
            "now_alive_time": now_s,
            "offset_time": offset,
            "subscribed": subscribed,
        }
        | fields
    )


# Frames -----------------------------------------------------------------------------------------

STAMPED = object()  # a frame's time: the timestamp of its data


def frame(cmd, data, time_ms=STAMPED):
    """A decoded frame of `data`, as the relay and the market rules take it."""
    if time_ms is STAMPED:
        time_ms = data["timestamp"]
    return Frame(cmd, time_ms, data)


def text(cmd, data, time_ms):
    """The text frame the upstream sends, unabridged JSON."""
    return json.dumps({"cmd": cmd, "time": time_ms, "data": data})


def odds_frame(event, *market_ids, timestamp=1000, status=1):
    """The frame of an odds change listing one line of no specifiers in each of `market_ids` at
    `status`, its outcome "1" at 2, stamped `timestamp`."""
    data = odds_of(market_ids, event, stamp=timestamp, status=status, outcomes=[outcome("1", 2)])
    return frame(ODDS_CHANGE, data)


def settlement_frame(event, *markets, timestamp=5000):
    """The frame of a settlement of `markets` (market ids, or (market id, specifiers)) naming no
    outcome, stamped `timestamp`."""
    markets = [m if isinstance(m, tuple) else (m, "") for m in markets]
    data = bet_settlement(
        event, product=None, stamp=timestamp, certainty=None, result=None, markets=markets
    )
    return frame(BET_SETTLEMENT, data)
