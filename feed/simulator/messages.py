"""The simulated feed's messages as the upstream sends them: odds changes in both shapes, and
frames as text or binary."""

from feed.simulator.chances import chances, price
from feed.simulator.sports import LIVE, STATUS_CODES
from feed.upstream import frames


def odds_data(match, lines, now, older_shape, reason=None):
    """An odds change of `lines`, in the older shape or the newer one."""
    prices = {}
    for line in lines:
        found = chances(match, line, now)
        prices[line.key] = {outcome: price(found.get(outcome, 0.0)) for outcome in line.outcomes}
    if older_shape:
        data = {
            "match_id": match.event_id,
            "product_id": match.product,
            "timestamp": now,
            "odds_markets": [
                {
                    "id": line.market_id,
                    "specifiers": line.specifiers,
                    "status": STATUS_CODES[line.status],
                    "outcomes": [
                        {"id": o, "odds": odds, "active": 1} for o, odds in prices[line.key].items()
                    ],
                }
                for line in lines
            ],
        }
    else:
        markets = {}
        for line in lines:
            market = markets.setdefault(line.market_id, [])
            market.append(
                {
                    "specifiers": line.specifiers,
                    "is_main_line": not market,
                    "line_status": line.status,
                    "outcomes": [
                        {"id": o, "odds": odds, "active": 1} for o, odds in prices[line.key].items()
                    ],
                }
            )
        data = {
            "event_id": match.event_id,
            "product": match.product,
            "timestamp": now,
            "markets": [{"id": mid, "lines": found} for mid, found in markets.items()],
        }
    if match.product == LIVE:
        data["home_score"], data["away_score"] = match.score
        data["match_status"] = match.status
    if reason is not None:
        data["betstop_reason"] = reason
    return data


def encode(cmd, data, now, rng):
    """Text JSON most of the time, binary now and then: the real feed sends both."""
    if rng.random() < 0.25:
        return frames.encode_binary(cmd, data, now)
    return frames.encode_text(cmd, data, now)
