"""Upstream messages as the feed sends them (the `data` of a frame), in each shape it uses.

A field given as None is left out of the message, as the feed leaves fields out.
"""

ALIVE, FIXTURE_CHANGE, ODDS_CHANGE, BET_STOP = 10000, 10010, 10020, 10030
BET_SETTLEMENT, BET_CANCEL = 10040, 10050
LIVE, PREMATCH = 1, 3

OUTCOMES = {
    "readable": [{"id": "1", "odds": 2.1, "active": 1}, {"id": "2", "odds": 1.75, "active": 1}],
    "empty_odds": [{"id": "1", "odds": ""}, {"id": "2", "odds": 1.75, "active": 1}],
    "not_a_list": 5,
    "no_id": [{"odds": 2.1, "active": 1}],
    "missing": None,  # not sent
}


def _fields(**named):
    return {key: value for key, value in named.items() if value is not None}


def odds_change(event, lines, product=LIVE, stamp=None, shape="markets"):
    """An odds change listing `lines`: (market id, specifiers, status, outcomes, status key).

    shape "markets": the newer one (`event_id`, `product`, `markets[].lines[]`);
    shape "odds_markets": the older one (`match_id`, `product_id`, `odds_markets[]`).
    A status None is not sent (active); outcomes name an entry of OUTCOMES.
    """
    if shape == "markets":
        markets = []
        for market_id, specifiers, status, outcomes, status_key in lines:
            line = {"specifiers": specifiers, "is_main_line": True}
            line |= _fields(**{status_key: status, "outcomes": OUTCOMES[outcomes]})
            markets.append({"id": market_id, "lines": [line]})
        return _fields(event_id=event, product=product, timestamp=stamp) | {"markets": markets}
    markets = [
        {"id": market_id, "specifiers": specifiers}
        | _fields(status=status, outcomes=OUTCOMES[outcomes])
        for market_id, specifiers, status, outcomes, _ in lines
    ]
    return _fields(match_id=event, product_id=product, timestamp=stamp) | {"odds_markets": markets}


def active(market_id, specifiers=""):
    """A line as odds_change() lists it: active, readable outcomes."""
    return (market_id, specifiers, "active", "readable", "line_status")


def stopped(market_id, specifiers="", status="suspended"):
    return (market_id, specifiers, status, "readable", "line_status")


def bet_stop(
    event,
    groups="all",
    product=LIVE,
    stamp=None,
    market_status="suspended",
    event_key="event_id",
    product_key="product",
):
    return _fields(
        **{event_key: event, product_key: product},
        market_status=market_status,
        groups=groups,
        timestamp=stamp,
    )


def bet_settlement(
    event,
    market_id,
    specifiers="",
    product=LIVE,
    stamp=None,
    event_key="event_id",
    product_key="product",
):
    market = {"id": market_id, "specifiers": specifiers, "outcome": [{"id": "1", "result": 1}]}
    return _fields(**{event_key: event, product_key: product}, timestamp=stamp) | {
        "certainty": 2,
        "outcomes": {"market": [market]},
    }


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
    event, change_type=3, product=LIVE, stamp=None, event_key="event_id", product_key="product"
):
    return _fields(
        **{event_key: event, product_key: product}, change_type=change_type, timestamp=stamp
    )


def alive(product=None, offset=0, subscribed=1, now_s=None):
    """An alive; `product` None speaks for every product, as an alive without one does."""
    return _fields(
        product=product,
        last_alive_time=None if now_s is None else now_s - 10,
        now_alive_time=now_s,
        offset_time=offset,
        subscribed=subscribed,
    )
