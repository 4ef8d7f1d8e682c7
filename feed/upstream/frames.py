"""The upstream's wire format: text JSON frames and binary frames, in and out.

Text:   {"cmd": 10030, "time": 1764843686186, "data": {...}}
Binary: 4-byte little-endian cmd, 8-byte little-endian time (ms), then the UTF-8 JSON of `data`.

Decoding never raises anything but FrameError, whatever arrives: a frame's size is bounded before
it is parsed and its nesting while it is, and what JSON cannot carry to a browser is refused here.
NaN, Infinity, -Infinity, numbers that overflow (1e999) and integers outside the signed 64-bit range
are kept as their own text: the rest of the frame still applies, and the field reads as unreadable.

orjson parses a frame first (a 2.5 MB odds change in about half the standard library's time);
the standard library's parser, with hooks that keep what JSON cannot carry as text, reads whatever
orjson refuses or parses otherwise: the result is the same for every text.
"""

import json
import math
import struct
from typing import Any, NamedTuple

import orjson

from feed.upstream import fields

HEADER = struct.Struct("<IQ")
# Characters of a text frame, bytes of a binary one: FEED_MAX_FRAME_BYTES's default.
MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 32  # nesting of arrays and objects; an odds change needs 7
MAX_CMD = 2**32 - 1  # what the binary header can carry
# Values a step of a walk over a parsed frame looks at (_walk): a few milliseconds.
WALK_STEP = 40_000

# Client commands
PING, AUTH, LANG, SUBSCRIBE, UNSUBSCRIBE = 100, 110, 120, 10080, 10090
# Server messages
ALIVE, FIXTURE_CHANGE, ODDS_CHANGE, BET_STOP = 10000, 10010, 10020, 10030
BET_SETTLEMENT, BET_CANCEL, MATCH_STATUS, LIVE_SCORE = 10040, 10050, 10060, 10100
CMD_NAMES = {
    PING: "ping",
    AUTH: "auth",
    LANG: "lang",
    SUBSCRIBE: "subscribe",
    UNSUBSCRIBE: "unsubscribe",
    ALIVE: "alive",
    FIXTURE_CHANGE: "fixture_change",
    ODDS_CHANGE: "odds_change",
    BET_STOP: "bet_stop",
    BET_SETTLEMENT: "bet_settlement",
    BET_CANCEL: "bet_cancel",
    MATCH_STATUS: "match_status",
    LIVE_SCORE: "live_score",
}


def cmd_name(cmd):
    """A frame's cmd in words (`odds_change`) if it is one of the feed's, else `other`."""
    # A frame may carry any cmd up to 2**32 - 1: a name per value sent would let whoever feeds
    # the relay grow whatever is kept by name (the metrics' series) without bound.
    return CMD_NAMES.get(cmd, "other")


class Frame(NamedTuple):
    cmd: int
    time: int | None  # milliseconds; None when absent or unreadable
    data: Any


