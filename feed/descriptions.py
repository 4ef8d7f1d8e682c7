"""Market descriptions: a market id's name and the BetStop groups its lines belong to."""

import json
from pathlib import Path

SHIPPED = Path(__file__).with_name("market_descriptions.json")


class MarketDescriptions:
    """Market id -> (name, groups), from the shipped table or an operator's own file."""

    def __init__(self, table):
        self.table = {
            int(market_id): (entry.get("name", ""), tuple(entry.get("groups") or ()) or None)
            for market_id, entry in table.items()
            if not market_id.startswith("_")
        }

    @classmethod
    def load(cls, path=None):
        return cls(json.loads(Path(path or SHIPPED).read_text(encoding="utf-8")))

    def name(self, market_id):
        return self.table.get(market_id, ("", None))[0]

    def groups(self, market_id):
        """The market's groups, or None when unknown (a partial BetStop then suspends it)."""
        return self.table.get(market_id, ("", None))[1]
