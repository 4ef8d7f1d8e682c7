"""A web worker's mirror of the relay: in order, gaps filled or resynced, stale leaders ignored."""

import contextlib
import json
import time

import pytest

from feed.board.hub import LocalHub
from feed.bus.mirror import LINK_DOWN, Mirror
from feed.bus.transport import MESSAGE, Envelope, MemoryBus
from tests.upstream import wait_until


def board(name, seq):
    return json.dumps({"type": "snapshot", "seq": seq, "name": name})


def message(seq):
    return json.dumps({"type": "odds_change", "seq": seq})


class Boards:
    """What a board socket of the worker would get: every hub entry, in order."""

    def __init__(self, hub):
        self.hub, self.got, self.stack = hub, [], contextlib.ExitStack()
        self.subscription = self.stack.enter_context(hub.subscribe(after=0))

    def texts(self):
        self.got += [json.loads(text) for _, text in self.subscription.take(timeout=0)]
        return self.got

    def wait_for(self, predicate, what):
        try:
            wait_until(lambda: predicate(self.texts()), timeout=10, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the boards got {self.got}") from None


class LossyBus(MemoryBus):
    """Loses the messages it is told to on their way to listeners, as pub/sub does."""

    def __init__(self):
        super().__init__()
        self.lose = set()

    def _deliver(self, envelope):
        if envelope.kind == MESSAGE and envelope.seq in self.lose:
            return
        super()._deliver(envelope)


@pytest.fixture
def bus():
    return LossyBus()


@pytest.fixture
def running(bus):
    hub = LocalHub()
    mirror = Mirror(bus, hub, silence=1.0)
    boards = Boards(hub)
    mirror.start()
    wait_until(lambda: bus.listeners, what="the mirror listening")
    yield mirror, boards
    mirror.stop()
    hub.close()


def lead(bus, name, token="a", seq=None):
    epoch, last = bus.acquire(token, ttl=30)
    bus.checkpoint(epoch, last if seq is None else seq, board(name, last))
    bus.heartbeat(epoch, last)
    return epoch, last


def types(got):
    return [(m["type"], m.get("name"), m["seq"]) for m in got]


def test_the_leaders_board_then_its_messages_in_order(bus, running):
    mirror, boards = running
    epoch, _ = lead(bus, "a")
    for seq in (1, 2, 3):
        bus.publish(epoch, [(seq, message(seq))])
    boards.wait_for(lambda got: len(got) >= 4, "the board and three messages")
    assert types(boards.texts())[:4] == [
        ("snapshot", "a", 0),
        ("odds_change", None, 1),
        ("odds_change", None, 2),
        ("odds_change", None, 3),
    ]
    position, text = mirror.snapshot()  # a new board: the checkpoint, then the hub after it
    assert json.loads(text)["name"] == "a" and position == 1
    assert mirror.status()["link"] == "up"


def test_a_board_behind_the_backlog_catches_up_on_a_checkpoint_the_backlog_still_follows(bus):
    hub = LocalHub(backlog=4)
    mirror = Mirror(bus, hub, silence=1.0)
    mirror.start()
    try:
        wait_until(lambda: bus.listeners, what="the mirror listening")
        epoch, _ = lead(bus, "a")
        with hub.subscribe(after=0) as behind:
            for seq in range(1, 11):
                bus.publish(epoch, [(seq, message(seq))])
            wait_until(lambda: mirror.seq == 10, what="every message passed")
            assert behind.take(timeout=0) == [] and behind.behind
            # Its checkpoint is older than the backlog: no board to go on from, only one with
            # everything down, and the board behind resyncs on its own.
            position, text = mirror.snapshot()
            assert position is None and json.loads(text)["lines"] == []
            bus.checkpoint(epoch, 10, board("b", 10))
            wait_until(lambda: mirror.snapshot()[0] is not None, what="the new checkpoint taken")
            position, text = mirror.snapshot()
            assert json.loads(text)["name"] == "b" and behind.resume(position)
            bus.publish(epoch, [(11, message(11))])
            wait_until(lambda: mirror.seq == 11, what="the next message passed")
            assert [json.loads(t)["seq"] for _, t in behind.take(timeout=0)] == [11]
    finally:
        mirror.stop()
        hub.close()


@contextlib.contextmanager
def following(bus, hub=None, leader="a", **settings):
    """A mirror of `bus` into `hub` (a new LocalHub by default) following a leader whose first
    checkpoint is the board `leader`; yield (mirror, the leader's epoch). Both stop after."""
    hub = hub or LocalHub()
    mirror = Mirror(bus, hub, **settings)
    mirror.start()
    try:
        wait_until(lambda: bus.listeners, what="the mirror listening")
        epoch, _ = lead(bus, leader)
        wait_until(lambda: mirror.status()["link"] == "up", what="the leader followed")
        yield mirror, epoch
    finally:
        mirror.stop()
        hub.close()


def turning():
    """A mirror's settings for a clock a millisecond further at each look and a turn of the
    worker's loop that is counted; and the list of those turns."""
    ticks, turns = iter(range(10**6)), []
    return {"clock": lambda: next(ticks) / 1000, "turn": lambda: turns.append(1)}, turns


def test_passing_a_burst_lets_the_rest_of_the_worker_in_every_few_milliseconds(bus):
    # Under gevent the follower never waits while the bus has more for it: without a turn of
    # the worker's loop now and then, /health and the boards' handlers wait for the whole burst.
    settings, turns = turning()
    with following(bus, **settings) as (mirror, epoch):
        turns.clear()
        bus.publish(epoch, [(seq, message(seq)) for seq in range(1, 101)])
        wait_until(lambda: mirror.seq == 100, what="the burst passed")
        # A millisecond a look at the clock: a turn at least every SLICE_S (5 ms) of passing.
        assert len(turns) >= 100 // 10


class LaggingBus(MemoryBus):
    """Holds back what is published while `holding` on its way to listeners, as a subscriber
    that reads slower than its leader publishes is behind it; Redis's keys are the leader's."""

    def __init__(self):
        super().__init__()
        self.holding, self.held = False, []

    def _deliver(self, envelope):
        if self.holding:
            self.held.append(envelope)
        else:
            super()._deliver(envelope)

    def release_through(self, seq, kind=None):
        """Deliver, in order, what is held up to `seq` (of `kind` only, if given)."""
        kept = []
        for envelope in self.held:
            if envelope.seq <= seq and kind in (None, envelope.kind):
                super()._deliver(envelope)
            else:
                kept.append(envelope)
        self.held = kept


def test_a_worker_behind_its_leader_takes_the_checkpoint_it_fetched_once_it_gets_there():
    # Behind the leader by more than a checkpoint's interval, each checkpoint a worker fetches
    # when its notice comes is already a later one: kept until the worker has passed its seq,
    # not let go, or the worker's board would age out of its backlog for as long as it lags.
    bus, hub = LaggingBus(), LocalHub()
    with following(bus, hub, silence=30.0) as (mirror, epoch):
        for seq in range(1, 41):
            bus.holding = seq > 30
            bus.publish(epoch, [(seq, message(seq))])
            if seq in (20, 30, 40):
                bus.checkpoint(epoch, seq, board(f"at {seq}", seq))
        wait_until(lambda: mirror.seq == 30, what="what was heard passed")
        wait_until(lambda: not mirror.fetching, what="the fetch done")
        bus.holding = False
        bus.release_through(40, MESSAGE)  # the messages arrive; the notice of 40 is on its way
        wait_until(lambda: mirror.seq == 40, what="the rest passed")
        wait_until(
            lambda: json.loads(mirror.snapshot()[1]).get("name") == "at 40",
            what="the checkpoint at 40 taken",
        )
        position, _ = mirror.snapshot()
        with hub.subscribe(after=position) as board_after:
            assert board_after.take(timeout=0) == []  # nothing after it: it is the latest


@pytest.mark.parametrize("lag", [15, 45], ids=["one-and-a-half-intervals", "four-and-a-half"])
def test_a_worker_lagging_by_several_checkpoints_keeps_a_board_to_start_from(lag):
    # A checkpoint every 10 messages, a backlog of 60, the worker `lag` messages behind its
    # leader all along: each fetch finds a later checkpoint than the worker has reached.
    bus, hub = LaggingBus(), LocalHub(backlog=60)
    with following(bus, hub, leader="at 0", silence=30.0) as (mirror, epoch):
        bus.holding = True
        placeholders = 0
        for seq in range(1, 201):
            bus.publish(epoch, [(seq, message(seq))])
            if seq % 10 == 0:
                bus.checkpoint(epoch, seq, board(f"at {seq}", seq))
            if seq > lag:
                bus.release_through(seq - lag)
                wait_until(lambda s=seq - lag: mirror.seq == s, what="the worker caught up")
                wait_until(lambda: not mirror.fetching, what="the fetch done")
                placeholders += mirror.snapshot()[0] is None
        assert placeholders == 0  # a new board always had a checkpoint the backlog follows


def test_envelopes_skipped_after_a_resync_let_the_rest_of_the_worker_in_too():
    # A worker far behind resyncs to its leader's latest board; what was still on its way for
    # it is skipped, envelope by envelope, and that must turn the loop as passing them does.
    bus, (settings, turns) = LaggingBus(), turning()
    with following(bus, **settings) as (mirror, epoch):
        bus.holding = True  # what the leader publishes now is still on its way
        for seq in range(1, 301):
            bus.publish(epoch, [(seq, message(seq))])
        bus.checkpoint(epoch, 300, board("at 300", 300))
        bus.holding = False
        bus.heartbeat(epoch, 300)  # ahead of what the worker has: it resyncs to the board at 300
        wait_until(lambda: mirror.seq == 300, what="resynced")
        turns.clear()
        bus.release_through(300)
        wait_until(lambda: all(not listener.queue for listener in bus.listeners), what="read")
        assert len(turns) >= 300 // 10  # a turn every few envelopes skipped


def test_a_lost_message_is_filled_from_the_log_without_a_new_snapshot(bus, running):
    _, boards = running
    epoch, _ = lead(bus, "a")
    bus.lose = {2}
    for seq in (1, 2, 3):
        bus.publish(epoch, [(seq, message(seq))])
    boards.wait_for(lambda got: len(got) >= 4, "every message")
    assert [m["seq"] for m in boards.texts()][:4] == [0, 1, 2, 3]


def test_a_heartbeat_past_the_last_message_shows_a_gap_nothing_else_would(bus, running):
    _, boards = running
    epoch, _ = lead(bus, "a")
    bus.lose = {1}
    bus.publish(epoch, [(1, message(1))])
    bus.heartbeat(epoch, 1)
    boards.wait_for(lambda got: [m["seq"] for m in got][:2] == [0, 1], "the lost message")


def test_a_new_leader_resyncs_every_board_in_band(bus, running):
    mirror, boards = running
    epoch, _ = lead(bus, "a")
    bus.publish(epoch, [(1, message(1))])
    boards.wait_for(lambda got: len(got) >= 2, "a's board and message")
    bus.release("a")
    new, _ = lead(bus, "b", token="b")
    bus.publish(new, [(2, message(2))])
    boards.wait_for(lambda got: len(got) >= 4, "b's board and message")
    assert types(boards.texts())[:4] == [
        ("snapshot", "a", 0),
        ("odds_change", None, 1),
        ("snapshot", "b", 1),
        ("odds_change", None, 2),
    ]
    assert mirror.epoch == new


def test_a_stale_leaders_message_is_dropped(bus, running):
    _mirror, boards = running
    bus.acquire("old", ttl=30)
    bus.release("old")
    epoch, _ = lead(bus, "new", token="new")
    boards.wait_for(lambda got: len(got) >= 1, "the board")
    # Redis refuses a stale leader's publish; the mirror drops one all the same.
    for listener in bus.listeners:
        listener.put(Envelope(MESSAGE, epoch - 1, 1, 0, message(1)))
    bus.publish(epoch, [(1, message(1) + " ")])
    boards.wait_for(lambda got: len(got) >= 2, "the current leader's message")
    assert types(boards.texts())[:2] == [("snapshot", "new", 0), ("odds_change", None, 1)]


def test_silence_shows_every_line_down_then_a_fresh_board_when_the_leader_is_heard(bus, running):
    mirror, boards = running
    epoch, _ = lead(bus, "a")
    bus.publish(epoch, [(1, message(1))])
    boards.wait_for(lambda got: len(got) >= 2, "the message")
    # No heartbeat for longer than the silence allowed (1 s here).
    boards.wait_for(lambda got: len(got) >= 3, "the link-down notice")
    notice = boards.texts()[2]
    assert notice["type"] == "health" and notice["seq"] == 2  # in sequence for every board
    assert notice["health"]["reason"] == LINK_DOWN and notice["health"]["connected"] is False
    assert not any(p["up"] for p in notice["health"]["products"].values())
    assert mirror.status()["link"] == "down"
    bus.checkpoint(epoch, 1, board("a again", 1))
    bus.heartbeat(epoch, 1)
    boards.wait_for(lambda got: len(got) >= 4, "a fresh board")
    assert types(boards.texts())[3] == ("snapshot", "a again", 1)
    assert mirror.status()["link"] == "up"


def test_nothing_is_passed_before_the_leader_is_heard(bus):
    # A board left in Redis by a leader that has since died must not reach anyone as live.
    epoch, _ = bus.acquire("dead", ttl=30)
    bus.checkpoint(epoch, 0, board("dead", 0))
    hub = LocalHub()
    mirror = Mirror(bus, hub, silence=1.0)
    boards = Boards(hub)
    mirror.start()
    try:
        wait_until(lambda: mirror.reason.startswith("no heartbeat"), what="the silence noticed")
        assert boards.texts() == []
        _, text = mirror.snapshot()  # what a board connecting now is sent
        assert json.loads(text)["lines"] == []
        assert json.loads(text)["health"]["reason"] == LINK_DOWN
    finally:
        mirror.stop()
        hub.close()


def test_the_link_down_notice_says_since_when_so_a_reloaded_board_counts_from_then(bus, running):
    _, boards = running
    lead(bus, "a")
    boards.wait_for(lambda got: len(got) >= 1, "the board")
    heard = int(time.time() * 1000)
    boards.wait_for(lambda got: len(got) >= 2, "the link-down notice")
    noticed = int(time.time() * 1000)
    notice = boards.texts()[1]
    assert notice["type"] == "health" and notice["outages"] == []
    since = {p["down_since"] for p in notice["health"]["products"].values()}
    assert len(since) == 1 and heard <= since.pop() <= noticed
