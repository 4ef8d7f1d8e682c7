"""The callbacks' request bodies: their fields, limits and parsing into typed requests.

Every field the provider documents as a String must arrive as a JSON string; anything else is
refused with a desc naming the field and what is wrong with it. Except where refusing would keep
a player's money from them: a refund's fields that move no money (Lenient) are kept however they
arrive, made storable, and noted for the log.

Each field's spec also describes itself as JSON Schema (`json_schema()`), for the wallet's
OpenAPI document (openapi.py): what is documented is what is parsed.
"""

import functools
import json
import re
from dataclasses import dataclass, field, fields
from datetime import datetime

from .codes import Failure
from .errors import WalletError
from .formats import (
    MAX_AMOUNT_LENGTH,
    MAX_DECIMALS,
    MAX_UNITS,
    TIMESTAMP,
    TIMESTAMP_LENGTH,
    format_amount,
    parse_amount,
    parse_ts,
)

JSON_MEDIA_TYPE = "application/json"
# RFC 6838: a type and a subtype of at most 127 characters each. A desc shows no more of one.
MAX_MEDIA_TYPE = 255
CANCEL_REASONS = ("BET_REQUEST_TIME_OUT", "BET_FAILED", "VOID_ROUND")
MAX_EVENT_SETTLES = 1000
MAX_SEPARATORS = 20_000
# PostgreSQL cannot store a NUL (SQLite can): the two would disagree. No id needs any of these.
CONTROL_CHARACTERS = "\x00-\x1f\x7f"  # as a regular expression's range
CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
# JSON can carry half of a UTF-16 pair ("\ud800"); no UTF-8 encodes it, so no database stores it.
SURROGATE = re.compile("[\ud800-\udfff]")
# What a kept value cannot hold on either database.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Text:
    max_length: int
    choices: tuple = ()
    # An id that names an account: one that differs from another only by the spaces around it
    # would be a second account that looks like the first.
    trimmed: bool = False

    def parse(self, name, value):
        text = _string(name, value, self.max_length)
        if CONTROL.search(text):
            raise _malformed(f"{name} contains a control character")
        if SURROGATE.search(text):
            raise _malformed(f"{name} is not valid Unicode")
        if self.trimmed and text != text.strip():
            raise _malformed(f"{name} has whitespace at its start or end")
        if self.choices and text not in self.choices:
            raise _malformed(f"{name} must be one of {', '.join(self.choices)}")
        return text

    def json_schema(self):
        # Not blank and no control character; trimmed: no whitespace at either end.
        other, visible = f"[^{CONTROL_CHARACTERS}]", f"[^\\s{CONTROL_CHARACTERS}]"
        if self.trimmed:
            pattern = f"^{visible}({other}*{visible})?$"
        else:
            pattern = f"^{other}*{visible}{other}*$"
        schema = {"type": "string", "minLength": 1, "maxLength": self.max_length}
        if self.choices:
            return schema | {"enum": list(self.choices)}
        return schema | {"pattern": pattern}


@dataclass(frozen=True)
class Timestamp:
    def parse(self, name, value):
        try:
            return parse_ts(_string(name, value, TIMESTAMP_LENGTH))
        except ValueError as exc:
            raise _malformed(f"{name} {exc}") from None

    def json_schema(self):
        return {
            "type": "string",
            "minLength": TIMESTAMP_LENGTH,
            "maxLength": TIMESTAMP_LENGTH,
            # ASCII digits whatever the reader's dialect: \d is any script's in some.
            "pattern": "^{}$".format(TIMESTAMP.pattern.replace("\\d", "[0-9]")),
            "description": "yyyy-MM-ddTHH:mm:ss.SSS+hhmm, a real time, in GMT+8 (+0800; "
            "another offset is read as it says): 2022-10-14T23:00:00.000+0800",
        }


@dataclass(frozen=True)
class Amount:
    allow_zero: bool = False

    def parse(self, name, value):
        try:
            return parse_amount(_string(name, value, MAX_AMOUNT_LENGTH), allow_zero=self.allow_zero)
        except ValueError as exc:
            raise _malformed(f"{name} {exc}") from None

    def json_schema(self):
        least = "0 or more" if self.allow_zero else "more than 0"
        return {
            "type": "string",
            "maxLength": MAX_AMOUNT_LENGTH,
            "pattern": f"^[0-9]+(\\.[0-9]{{1,{MAX_DECIMALS}}})?$",
            "description": f"a decimal in ASCII digits, at most {MAX_DECIMALS} decimal places, "
            f"{least}, at most {format_amount(MAX_UNITS)}: 50.0",
        }


