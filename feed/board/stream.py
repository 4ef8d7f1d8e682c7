"""One board's websocket after the upgrade: one writer at a time; a reader keeping nothing.

simple-websocket's `send` frames each message anew for every socket and makes one `send` call,
which under gevent may write only part of a large snapshot. Here a relay message becomes a frame
once for every board, writes are whole, and a board woken once writes all it has in one go.
While the handler waits for messages, the hub writes them for it (write_now), never waiting:
what the socket does not take at once goes out ahead of the handler's next write.

simple-websocket's reading thread answers pings and close frames itself, a second writer that can
land a pong inside a snapshot being written; and it reads and keeps whatever a board sends, as
fast as it comes, never yielding while data is waiting: one board sending small frames in a loop
froze the whole worker. So it gets no thread (BOARD_SOCKET_OPTIONS), and BoardSocket reads
instead: it parses what a board sends, keeps none of it, yields after every read, and leaves
every write to the handler: pongs (for the latest ping), close replies, and its own closes. A
board has nothing to say but pongs, its own pings and a close; one that sends more than its
allowance is closed with 1008. Under gevent no greenlet waits to read each board: gevent's hub
calls the reader when a board has sent something, one read each time.

A board that neither takes a write nor says anything (a pong) for two ping periods, plus however
late a ping may go out, is cut off: otherwise a client that stops reading would hold its handler
in a write for as long as its kernel keeps the connection open, which, for a peer that still
acknowledges, is for ever.

What a board may be written is its guard's to say (the login puts one on a /ws request, under
infra.board_guard.GUARD), asked before every write, the hub's included; a frame already begun is
always finished.
"""

import _thread
import collections
import contextlib
import os
import socket
import ssl
import threading
import time

from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from infra.gevent_waits import watch_readable
from ops import metrics

SERVER = FrameProtocol(client=False, extensions=[])  # control frames hold no state: one for all
PING = bytes(SERVER.ping(b"board"))
RECEIVE_BYTES = 4096  # read at a time from a board
# What a board may send: bytes, each frame counting FRAME_COST more (many tiny frames are work
# too). It may send INPUT_ALLOWANCE at once and earns INPUT_REFILL back a second. A board sends a
# pong every ping period, perhaps a ping of its own and a close: tens of bytes a minute.
INPUT_ALLOWANCE = 16 * 1024
INPUT_REFILL = 256
FRAME_COST = 64


class Unguarded:
    """The guard of a board that nothing limits: it may always be written.

    A guard answers `may_write(wait)` before every write to its board: True lets a new frame go.
    The hub asks with wait False and needs the answer at once, without I/O; False is "not now"
    (refused, or not known without reading), and the board's handler, woken, asks again with
    wait True, when the guard may read what it needs. False is then final: the board is written
    nothing more, not even a close frame, as the guard's owner closes it once the handler is done.
    """

    def may_write(self, wait):
        return True


UNGUARDED = Unguarded()


class BoardRefused(ConnectionAbortedError):
    """The board's guard refused it a write: its handler ends, and the guard's owner closes it."""


class NoThread:
    """simple-websocket's thread_class for the board: no reading thread; BoardSocket reads."""

    name = "board-socket"

    def __init__(self, target=None, **kwargs):
        pass

    def start(self):
        pass


BOARD_SOCKET_OPTIONS = {"thread_class": NoThread}  # flask-sock's SOCK_SERVER_OPTIONS


def text_frame(text):
    """`text` as one websocket text frame, as a server sends it (unmasked)."""
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text, fin=True))


