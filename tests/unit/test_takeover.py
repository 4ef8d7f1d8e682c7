"""A feed process that takes the lease over a stored board: what boards resync to."""

import json
import time

import pytest

from app import create_app
from database import db
from feed.bus.transport import MemoryBus
from feed.consumer import Consumer
from feed.market.model import FEED_GAP
from feed.store.models import FeedLine
from tests import feed_messages as messages
from tests.conftest import base_config
from tests.feed_messages import ALIVE, BET_STOP, EVENT, LIVE, ODDS_CHANGE
from tests.upstream import wait_until


@pytest.fixture
def stored_board(sqlite_database_url):
    """An app whose database holds one active line, as a leader that died left it."""
    app = create_app(base_config(sqlite_database_url) | {"FEED_ENABLED": True, "FEED_URL": ""})
    with app.app_context():
        db.session.add(
            FeedLine(
                event_id="sr:match:1",
                market_id=1,
                specifiers="",
                product=1,
                status="active",
                name="1x2",
                groups=None,
                updated_at=1000,
                reason="",
                outcomes={"1": {"odds": 2.0, "active": True}},
            )
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_board_a_new_leader_checkpoints_reads_its_restored_lines_suspended(stored_board):
    bus = MemoryBus()
    consumer = Consumer(stored_board, bus=bus)
    consumer.start()
    try:
        wait_until(lambda: bus.snapshot().text is not None, what="the new leader's checkpoint")
        board = json.loads(bus.snapshot().text)
        assert [(line["status"], line["reason"]) for line in board["lines"]] == [
            ("suspended", FEED_GAP)
        ]
    finally:
        consumer.stop()


# What only the bus holds -----------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def bus(request):
    """The bus two feed processes share: in memory, and the real Redis."""
    if request.param == "memory":
        return MemoryBus()
    from feed.bus.transport import RedisBus
    from infra.redis_client import redis_client

    url, prefix = request.getfixturevalue("redis_bus_url")
    return RedisBus(redis_client(url), prefix)


def feed_process(database_url, bus):
    """A deployed feed process with no upstream (the test hands its relay the frames), whose
    store writes only when the test says: killed, it takes what it queued with it."""
    config = {"FEED_ENABLED": True, "FEED_URL": "", "FEED_FLUSH_SECONDS": 3600}
    consumer = Consumer(create_app(base_config(database_url) | config), bus=bus)
    consumer.start()
    wait_until(lambda: consumer.role == "leader", what="the lease")
    return consumer


def kill(consumer, bus):
    """What a killed leader leaves: what it published, its lease free, nothing more written."""
    wait_until(lambda: not consumer.outlet.queue, what="the leader's messages on the bus")
    consumer.stopped.set()
    consumer.term.stop()
    consumer.outlet.stop()
    consumer.store.stopped.set()  # its thread ends without a last write
    consumer.store.thread.join()
    bus.release(consumer.token)
    with consumer.app.app_context():
        db.engine.dispose()


def test_a_bet_stop_only_the_bus_holds_still_stops_older_odds_after_a_takeover(
    sqlite_database_url, bus
):
    leader = feed_process(sqlite_database_url, bus)
    now = int(time.time() * 1000)
    leader.relay.connection(True)
    leader.relay.receive(messages.text(ALIVE, messages.alive(LIVE), now))
    odds = messages.odds_change(EVENT, [messages.active(1)], LIVE, now - 2000)
    leader.relay.receive(messages.text(ODDS_CHANGE, odds, now - 2000))
    leader.relay.receive(messages.text(BET_STOP, messages.bet_stop(EVENT, "all", LIVE, now), now))
    kill(leader, bus)  # the stop was never written
    standby = feed_process(sqlite_database_url, bus)
    try:
        relay = standby.relay
        relay.connection(True)
        relay.receive(messages.text(ALIVE, messages.alive(LIVE), now))
        # Stamped before the stop, arriving after the takeover: they cannot open the line.
        older = messages.odds_change(EVENT, [messages.active(1)], LIVE, now - 1000)
        relay.receive(messages.text(ODDS_CHANGE, older, now - 1000))
        assert standby.state.lines[(EVENT, 1, "")].status == "suspended"
        # Stamped after it, they do: the stop was remembered, not every line held for ever.
        newer = messages.odds_change(EVENT, [messages.active(1)], LIVE, now + 1)
        relay.receive(messages.text(ODDS_CHANGE, newer, now + 1))
        line = standby.state.lines[(EVENT, 1, "")]
        assert (line.status, line.reason) == ("active", "")
    finally:
        standby.stop()
        with standby.app.app_context():
            db.engine.dispose()
