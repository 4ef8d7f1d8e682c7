"""The wall clock in the unit every stamp and receipt of the app uses: milliseconds."""

import time


def wall_ms():
    """Milliseconds since the epoch, on the wall clock (which may step)."""
    return int(time.time() * 1000)
