"""A fan-out to 10 groups of boards under gevent, beside a wallet callback waiting for its
database: prints the group size, how many ran, and after how many boards the wallet ran."""
# ruff: noqa: E402 (gevent patches the process before anything else is imported)

from gevent import monkey

monkey.patch_all()

import socket

import gevent

from feed.board.hub import GROUP_SIZE, LocalHub

hub = LocalHub()
order = []


def board():
    with hub.subscribe() as subscription:
        subscription.take()
        order.append("board")


def wallet(sock):
    sock.recv(1)  # as a wallet callback waits for its database's answer
    order.append("wallet")


boards = [gevent.spawn(board) for _ in range(10 * GROUP_SIZE)]
database, answered = socket.socketpair()
waiting = gevent.spawn(wallet, answered)
gevent.sleep(0.1)  # every board waits in take(), the wallet on its socket
database.send(b"x")  # the answer is there; the worker sees it when it next polls
hub.publish(1, "bet stop")
gevent.joinall([*boards, waiting], timeout=10)
print(GROUP_SIZE, len(order), order.index("wallet"))
