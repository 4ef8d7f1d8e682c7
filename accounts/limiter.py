"""Login tries counted per address, per account at an address, and per account; past a few
failures, each try waits longer.

Three counts hold a try back: its address's (one address guessing many accounts), its pair's
(this account at this address: one address guessing one account), and its account's, failures
from anywhere. The account's count holds back only an address that has failed for the account:
failures from elsewhere never slow the owner logging in from an address of her own, so guessing
at an account cannot lock its owner out. Guessing from many addresses still meets the account's
count at each address's second try.

A try is counted as a failure when it is let in, before its password is checked, and a success
takes it back: tries sent at once cannot all slip in under one count. After a count's free
failures, the next try it holds back must wait FIRST_DELAY_S after its latest one, and each
further failure doubles that, up to MAX_DELAY_S; a try sooner is refused, uncounted, with the
seconds left. A count is forgotten FORGET_S after its latest try. Nobody sleeps: the wait is the
caller's to keep.

The counts live in Redis when REDIS_URL is set, so every worker and dyno sees the same ones, and
in this process otherwise. If Redis cannot be reached the process's own counts take over: the
limit still holds per process rather than not at all.
"""

import logging
import threading
import time
from collections import OrderedDict

log = logging.getLogger(__name__)

# Failures let through before any wait. An account's count is above its pairs': it bounds
# guessing spread over addresses, each of which has its pair's own count as well.
FREE_FAILURES = {"address": 20, "pair": 5, "account": 10}
KINDS = ("address", "pair", "account")  # the order of a try's counts everywhere below
FIRST_DELAY_S = 1
MAX_DELAY_S = 15 * 60
FORGET_S = 60 * 60  # longer than the cap: a try at the cap never finds its count forgotten
MAX_KEYS = 100_000  # the in-process counts never grow beyond this many keys


def waits(free, first=FIRST_DELAY_S, cap=MAX_DELAY_S):
    """The wait (ms) owed after each number of failures; the last one holds for any more."""
    owed, delay = [0] * free, first
    while delay < cap:
        owed.append(delay * 1000)
        delay *= 2
    return (*owed, cap * 1000)


def wait_left(owed, count, latest, now):
    """Milliseconds still to wait after `count` failures, the latest at `latest` (ms)."""
    delay = owed[min(count, len(owed) - 1)]
    # Never more than the delay itself, even with the clock set back.
    return min(delay, max(0, latest + delay - now))


def wait_for(owed, states, now):
    """Milliseconds a try waits, given the (count, latest) of its address, pair and account:
    the account's count holds back only an address that has failed for it."""
    pair_count = states[1][0]
    holding = 3 if pair_count else 2
    return max(
        wait_left(o, *state, now) for o, state in zip(owed[:holding], states[:holding], strict=True)
    )


class LocalCounts:
    """The counts in this process: key -> [failures, latest try in ms], least recent first."""

    def __init__(self):
        self.counts = OrderedDict()
        self.lock = threading.Lock()

    def admit(self, keys, owed, now, forget):
        with self.lock:
            states = [self._state(key, now, forget) for key in keys]
            wait = wait_for(owed, states, now)
            if wait:
                return wait
            for key, (count, _latest) in zip(keys, states, strict=True):
                self._store(key, [count + 1, now], now, forget)
            return 0

    def succeeded(self, keys):
        address, pair, account = keys
        with self.lock:
            self.counts.pop(pair, None)
            for key in (address, account):
                state = self.counts.get(key)
                if state is not None:
                    state[0] -= 1
                    if state[0] <= 0:
                        del self.counts[key]

    def _state(self, key, now, forget):
        state = self.counts.get(key)
        if state is None or now - state[1] >= forget:
            return 0, 0
        return state[0], state[1]

    def _store(self, key, state, now, forget):
        self.counts[key] = state
        self.counts.move_to_end(key)
        # In order of latest try, the forgotten ones are first, and the least recent when full.
        while len(self.counts) > MAX_KEYS or now - next(iter(self.counts.values()))[1] >= forget:
            self.counts.popitem(last=False)


# The same rule as LocalCounts.admit (wait_for), in one step of Redis however many workers try at
# once. KEYS: the address's, the pair's and the account's; ARGV: now, forget, then for each key
# the number of its waits and the waits.
ADMIT = """
local now, forget = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts, latest = {}, {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'n', 'at')
  counts[i], latest[i] = tonumber(state[1]) or 0, tonumber(state[2]) or 0
  if now - latest[i] >= forget then counts[i], latest[i] = 0, 0 end
end
local holding = 2
if counts[2] > 0 then holding = 3 end
local wait, at = 0, 3
for i = 1, holding do
  local size = tonumber(ARGV[at])
  local delay = tonumber(ARGV[at + math.min(counts[i], size - 1) + 1])
  wait = math.max(wait, math.min(delay, math.max(0, latest[i] + delay - now)))
  at = at + size + 1
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'n', counts[i] + 1, 'at', ARGV[1])
  redis.call('PEXPIRE', key, forget)
end
return 0
"""

# The pair's count cleared; the address's and the account's less this try, never a key made
# without its expiry. KEYS: the address's, the pair's and the account's.
SUCCEEDED = """
redis.call('DEL', KEYS[2])
for _, key in ipairs({KEYS[1], KEYS[3]}) do
  local count = tonumber(redis.call('HGET', key, 'n'))
  if count and count > 1 then
    redis.call('HSET', key, 'n', count - 1)
  elseif count then
    redis.call('DEL', key)
  end
end
return 0
"""


class RedisCounts:
    """The same counts in Redis: a hash (n, at) per key, expiring with its count.

    Each change is one script, run whole: tries from every worker at once are all counted.
    """

    def __init__(self, client, prefix):
        self.prefix = prefix
        self.admit_script = client.register_script(ADMIT)
        self.succeeded_script = client.register_script(SUCCEEDED)

    def admit(self, keys, owed, now, forget):
        args = [now, forget]
        for waits_of_key in owed:
            args += [len(waits_of_key), *waits_of_key]
        return int(self.admit_script(keys=[self.prefix + key for key in keys], args=args))

    def succeeded(self, keys):
        self.succeeded_script(keys=[self.prefix + key for key in keys])


class LoginLimiter:
    """Says whether a login may be tried now, counting it, and records a success.

    `clock` is the wall clock in seconds: the counts in Redis are shared between machines.
    """

    def __init__(self, shared=None, local=None, clock=time.time, free=None):
        self.shared = shared
        self.local = local or LocalCounts()
        self.clock = clock
        free = FREE_FAILURES | (free or {})
        self.owed = [waits(free[kind]) for kind in KINDS]
        self.shared_down = False

    def admit(self, address, username):
        """0, the try counted as a failure; or the seconds (rounded up) to wait, nothing counted."""
        now = round(self.clock() * 1000)
        wait = self._call("admit", _keys(address, username), self.owed, now, FORGET_S * 1000)
        return -(-wait // 1000)

    def succeeded(self, address, username):
        """Clear the pair's count and take this try back from the address's and the account's,
        which keep everyone else's failures."""
        self._call("succeeded", _keys(address, username))

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


def _keys(address, username):
    # Neither an address nor an account's name holds "|": no pair's key is another pair's.
    account = username.lower()
    return [f"address:{address}", f"pair:{address}|{account}", f"account:{account}"]