@dataclass(frozen=True)
class ListOf:
    item: type
    max_items: int

    def parse(self, name, value):
        if not isinstance(value, list):
            raise _malformed(f"{name} must be a JSON array")
        if not value:
            raise _malformed(f"{name} must not be empty")
        if len(value) > self.max_items:
            raise _malformed(f"{name} holds more than {self.max_items} items")
        return tuple(parse(self.item, item, prefix=f"{name}[{i}].") for i, item in enumerate(value))

    def json_schema(self):
        return {
            "type": "array",
            "minItems": 1,
            "maxItems": self.max_items,
            "items": request_schema(self.item),
        }


@dataclass(frozen=True)
class Lenient:
    """A field that moves no money, of a callback that must not be refused for it.

    A value `spec` refuses is kept: a string cut to `width` characters and made storable,
    anything else (or nothing) as `default`; what was wrong is noted.
    """

    spec: object
    default: object = None
    width: int = 0

    def accept(self, name, value, notes):
        if value is None:
            notes.append(f"{name} is missing")
            return self.default
        try:
            return self.spec.parse(name, value)
        except WalletError as doubt:
            kept = self.default
            if self.width and isinstance(value, str):
                kept = UNSTORABLE.sub("\ufffd", value[: self.width])
            notes.append(f"{doubt.desc} (kept as {kept!r})")
            return kept

    def json_schema(self):
        return self.spec.json_schema() | {
            "description": "Lenient: send it as documented; the callback goes through whatever "
            "it holds, or without it (it moves no money)."
        }


def require_json(media_type):
    """Refuse a body not declared JSON, on every callback, a refund's included.

    `media_type` is the Content-Type's, lowercased and without its parameters ("" if none).
    """
    # A browser posts a form or text/plain to another site without asking it first; a body
    # declared JSON it sends only once the site agrees, which the wallet never does. So a page
    # opened inside the allowlist cannot make a callback, whatever body it writes.
    if media_type != JSON_MEDIA_TYPE:
        named = repr(media_type[:MAX_MEDIA_TYPE]) if media_type else "missing"
        raise _malformed(
            f"body is not declared JSON: Content-Type is {named}, not {JSON_MEDIA_TYPE}"
        )


