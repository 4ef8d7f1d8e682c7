"""Which shape this process runs the feed in, and its parts by name: embedded or deployed."""

import logging
import os
import threading

from feed.board.hub import LocalHub
from feed.bus.mirror import Mirror, link_down_health
from feed.bus.transport import RedisBus
from feed.consumer import Consumer
from feed.store.write_behind import FeedStore

log = logging.getLogger(__name__)


class FeedRuntime:
    """The feed's parts for one app, in one of two shapes.

    Without REDIS_URL (embedded): this process consumes the upstream and fans out to its boards.
    With REDIS_URL (deployed): web workers follow the bus (`Mirror`) and fan out; the consumer runs
    in the `feed` process (`flask feed consume`), which builds its own `Consumer`.
    """

    def __init__(self, app):
        self.config = app.config
        self.hub = LocalHub(
            backlog_bytes=app.config["BOARD_BACKLOG_BYTES"],
            nudge_every=app.config["BOARD_NUDGE_SECONDS"],
        )
        self.consumer = None
        self.mirror = None
        if app.config["REDIS_URL"]:
            self.bus = RedisBus.from_config(app.config)
            self.mirror = Mirror(self.bus, self.hub)
            self.store = FeedStore(app)  # the BetStop log endpoint reads the shared database
        else:
            self.bus = None
            self.consumer = Consumer(app, hub=self.hub)
            self.store = self.consumer.store
        self.started = False
        self.stopping, self.stopped = threading.Lock(), False

    @property
    def board(self):
        """What a board socket reads: snapshot() and subscribe(after)."""
        return self.consumer or self.mirror

    # The embedded consumer's parts, by name, for /feed/status and the tests. Deployed, the
    # consumer runs in the feed process and this one has none of them.
    @property
    def term(self):
        return self._embedded().term

    @property
    def relay(self):
        return self._embedded().relay

    @property
    def state(self):
        return self._embedded().state

    @property
    def health(self):
        return self._embedded().health

    @property
    def client(self):
        return self._embedded().client

    def health_report(self):
        return self._embedded().health_report()

    def _embedded(self):
        if self.consumer is None:
            raise AttributeError("deployed: the consumer runs in the feed process")
        return self.consumer

    def start(self):
        """Consume (embedded) or follow the feed process (deployed)."""
        if self.started or not self.config["FEED_ENABLED"]:
            return
        self.started = True
        (self.consumer or self.mirror).start()

    def stop(self):
        """Disconnect, close every board socket (1001) and write what is pending; once. A second
        caller (the worker's exit, while SIGTERM's stop is under way) waits for the first."""
        with self.stopping:
            if self.stopped:
                return
            self.hub.close()
            if self.mirror is not None:
                self.mirror.stop()
            if self.consumer is not None:
                self.consumer.stop()
            self.stopped = True

    def status(self):
        """This process's role, its link to the bus, its boards and its lag."""
        return self._status() | {"pid": os.getpid(), "hub_writes": self.hub.written_for}

    def vitals(self):
        """What /metrics shows of the feed: each product's health, the database writer's backlog
        and, deployed, the consumer's own metrics (its text, or "" when it cannot be heard)."""
        if self.mirror is None:
            products = self.consumer.health_report()["products"]
            return {"products": products, "store": self.store.status(), "metrics": None}
        leader = self._leader(self._consumers()) if self.mirror.link == "up" else None
        if leader is None:  # nothing heard from a consumer: its products read down
            return {"products": link_down_health()["products"], "store": None, "metrics": ""}
        return {
            "products": (leader.get("health") or {}).get("products", {}),
            "store": leader.get("store"),
            "metrics": leader.get("metrics") or "",
        }

    def _consumers(self):
        try:
            return self.bus.reports()
        except Exception:  # the link is down: the mirror's status says so
            return []

    @staticmethod
    def _leader(consumers):
        leaders = [c for c in consumers if c.get("role") == "leader"]
        return max(leaders, key=lambda c: c.get("epoch") or 0, default=None)

    def _status(self):
        if self.mirror is not None:
            status = self.mirror.status()
            consumers = self._consumers()
            leader = self._leader(consumers)
            if leader is not None:
                status |= (leader.get("health") or {}) | {"counts": leader.get("counts")}
                status |= {"names": leader.get("names")}
            # Their metrics are for /metrics, not for a person reading this.
            consumers = [{k: v for k, v in c.items() if k != "metrics"} for c in consumers]
            return status | {"consumers": consumers}
        return (
            self.consumer.health_report()
            | self.consumer.status()
            | {"counts": dict(self.consumer.relay.counts)}
            | {"names": self.consumer.state.descriptions.report()}
        )
