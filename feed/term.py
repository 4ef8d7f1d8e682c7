"""One stretch of consuming: the market state, its health, the relay and the upstream client,
made anew for each leadership, and the once-a-second housekeeping."""

import logging
import threading
import time

from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.retention import Retention
from feed.market.rules import MarketState
from feed.relay import Relay
from feed.upstream.client import UpstreamClient

log = logging.getLogger(__name__)


def monotonic_ms():
    return int(time.monotonic() * 1000)


class Term:
    """What one stretch of consuming holds: state, health, relay and upstream client."""

    def __init__(self, app, store, outlet, clock, elapsed=monotonic_ms):
        config = app.config
        self.state = MarketState(MarketDescriptions.load(config["FEED_MARKETS_FILE"] or None))
        self.health = FeedHealth(int(config["FEED_ALIVE_TIMEOUT_SECONDS"] * 1000))
        max_frame_bytes = config["FEED_MAX_FRAME_BYTES"]
        self.relay = Relay(
            self.state, self.health, outlet, store, clock, max_frame_bytes, elapsed=elapsed
        )
        self.client = None
        if config["FEED_URL"]:
            self.client = UpstreamClient(
                config["FEED_URL"],
                on_frame=self.relay.receive,
                on_connection=self.relay.connection,
                subscriptions=self.subscriptions,
                token=config["FEED_TOKEN"],
                lang=config["FEED_LANG"],
                on_refused=self.relay.refuse,
                max_message_bytes=max_frame_bytes,
            )
        self.subscribe_also = config["FEED_SUBSCRIBE"]
        self.retention = Retention(int(config["FEED_CLOSED_GRACE_SECONDS"] * 1000))
        self.clock = clock
        self.stopped = threading.Event()

    def subscriptions(self):
        """Every event we know of, and those the operator listed in FEED_SUBSCRIBE."""
        return sorted(set(self.subscribe_also) | set(self.state.events))

    def start(self):
        if self.client is not None:
            threading.Thread(target=self.client.run, name="feed-client", daemon=True).start()
        else:
            log.warning("no FEED_URL: the board shows the last known state, suspended")
        threading.Thread(target=self._every_second, name="feed-ticker", daemon=True).start()

    def stop(self):
        self.stopped.set()
        if self.client is not None:
            self.client.stop()

    def _every_second(self):
        # Health and memory only: the database has a thread of its own (FeedStore.start), so a
        # write that waits never holds back the news that the feed went down.
        sweep_every = min(60_000, max(1000, self.retention.grace_ms))
        next_sweep = self.clock() + sweep_every
        while not self.stopped.wait(1):
            try:
                self.relay.tick()
                if self.clock() >= next_sweep:
                    next_sweep = self.clock() + sweep_every
                    self.relay.prune(self.retention, self.clock())
            except Exception:
                log.exception("feed housekeeping failed")
