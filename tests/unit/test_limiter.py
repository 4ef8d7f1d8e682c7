"""The login limiter: each try past the free failures waits longer, in this process or in Redis.

Every behaviour is checked on both backends with a clock of the test's own: time moves when the
test moves it, so no test sleeps through a wait.
"""

import threading

import pytest
import redis

from accounts.limiter import (
    FORGET_S,
    FREE_FAILURES,
    MAX_DELAY_S,
    MAX_KEYS,
    LocalCounts,
    LoginLimiter,
    RedisCounts,
    waits,
)
from tests.redis_server import forget, shared_redis


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(params=["local", "redis"])
def backend(request):
    """A function making limiters (as many as the test's workers) that share one set of counts."""
    if request.param == "local":
        counts = LocalCounts()
        yield lambda clock, **free: LoginLimiter(local=counts, clock=clock, **free)
        return
    url, prefix = shared_redis()
    clients = []

    def make(clock, **free):
        clients.append(redis.Redis.from_url(url))
        # An unreachable local fallback would hide a Redis failure behind a pass: make it fail.
        return LoginLimiter(RedisCounts(clients[-1], f"{prefix}:login:"), Broken(), clock, **free)

    yield make
    forget(url, prefix)
    for client in clients:
        client.close()


class Broken:
    def __getattr__(self, _name):
        def fail(*_args):
            raise ConnectionError("Redis is away")

        return fail


def test_the_waits_are_none_for_the_free_failures_then_double_to_the_cap():
    assert waits(2) == (0, 0, *(2**n * 1000 for n in range(10)), MAX_DELAY_S * 1000)
    assert MAX_DELAY_S == 15 * 60
    assert FREE_FAILURES == {"address": 20, "pair": 5, "account": 10}


def test_past_its_free_failures_an_accounts_wait_at_one_address_doubles_up_to_the_cap(backend):
    clock = Clock()
    limiter = backend(clock)
    for _ in range(FREE_FAILURES["pair"]):
        assert limiter.admit("10.0.0.1", "alice") == 0
    for delay in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900):
        assert limiter.admit("10.0.0.1", "ALICE") == delay  # any case
        clock.now += delay - 0.4
        assert limiter.admit("10.0.0.1", "alice") == 1  # 0.4 s left: Retry-After rounds up
        clock.now += 0.399
        assert limiter.admit("10.0.0.1", "alice") == 1
        clock.now += 0.001
        assert limiter.admit("10.0.0.1", "alice") == 0
    assert limiter.admit("10.0.0.1", "bob") == 0  # another account is not slowed


def test_failures_from_other_addresses_never_slow_the_owner_at_a_fresh_address(backend):
    clock = Clock()
    limiter = backend(clock)
    for number in range(37):  # from six addresses
        limiter.admit(f"10.0.0.{number % 6 + 1}", "alice")
        clock.now += 60
    for _ in range(36):  # the owner, from her own address, with the right password
        assert limiter.admit("192.0.2.7", "alice") == 0
        limiter.succeeded("192.0.2.7", "alice")
        clock.now += 1
    assert limiter.admit("10.0.0.1", "alice") > 0  # an address that failed for her still waits


def test_an_accounts_count_slows_every_address_that_failed_for_it(backend):
    clock = Clock()
    limiter = backend(clock)
    addresses = [f"10.0.1.{n}" for n in range(FREE_FAILURES["account"])]
    for address in addresses:  # one failure each: no address is past its own free ones
        assert limiter.admit(address, "alice") == 0
    for address in addresses:
        assert limiter.admit(address, "alice") == 1
    assert limiter.admit("10.0.2.1", "alice") == 0  # an address that had not failed for her
    assert limiter.admit("10.0.1.0", "bob") == 0  # the account's count is hers alone


def test_a_refused_try_is_not_counted(backend):
    clock = Clock()
    limiter = backend(clock)
    for _ in range(FREE_FAILURES["pair"]):
        limiter.admit("10.0.0.1", "alice")
    for _ in range(50):
        assert limiter.admit("10.0.0.1", "alice") == 1
    clock.now += 1
    assert limiter.admit("10.0.0.1", "alice") == 0
    assert limiter.admit("10.0.0.1", "alice") == 2  # the sixth failure, not the fifty-sixth


def test_an_address_is_slowed_after_its_own_looser_count_whatever_the_account(backend):
    clock = Clock()
    limiter = backend(clock)
    for number in range(FREE_FAILURES["address"]):
        assert limiter.admit("10.0.0.1", f"guess{number}") == 0
    assert limiter.admit("10.0.0.1", "alice") == 1
    assert limiter.admit("10.0.0.9", "alice") == 0
    clock.now += 1
    assert limiter.admit("10.0.0.1", "alice") == 0
    assert limiter.admit("10.0.0.1", "bob") == 2


def test_a_success_clears_the_count_of_its_account_at_its_address(backend):
    clock = Clock()
    limiter = backend(clock, free={"pair": 2, "address": 100, "account": 100})
    assert [limiter.admit("10.0.0.1", "alice") for _ in range(3)] == [0, 0, 1]
    clock.now += 1
    assert limiter.admit("10.0.0.1", "alice") == 0  # the right password, this time
    limiter.succeeded("10.0.0.1", "alice")
    assert [limiter.admit("10.0.0.1", "alice") for _ in range(3)] == [0, 0, 1]


