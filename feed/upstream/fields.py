"""The upstream's field values read at the edge: numbers, timestamps and flags, however sent.

The feed sends the same field as a number one day and as text the next, in milliseconds or in
microseconds. Each reader here takes whatever arrived and returns the value in our one unit and
type, or None when it cannot be read; what None then means is the caller's rule.
"""

import math

MAX_DIGITS = 19  # digits of a signed 64-bit integer; no field of the feed is longer
INT_LIMIT = 2**63  # and its range, what every database column takes
MAX_NUMBER_TEXT = 40  # longer numeric text is not a number any field carries

# Epoch timestamps by magnitude: seconds below 1e11 (until the year 5138), milliseconds below
# 1e14, microseconds below 1e17, nanoseconds below 1e20. Values under 1e9 (before 2001 in seconds,
# January 1970 in milliseconds) are no real clock reading: replays and tests count from zero, in
# milliseconds, so they are read as milliseconds.
_SECONDS_FROM, _MILLIS_FROM, _MICROS_FROM, _NANOS_FROM, _TOO_LARGE = 1e9, 1e11, 1e14, 1e17, 1e20

_TRUE = {"1", "true", "yes", "active", "on"}
_FALSE = {"0", "false", "no", "inactive", "off"}


def integer(value):
    """An int from an int, an integral float or decimal text; None for anything else."""
    if type(value) is int:  # the common case first; bool is an int but no number
        return value if -INT_LIMIT < value < INT_LIMIT else None
    if isinstance(value, float):
        whole = math.isfinite(value) and value.is_integer() and -INT_LIMIT < value < INT_LIMIT
        return int(value) if whole else None
    if isinstance(value, str):
        read = number(value.strip())
        return None if read is None else integer(read)
    return None


def number(value):
    """A finite int or float from a number or numeric text; None for NaN, infinities, the rest."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int:
        return value if -INT_LIMIT < value < INT_LIMIT else None
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit():
            return number(int(text)) if len(digits) <= MAX_DIGITS else None
        try:
            parsed = float(text)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def timestamp_ms(value):
    """An epoch timestamp in milliseconds, from seconds, ms, µs or ns, as a number or text."""
    read = number(value)
    if read is None or read <= 0 or read >= _TOO_LARGE:
        return None  # 0 too: the feed's "not set" (an alive's last_alive_time: 0, say)
    if read < _SECONDS_FROM:
        return int(read)
    if read < _MILLIS_FROM:
        return round(read * 1000)
    if read < _MICROS_FROM:
        return int(read)
    if read < _NANOS_FROM:
        return int(read) // 1_000 if isinstance(read, int) else int(read / 1_000)
    return int(read) // 1_000_000 if isinstance(read, int) else int(read / 1_000_000)


def flag(value, default):
    """A yes/no from true/false, 1/0 or their text; `default` when absent, None when unreadable."""
    if value is None or value == "":
        return default
    if value is True or value is False:
        return value
    if type(value) is int or type(value) is float:
        return value == 1 if value in (0, 1) else None
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def offset_seconds(value, unreadable):
    """An alive's offset_time in seconds: absent reads 0 (on time), unreadable `unreadable`."""
    if value is None:
        return 0
    read = number(value)
    return unreadable if read is None else read
