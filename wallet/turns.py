"""Whose turn it is: one callback per account at a time goes to the database, the rest wait here."""

import threading
import time
from contextlib import contextmanager

from .codes import Failure
from .errors import WalletError


class AccountTurns:
    """Queue each account's callbacks in this worker, without a database connection.

    A callback waiting for an account's row lock holds a connection of the pool while it waits.
    Waiting here instead, one connection per account at most is ever held up by a stuck account
    (a transaction that holds its row lock and does not end), and every other account's callbacks
    still find a free one. Waits are bounded by the callback's deadline.
    """

    def __init__(self):
        self._turns = {}  # user_id -> [its lock, callbacks holding or waiting for it]
        self._guard = threading.Lock()

    @contextmanager
    def take(self, user_ids, deadline):
        """Hold the turn of each user in `user_ids` (sorted: one order, no deadlock) until exit.

        Raises WalletError (busy) if one is not had by `deadline`, a time.monotonic() value.
        """
        joined, held = [], []
        try:
            for user_id in user_ids:
                lock = self._join(user_id)
                joined.append(user_id)
                left = deadline - time.monotonic()
                if not (lock.acquire(timeout=left) if left > 0 else lock.acquire(blocking=False)):
                    raise WalletError(
                        Failure.BUSY,
                        f"busy: another callback of userId {user_id!r} is still running; "
                        "retry later",
                    )
                held.append(lock)
            yield
        finally:
            for lock in held:
                lock.release()
            for user_id in joined:
                self._leave(user_id)

    def _join(self, user_id):
        with self._guard:
            turn = self._turns.get(user_id)
            if turn is None:
                # Created when needed: under the gevent worker, threading's Lock is gevent's.
                turn = self._turns[user_id] = [threading.Lock(), 0]
            turn[1] += 1
            return turn[0]

    def _leave(self, user_id):
        # Forgotten when nobody holds or waits for it, so the table stays as small as the
        # number of accounts in flight, whatever userIds arrive.
        with self._guard:
            turn = self._turns[user_id]
            turn[1] -= 1
            if not turn[1]:
                del self._turns[user_id]