def decode(data):
    """The JSON value of a request body, or WalletError saying why there is none.

    Decoding builds an object per value, so how many there can be is bounded first, by the commas
    and colons the body holds (a scan in C): the largest real body, an event_settle of 1000
    payouts, holds about 12,000.
    """
    if data.count(b",") + data.count(b":") > MAX_SEPARATORS:
        raise _malformed(
            f"body holds more values than any callback (over {MAX_SEPARATORS:,} commas and colons)"
        )
    try:
        # No field is a number, so a number's value never matters: each is read as a float,
        # which reads any length in linear time. As an int, one of over 4,300 digits would make
        # the whole body unreadable (Python's limit), and a refund must not be refused for a
        # field that moves no money.
        return json.loads(data, parse_int=float)
    except RecursionError:
        raise _malformed("body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise _malformed("body is not valid JSON") from None


def wire(name, spec):
    """Declare a dataclass field read from the JSON key `name` by `spec`."""
    return field(metadata={"wire": name, "spec": spec})


def parse(request_type, body, prefix="", notes=None):
    """Build a `request_type` from a decoded JSON body, or raise WalletError naming the field.

    What a Lenient field kept despite being out of spec is appended to `notes`.
    """
    if not isinstance(body, dict):
        raise _malformed(f"{prefix.rstrip('.') or 'body'} must be a JSON object")
    notes = [] if notes is None else notes
    values = {}
    for attribute, name, spec in _wired(request_type):
        value = body.get(name)
        if isinstance(spec, Lenient):
            values[attribute] = spec.accept(prefix + name, value, notes)
        elif value is None:
            raise _malformed(f"{prefix}{name} is missing")
        else:
            values[attribute] = spec.parse(prefix + name, value)
    return request_type(**values)


def request_schema(request_type):
    """The JSON Schema of a `request_type` body: every field by its spec; those a Lenient spec
    reads are not required. Keys of no field are ignored, so allowed."""
    wired = _wired(request_type)
    return {
        "type": "object",
        "required": [name for _, name, spec in wired if not isinstance(spec, Lenient)],
        "properties": {name: spec.json_schema() for _, name, spec in wired},
    }


@functools.cache
def _wired(request_type):
    # (attribute, JSON key, spec) of each field, read once per request type rather than from
    # the dataclass's fields and their metadata on every request.
    return tuple((f.name, f.metadata["wire"], f.metadata["spec"]) for f in fields(request_type))


def _string(name, value, max_length):
    """The value, if it is a non-blank string of at most `max_length` characters."""
    if not isinstance(value, str):
        raise _malformed(f"{name} must be a string, got {_json_type(value)}")
    # First, before anything reads the text: every later step costs time with its length.
    if len(value) > max_length:
        raise _malformed(f"{name} is longer than {max_length} characters")
    if not value.strip():
        raise _malformed(f"{name} is empty")
    return value


def _json_type(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _malformed(desc):
    return WalletError(Failure.MALFORMED_REQUEST, desc)


USER_ID = Text(50, trimmed=True)
TX_ID = Text(20)
GAME_TYPE = Text(10)
GAME_CODE = Text(20)


def user_id(value):
    """Return `value` if the callbacks take it as a userId, else raise WalletError saying why."""
    return USER_ID.parse("userId", value)


class OfOneUser:
    """A request that moves one user's money."""

    @property
    def user_ids(self):
        return (self.user_id,)


@dataclass(frozen=True)
class GetBalance(OfOneUser):
    user_id: str = wire("userId", USER_ID)


@dataclass(frozen=True)
class PlaceBet(OfOneUser):
    ts: datetime = wire("ts", Timestamp())
    user_id: str = wire("userId", USER_ID)
    tx_id: str = wire("txId", TX_ID)
    round_id: str = wire("roundId", Text(20))
    table_id: str = wire("tableId", Text(50))
    bet_time: datetime = wire("betTime", Timestamp())
    amount: int = wire("betAmount", Amount())
    game_type: str = wire("gameType", GAME_TYPE)
    game_code: str = wire("gameCode", GAME_CODE)
    category: str = wire("category", Text(20))


@dataclass(frozen=True)
class CancelBet(OfOneUser):
    """A refund: strict on whose bet it is, lenient on everything else (see Lenient)."""

    ts: datetime | None = wire("ts", Lenient(Timestamp()))
    reason: str | None = wire("reason", Lenient(Text(30, CANCEL_REASONS), width=30))
    user_id: str = wire("userId", USER_ID)
    tx_id: str = wire("txId", TX_ID)
    game_type: str = wire("gameType", Lenient(GAME_TYPE, default="", width=10))
    game_code: str = wire("gameCode", Lenient(GAME_CODE, default="", width=20))


@dataclass(frozen=True)
class Settle(OfOneUser):
    ts: datetime = wire("ts", Timestamp())
    user_id: str = wire("userId", USER_ID)
    tx_id: str = wire("txId", TX_ID)
    round_id: str = wire("roundId", Text(20))
    bet_time: datetime = wire("betTime", Timestamp())
    bet_amount: int = wire("betAmount", Amount())
    valid_bet_amount: int = wire("validBetAmount", Amount(allow_zero=True))
    win_amount: int = wire("winAmount", Amount(allow_zero=True))
    game_type: str = wire("gameType", GAME_TYPE)
    game_code: str = wire("gameCode", GAME_CODE)


@dataclass(frozen=True)
class EventPayout:
    settle_id: str = wire("settleId", Text(20))
    event_id: str = wire("eventId", Text(60))
    user_id: str = wire("userId", USER_ID)
    amount: int = wire("amount", Amount())
    create_time: datetime = wire("createTime", Timestamp())


@dataclass(frozen=True)
class EventSettle:
    settles: tuple = wire("settles", ListOf(EventPayout, MAX_EVENT_SETTLES))

    @property
    def user_ids(self):
        """Every user paid by the batch, sorted: the order their accounts are locked in."""
        return tuple(sorted({payout.user_id for payout in self.settles}))
