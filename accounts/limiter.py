"""Failed logins counted per address and per account; past a limit, no more tries for a while.

The counts live in Redis when REDIS_URL is set, so every worker and dyno sees the same ones, and
in this process otherwise. If Redis cannot be reached the process's own counts take over: the
limit still holds per process rather than not at all.
"""

import logging
import threading
import time

log = logging.getLogger(__name__)

WINDOW_S = 15 * 60
LIMITS = {"account": 5, "address": 20}  # failures within the window before tries are refused
MAX_KEYS = 100_000  # the in-process counts never grow beyond this many addresses and accounts


class LocalCounts:
    """Failure counts in this process, each forgotten `window` seconds after its first failure."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.counts = {}  # key -> [count, expires]
        self.lock = threading.Lock()

    def count(self, key):
        with self.lock:
            entry = self.counts.get(key)
            if entry is None or entry[1] <= self.clock():
                return 0, 0
            return entry[0], entry[1] - self.clock()

    def add(self, key, window):
        with self.lock:
            now = self.clock()
            entry = self.counts.get(key)
            if entry is None or entry[1] <= now:
                if len(self.counts) >= MAX_KEYS:
                    self.counts = {k: e for k, e in self.counts.items() if e[1] > now}
                    if len(self.counts) >= MAX_KEYS:
                        self.counts.pop(next(iter(self.counts)))
                entry = self.counts[key] = [0, now + window]
            entry[0] += 1

    def forget(self, key):
        with self.lock:
            self.counts.pop(key, None)


class RedisCounts:
    """The same counts in Redis: one key per address or account, expiring with its window."""

    def __init__(self, client, prefix):
        self.client, self.prefix = client, prefix

    def count(self, key):
        count, ttl = self.client.pipeline().get(self.prefix + key).ttl(self.prefix + key).execute()
        return int(count or 0), max(ttl, 0)

    def add(self, key, window):
        name = self.prefix + key
        # NX: the window starts at the first failure and is not pushed back by later ones.
        self.client.pipeline().incr(name).expire(name, window, nx=True).execute()

    def forget(self, key):
        self.client.delete(self.prefix + key)


class LoginLimiter:
    """Says whether a login may be tried, and records how it went."""

    def __init__(self, shared=None, local=None, window=WINDOW_S, limits=None):
        self.shared = shared
        self.local = local or LocalCounts()
        self.window = window
        self.limits = limits or LIMITS
        self.shared_down = False

    def retry_after(self, address, username):
        """Seconds to wait before trying again, or 0 when a try is allowed now."""
        wait = 0
        for kind, key in self._keys(address, username):
            count, ttl = self._call("count", key)
            if count >= self.limits[kind]:
                wait = max(wait, int(ttl) + 1)
        return wait

    def failed(self, address, username):
        for _kind, key in self._keys(address, username):
            self._call("add", key, self.window)

    def succeeded(self, address, username):
        # Only the account's count: a shared address (an office) keeps counting others' failures.
        self._call("forget", f"account:{username.lower()}")

    def _keys(self, address, username):
        return [("address", f"address:{address}"), ("account", f"account:{username.lower()}")]

    def _call(self, name, *args):
        if self.shared is not None:
            try:
                result = getattr(self.shared, name)(*args)
            except Exception as exc:  # Redis away: count here meanwhile
                if not self.shared_down:
                    log.warning("login limiter: Redis unavailable, counting here: %s", exc)
                self.shared_down = True
            else:
                if self.shared_down:
                    log.info("login limiter: Redis available again")
                self.shared_down = False
                return result
        return getattr(self.local, name)(*args)