class FrameError(ValueError):
    """A frame that cannot be read; `kind` names the problem for counting."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def decode(raw, max_size=MAX_SIZE):
    """Decode one websocket frame (str or bytes) into a Frame, or raise FrameError."""
    *_, frame = decode_in_steps(raw, max_size)
    return frame


def decode_in_steps(raw, max_size=MAX_SIZE):
    """decode(), in steps: yields None after each (parsing, then checking what was parsed a
    slice at a time; the same again for `data` encoded twice), and the Frame last. A 2.5 MB
    frame takes about 15 ms to parse, then a few a step: whoever decodes it can let the rest of
    the process run in between."""
    if len(raw) > max_size:
        raise FrameError("too_large", f"{len(raw)} over {max_size}")
    binary = isinstance(raw, bytes | bytearray)
    if binary:
        raw = bytes(raw)
        if len(raw) < HEADER.size:
            raise FrameError("short_binary", f"{len(raw)} bytes")
        cmd, time = HEADER.unpack_from(raw)
        if len(raw) == HEADER.size:
            yield Frame(cmd, fields.timestamp_ms(time), None)
            return
        try:
            text = raw[HEADER.size :].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError("bad_binary_body", str(exc)) from None
    else:
        text = raw
    try:
        message = yield from _load_in_steps(text, WALK_STEP)
    except FrameError as exc:
        if not binary or exc.kind != "bad_json":
            raise
        raise FrameError("bad_binary_body", str(exc)) from None
    if binary:
        data = yield from _data_in_steps(message)
        yield Frame(cmd, fields.timestamp_ms(time), data)
        return
    if not isinstance(message, dict):
        raise FrameError("not_an_object", type(message).__name__)
    cmd = fields.integer(message.get("cmd"))
    if cmd is None or not 0 <= cmd <= MAX_CMD:
        raise FrameError("bad_cmd", repr(message.get("cmd"))[:40])
    # A time that cannot be read is left out, not a reason to drop the frame: `data` has its own.
    data = yield from _data_in_steps(message.get("data"))
    yield Frame(cmd, fields.timestamp_ms(message.get("time")), data)


def may_be_bet_stop(raw):
    """Whether a raw frame may be a BetStop, told without decoding it: its binary header says
    so, or its text holds 10030. A BetStop written otherwise (1.003e4) is only not told apart."""
    if isinstance(raw, str):
        return "10030" in raw
    return len(raw) >= HEADER.size and HEADER.unpack_from(raw)[0] == BET_STOP


def _data_in_steps(data):
    """`data` as sent, or the object it holds when it was encoded twice (a JSON string), parsed
    in steps as the frame is (`yield from`)."""
    if isinstance(data, str) and data.lstrip().startswith("{"):
        try:
            inner = yield from _load_in_steps(data, WALK_STEP)
        except FrameError as exc:
            if exc.kind != "bad_json":
                raise
            return data
        if isinstance(inner, dict):
            return inner
    return data


def _parse(text):
    """orjson's reading of `text`, with nothing of ours called per number (a 2.5 MB odds change
    parses in a quarter of the hooked parse's time, half the standard library's without hooks);
    None when it does not parse.

    Where orjson reads a text at all, it reads it as the standard library does, but for numbers
    the hooks below keep as text: it refuses NaN, Infinity and floats that overflow, and reads
    an integer beyond 64 bits as a float, which _walk sends to the hooked parse. It also
    refuses lone surrogates (the standard library keeps them), and nesting beyond 1,024: those
    are the hooked parse's to read, or refuse, as before.
    """
    try:
        return orjson.loads(text)
    except (ValueError, RecursionError):
        return None


def _load_in_steps(text, step):
    """Parse JSON text nested at most MAX_DEPTH deep, with non-finite numbers kept as text, in
    steps (`yield from`), each walk over a parsed value `step` values at a time (None: at once).

    orjson's reading (_parse) is taken as it is when a walk finds in it nothing the hooks below
    would have read otherwise (a non-finite float, an integer out of range) and no nesting too
    deep; else, or when it did not parse, the text is parsed again with the hooks.
    """
    parsed = _parse(text)
    yield None
    if type(parsed) in (dict, list) and (yield from _walk(parsed, MAX_DEPTH, step, numbers=True)):
        return parsed
    try:
        value = json.loads(
            text, parse_constant=_as_text, parse_float=_finite_float, parse_int=_bounded_int
        )
    except RecursionError:
        # The C parser's own guard: thousands of levels stop here, while parsing, at no cost.
        raise FrameError("too_deep", f"nesting beyond {MAX_DEPTH}") from None
    except ValueError as exc:
        raise FrameError("bad_json", str(exc)[:200]) from None
    yield None
    # What got past the guard may still be hundreds deep, too deep for what follows (encoding
    # it again for the browsers recurses too): bound it here. Fewer brackets cannot nest deeper.
    deep = text.count("[") + text.count("{") > MAX_DEPTH
    if deep and not (yield from _walk(value, MAX_DEPTH, step, numbers=False)):
        raise FrameError("too_deep", f"nesting beyond {MAX_DEPTH}")
    return value


def _walk(value, limit, step, numbers):
    """Whether no array or object in `value` (an array or an object) lies deeper than `limit`,
    and with `numbers` every number in it is within fields.integer's range: what the hooks keep
    as parsed. A float out of that range is not plain either, finite or not: orjson reads an
    integer beyond 64 bits as one, where the hooks keep its text (a float literal as large is
    parsed again, to the same float).

    Yields None after each `step` or so values looked at (None: never) and returns the verdict
    (`yield from`). An array or object larger than `step` is looked at in pieces."""
    low, high = -fields.INT_LIMIT, fields.INT_LIMIT
    stack = [(value, 1)]
    left = step
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        children = node.values() if type(node) is dict else node
        if step is not None and len(children) > step:
            # Its values in pieces of `step`, each looked at in a step of its own, at its depth.
            children = list(children)
            stack += [(children[at : at + step], depth) for at in range(0, len(children), step)]
            continue
        if numbers:
            for child in children:
                kind = type(child)
                if kind is dict or kind is list:
                    stack.append((child, depth + 1))
                elif (kind is float or kind is int) and not low < child < high:  # NaN too
                    return False
        else:
            for child in children:
                kind = type(child)
                if kind is dict or kind is list:
                    stack.append((child, depth + 1))
        if step is not None:
            left -= len(children) + 1
            if left <= 0:
                left = step
                yield None
    return True


def _as_text(literal):
    return literal  # NaN, Infinity, -Infinity


def _finite_float(text):
    value = float(text)
    return value if math.isfinite(value) else text


def _bounded_int(text):
    # Length first: int() of thousands of digits is slow, and past 4,300 refused.
    if len(text.lstrip("-")) > fields.MAX_DIGITS:
        return text
    value = fields.integer(int(text))
    return text if value is None else value


def encode_text(cmd, data, time):
    """Encode a frame as the upstream's text JSON form."""
    return json.dumps({"cmd": cmd, "time": time, "data": data}, separators=(",", ":"))


def encode_binary(cmd, data, time):
    """Encode a frame as the upstream's binary form."""
    body = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
    return HEADER.pack(cmd, time) + body
