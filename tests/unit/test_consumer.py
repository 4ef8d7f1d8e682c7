"""The consumer's publisher to the bus, and what a new leader does to the lines it restores."""

import threading
import time

import pytest

import feed.bus.outlet
from feed.bus.outlet import BusOutlet
from feed.bus.transport import CHECKPOINT, MESSAGE, MemoryBus
from feed.market.descriptions import MarketDescriptions
from feed.market.model import FEED_GAP
from feed.market.rules import MarketState
from feed.upstream import frames
from tests import feed_messages as messages
from tests.feed_messages import EVENT, line, market
from tests.upstream import wait_until


class Relay:
    """What the outlet asks of the relay: a snapshot as of its seq."""

    def __init__(self):
        self.seq = 0

    def snapshot(self):
        return self.seq, f"board@{self.seq}"


@pytest.fixture
def leading():
    bus = MemoryBus()
    epoch, _ = bus.acquire("me", ttl=30)
    relay, fenced = Relay(), threading.Event()
    outlet = BusOutlet(bus, epoch, fenced)
    outlet.attach(relay)
    with bus.listen() as listener:
        outlet.start()
        yield bus, relay, outlet, listener, fenced
        outlet.stop()


def emit(relay, outlet, *seqs):
    for seq in seqs:
        relay.seq = max(relay.seq, seq)
        outlet.publish(seq, f"m{seq}")


def heard(listener, count):
    got = []
    wait_until(
        lambda: got.extend(iter(lambda: listener.next(timeout=0), None)) or len(got) >= count,
        what=f"{count} envelopes",
    )
    return [(e.kind, e.seq) for e in got if e.kind in (MESSAGE, CHECKPOINT)]


def test_a_new_leader_checkpoints_before_its_first_message(leading):
    bus, relay, outlet, listener, _ = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    emit(relay, outlet, 1, 2, 3)
    assert heard(listener, 4)[:4] == [(CHECKPOINT, 0), (MESSAGE, 1), (MESSAGE, 2), (MESSAGE, 3)]
    assert [m.seq for m in bus.snapshot().messages] == [1, 2, 3]


def test_a_checkpoint_goes_on_the_bus_right_after_the_message_it_was_taken_at(leading, monkeypatch):
    monkeypatch.setattr(feed.bus.outlet, "CHECKPOINT_EVERY", 3)
    bus, relay, outlet, listener, _ = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    for seq in range(1, 8):
        emit(relay, outlet, seq)
        if seq == 4:
            wait_until(lambda: bus.snapshot().seq > 0, what="a checkpoint after three messages")
    kinds = heard(listener, 9)
    later = [i for i, (kind, seq) in enumerate(kinds) if kind == CHECKPOINT and seq > 0]
    assert later and all(kinds[i - 1] == (MESSAGE, kinds[i][1]) for i in later)
    snapshot = bus.snapshot()
    assert [m.seq for m in snapshot.messages] == list(range(snapshot.seq + 1, 8))


def test_a_number_the_relay_skipped_is_followed_by_a_fresh_checkpoint(leading):
    bus, relay, outlet, _, _ = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    emit(relay, outlet, 1, 2)
    relay.seq = 3  # a change the relay could not tell: 3 never comes
    emit(relay, outlet, 4)
    wait_until(lambda: bus.snapshot().seq >= 3, what="a checkpoint past the gap")
    snapshot = bus.snapshot()
    expected = list(range(snapshot.seq + 1, snapshot.seq + 1 + len(snapshot.messages)))
    assert [m.seq for m in snapshot.messages] == expected  # a reader can start from it


def test_a_burst_goes_on_the_bus_in_pieces_each_heard_at_once(leading, monkeypatch):
    # One call for thousands of messages is heard only once it has all gone: a web worker
    # waiting for it reads the link down. Each piece is delivered as soon as it is published.
    bus, relay, outlet, listener, _ = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    sizes = []
    publish = bus.publish

    def counted(epoch, messages):
        sizes.append(len(messages))
        return publish(epoch, messages)

    monkeypatch.setattr(bus, "publish", counted)
    with outlet.ready:  # the whole burst is queued before the outlet looks
        for seq in range(1, 3001):
            relay.seq = seq
            outlet.queue.append((seq, f"m{seq}", 0.0))
        outlet.ready.notify()
    kinds = heard(listener, 3000)
    assert [seq for kind, seq in kinds if kind == MESSAGE] == list(range(1, 3001))
    assert sizes and max(sizes) <= feed.bus.outlet.PUBLISH_PIECE < 3000


def test_the_relay_can_wait_for_a_message_to_be_on_the_bus_but_never_for_long(leading):
    bus, relay, outlet, listener, _ = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    emit(relay, outlet, 1)
    assert outlet.wait_sent(1, timeout=5)
    assert heard(listener, 2)[-1] == (MESSAGE, 1)
    away = BusOutlet(MemoryBus(), 1, threading.Event())  # never started: nothing leaves
    away.publish(1, "m1")
    assert not away.wait_sent(1, timeout=0.05)
    away.broken = False  # as if it had checkpointed; then it stops while the relay waits
    stopping = threading.Timer(0.05, away.stop)
    stopping.start()
    started = time.monotonic()
    assert not away.wait_sent(1, timeout=30)
    assert time.monotonic() - started < 10  # woken by the stop, not by the timeout
    stopping.join()


def test_a_refused_epoch_stops_the_outlet_and_wakes_the_lease(leading):
    bus, relay, outlet, listener, fenced = leading
    wait_until(lambda: bus.snapshot().text == "board@0", what="the first checkpoint")
    bus.release("me")
    bus.acquire("successor", ttl=30)
    emit(relay, outlet, 1)
    assert fenced.wait(5) and outlet.fenced
    emit(relay, outlet, 2)
    assert not any(m.kind == MESSAGE for m in iter(lambda: listener.next(timeout=0.2), None))


def test_the_outlet_never_makes_the_relay_wait(monkeypatch):
    # The bus is away: publish() only queues, however many messages come.
    monkeypatch.setattr(feed.bus.outlet, "QUEUE_LIMIT", 100)
    outlet = BusOutlet(MemoryBus(), 1, threading.Event())
    for seq in range(1, 1000):
        outlet.publish(seq, "m")
    assert len(outlet.queue) <= 100 and outlet.broken  # dropped: a checkpoint comes first


def line_statuses(state):
    return {line.market_id: (line.status, line.reason) for line in state.lines.values()}


def odds(timestamp, **statuses):
    """EVENT's odds: m1=1 lists market 1's line at status 1, and so on."""
    markets = [market(int(m[1:]), line("", s)) for m, s in statuses.items()]
    return messages.odds(markets, EVENT, stamp=timestamp)


def test_a_gap_reads_every_active_line_suspended_until_reopened():
    state = MarketState(MarketDescriptions.load(None))
    state.apply(frames.Frame(frames.ODDS_CHANGE, 1000, odds(1000, m1=1, m2=-1, m3=-3)))
    hit = state.suspend(reason=FEED_GAP)
    assert [line.market_id for line in hit] == [1]
    assert line_statuses(state) == {
        1: ("suspended", FEED_GAP),
        2: ("suspended", ""),
        3: ("settled", ""),
    }
    state.apply(frames.Frame(frames.ODDS_CHANGE, 2000, odds(2000, m1=1)))
    assert line_statuses(state)[1] == ("active", "")
