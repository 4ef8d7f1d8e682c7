"""A market line as the relay hands it to the feed's store, for tests that feed the store."""


def line_json(event_id="sr:match:9", market_id=1, specifiers="", **values):
    """One line's JSON with ordinary values; `values` replace any of them."""
    return {
        "event_id": event_id,
        "market_id": market_id,
        "specifiers": specifiers,
        "product": 1,
        "status": "active",
        "name": "1x2",
        "groups": ["all"],
        "updated_at": 10,
        "reason": "",
        "outcomes": {"1": {"odds": 2.5, "active": True}},
    } | values
