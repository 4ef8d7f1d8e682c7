"""The long-lived client of the upstream odds feed.

One connection at a time to FEED_URL. After each connect it authenticates, sets the language and
subscribes to every event we know of; it pings every 30 s and declares the connection dead after
96 s without any frame. Whatever goes wrong with the connection, it reconnects, forever: at once
(within a little jitter) after a healthy session (one that carried frames for HEALTHY_SESSION_S),
else after a capped exponential backoff with full jitter. Nothing a frame holds is a reason to
reconnect: a message larger than the limit is read through and dropped, and whatever the frame
handler raises is logged and the next frame read.
"""

import contextlib
import functools
import json
import logging
import random
import select
import threading
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

import websocket

from feed.upstream import frames
from infra.gevent_waits import loop_turn

log = logging.getLogger(__name__)

PING_EVERY_S = 30
SILENCE_LIMIT_S = 96  # 3 x 32 s with no frame at all: the connection is dead
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30
HEALTHY_SESSION_S = 10  # a session that ends sooner, frames or not, counts as a failed attempt
MAX_MESSAGE_BYTES = frames.MAX_SIZE  # FEED_MAX_FRAME_BYTES's default
DROP_PIECE = 64 * 1024  # bytes read at a time from a message being dropped
READ_AHEAD = 256 * 1024  # bytes asked of the socket at a time: many frames in one read
APPLY_FOR = 0.005  # seconds of applying queued frames between two looks at the socket
READ_FOR = 0.005  # seconds of reading frames that have arrived before the rest of the worker runs
LOGGED_HEAD = 80  # bytes of a dropped message shown in its count's log line
DATA_OPCODES = (
    websocket.ABNF.OPCODE_CONT,
    websocket.ABNF.OPCODE_TEXT,
    websocket.ABNF.OPCODE_BINARY,
)


def feed_url(url, token="", lang=""):
    """The URL with the `lang` and `token` query parameters the service expects."""
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in (("lang", lang), ("token", token)) if v})
    query = "&".join(q for q in (parts.query, extra) if q)
    return urlunsplit(parts._replace(query=query))


def backoff_delay(attempt, rng=random.random, base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S):
    """Full jitter: anywhere between 0 and the capped exponential step."""
    return rng() * min(cap, base * 2**attempt)


def close_reason(payload):
    """'1011 keepalive ping timeout' from a close frame's payload."""
    payload = payload or b""
    if len(payload) < 2:
        return "no status"
    code = int.from_bytes(payload[:2], "big")
    return f"{code} {payload[2:].decode('utf-8', 'replace')}".strip()


class MessageTooLarge(Exception):
    """A message read through and dropped because it is larger than the client takes."""

    def __init__(self, size, head):
        super().__init__(f"{size} bytes or more (limit exceeded), starting {head!r}")
        self.size, self.head = size, head