class SharedFrame:
    """The frame of the latest text asked for, made once and shared.

    Every board that connects before the snapshot changes is sent the same bytes: a reconnect
    storm on a 10 MB snapshot holds one 10 MB frame, not one per board until its write ends.
    The text is told apart by identity, as the relay and the mirror hand out one object per
    snapshot; a board still writing an older one keeps that frame alive, and no other.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.text, self.frame = None, None

    def of(self, text):
        with self.lock:
            if text is not self.text:
                self.text, self.frame = text, text_frame(text)
            return self.frame


def frame_end(frames, at):
    """Where the server frame holding byte `at` of `frames` (whole frames) ends; `at` itself
    when a frame starts there."""
    end = 0
    while end < at:
        length, head = frames[end + 1] & 0x7F, 2  # a server's frames are not masked
        if length == 126:
            length, head = int.from_bytes(frames[end + 2 : end + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(frames[end + 2 : end + 10], "big"), 10
        end += head + length
    return end


class FrameCache:
    """The frames of the latest relay messages, by seq, bounded in number and in bytes."""

    def __init__(self, max_frames=4096, max_bytes=16 * 1024 * 1024):
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames = collections.OrderedDict()  # seq -> (text, frame)
        self.bytes = 0
        self.lock = threading.Lock()
        self.last = None  # (first message, last message, their frames joined): a fan-out's write

    def frame(self, seq, text):
        """The frame of relay message `seq`: built by the first board to send it, reused by all."""
        # Every board asks, once per message: no lock to find a frame (one dict lookup is atomic);
        # the lock only keeps two insertions from evicting past each other. The text is compared
        # too (at once: it is the same object for every board) so that hubs sharing a process
        # cannot get each other's frames.
        entry = self.frames.get(seq)
        if entry is not None and entry[0] == text:
            return entry[1]
        frame = text_frame(text)  # outside the lock: a large one takes a while
        with self.lock:
            old = self.frames.pop(seq, None)
            if old is not None:
                self.bytes -= len(old[1])
            self.frames[seq] = (text, frame)
            self.bytes += len(frame)
            while len(self.frames) > 1 and (
                len(self.frames) > self.max_frames or self.bytes > self.max_bytes
            ):
                _, (_, old) = self.frames.popitem(last=False)  # the oldest published
                self.bytes -= len(old)
        return frame

    def joined(self, messages):
        """The frames of `messages`, (seq, text) in order, as one write: built once per fan-out."""
        last = self.last  # one read and one assignment: threads cannot mix two entries
        # A fan-out's lists are runs of one backlog: the first and the last message say which.
        if last is not None and last[0] == messages[0] and last[1] == messages[-1]:
            return last[2]
        joined = b"".join(self.frame(seq, text) for seq, text in messages)
        self.last = (messages[0], messages[-1], joined)
        return joined


FRAMES = FrameCache()
message_frame = FRAMES.frame


class BoardSocket:
    """One board's simple-websocket connection: written by its handler (or by the hub for it, while
    it waits), read by our reader, each write let through by its guard.

    `wake` is called (from the reader) when the handler has something to write: a pong, a close.
    The hub may write for the handler while the handler is idle (write_now).
    """

    def __init__(
        self, ws, ping_every, late_by=0, wake=lambda: None, clock=time.monotonic, guard=UNGUARDED
    ):
        self.ws, self.sock = ws, ws.sock
        # simple-websocket's protocol object (wsproto's, with h11's handshake state) served the
        # upgrade; every frame after it is ours, both ways. Let it go: ~3 KB an idle board.
        ws.ws = None
        self.guard = guard
        # What write_now() left for the handler's next write to send first: (frames, bytes of
        # them written already), the frames shared with every board (no copy per board), and
        # when the oldest of it reached the hub.
        self.unsent, self.unsent_published = [], None
        self.ping_every = ping_every
        self.wake, self.clock = wake, clock
        self.next_ping = clock() + ping_every
        self.pong_received = True  # for our last ping
        self.owed_pong = None  # payload of the latest ping of the board's not answered yet
        self.closing = None  # (code, reason) the handler is to close the socket with
        self.gone = False  # the reader found the connection closed, reset or silent
        self.cut_off = None  # why we end the connection when the board did not: "silent", ...
        self.stopped = False  # the handler is done: reading stopped
        self.protocol = FrameProtocol(client=False, extensions=[])  # what the board sends
        self.allowance, self.refilled = INPUT_ALLOWANCE, clock()
        self.reading = False  # the reader runs
        self.unwatch = None  # stops the watcher reading for us under gevent
        # The socket's timeout bounds our writes and a reading thread's reads alike (under
        # gevent a board silent that long misses a ping's answer first: keep_alive). A live board
        # answers every ping, and a ping goes out at most `late_by` seconds after it is due
        # (when the handler is next woken), so a live board's side is never silent longer.
        self.sock.settimeout(2 * ping_every + late_by)

    @property
    def connected(self):
        return self.ws.connected and not self.gone

    @property
    def plain(self):
        """Whether the socket carries the frames as they are (not TLS): the hub may write them
        to it, and gevent's hub may read it, by its file descriptor."""
        return not (isinstance(self.sock, ssl.SSLSocket) or hasattr(self.sock, "_sslobj"))

    def start_reading(self):
        self.reading = True
        # Under gevent, the hub calls the reader whenever the board has sent something: no
        # greenlet waits in recv() for each board (its stack and itself were ~11 KB of every
        # idle board's 38). Elsewhere, and over TLS, a bare thread (a bare greenlet): a Thread
        # object and its Event and locks would cost every idle board over 2 KB more.
        if self.plain:
            self.unwatch = watch_readable(self.sock.fileno(), self._readable)
        if self.unwatch is None:
            _thread.start_new_thread(self._read, ())

    def stop_reading(self):
        """Let the reader go (it may be waiting for the board): the handler is done."""
        if not self.stopped:
            self.stopped = True
            self._unwatched()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RD)

    def send(self, data):
        """Write what write_now() left, then `data` (whole frames), if the guard lets them; raise
        OSError if the board is gone, took nothing for too long, or was refused (BoardRefused).
        The guard is asked even when there is nothing to write."""
        left, self.unsent = self.unsent, []
        try:
            for frames, written in (*left, (data, 0)):
                self._write(memoryview(frames), written)
        except OSError as exc:
            # Not connected any more: the close frame is not sent, so closing does not wait on
            # this socket a second time (and a refused board's close is its guard owner's).
            self.ws.connected = False
            if isinstance(exc, TimeoutError):  # it took nothing for the socket's timeout
                self.cut_off = "silent"
            raise
        if left:
            metrics.sent_to_board(self.unsent_published)

    def _write(self, frames, written):
        # One send() is all a message needs unless the socket's buffer is full. Not sendall():
        # its timeout bounds the whole write, and a large snapshot to a slow but live board
        # may take longer; each send() waits at most the timeout for the board to take more.
        # The guard is asked before each: a session may end during a long write.
        while True:
            if not self.guard.may_write(True):
                # The frame begun is finished, so that what follows it (the guard owner's
                # close) starts a frame of its own; none after it.
                begun = frames[written : frame_end(frames, written)]
                while begun:
                    begun = begun[self.sock.send(begun) :]
                raise BoardRefused("the board's guard refused it a write")
            if written == len(frames):
                return
            written += self.sock.send(frames[written:])
            if written == len(frames):
                return

    def write_now(self, messages, published):
        """Write relay `messages`, (seq, text) in order, the oldest of which reached the hub at
        `published`, without waiting; for the hub, while the handler is idle. True when all of it
        went. Otherwise the handler is to finish: what the socket did not take, or the guard did
        not let go at once, goes out ahead of its next write if the guard then lets it; a board
        gone or closing takes nothing.
        """
        if not self.connected or self.closing is not None:
            return False
        data = FRAMES.joined(messages)
        if self.unsent or not self.guard.may_write(False):
            if not self.unsent:
                self.unsent_published = published
            self.unsent.append((data, 0))  # behind the rest of the last one
            return False
        try:
            # The socket is non-blocking (gevent's, or one with a timeout): the kernel takes
            # what fits and says so. The socket object's own send() would wait for the rest.
            sent = os.write(self.sock.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.ws.connected = False  # as send() does: no close frame to wait on
            return False
        if sent < len(data):
            self.unsent, self.unsent_published = [(data, sent)], published
            return False
        metrics.sent_to_board(published)
        return True

    def close(self, code, reason=None):
        """Send a close frame (the handler's last write) and stop reading."""
        if self.connected:
            self.send(bytes(SERVER.close(code, reason)))
        self.ws.connected = False  # flask-sock's own close() after the handler writes nothing
        self.stop_reading()

    def keep_alive(self):
        """Ping when due; False when the board never answered the last ping: it is gone."""
        now = self.clock()
        if now < self.next_ping:
            return True
        if not self.pong_received:
            self.cut_off = "silent"
            # Nothing more for it, not even the close frame flask-sock would write after the
            # handler (it could wait a whole timeout on a board taking nothing).
            self.ws.connected = False
            return False
        self.pong_received = False
        self.send(PING)
        self.next_ping = now + self.ping_every
        return True

    def answer(self):
        """Write what the reader and the hub left to write: the rest of the hub's last write,
        the pong owed, or the close; False once closed. The guard is asked whatever there is."""
        if not self.connected:
            return False
        # First: the reader may find a close meanwhile. On every wake, with nothing to write
        # too: the hub's nudge is how a board with nothing to send hears that it is refused.
        self.send(b"")
        if self.closing is not None:
            self.close(*self.closing)
            return False
        while self.owed_pong is not None:  # a ping read during the write is answered next
            payload, self.owed_pong = self.owed_pong, None
            self.send(bytes(SERVER.pong(payload)))
        return True

    def _read(self):
        try:
            self._read_until_done()
        finally:
            self.reading = False

    def _read_until_done(self):
        try:
            while self._received(self.sock.recv(RECEIVE_BYTES)):
                # While a board keeps sending, recv() never waits, so never lets the rest of a
                # gevent worker run: yield after each read.
                time.sleep(0)
        except TimeoutError:  # silent for longer than the socket's timeout
            self.cut_off = "silent"
            self._gone()
        except OSError:  # reset
            self._gone()

    def _readable(self):
        # Called by gevent's hub, once per turn of its loop at most: one read, never a wait.
        # A board that stays silent is found by its unanswered ping (keep_alive) instead.
        try:
            data = os.read(self.sock.fileno(), RECEIVE_BYTES)
        except BlockingIOError:
            return
        except OSError:  # reset, or closed under us
            data = b""
        if self.stopped:
            return
        try:
            reading = self._received(data)
        except Exception:  # on the hub, an error would come back at every read: end the board
            self._gone()
            reading = False
        if not reading:
            self._unwatched()

    def _unwatched(self):
        if self.unwatch is not None:
            self.unwatch, unwatch = None, self.unwatch
            unwatch()
            self.reading = False

    def _received(self, data):
        """Take what the board sent; False once there is nothing more to read from it."""
        if not data:
            self._gone()
            return False
        if not self._spend(len(data)):
            return False
        try:
            self.protocol.receive_bytes(data)
            for frame in self.protocol.received_frames():
                if not self._spend(FRAME_COST):
                    return False
                if frame.opcode is Opcode.PING:
                    self.owed_pong = frame.payload  # only the latest is answered (RFC 6455)
                    self.wake()
                elif frame.opcode is Opcode.PONG:
                    self.pong_received = True
                elif frame.opcode is Opcode.CLOSE:
                    self._close_with(frame.payload[0])  # the board's code, echoed
                    return False
                # Text and binary: a board has nothing to tell us; nothing is kept.
        except ParseFailed as exc:
            self.cut_off = "malformed"
            self._close_with(exc.code, "malformed frame")
            return False
        return True

    def _gone(self):
        self.gone = True
        self.wake()

    def _spend(self, cost):
        now = self.clock()
        self.allowance = min(INPUT_ALLOWANCE, self.allowance + (now - self.refilled) * INPUT_REFILL)
        self.refilled = now
        self.allowance -= cost
        if self.allowance >= 0:
            return True
        self.cut_off = "flooded"
        self._close_with(CloseReason.POLICY_VIOLATION, "a board sends nothing but pongs")
        return False

    def _close_with(self, code, reason=None):
        self.closing = (code, reason)
        self.wake()
