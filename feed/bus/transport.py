"""Moves the relay's messages from the one feed process to every web worker, and holds the board.

Two backends behind one small interface, in the spirit of encode/broadcaster: `MemoryBus` (one
process; the tests) and `RedisBus` (the deployed shape). Local fan-out to the board sockets stays
in `feed/hub.py`; a bus only carries messages between processes.

The leader side:
    acquire(token, ttl, floor) -> (epoch, seq) | None   renew(token, ttl) -> bool   release(token)
    publish(epoch, [(seq, text), ...]) -> bool          heartbeat(epoch, seq) -> bool
    checkpoint(epoch, seq, text) -> bool
The web side:
    snapshot() -> Snapshot          listen() -> a context manager: next(timeout) -> Envelope | None

Each message is the relay's JSON text, serialised once by the leader, with its global sequence
number and the leadership epoch of the consumer that sent it. The board a new reader starts from is
the last checkpoint (the relay's whole snapshot as of one seq) and every message published since,
read in one atomic step; `listen()` is entered before the snapshot is read, so nothing falls
between the two. The lease and the publish fence live in the same store, checked in one atomic
step: a leader whose epoch is no longer the current one publishes nothing, whatever it believes.
"""

import collections
import contextlib
import json
import threading
import time
from typing import NamedTuple

from infra.clock import wall_ms
from infra.redis_client import redis_client

MESSAGE, CHECKPOINT, HEARTBEAT = "m", "c", "h"
LOG_LIMIT = 4000  # messages kept after a checkpoint, whatever happens to the leader's checkpoints


class BusError(Exception):
    """The bus cannot be reached, or answered nonsense: the link is down."""


class Envelope(NamedTuple):
    kind: str  # MESSAGE, CHECKPOINT (a new snapshot exists at `seq`) or HEARTBEAT
    epoch: int
    seq: int
    sent: int  # when the leader put it on the bus (ms since the epoch, its clock)
    text: str | None = None  # MESSAGE only: the relay message exactly as the browsers get it

    def encode(self):
        head = f"{self.kind} {self.epoch} {self.seq} {self.sent}"
        return (head if self.text is None else f"{head} {self.text}").encode()

    @classmethod
    def decode(cls, raw):
        try:
            parts = raw.split(b" ", 4)
            text = parts[4].decode() if len(parts) == 5 else None
            return cls(parts[0].decode(), int(parts[1]), int(parts[2]), int(parts[3]), text)
        except (ValueError, IndexError, UnicodeDecodeError) as exc:
            raise BusError(f"unreadable envelope: {raw[:40]!r}") from exc


class Snapshot(NamedTuple):
    epoch: int  # the current leadership epoch (0: never a leader)
    board_epoch: int  # the epoch of the leader that wrote the checkpoint
    seq: int  # the checkpoint's seq
    text: str | None  # the relay's snapshot as of `seq`; None when there is no checkpoint yet
    messages: list  # Envelopes published since the checkpoint, in order


# In-process ---------------------------------------------------------------------------------------


