"""`flask feed consume`: how the feed process sets itself up before it consumes."""

import sys

import pytest

import feed.cli
from app import create_app
from tests.conftest import base_config, close_app


@pytest.fixture
def app(sqlite_database_url):
    # REDIS_URL is never reached: the consumer is stood in for.
    app = create_app(base_config(sqlite_database_url) | {"REDIS_URL": "redis://127.0.0.1:1/0"})
    yield app
    close_app(app)


class Started(Exception):
    """The consumer was made: what the process had set up by then is what it runs with."""


def test_the_feed_process_hands_the_interpreter_over_often(app, monkeypatch):
    # Its outlet's calls to Redis each wait for the interpreter lock, which the thread applying
    # a burst gives up only every switch interval: at Python's 5 ms a burst's publishing stalled
    # for up to 1.5 s, and the web workers read the silence as the link down.
    seen = []

    def consumer(*args, **kwargs):
        seen.append(sys.getswitchinterval())
        raise Started

    monkeypatch.setattr(feed.cli, "Consumer", consumer)
    before = sys.getswitchinterval()
    try:
        result = app.test_cli_runner().invoke(args=["feed", "consume"])
    finally:
        sys.setswitchinterval(before)
    assert isinstance(result.exception, Started)
    assert seen and seen[0] <= 0.0005
