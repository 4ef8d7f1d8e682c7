"""The hub writing a message to idle boards itself, under gevent: `all` (every socket takes it
all), `half` (odd ones take part) or `busy` (board 0 is busy writing). Prints, as JSON, the group
size, after how many boards the wallet ran, what was written for whom, and what handlers took."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

import json
import socket
import sys
import time

from gevent import monkey

monkey.patch_all()

import gevent

from feed.board.hub import GROUP_SIZE, LocalHub

hub = LocalHub()
order, written, takes = [], [], []
mode = sys.argv[1]  # "all": every socket takes everything; "half": odd ones take part
boards = 10 * GROUP_SIZE


def board(number):
    def write_now(taken, published):
        written.append((number, taken))
        order.append("board")
        return mode != "half" or number % 2 == 0

    with hub.subscribe() as subscription:
        subscription.write_now = write_now
        if mode == "busy" and number == 0:
            gevent.sleep(0.5)  # as a handler writing a large snapshot to a slow board
        while not subscription.dropped:
            takes.append((number, subscription.take()))


def wallet(sock):
    sock.recv(1)  # as a wallet callback waits for its database's answer
    order.append("wallet")


def until(done):
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:
        gevent.sleep(0.01)


handlers = [gevent.spawn(board, number) for number in range(boards)]
gevent.sleep(0.1)  # every board waits in take(), but a busy one
del takes[:]  # the boards' first looks at the backlog (nothing)
database, answered = socket.socketpair()
waiting = gevent.spawn(wallet, answered)
gevent.sleep(0.01)
database.send(b"x")  # the answer is there; the worker sees it when it next polls
hub.publish(1, "bet stop")
if mode == "half":
    until(lambda: {n for n, _ in takes} >= set(range(1, boards, 2)))
elif mode == "busy":
    until(lambda: any(n == 0 for n, _ in takes))
until(lambda: len(written) >= boards - (mode == "busy"))
gevent.sleep(0.05)  # time for any handler woken by mistake to run
print(
    json.dumps(
        {
            "group_size": GROUP_SIZE,
            "wallet_ran_after": order.index("wallet"),
            "written": written,
            "takes": takes,
        }
    )
)
hub.close()
gevent.joinall(handlers, timeout=10)