def test_a_success_takes_back_its_own_try_from_the_address_but_not_others_failures(backend):
    limiter = backend(Clock(), free={"pair": 100, "address": 3, "account": 100})
    assert limiter.admit("10.0.0.1", "bob") == 0  # an office: a colleague's failure
    assert limiter.admit("10.0.0.1", "alice") == 0
    limiter.succeeded("10.0.0.1", "alice")
    assert [limiter.admit("10.0.0.1", name) for name in ("carol", "dave", "erin")] == [0, 0, 1]


def test_a_success_takes_back_its_own_try_from_the_account_but_not_others_failures(backend):
    limiter = backend(Clock(), free={"pair": 100, "address": 100, "account": 3})
    assert limiter.admit("10.0.0.2", "alice") == 0  # a guess from elsewhere
    assert limiter.admit("10.0.0.1", "alice") == 0
    limiter.succeeded("10.0.0.1", "alice")
    assert [limiter.admit("10.0.0.2", "alice") for _ in range(3)] == [0, 0, 1]


def test_the_counts_are_forgotten_an_hour_after_the_latest_try(backend):
    clock = Clock()
    limiter = backend(clock, free={"pair": 1, "address": 1, "account": 1})
    assert [limiter.admit("10.0.0.1", "alice") for _ in range(2)] == [0, 1]
    clock.now += 1
    assert limiter.admit("10.0.0.1", "alice") == 0
    clock.now += FORGET_S - 0.001
    assert limiter.admit("10.0.0.1", "alice") == 0  # no longer waiting, still counted:
    assert limiter.admit("10.0.0.1", "alice") == 4
    clock.now += FORGET_S
    assert [limiter.admit("10.0.0.1", "alice") for _ in range(2)] == [0, 1]


def test_a_clock_set_back_never_makes_a_wait_longer_than_its_delay(backend):
    clock = Clock()
    limiter = backend(clock, free={"pair": 1, "address": 9, "account": 9})
    limiter.admit("10.0.0.1", "alice")
    clock.now -= 600
    assert limiter.admit("10.0.0.1", "alice") == 1


def test_tries_from_many_workers_at_once_are_all_counted(backend):
    clock = Clock()
    workers, tries = 8, 25
    free = {"pair": workers * tries, "address": 10_000, "account": 10_000}
    limiters = [backend(clock, free=free) for _ in range(workers)]
    start = threading.Barrier(workers)
    answers = []

    def work(limiter):
        start.wait()
        mine = [limiter.admit("10.0.0.1", "alice") for _ in range(tries)]
        answers.extend(mine)

    threads = [threading.Thread(target=work, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [0] * workers * tries
    assert limiters[0].admit("10.0.0.1", "alice") == 1  # not one of the 200 was lost


def test_tries_at_once_past_the_free_failures_let_in_only_the_free_ones(backend):
    clock = Clock()
    limiters = [backend(clock) for _ in range(12)]
    start = threading.Barrier(len(limiters))
    answers = []

    def work(limiter):
        start.wait()
        answers.append(limiter.admit("10.0.0.1", "alice"))

    threads = [threading.Thread(target=work, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [0] * FREE_FAILURES["pair"] + [1] * 7


def test_every_redis_key_expires_and_a_success_creates_none():
    url, prefix = shared_redis()
    client = redis.Redis.from_url(url)
    try:
        limiter = LoginLimiter(RedisCounts(client, f"{prefix}:login:"), Broken())
        limiter.succeeded("10.0.0.1", "alice")  # nothing counted yet: nothing to take back
        assert list(client.scan_iter(f"{prefix}:*")) == []
        for name in ("alice", "bob"):
            limiter.admit("10.0.0.1", name)
        limiter.succeeded("10.0.0.1", "alice")
        keys = sorted(client.scan_iter(f"{prefix}:*"))
        left = ("account:bob", "address:10.0.0.1", "pair:10.0.0.1|bob")
        assert keys == [f"{prefix}:login:{k}".encode() for k in left]
        for key in keys:
            assert 0 < client.pttl(key) <= FORGET_S * 1000
    finally:
        forget(url, prefix)
        client.close()


def test_the_counts_in_memory_are_bounded_and_drop_the_forgotten():
    clock = Clock()
    counts = LocalCounts()
    limiter = LoginLimiter(local=counts, clock=clock)
    tries = MAX_KEYS // 3 + 10  # three keys a try: its address, account, and the two together
    for number in range(tries):
        limiter.admit(f"10.0.{number // 256}.{number % 256}", f"guess{number}")
    assert len(counts.counts) == MAX_KEYS
    assert f"account:guess{tries - 1}" in counts.counts and "account:guess0" not in counts.counts
    clock.now += FORGET_S
    limiter.admit("10.0.0.1", "alice")
    assert sorted(counts.counts) == ["account:alice", "address:10.0.0.1", "pair:10.0.0.1|alice"]


def test_with_redis_away_the_process_counts_meanwhile(caplog):
    limiter = LoginLimiter(Broken(), LocalCounts(), Clock(), free={"pair": 1})
    assert limiter.admit("10.0.0.1", "alice") == 0
    assert limiter.admit("10.0.0.1", "alice") == 1
    assert [r.getMessage() for r in caplog.records].count(
        "login limiter: Redis unavailable, counting here: Redis is away"
    ) == 1