class MemoryBus:
    """The bus inside one process: what the Redis backend does, with no network."""

    def __init__(self, clock=wall_ms):
        self.clock = clock
        self.lock = threading.Lock()
        self.holder, self.expires, self.epoch, self.seq = None, 0.0, 0, 0
        self.checkpointed = (0, 0, None)  # (epoch, seq, text)
        self.log = []
        self.listeners = set()

    def acquire(self, token, ttl, floor=0):
        with self.lock:
            if self.holder not in (None, token) and time.monotonic() < self.expires:
                return None
            self.holder, self.expires = token, time.monotonic() + ttl
            self.epoch = max(self.epoch + 1, floor)
            return self.epoch, self.seq

    def renew(self, token, ttl):
        with self.lock:
            if self.holder != token or time.monotonic() >= self.expires:
                return False
            self.expires = time.monotonic() + ttl
            return True

    def release(self, token):
        with self.lock:
            if self.holder == token:
                self.holder = None

    def publish(self, epoch, messages):
        with self.lock:
            if epoch != self.epoch:
                return False
            for seq, text in messages:
                envelope = Envelope(MESSAGE, epoch, seq, self.clock(), text)
                self.log.append(envelope)
                self.seq = seq
                self._deliver(envelope)
            del self.log[:-LOG_LIMIT]
            return True

    def checkpoint(self, epoch, seq, text):
        with self.lock:
            if epoch != self.epoch:
                return False
            self.checkpointed = (epoch, seq, text)
            self.seq = max(self.seq, seq)
            self.log = []
            self._deliver(Envelope(CHECKPOINT, epoch, seq, self.clock()))
            return True

    def heartbeat(self, epoch, seq):
        with self.lock:
            if epoch != self.epoch:
                return False
            self._deliver(Envelope(HEARTBEAT, epoch, seq, self.clock()))
            return True

    def snapshot(self):
        with self.lock:
            epoch, seq, text = self.checkpointed
            return Snapshot(self.epoch, epoch, seq, text, list(self.log))

    def last(self):
        """(epoch, seq) of the last message published."""
        with self.lock:
            return self.epoch, self.seq

    def report(self, identity, status):
        pass  # one process: its status is its own

    def reports(self):
        return []

    @contextlib.contextmanager
    def listen(self):
        listener = MemoryListener()
        with self.lock:
            self.listeners.add(listener)
        try:
            yield listener
        finally:
            with self.lock:
                self.listeners.discard(listener)

    def _deliver(self, envelope):
        for listener in self.listeners:
            listener.put(envelope)


class MemoryListener:
    def __init__(self):
        self.queue = collections.deque()
        self.ready = threading.Condition()

    def put(self, envelope):
        with self.ready:
            self.queue.append(envelope)
            self.ready.notify()

    def next(self, timeout=None):
        with self.ready:
            if not self.queue:
                self.ready.wait(timeout)
            return self.queue.popleft() if self.queue else None


# Redis --------------------------------------------------------------------------------------------

# Take the lease if it is free (or ours); start a new epoch, never below `floor`: a Redis that lost
# its data must not hand out an epoch a live process has already seen.
ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('INCR', KEYS[2])
if epoch < tonumber(ARGV[3]) then
  epoch = tonumber(ARGV[3])
  redis.call('SET', KEYS[2], epoch)
