"""The bus's contract, the same for the in-process and the Redis backend; Redis for real."""

import ssl
import subprocess
import time

import pytest
import redis

from feed.bus.transport import (
    CHECKPOINT,
    HEARTBEAT,
    MESSAGE,
    BusError,
    Envelope,
    MemoryBus,
    RedisBus,
)
from infra.redis_client import redis_client
from tests.redis_server import own_redis


@pytest.fixture(params=["memory", "redis"])
def bus(request):
    if request.param == "memory":
        return MemoryBus()
    url, prefix = request.getfixturevalue("redis_bus_url")
    return RedisBus(redis_client(url), prefix)


def drain(listener, timeout=1.0):
    """Every envelope that arrives within `timeout` of the last one."""
    got = []
    while (envelope := listener.next(timeout=timeout)) is not None:
        got.append(envelope)
    return got


def test_a_new_reader_gets_the_checkpoint_and_every_message_since(bus):
    epoch, seq = bus.acquire("a", ttl=5)
    assert (epoch, seq) == (1, 0)
    assert bus.publish(epoch, [(1, '{"seq":1}'), (2, '{"seq":2}')])
    assert bus.checkpoint(epoch, 2, '{"type":"snapshot","seq":2}')
    assert bus.publish(epoch, [(3, '{"seq":3} with spaces, ünïcode')])
    snapshot = bus.snapshot()
    assert (snapshot.epoch, snapshot.board_epoch, snapshot.seq) == (1, 1, 2)
    assert snapshot.text == '{"type":"snapshot","seq":2}'
    assert [(m.kind, m.seq, m.text) for m in snapshot.messages] == [
        (MESSAGE, 3, '{"seq":3} with spaces, ünïcode')
    ]
    assert bus.last() == (1, 3)


def test_a_listener_gets_everything_published_once_it_is_in_force(bus):
    epoch, _ = bus.acquire("a", ttl=5)
    with bus.listen() as listener:
        bus.publish(epoch, [(1, "one"), (2, "two")])
        bus.heartbeat(epoch, 2)
        bus.checkpoint(epoch, 2, "board")
        got = drain(listener)
    assert [(e.kind, e.epoch, e.seq, e.text) for e in got] == [
        (MESSAGE, 1, 1, "one"),
        (MESSAGE, 1, 2, "two"),
        (HEARTBEAT, 1, 2, None),
        (CHECKPOINT, 1, 2, None),
    ]
    assert all(abs(e.sent - time.time() * 1000) < 60_000 for e in got)


def test_only_the_lease_holder_takes_it_and_a_release_hands_it_over_at_once(bus):
    assert bus.acquire("a", ttl=5) is not None
    assert bus.acquire("b", ttl=5) is None
    assert bus.renew("a", ttl=5) and not bus.renew("b", ttl=5)
    bus.release("b")  # not b's to release
    assert bus.acquire("b", ttl=5) is None
    bus.release("a")
    assert bus.acquire("b", ttl=5)[0] == 2


def test_a_lapsed_lease_goes_to_the_next_with_a_new_epoch(bus):
    assert bus.acquire("a", ttl=0.2)[0] == 1
    time.sleep(0.3)
    assert not bus.renew("a", ttl=5)
    assert bus.acquire("b", ttl=5)[0] == 2


def test_a_stale_leader_publishes_nothing(bus):
    old, _ = bus.acquire("a", ttl=0.2)
    time.sleep(0.3)
    new, _ = bus.acquire("b", ttl=5)
    with bus.listen() as listener:
        assert not bus.publish(old, [(1, "stale")])
        assert not bus.heartbeat(old, 1)
        assert not bus.checkpoint(old, 1, "stale board")
        assert bus.publish(new, [(1, "fresh")])
        assert [e.text for e in drain(listener, 0.5)] == ["fresh"]
    assert bus.snapshot().messages[-1].text == "fresh"


def test_epochs_never_go_below_what_a_live_process_has_seen(bus):
    # A Redis that lost its data would start counting again from 1.
    assert bus.acquire("a", ttl=5, floor=8) == (8, 0)
    bus.release("a")
    assert bus.acquire("b", ttl=5)[0] == 9


def test_the_next_leader_goes_on_from_the_last_seq_and_its_board_is_told_apart(bus):
    epoch, _ = bus.acquire("a", ttl=5)
    bus.checkpoint(epoch, 40, "a's board")
    bus.publish(epoch, [(41, "x"), (42, "y")])
    bus.release("a")
    assert bus.acquire("b", ttl=5) == (epoch + 1, 42)
    snapshot = bus.snapshot()  # before b's own checkpoint: the board is still a's
    assert (snapshot.epoch, snapshot.board_epoch, snapshot.text) == (epoch + 1, epoch, "a's board")


def test_an_unreadable_envelope_is_a_bus_error():
    with pytest.raises(BusError):
        Envelope.decode(b"m not-a-number 1 2 text")
    raw = Envelope(MESSAGE, 3, 7, 1000, "a b c").encode()
    assert Envelope.decode(raw) == Envelope(MESSAGE, 3, 7, 1000, "a b c")


def test_an_unreachable_redis_is_a_bus_error_not_a_hang():
    bus = RedisBus(redis_client("redis://127.0.0.1:9/0", timeout=1), "nowhere")
    started = time.monotonic()
    for call in (lambda: bus.acquire("a", 5), bus.snapshot, lambda: bus.publish(1, [(1, "x")])):
        with pytest.raises(BusError):
            call()
    with pytest.raises(BusError), bus.listen():
        pass
    assert time.monotonic() - started < 10


@pytest.fixture
def self_signed(tmp_path):
    """A self-signed certificate for 127.0.0.1, as the platform's Redis presents."""
    certificate, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(certificate), "-subj", "/CN=redis.internal"),
        ],
        check=True,
        capture_output=True,
    )
    return certificate, key


def test_rediss_with_a_self_signed_certificate_needs_the_setting(tmp_path, self_signed):
    with own_redis(tmp_path, tls=self_signed) as server:
        with pytest.raises((redis.ConnectionError, ssl.SSLError)):
            redis_client(server.url).ping()  # verified by default: refused
        assert redis_client(server.url, verify=False).ping()  # REDIS_TLS_VERIFY=off
        bus = RedisBus(redis_client(server.url, verify=False), "tls")
        epoch, _ = bus.acquire("a", ttl=5)
        with bus.listen() as listener:
            bus.publish(epoch, [(1, "over TLS")])
            assert listener.next(timeout=5).text == "over TLS"
