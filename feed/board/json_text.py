"""JSON text every browser's JSON.parse reads: strict, and a non-finite number as null."""

import json
import math


def strict_json(value):
    """`value` as JSON text that any parser reads: ValueError for NaN or an infinity in it."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def finite(value):
    """A copy of `value` with each NaN or infinite number in it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
