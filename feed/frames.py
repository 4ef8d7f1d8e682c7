"""The upstream's wire format: text JSON frames and binary frames, in and out.

Text:   {"cmd": 10030, "time": 1764843686186, "data": {...}}
Binary: 4-byte little-endian cmd, 8-byte little-endian time (ms), then the UTF-8 JSON of `data`.
"""

import json
import struct
from typing import Any, NamedTuple

HEADER = struct.Struct("<IQ")

# Client commands
PING, AUTH, LANG, SUBSCRIBE, UNSUBSCRIBE = 100, 110, 120, 10080, 10090
# Server messages
ALIVE, FIXTURE_CHANGE, ODDS_CHANGE, BET_STOP = 10000, 10010, 10020, 10030
BET_SETTLEMENT, BET_CANCEL, MATCH_STATUS, LIVE_SCORE = 10040, 10050, 10060, 10100


class Frame(NamedTuple):
    cmd: int
    time: int | None
    data: Any


class FrameError(ValueError):
    """A frame that cannot be read; `kind` names the problem for counting."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def decode(raw):
    """Decode one websocket frame (str or bytes) into a Frame, or raise FrameError."""
    if isinstance(raw, bytes | bytearray):
        return _decode_binary(bytes(raw))
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise FrameError("bad_json", str(exc)) from None
    if not isinstance(message, dict):
        raise FrameError("not_an_object", type(message).__name__)
    cmd, time = message.get("cmd"), message.get("time")
    if isinstance(cmd, str) and cmd.isdigit():
        cmd = int(cmd)
    if not isinstance(cmd, int) or isinstance(cmd, bool):
        raise FrameError("bad_cmd", repr(cmd))
    if time is not None and (not isinstance(time, int) or isinstance(time, bool)):
        raise FrameError("bad_time", repr(time))
    return Frame(cmd, time, message.get("data"))


def _decode_binary(raw):
    if len(raw) < HEADER.size:
        raise FrameError("short_binary", f"{len(raw)} bytes")
    cmd, time = HEADER.unpack_from(raw)
    body = raw[HEADER.size :]
    if not body:
        return Frame(cmd, time, None)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError("bad_binary_body", str(exc)) from None
    return Frame(cmd, time, data)


def encode_text(cmd, data, time):
    """Encode a frame as the upstream's text JSON form."""
    return json.dumps({"cmd": cmd, "time": time, "data": data}, separators=(",", ":"))


def encode_binary(cmd, data, time):
    """Encode a frame as the upstream's binary form."""
    body = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
    return HEADER.pack(cmd, time) + body
