"""Whether the feed's SQLite writes run on a native thread of their own once a gevent worker is set
up (patched, then gevent_waits.install(), as gunicorn.conf.py does): prints True or False."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

from gevent import monkey

monkey.patch_all()

from infra import gevent_waits

native = monkey.get_original("_thread", "get_ident")
gevent_waits.install()
print(gevent_waits.native_threads(native) != native())
