"""A fan-out to `groups` groups of boards beside a money transaction (`one`, or a `storm` that
never ends), the hub giving way up to `give way` seconds: prints the group size, how many boards
got the message, after how many the wallet was done (-1: never) and how long the fan-out took."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

import sys
import time

from gevent import monkey

monkey.patch_all()

import gevent

import feed.board.hub
from feed.board.hub import GROUP_SIZE, LocalHub
from infra import gevent_waits

feed.board.hub.GIVE_WAY = float(sys.argv[3])

hub = LocalHub()
order, received = [], []


def board():
    with hub.subscribe() as subscription:
        subscription.take()
        order.append("board")
        received.append(time.monotonic())


def wallet(forever):
    with gevent_waits.urgent():
        while True:
            for _ in range(3):  # as a transaction waits for each of its database's answers
                gevent.sleep(0.001)
            if not forever:
                break
    order.append("wallet")


groups = int(sys.argv[1])
boards = [gevent.spawn(board) for _ in range(groups * GROUP_SIZE)]
gevent.sleep(0.1)  # every board waits in take()
money = gevent.spawn(wallet, sys.argv[2] == "storm")
gevent.sleep(0)  # the transaction has started
published = time.monotonic()
hub.publish(1, "bet stop")
gevent.joinall(boards, timeout=10)
print(
    GROUP_SIZE,
    len(received),
    order.index("wallet") if "wallet" in order else -1,
    max(received) - published,
)
