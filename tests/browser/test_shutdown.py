"""SIGTERM: the worker writes the feed's last changes before it exits, however slow the database."""

import json
import signal
import threading
import time
import urllib.request

import pytest
import sqlalchemy as sa

from feed.upstream import frames
from tests.board_page import now_ms
from tests.feed_messages import EVENT, bet_stop, match_odds
from tests.servers import web_dyno
from tests.upstream import wait_until

pytestmark = pytest.mark.slow


def status(address):
    with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
        return json.load(answer)


def stored_status(url):
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            query = "SELECT status FROM feed_lines WHERE event_id = :event AND market_id = 1"
            return connection.execute(sa.text(query), {"event": EVENT}).scalar()
    finally:
        engine.dispose()


def test_a_suspension_just_before_sigterm_is_written_though_the_database_is_slow(
    upstream, postgres_database_url
):
    settings = {
        "FEED_URL": upstream.url,
        "FEED_FLUSH_SECONDS": "600",  # nothing is written behind before the shutdown's flush
        "DATABASE_LOCK_TIMEOUT": "20",
    }
    with web_dyno(postgres_database_url, **settings) as (address, server):
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, match_odds(now_ms() - 1000))
        stop = bet_stop(EVENT, groups=None, product=None, stamp=now_ms(), market_status=None)
        upstream.send_frame(frames.BET_STOP, stop)
        wait_until(lambda: status(address)["store"]["waiting"]["bet_stops"] == 1)

        # A slow database: the shutdown's write waits 3 s for a lock this test holds.
        engine = sa.create_engine(
            postgres_database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        )
        held = engine.connect()
        held.execute(sa.text("LOCK TABLE feed_lines IN ACCESS EXCLUSIVE MODE"))
        release = threading.Timer(3, held.rollback)
        release.start()
        try:
            stopped_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            assert time.monotonic() - stopped_at >= 2.5  # it waited for the write
        finally:
            release.join()
            held.close()
            engine.dispose()
    assert stored_status(postgres_database_url) == "suspended"
