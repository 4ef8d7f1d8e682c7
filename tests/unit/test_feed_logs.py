"""What the feed says in the log: health changes as words, one line each, and no false alarms."""

import logging
import threading

import pytest

from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.rules import MarketState
from feed.relay import Relay
from feed.upstream import frames
from feed.upstream.client import UpstreamClient
from tests import feed_messages as messages


class Quiet:
    """A hub and a store that take everything and keep nothing."""

    def publish(self, *_args):
        pass

    def changed(self, *_args):
        pass


@pytest.fixture
def relay():
    now = [1_000_000]
    relay = Relay(
        MarketState(MarketDescriptions.load()), FeedHealth(), Quiet(), Quiet(), lambda: now[0]
    )
    relay.now = now
    return relay


def alive(relay, product=None, offset=0):
    data = messages.alive(product, offset, subscribed=None)
    relay.receive(frames.encode_text(frames.ALIVE, data, relay.now[0]))


def feed_lines(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "feed.relay"]


def test_health_changes_are_logged_as_words_one_line_each(relay, caplog):
    caplog.set_level(logging.INFO)
    relay.connection(True)
    alive(relay)
    assert feed_lines(caplog) == [("INFO", "live odds up"), ("INFO", "prematch odds up")]
    caplog.clear()
    for _ in range(40):  # a tick a second, no alive
        relay.now[0] += 1000
        relay.tick()
    assert feed_lines(caplog) == [
        ("WARNING", "live odds down: no alive for 20 s"),
        ("WARNING", "prematch odds down: no alive for 20 s"),
    ]
    caplog.clear()
    alive(relay, 1)
    assert feed_lines(caplog) == [("INFO", "live odds up")]


def test_a_late_source_and_a_lost_socket_are_named(relay, caplog):
    caplog.set_level(logging.INFO)
    relay.connection(True)
    alive(relay)
    caplog.clear()
    alive(relay, 3, 45)
    assert feed_lines(caplog) == [("WARNING", "prematch odds down: the source is 45 s behind")]
    caplog.clear()
    relay.connection(False)
    assert feed_lines(caplog) == [("WARNING", "live odds down: upstream disconnected")]


def test_our_own_shutdown_is_not_logged_as_an_upstream_failure(caplog):
    caplog.set_level(logging.INFO)
    opened, closed = threading.Event(), threading.Event()

    class Socket:
        """Blocks in a read until closed, then fails it, as a real socket shut under a reader."""

        def settimeout(self, _seconds):
            pass

        def recv_data(self):
            opened.set()
            closed.wait(5)
            raise OSError("socket closed")

        def send(self, *_args):
            pass

        def close(self, **_options):
            closed.set()

        def shutdown(self):
            closed.set()

    client = UpstreamClient(
        "ws://upstream.example/ws",
        on_frame=lambda _raw: None,
        on_connection=lambda _up: None,
        subscriptions=list,
        connect=lambda *_args, **_kwargs: Socket(),
    )
    reader = threading.Thread(target=client.run)
    reader.start()
    assert opened.wait(5)
    client.stop()
    reader.join(5)
    assert not reader.is_alive()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == []


def sample(name, **labels):
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0


def test_frames_are_counted_by_cmd_and_skipped_ones_by_kind(relay):
    before = sample("dashboard_feed_frames_total", cmd="alive")
    skipped = sample("dashboard_feed_frames_skipped_total", kind="bad_json")
    delays = sample("dashboard_feed_upstream_delay_seconds_count")
    alive(relay)
    relay.receive("{not json")
    assert sample("dashboard_feed_frames_total", cmd="alive") == before + 1
    assert sample("dashboard_feed_frames_skipped_total", kind="bad_json") == skipped + 1
    assert sample("dashboard_feed_upstream_delay_seconds_count") == delays + 1
