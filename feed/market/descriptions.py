"""Market descriptions: each market's name, BetStop groups and outcome names, and the lines' names.

The table comes from the shipped `market_descriptions.json` or from an operator's own file
(FEED_MARKETS_FILE): the same JSON shape, or Sportradar's `markets.xml` as their descriptions
endpoint gives it. Names are templates (see feed/names.py) filled from each line's specifiers; a
name the feed sends wins over the template. What the table does not know still reads as words,
and is counted for /feed/status.
"""

import json
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

from feed.market import names

SHIPPED = Path(__file__).with_name("market_descriptions.json")
MAX_FILE_BYTES = 32 * 1024 * 1024  # Sportradar's whole markets.xml is a few MB
MAX_TRACKED = 1000  # distinct unknown markets, outcomes and templates remembered for the status
MAX_MARKET_NAME, MAX_OUTCOME_NAME = 200, 100  # the database's column, and a cell's worth

# Outcome ids keep their meaning across UOF markets: a market missing from the table still reads
# "Over 2.5" or "Yes" rather than a bare number.
COMMON_OUTCOMES = {
    "1": "{$competitor1}",
    "2": "draw",
    "3": "{$competitor2}",
    "4": "{$competitor1}",
    "5": "{$competitor2}",
    "6": "{$competitor1}",
    "7": "none",
    "8": "{$competitor2}",
    "9": "{$competitor1} or draw",
    "10": "{$competitor1} or {$competitor2}",
    "11": "draw or {$competitor2}",
    "12": "over {total}",
    "13": "under {total}",
    "70": "odd",
    "72": "even",
    "74": "yes",
    "76": "no",
    "1711": "{$competitor1} ({hcp})",
    "1712": "draw ({hcp})",
    "1713": "{$competitor2} ({hcp})",
    "1714": "{$competitor1} ({+hcp})",
    "1715": "{$competitor2} ({-hcp})",
}


class MarketDescriptions:
    """Market id -> name template, groups and outcome templates; names lines from them."""

    def __init__(self, table):
        self.table = {}
        for market_id, entry in table.items():
            if str(market_id).startswith("_"):
                continue
            self.table[int(market_id)] = _description(market_id, entry)
        self.unknown = {"markets": set(), "outcomes": set(), "templates": set()}

    @classmethod
    def load(cls, path=None):
        """The shipped table, or the file at `path`: JSON, or markets.xml (told by its content)."""
        path = Path(path or SHIPPED)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
        if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
            return cls(table_from_xml(data))
        return cls(json.loads(data.decode("utf-8")))

    # The table -------------------------------------------------------------------------------

    def name(self, market_id):
        """The market's name template, or "" when unknown."""
        entry = self.table.get(market_id)
        return entry[0] if entry else ""

    def group_names(self):
        """Every group name some market belongs to: what a BetStop's groups can mean."""
        return frozenset(group for entry in self.table.values() for group in entry[1] or ())

    def groups(self, market_id):
        """The market's groups, or None when unknown (a partial BetStop then suspends it)."""
        entry = self.table.get(market_id)
        return entry[1] if entry else None

    def outcomes(self, market_id):
        """Outcome id -> name template for the market ({} when unknown)."""
        entry = self.table.get(market_id)
        return entry[2] if entry else {}

    # Names of lines --------------------------------------------------------------------------

    def market_name(self, market_id, specifiers, feed_name=None):
        """The line's market name: the feed's own if it sent one, else the template, filled.

        `{$competitor1}`, `{$competitor2}` and `{$event}` are left for the board, which knows the
        event's names as they are now.
        """
        template = feed_name if isinstance(feed_name, str) and feed_name else self.name(market_id)
        if not template:
            self._track("markets", market_id)
            return f"Market {market_id}"
        return self._fill(template, specifiers)[:MAX_MARKET_NAME]

    def outcome_name(self, market_id, specifiers, outcome_id, feed_name=None):
        """An outcome's name on this line, as market_name; a bare id never reaches the board."""
        if isinstance(feed_name, str) and feed_name:
            return self._fill(feed_name, specifiers)[:MAX_OUTCOME_NAME]
        template = self.outcomes(market_id).get(outcome_id)
        if template is None:
            if market_id in self.table:  # an unknown market is counted once, as a market
                self._track("outcomes", f"{market_id}:{outcome_id}")
            template = COMMON_OUTCOMES.get(outcome_id)
            if template is None:
                return _readable_id(outcome_id)[:MAX_OUTCOME_NAME]
        if template == "draw":
            return "X"  # a three-way market's draw, as every board writes it
        return _capitalised(template, self._fill(template, specifiers))[:MAX_OUTCOME_NAME]

    def report(self):
        """For /feed/status: how many distinct markets, outcomes and templates had no name."""
        return {
            "unknown_markets": len(self.unknown["markets"]),
            "unknown_outcomes": len(self.unknown["outcomes"]),
            "unfilled_templates": len(self.unknown["templates"]),
            "examples": {kind: sorted(map(str, seen))[:10] for kind, seen in self.unknown.items()},
        }

    def _fill(self, template, specifiers):
        # A feed's name is cut before it is read: nothing longer than a cell's worth is shown.
        text, complete = _filled(template[: names.MAX_TEMPLATE], specifiers)
        if not complete:
            self._track("templates", template)
        return text

    def _track(self, kind, key):
        seen = self.unknown[kind]
        if len(seen) < MAX_TRACKED:
            seen.add(key)


