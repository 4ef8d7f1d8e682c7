"""The login limiter's counts: per address and per account, forgotten after their window."""

from accounts.limiter import MAX_KEYS, LocalCounts, LoginLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def limiter(clock):
    return LoginLimiter(local=LocalCounts(clock), window=60, limits={"account": 2, "address": 3})


def test_an_account_is_refused_after_its_limit_until_the_window_ends():
    clock = Clock()
    limits = limiter(clock)
    for _ in range(2):
        assert limits.retry_after("10.0.0.1", "alice") == 0
        limits.failed("10.0.0.1", "alice")
    assert 0 < limits.retry_after("10.0.0.2", "ALICE") <= 61  # any address, any case
    clock.now += 61
    assert limits.retry_after("10.0.0.2", "alice") == 0


def test_an_address_is_refused_after_its_limit_whatever_the_account():
    limits = limiter(Clock())
    for name in ("a", "b", "c"):
        limits.failed("10.0.0.1", name)
    assert limits.retry_after("10.0.0.1", "d") > 0
    assert limits.retry_after("10.0.0.9", "d") == 0


def test_a_success_forgets_the_accounts_failures_not_the_addresss():
    limits = limiter(Clock())
    limits.failed("10.0.0.1", "alice")
    limits.failed("10.0.0.1", "bob")
    limits.succeeded("10.0.0.1", "alice")
    limits.failed("10.0.0.1", "alice")
    assert limits.retry_after("10.0.0.2", "alice") == 0  # one failure since the success
    assert limits.retry_after("10.0.0.1", "carol") > 0  # the address keeps its three


def test_the_counts_in_memory_are_bounded():
    clock = Clock()
    counts = LocalCounts(clock)
    for number in range(MAX_KEYS + 10):
        counts.add(f"address:{number}", 60)
    assert len(counts.counts) <= MAX_KEYS


class Broken:
    def __getattr__(self, _name):
        def fail(*_args):
            raise ConnectionError("Redis is away")

        return fail


def test_with_redis_away_the_process_counts_meanwhile(caplog):
    limits = LoginLimiter(
        shared=Broken(), local=LocalCounts(Clock()), limits={"account": 1, "address": 9}
    )
    limits.failed("10.0.0.1", "alice")
    assert limits.retry_after("10.0.0.1", "alice") > 0
    assert [r.getMessage() for r in caplog.records].count(
        "login limiter: Redis unavailable, counting here: Redis is away"
    ) == 1