class BoundedWebSocket(websocket.WebSocket):
    """websocket-client's socket, refusing a message larger than `max_message_bytes` unread.

    websocket-client reads a frame's whole payload into memory before it looks at it, and every
    fragment of a message before it returns any. Here each data frame's header comes first: when
    the frame would take its message past the limit, its payload, and the message's further
    fragments, are read a piece at a time and dropped. recv_data() then raises MessageTooLarge
    and the frame after it reads as usual: no reconnect, and no more than a piece in memory.
    A read that times out part-way resumes where it stopped, as websocket-client's own do.
    """

    def __init__(self, *args, max_message_bytes=MAX_MESSAGE_BYTES, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_message_bytes = max_message_bytes
        self.message_bytes = 0  # of the fragmented message being received, so far
        self.dropping = None  # [size so far, first bytes] of the message being dropped
        self.drop_left = None  # bytes of the dropped frame still to read
        self.drop_fin = False  # that frame ends its message
        self.taking = False  # the frame whose header was read is being let through
        self.ahead, self.ahead_at = b"", 0  # bytes read from the socket, not yet parsed

    def _recv(self, bufsize):
        # websocket-client asks the socket for 2 bytes of header, then the length, then the
        # payload: three system calls and their timeouts a frame, most of the time it took to
        # read a backlog. Here one read takes whatever has arrived, up to READ_AHEAD, and the
        # asks are served from it.
        if self.ahead_at >= len(self.ahead):
            data = super()._recv(max(bufsize, READ_AHEAD))
            if len(data) <= bufsize:
                return data
            self.ahead, self.ahead_at = data, 0
        start = self.ahead_at
        self.ahead_at = min(len(self.ahead), start + bufsize)
        return self.ahead[start : self.ahead_at]

    def arrived(self):
        """Whether a frame's bytes are here already: reading it would not wait for the network
        (but for the rest of a frame that is arriving)."""
        if self.ahead_at < len(self.ahead):
            return True
        sock = self.sock
        if sock is None:
            return False
        pending = getattr(sock, "pending", None)  # TLS: bytes decrypted already
        if pending is not None and pending():
            return True
        return bool(select.select([sock], [], [], 0)[0])

    def recv_whole(self):
        """(opcode, payload) of the next message when it is one whole data frame already read
        ahead, within the limit, as websocket-client would return it; else None, and
        recv_data() reads it."""
        buffer, at = self.ahead, self.ahead_at
        if (
            len(buffer) - at < 2
            or self.taking
            or self.drop_left is not None
            or self.dropping is not None
            or self.message_bytes
            or not self.frame_buffer.needs_header()
            or self.frame_buffer.recv_buffer
            or self.cont_frame.recving_frames
        ):
            return None
        first, second = buffer[at], buffer[at + 1]
        opcode, length, start = first & 0x0F, second & 0x7F, at + 2
        # Final, no extension bits, text or binary, unmasked (a server's): anything else is
        # websocket-client's to read.
        if first & 0xF0 != 0x80 or second & 0x80 or opcode not in DATA_OPCODES[1:]:
            return None
        if length >= 126:
            size = 2 if length == 126 else 8
            if start + size > len(buffer):
                return None
            length, start = int.from_bytes(buffer[start : start + size], "big"), start + size
        end = start + length
        if end > len(buffer) or length > self.max_message_bytes:
            return None
        self.ahead_at = end
        return opcode, buffer[start:end]

    def recv_frame(self):
        buffer = self.frame_buffer
        while True:
            if self.taking:  # a frame let through, whose read timed out part-way: finish it
                return self._take()
            if self.drop_left is not None:
                self._read_dropped()
                self.drop_left = None
                if self.drop_fin:
                    (size, head), self.dropping, self.message_bytes = self.dropping, None, 0
                    raise MessageTooLarge(size, head)
                continue
            if buffer.needs_header():
                buffer.recv_header()
            if buffer.needs_length():
                buffer.recv_length()
            fin, _, _, _, opcode, masked, _ = buffer.header
            length = buffer.length
            if opcode not in DATA_OPCODES:
                if length > 125:  # a control frame never is: do not read it to find out
                    raise websocket.WebSocketProtocolException("control frame too long")
                return self._take()
            if opcode != websocket.ABNF.OPCODE_CONT and self.dropping is not None:
                raise websocket.WebSocketProtocolException("new message inside a fragmented one")
            size = length + (self.message_bytes if opcode == websocket.ABNF.OPCODE_CONT else 0)
            if self.dropping is None and size <= self.max_message_bytes:
                self.message_bytes = 0 if fin else size
                return self._take()
            if self.dropping is None:
                self.dropping = [size, b""]
                # Fragments already taken belong to the message dropped: forget them too.
                self.cont_frame = type(self.cont_frame)(
                    self.cont_frame.fire_cont_frame, self.cont_frame.skip_utf8_validation
                )
            else:
                self.dropping[0] += length
            self.drop_left = length + (4 if masked else 0)
            self.drop_fin = bool(fin)
            buffer.clear()

    def _take(self):
        # websocket-client reads the rest (mask, payload), resuming after a timeout by itself;
        # `taking` keeps this frame from being sized a second time when it does.
        self.taking = True
        frame = super().recv_frame()
        self.taking = False
        return frame

    def _read_dropped(self):
        while self.drop_left:
            piece = self.frame_buffer.recv(min(self.drop_left, DROP_PIECE))
            self.drop_left -= len(piece)
            head = self.dropping[1]
            if len(head) < LOGGED_HEAD:
                self.dropping[1] = head + piece[: LOGGED_HEAD - len(head)]
            # Each read of a large message finds data waiting, so none of them would let the
            # rest of a gevent worker run: yield between pieces.
            time.sleep(0)


class UpstreamClient:
    """Connects, reads frames into `on_frame`, reports the socket to `on_connection`."""

    def __init__(
        self,
        url,
        on_frame,
        on_connection,
        subscriptions,
        token="",
        lang="",
        on_refused=None,
        max_message_bytes=MAX_MESSAGE_BYTES,
        connect=websocket.create_connection,
        clock=time.monotonic,
        sleep=None,
        rng=random.random,
    ):
        self.url = feed_url(url, token, lang)
        self.token, self.lang = token, lang
        self.on_frame, self.on_connection = on_frame, on_connection
        self.on_refused = on_refused or (lambda kind, detail: None)  # kind, detail: counted
        self.max_message_bytes = max_message_bytes
        self.subscriptions = subscriptions  # callable: the event ids to subscribe to
        self.connect, self.clock, self.rng = connect, clock, rng
        self.stopped = threading.Event()
        self.sleep = sleep or self.stopped.wait
        self.ws = None
        self.connects = 0
        self.received_any = False  # in the current or last session
        self.handler_errors = 0
        self.ping_every, self.silence_limit = PING_EVERY_S, SILENCE_LIMIT_S
        self.backoff_base, self.backoff_cap = BACKOFF_BASE_S, BACKOFF_CAP_S
        self.healthy_after = HEALTHY_SESSION_S
        self.turn = loop_turn()

    def run(self):
        """Stay connected until stop(); never returns early and never raises."""
        # Between two pieces of applying, one turn of gevent's loop, in which it polls every
        # socket of the worker (sleep(0) would run this greenlet again first); asked here, where
        # the worker has patched the process.
        self.turn = loop_turn()
        attempt = 0
        while not self.stopped.is_set():
            self.received_any = False
            started = self.clock()
            try:
                self._session()
            except Exception as exc:  # the network or the server: all mean reconnect
                if not self.stopped.is_set():  # stop() closing the socket under us is no loss
                    self._log_loss(exc, attempt)
            self._drain()
            try:
                self._close()
            except Exception:
                log.exception("closing the upstream connection failed")
            # A session that carried frames for a while was healthy, however it ended (every one
            # ends in an exception): the next attempt is the first, within a little jitter, not
            # the next step of a backoff that would grow with each healthy session. One that
            # ended within seconds is a failure, frames or not: an upstream that sends an error
            # and closes must not be asked again several times a second, forever.
            lasted = self.clock() - started
            healthy = self.received_any and lasted >= self.healthy_after
            attempt = 0 if healthy else attempt + 1
            if not self.stopped.is_set():
                self.sleep(backoff_delay(attempt, self.rng, self.backoff_base, self.backoff_cap))

    def _log_loss(self, exc, attempt):
        # One line when the connection is lost, then one every 16 failed attempts.
        if attempt % 16 == 0:
            log.warning("upstream feed unavailable (attempt %d): %s", attempt + 1, exc)

    def stop(self):
        self.stopped.set()
        self._close()

    def _session(self):
        # UTF-8 is checked by decoding below: a bad frame is skipped, not a reason to reconnect.
        ws = self.connect(
            self.url,
            timeout=10,
            enable_multithread=True,
            skip_utf8_validation=True,
            class_=functools.partial(BoundedWebSocket, max_message_bytes=self.max_message_bytes),
        )
        self.ws = ws
        self.connects += 1
        log.info("upstream feed connected (%s)", self.connects)
        self.on_connection(True)
        if self.token:
            self._send(frames.AUTH, self.token)
        if self.lang:
            self._send(frames.LANG, self.lang)
        events = list(self.subscriptions())
        if events:
            self._send(frames.SUBSCRIBE, events)
        ws.settimeout(min(1, self.silence_limit / 4))
        self.last_frame = last_ping = self.clock()
        intake = self._intake()
        while not self.stopped.is_set():
            if intake is not None and len(intake):
                # Frames wait to be applied. Every frame that has arrived is read first, so that
                # a BetStop among them goes ahead of the rest; then a few milliseconds of
                # applying; then the rest of the worker.
                self._read_arrived(ws)
                self._apply(intake)
                self.turn()
            else:
                self._read(ws)  # waits for the next frame, up to the socket's timeout
            now = self.clock()
            if now - self.last_frame > self.silence_limit:
                raise TimeoutError(f"no frame for {self.silence_limit} s")
            if now - last_ping >= self.ping_every:
                self._send(frames.PING, "ping")
                last_ping = now

    def _intake(self):
        # A handler that queues (feed/intake.py) is given every frame that has arrived before it
        # applies any; a plain one each frame as it is read.
        return self.on_frame if hasattr(self.on_frame, "advance") else None

    def _read(self, ws):
        """Read one frame and pass it on; the socket's timeout passing is no frame."""
        refused = None
        try:
            # A socket read ahead (BoundedWebSocket) may hold the frame whole already.
            whole = ws.recv_whole() if hasattr(ws, "recv_whole") else None
            opcode, payload = ws.recv_data() if whole is None else whole
        except websocket.WebSocketTimeoutException:
            opcode, payload = None, None
        except MessageTooLarge as exc:
            opcode, payload, refused = None, None, exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise ConnectionError(f"upstream closed the connection: {close_reason(payload)}")
        if opcode is not None or refused is not None:
            self.received_any, self.last_frame = True, self.clock()
        if refused is not None:
            self.on_refused("frame_too_large", refused)
        elif opcode is not None:
            # Invalid UTF-8 becomes a frame the relay counts as bad JSON, not a reconnect.
            text = opcode == websocket.ABNF.OPCODE_TEXT
            self._deliver(payload.decode("utf-8", "replace") if text else payload)

    def _read_arrived(self, ws):
        """Read every frame that has arrived, letting the rest of the worker in now and then."""
        started = time.monotonic()
        intake = self._intake()
        while not self.stopped.is_set() and not intake.full and ws.arrived():
            self._read(ws)
            if time.monotonic() - started >= READ_FOR:
                self.turn()  # each read finds data waiting, so none of them would yield
                started = time.monotonic()

    def _apply(self, intake):
        try:
            intake.advance(APPLY_FOR)
        except Exception:  # it promises not to raise; if it does, the frames behind go on
            self.handler_errors += 1
            if self.handler_errors == 1:
                log.exception("the frame handler failed; frames go on being read")

    def _drain(self):
        """Apply the frames read before the connection ended: they came before the gap."""
        intake = self._intake()
        while intake is not None and len(intake) and not self.stopped.is_set():
            self._apply(intake)
            self.turn()

    def _deliver(self, raw):
        # The handler promises not to raise; if it breaks that promise, the frame is lost, not
        # the connection and the frames behind it.
        try:
            intake = self._intake()
            if intake is not None:
                intake.add(raw)
            else:
                self.on_frame(raw)
        except Exception:
            self.handler_errors += 1
            if self.handler_errors == 1:
                log.exception("the frame handler failed; frames go on being read")

    def _send(self, cmd, data):
        self.ws.send(json.dumps({"cmd": cmd, "data": data}))

    def _close(self):
        ws, self.ws = self.ws, None
        if ws is None:
            return
        try:
            self.on_connection(False)
            with contextlib.suppress(websocket.WebSocketException, OSError):  # already gone
                ws.close(timeout=1)
        finally:
            # close() does nothing once the server's close frame has arrived: the socket itself
            # must still be shut, or every reconnect leaks one.
            ws.shutdown()