end
return {epoch, tonumber(redis.call('GET', KEYS[3]) or '0')}
"""
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# KEYS: epoch, seq, log. ARGV: epoch, channel, log limit, then (seq, envelope) pairs.
PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('RPUSH', KEYS[3], ARGV[i + 1])
  redis.call('PUBLISH', ARGV[2], ARGV[i + 1])
  redis.call('SET', KEYS[2], ARGV[i])
end
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
return 1
"""
# KEYS: epoch, checkpoint, log, seq. ARGV: epoch, seq, text, channel, notice.
CHECKPOINT_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'seq', ARGV[2], 'text', ARGV[3])
if tonumber(redis.call('GET', KEYS[4]) or '0') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[4], ARGV[2])
end
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"""
# KEYS: epoch. ARGV: epoch, channel, notice.
HEARTBEAT_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""
REPORT_TTL_S = 3  # consumers report every second: one silent for 3 s is gone from /feed/status


class RedisBus:
    """The bus over one Redis: a channel for the stream, a few keys for the board and the lease."""

    def __init__(self, client, prefix="dashboard", clock=wall_ms):
        import redis

        self.client, self.clock = client, clock
        self.errors = (redis.RedisError, OSError)
        self.channel = f"{prefix}:relay"
        self.keys = {
            name: f"{prefix}:{name}"
            for name in ("lease", "epoch", "seq", "checkpoint", "log", "consumers")
        }
        self.scripts = {
            name: client.register_script(source)
            for name, source in (
                ("acquire", ACQUIRE),
                ("renew", RENEW),
                ("release", RELEASE),
                ("publish", PUBLISH),
                ("checkpoint", CHECKPOINT_SCRIPT),
                ("heartbeat", HEARTBEAT_SCRIPT),
            )
        }

    @classmethod
    def from_config(cls, config):
        client = redis_client(
            config["REDIS_URL"], config["REDIS_TLS_VERIFY"], config["REDIS_CA_CERTS"]
        )
        return cls(client, config["REDIS_PREFIX"])

    def _call(self, script, keys, args):
        try:
            return self.scripts[script](keys=[self.keys[k] for k in keys], args=args)
        except self.errors as exc:
            raise BusError(f"{script}: {exc}") from exc

    def acquire(self, token, ttl, floor=0):
        got = self._call("acquire", ("lease", "epoch", "seq"), [token, int(ttl * 1000), floor])
        return None if got is None else (int(got[0]), int(got[1]))

    def renew(self, token, ttl):
        return self._call("renew", ("lease",), [token, int(ttl * 1000)]) == 1

    def release(self, token):
        self._call("release", ("lease",), [token])

    def publish(self, epoch, messages):
        now = self.clock()
        args = [epoch, self.channel, LOG_LIMIT]
        for seq, text in messages:
            args += [seq, Envelope(MESSAGE, epoch, seq, now, text).encode()]
        return self._call("publish", ("epoch", "seq", "log"), args) == 1

    def checkpoint(self, epoch, seq, text):
        notice = Envelope(CHECKPOINT, epoch, seq, self.clock()).encode()
        keys = ("epoch", "checkpoint", "log", "seq")
        return self._call("checkpoint", keys, [epoch, seq, text, self.channel, notice]) == 1

    def heartbeat(self, epoch, seq):
        notice = Envelope(HEARTBEAT, epoch, seq, self.clock()).encode()
        return self._call("heartbeat", ("epoch",), [epoch, self.channel, notice]) == 1

    def snapshot(self):
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.get(self.keys["epoch"])
            pipe.hmget(self.keys["checkpoint"], "epoch", "seq", "text")
            pipe.lrange(self.keys["log"], 0, -1)
            epoch, (board_epoch, seq, text), log = pipe.execute()
        except self.errors as exc:
            raise BusError(f"snapshot: {exc}") from exc
        return Snapshot(
            int(epoch or 0),
            int(board_epoch or 0),
            int(seq or 0),
            text.decode() if text is not None else None,
            [Envelope.decode(raw) for raw in log],
        )

    def last(self):
        try:
            epoch, seq = self.client.mget(self.keys["epoch"], self.keys["seq"])
        except self.errors as exc:
            raise BusError(f"last: {exc}") from exc
        return int(epoch or 0), int(seq or 0)

    def report(self, identity, status):
        """Publish this consumer's status for /feed/status on every web worker."""
        try:
            self.client.hset(self.keys["consumers"], identity, json.dumps(status))
        except self.errors as exc:
            raise BusError(f"report: {exc}") from exc

    def reports(self):
        """Every consumer's last status that is still fresh; stale ones are removed."""
        try:
            raw = self.client.hgetall(self.keys["consumers"])
            now = self.clock()
            reports, stale = [], []
            for identity, text in raw.items():
                status = json.loads(text)
                if now - status.get("at", 0) > REPORT_TTL_S * 1000:
                    stale.append(identity)
                else:
                    reports.append(status)
            if stale:
                self.client.hdel(self.keys["consumers"], *stale)
        except self.errors as exc:
            raise BusError(f"reports: {exc}") from exc
        return sorted(reports, key=lambda s: s.get("id", ""))

    @contextlib.contextmanager
    def listen(self):
        """Subscribe to the stream; the subscription is in force once this is entered."""
        pubsub = self.client.pubsub()
        try:
            try:
                pubsub.subscribe(self.channel)
                deadline = time.monotonic() + 10
                while True:  # read the confirmation: only then is nothing published missed
                    reply = pubsub.get_message(timeout=1)
                    if reply and reply["type"] == "subscribe":
                        break
                    if time.monotonic() > deadline:
                        raise BusError("no confirmation of the subscription")
            except self.errors as exc:
                raise BusError(f"subscribe: {exc}") from exc
            yield RedisListener(pubsub, self.errors)
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()


class RedisListener:
    def __init__(self, pubsub, errors):
        self.pubsub, self.errors = pubsub, errors

    def next(self, timeout=None):
        """The next envelope, or None after `timeout` seconds; BusError when the link is down."""
        try:
            reply = self.pubsub.get_message(timeout=timeout)
        except self.errors as exc:
            raise BusError(f"listen: {exc}") from exc
        if reply is None or reply.get("type") != "message":
            return None
        return Envelope.decode(reply["data"])
