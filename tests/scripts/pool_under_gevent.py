"""Five greenlets waiting for the only connection of a pool on `database url` while another
gives it back and asks again at once: prints, as JSON, the order they were served in."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

from gevent import monkey

monkey.patch_all()
import json
import sys

import gevent
import sqlalchemy as sa

from app import create_app
from database import db
from tests.conftest import base_config

config = base_config(sys.argv[1]) | {
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 2}
}
with create_app(config).app_context():
    engine = db.engine
served, done = [], []


def wait_for_a_turn(name):
    try:
        with engine.connect():
            served.append(name)
            gevent.sleep(0.001)
    except sa.exc.TimeoutError:
        served.append(name + " timed out")
    done.append(name)


def newcomer(holding):
    # Holds the pool's only connection while the others queue, then gives it back and asks
    # again at once, before anything else runs: as a busy worker's next request does.
    while len(done) < 5:
        gevent.sleep(0.001)
        holding.close()
        holding = engine.connect()
    holding.close()


hammer = gevent.spawn(newcomer, engine.connect())
waiters = [gevent.spawn(wait_for_a_turn, f"W{i}") for i in range(5)]
gevent.joinall([*waiters, hammer], timeout=30)
print(json.dumps(served))
