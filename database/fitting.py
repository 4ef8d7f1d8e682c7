"""Making a row fit its table: every value to its column, whatever table it is."""

import functools
import math

from sqlalchemy import JSON, BigInteger, Integer, String

INTEGER_RANGES = {Integer: (-(2**31), 2**31 - 1), BigInteger: (-(2**63), 2**63 - 1)}


class Unstorable(ValueError):
    """A row whose identifying value no column can hold; `reason` names it for counting."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def fit(model, row, keys):
    """`row` with every value made to fit its column of `model`, or Unstorable.

    Text is cut to the column's length, numbers out of the column's range become empty (or the
    nearest bound where the column may not be empty), JSON loses non-finite numbers, and text
    loses what neither database can hold (NUL characters, lone surrogates). A value of one of
    the `keys` columns is never altered: one that does not fit makes the whole row Unstorable,
    as two cut keys could name the same row.
    """
    columns = _columns(model)
    return {name: _fit_value(columns[name], value, name in keys) for name, value in row.items()}


@functools.cache
def _columns(model):
    """Per column of `model`: (name, kind, length or range, whether it may be empty)."""
    specs = {}
    for column in model.__table__.columns:
        kind, limit = column.type, None
        if isinstance(kind, String):
            limit = kind.length
        elif isinstance(kind, Integer):  # BigInteger included
            limit = INTEGER_RANGES[BigInteger if isinstance(kind, BigInteger) else Integer]
        specs[column.name] = (column.name, type(kind), limit, column.nullable)
    return specs


def _fit_value(column, value, is_key):
    name, kind, limit, nullable = column
    if value is None:
        if nullable or is_key:
            return None
        return "" if issubclass(kind, String) else 0
    if issubclass(kind, String):
        if type(value) is str and len(value) <= limit and value.isprintable():
            return value  # the usual case, checked at C speed
        text = clean_text(value if isinstance(value, str) else str(value))
        if is_key and (text != str(value) or len(text) > limit):
            raise Unstorable(f"{name}_unstorable")
        return text[:limit]
    if issubclass(kind, Integer):
        low, high = limit
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if number is None and isinstance(value, float) and math.isfinite(value):
            number = int(value)
        if number is not None and low <= number <= high:
            return number
        if is_key:
            raise Unstorable(f"{name}_out_of_range")
        if nullable:
            return None
        if number is None:
            return 0
        return min(max(number, low), high)
    if issubclass(kind, JSON):
        return clean_json(value)
    return value


def clean_text(text):
    """`text` without NUL characters and with lone surrogates replaced: storable by both."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_json(value):
    """A copy of `value` that is strict JSON: non-finite numbers become null, text is cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return clean_text(str(value))
