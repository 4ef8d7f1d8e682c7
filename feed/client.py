"""The long-lived client of the upstream odds feed.

One connection at a time to FEED_URL. After each connect it authenticates, sets the language and
subscribes to every event we know of; it pings every 30 s and declares the connection dead after
96 s without any frame. Whatever goes wrong, it reconnects, forever, after a capped exponential
backoff with full jitter.
"""

import contextlib
import json
import logging
import random
import threading
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

import websocket

from . import frames

log = logging.getLogger(__name__)

PING_EVERY_S = 30
SILENCE_LIMIT_S = 96  # 3 x 32 s with no frame at all: the connection is dead
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30


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
        connect=websocket.create_connection,
        clock=time.monotonic,
        sleep=None,
        rng=random.random,
    ):
        self.url = feed_url(url, token, lang)
        self.token, self.lang = token, lang
        self.on_frame, self.on_connection = on_frame, on_connection
        self.subscriptions = subscriptions  # callable: the event ids to subscribe to
        self.connect, self.clock, self.rng = connect, clock, rng
        self.stopped = threading.Event()
        self.sleep = sleep or self.stopped.wait
        self.ws = None
        self.connects = 0
        self.ping_every, self.silence_limit = PING_EVERY_S, SILENCE_LIMIT_S
        self.backoff_base, self.backoff_cap = BACKOFF_BASE_S, BACKOFF_CAP_S

    def run(self):
        """Stay connected until stop(); never returns early and never raises."""
        attempt = 0
        while not self.stopped.is_set():
            received_any = False
            try:
                received_any = self._session()
            except Exception as exc:  # the network, the server, or a bug: all mean reconnect
                self._log_loss(exc, attempt)
            try:
                self._close()
            except Exception:
                log.exception("closing the upstream connection failed")
            attempt = 0 if received_any else attempt + 1
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
        ws = self.connect(self.url, timeout=10, enable_multithread=True, skip_utf8_validation=True)
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
        received_any = False
        last_frame = last_ping = self.clock()
        while not self.stopped.is_set():
            try:
                opcode, payload = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                opcode, payload = None, None
            now = self.clock()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise ConnectionError(f"upstream closed the connection: {close_reason(payload)}")
            if opcode is not None:
                received_any, last_frame = True, now
                # Invalid UTF-8 becomes a frame the relay counts as bad JSON, not a reconnect.
                text = opcode == websocket.ABNF.OPCODE_TEXT
                self.on_frame(payload.decode("utf-8", "replace") if text else payload)
            if now - last_frame > self.silence_limit:
                raise TimeoutError(f"no frame for {self.silence_limit} s")
            if now - last_ping >= self.ping_every:
                self._send(frames.PING, "ping")
                last_ping = now
        return received_any

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
