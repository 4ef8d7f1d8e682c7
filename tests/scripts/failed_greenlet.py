"""A greenlet that fails, in a process that set up the app's logging (JSON) on `database url`:
what the app logs of it goes to standard error."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

from gevent import monkey

monkey.patch_all()
import sys

import gevent

from app import create_app
from tests.conftest import base_config

create_app(base_config(sys.argv[1]) | {"LOG_FORMAT": "json"})


def fail():
    raise ValueError("boom")


gevent.spawn(fail).join()