@lru_cache(maxsize=8192)
def _filled(template, specifiers):
    """(name, True), or (the name with "?" where it could not be filled, False)."""
    values = names.parse_specifiers(specifiers)
    try:
        return names.fill(template, values), True
    except names.TemplateError:
        return names.fill(template, values, lenient=True), False


def _capitalised(template, text):
    # "over {total}" reads "Over 2.5"; a name that starts with a competitor's is left as it is.
    if template[:1].isalpha() and template[:1].islower():
        return text[:1].upper() + text[1:]
    return text


def _readable_id(outcome_id):
    """'sr:player:123' -> 'Player 123'; '1234' -> 'Outcome 1234'."""
    parts = outcome_id.split(":")
    if len(parts) == 3 and parts[0] == "sr" and parts[1].isalpha():
        return f"{parts[1].capitalize()} {parts[2]}"
    return f"Outcome {outcome_id}"


def _description(market_id, entry):
    """(name, groups or None, outcomes) from one JSON entry; a wrong shape fails the load."""
    if not isinstance(entry, dict):
        raise ValueError(f"market {market_id}: not an object")
    name = entry.get("name", "")
    groups = entry.get("groups")
    outcomes = entry.get("outcomes") or {}
    if not isinstance(name, str):
        raise ValueError(f"market {market_id}: name is not a string")
    if groups is not None and not (
        isinstance(groups, list) and all(isinstance(g, str) for g in groups)
    ):
        raise ValueError(f"market {market_id}: groups is not a list of strings")
    if not isinstance(outcomes, dict) or not all(isinstance(v, str) for v in outcomes.values()):
        raise ValueError(f"market {market_id}: outcomes is not an object of names")
    return name, tuple(groups) if groups else None, {str(k): v for k, v in outcomes.items()}


def table_from_xml(data):
    """The JSON-shaped table from Sportradar's markets.xml (`<market_descriptions>`)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("markets.xml with a DTD or entities is refused")
    root = ElementTree.fromstring(data)
    if _local(root.tag) != "market_descriptions":
        raise ValueError(f"not a markets.xml: root element <{_local(root.tag)}>")
    table = {}
    for market in root:
        market_id = market.get("id", "")
        if _local(market.tag) != "market" or not market_id.isdigit():
            continue
        groups = [g for g in (market.get("groups") or "").split("|") if g]
        outcomes = {
            outcome.get("id"): outcome.get("name", "")
            for child in market
            if _local(child.tag) == "outcomes"
            for outcome in child
            if _local(outcome.tag) == "outcome" and outcome.get("id")
        }
        # Variant markets repeat an id; the first description of it wins.
        table.setdefault(
            market_id, {"name": market.get("name", ""), "groups": groups, "outcomes": outcomes}
        )
    return table


def _local(tag):
    return tag.rsplit("}", 1)[-1]
