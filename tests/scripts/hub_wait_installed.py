"""Whether gevent_waits.install() puts the hub wait in psycopg's place: prints True or False. Run
with `patched` it installs after gevent's patch_all, as a gevent worker's setup does; with `plain`
in a process gevent has not patched. With `app URL`, patched, it makes the app on the database at
URL first and installs after, as a worker does; with `sqlite`, patched, in a process that has not
loaded psycopg (as a worker on SQLite has not): prints whether psycopg is loaded after the
install."""

import sys

if sys.argv[1] in ("patched", "sqlite", "app"):
    from gevent import monkey

    monkey.patch_all()

if sys.argv[1] == "sqlite":
    from infra import gevent_waits

    gevent_waits.install()
    print("psycopg" in sys.modules)
    sys.exit(0)

if sys.argv[1] == "app":
    from app import create_app
    from infra import gevent_waits
    from tests.conftest import base_config

    create_app(base_config(sys.argv[2]))
    gevent_waits.install()
    import psycopg.waiting

    print(psycopg.waiting.wait is gevent_waits.wait_on_gevent_hub)
    sys.exit(0)

import psycopg.waiting

from infra import gevent_waits

gevent_waits.install()
print(psycopg.waiting.wait is gevent_waits.wait_on_gevent_hub)
