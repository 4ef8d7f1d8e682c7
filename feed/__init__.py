"""The upstream odds feed: its client, the market state, and the relay to the browsers."""

import logging
import threading
import time

from .cli import bp as cli_bp
from .client import UpstreamClient
from .descriptions import MarketDescriptions
from .health import FeedHealth
from .hub import LocalHub
from .market import MarketState
from .relay import Relay
from .store import FeedStore
from .stream import BOARD_SOCKET_OPTIONS
from .views import bp, sock

log = logging.getLogger(__name__)


def wall_ms():
    return int(time.time() * 1000)


class FeedRuntime:
    """The feed's parts for one app, and the two threads that drive them once started."""

    def __init__(self, app, clock=wall_ms):
        self.config = app.config
        self.clock = clock
        self.state = MarketState(MarketDescriptions.load(app.config["FEED_MARKETS_FILE"] or None))
        self.health = FeedHealth()
        self.hub = LocalHub(backlog_bytes=app.config["BOARD_BACKLOG_BYTES"])
        self.store = FeedStore(app)
        self.relay = Relay(self.state, self.health, self.hub, self.store, clock)
        self.client = None
        if app.config["FEED_URL"]:
            self.client = UpstreamClient(
                app.config["FEED_URL"],
                on_frame=self.relay.receive,
                on_connection=self.relay.connection,
                subscriptions=self.subscriptions,
                token=app.config["FEED_TOKEN"],
                lang=app.config["FEED_LANG"],
                on_refused=self.relay.refuse,
                max_message_bytes=app.config["FEED_MAX_FRAME_BYTES"],
            )
        self.stopped = threading.Event()
        self.started = False

    def subscriptions(self):
        """Every event we know of, and those the operator listed in FEED_SUBSCRIBE."""
        return sorted(set(self.config["FEED_SUBSCRIBE"]) | set(self.state.events))

    def health_report(self):
        return self.health.report(self.clock())

    def start(self):
        """Load the last known board, connect upstream and keep health and the database current."""
        if self.started or not self.config["FEED_ENABLED"]:
            return
        self.started = True
        self.relay.restore()
        if self.client is not None:
            threading.Thread(target=self.client.run, name="feed-client", daemon=True).start()
        else:
            log.warning("no FEED_URL: the board shows the last known state, suspended")
        threading.Thread(target=self._every_second, name="feed-ticker", daemon=True).start()

    def stop(self):
        """Disconnect, close every board socket and write what is pending."""
        self.stopped.set()
        if self.client is not None:
            self.client.stop()
        self.hub.close()
        self.store.flush()

    def _every_second(self):
        while not self.stopped.wait(1):
            try:
                self.relay.tick()
                self.store.flush()
            except Exception:  # the database may be briefly away; try again next second
                log.exception("feed housekeeping failed")


def init_app(app):
    """Attach the feed's runtime, its websocket and endpoints, and `flask feed ...`."""
    # No reading thread for simple-websocket: a second writer, and a reader that never yields;
    # feed/stream.py reads each board and its handler alone writes (pings, pongs, closes).
    app.config.setdefault("SOCK_SERVER_OPTIONS", BOARD_SOCKET_OPTIONS)
    app.extensions["feed"] = FeedRuntime(app)
    app.register_blueprint(bp)
    sock.init_app(app)
    app.register_blueprint(cli_bp)
