"""Two hubs' wakers giving way to money: prints how long the first waited, though a second
started while it waited."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

from gevent import monkey

monkey.patch_all()

import gevent

from infra import gevent_waits


def money():
    with gevent_waits.urgent():
        gevent.sleep(0.005)


first = gevent_waits.loop_turn()  # one hub's waker
working = gevent.spawn(money)
gevent.sleep(0)
gave_way = gevent.spawn(first, 1.0)  # waits for the money
gevent.sleep(0)
gevent_waits.loop_turn()  # another hub's waker starts meanwhile
gave_way.join()
working.join()
print(gave_way.value)
