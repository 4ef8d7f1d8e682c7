"""A feed process that takes the lease over a stored board: what boards resync to."""

import json

import pytest

from app import create_app
from database import db
from feed.bus.transport import MemoryBus
from feed.consumer import Consumer
from feed.market.model import FEED_GAP
from feed.store.models import FeedLine
from tests.conftest import base_config
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
