"""A relay on its own, for tests of what it keeps and forgets: the real market rules, health and
hub, a store that keeps nothing, and a clock that stands still."""

from feed.board.hub import LocalHub
from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.rules import MarketState
from feed.relay import Relay


class NoStore:
    """The relay's store, minus the database."""

    def changed(self, lines, event):
        pass

    def log_bet_stop(self, applied, received_ms):
        return {"event_id": applied.event_id}


def bare_relay():
    state = MarketState(MarketDescriptions.load(None))
    return Relay(state, FeedHealth(), LocalHub(), NoStore(), clock=lambda: 0)
