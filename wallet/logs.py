"""The wallet's loggers: one line a record, whatever the values it carries hold.

A value in a wallet log line may come from a callback's body as sent (a refund keeps its reason
however it arrives, line breaks included). So every value a record carries is written as its
repr(): quoted, with line breaks and other control characters escaped. The message around the
values is the code's own text.
"""

import logging


def logger(name):
    """The logger `name`, each value of its records written as its repr()."""
    log = logging.getLogger(name)
    log.addFilter(escape_values)  # once: a logger keeps no filter twice
    return log


def escape_values(record):
    """Replace each value of `record` by its repr(); keep the record."""
    if isinstance(record.args, tuple):
        record.args = tuple(_escaped(value) for value in record.args)
    return True


def _escaped(value):
    # A number cannot break a line, and stays a number for a %d.
    if value is None or isinstance(value, int | float):
        return value
    return repr(value if isinstance(value, str) else str(value))
