"""Log lines for people and for log drains: every line timestamped; LOG_FORMAT=json for drains.

Every record is one line whatever it holds: a value a client sent (a username with a line break)
cannot forge a line of its own, and a traceback stays with the line that reported it.
"""

import json
import logging
import sys
import time

FORMATS = ("text", "json")
# What some reader takes as the end of a line (str.splitlines' list), and the other control
# characters (a terminal's escape sequences): escaped as Python writes them in a literal (\n,
# \x00, \u2028). JSON escapes those below U+0020 itself, and the rest as \u0085, \u2028.
_CONTROLS = [c for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029] if c != 0x09]
_TEXT_ESCAPES = {c: chr(c).encode("unicode_escape").decode() for c in _CONTROLS}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _CONTROLS if c >= 0x20}


class UTCText(logging.Formatter):
    """`2026-11-22T03:55:00.123Z WARNING feed.client: message`, a traceback on the same line."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record, datefmt=None):
        return timestamp(record.created)

    def format(self, record):
        return super().format(record).translate(_TEXT_ESCAPES)


class JSONLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the traceback if any."""

    def format(self, record):
        line = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False).translate(_JSON_ESCAPES)


class StandardError(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (the platform collects standard error)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def timestamp(created):
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure(log_format="text"):
    """Send INFO and above to standard error, in `log_format`; calling again replaces it.

    In a gunicorn worker, gunicorn's own error log takes the same format, and gevent's reports of
    a failed greenlet go through the log instead of straight to standard error.
    """
    formatter = JSONLines() if log_format == "json" else UTCText()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StandardError)]:
        root.removeHandler(handler)
    handler = StandardError()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # gunicorn set its handlers up before loading the app; those of its master process (which
    # never loads the app) keep gunicorn's format.
    for gunicorn_handler in logging.getLogger("gunicorn.error").handlers:
        gunicorn_handler.setFormatter(formatter)
    _log_gevent_errors()


def _log_gevent_errors():
    monkey = sys.modules.get("gevent.monkey")
    if monkey is None or not monkey.is_module_patched("threading"):
        return
    import gevent

    hub = gevent.get_hub()

    def print_exception(context, kind, value, tb):
        # The hub calls this for a greenlet or thread-pool task that raised, then goes on.
        where = "the hub" if context is None else hub.format_context(context)
        if value is None:
            name = getattr(kind, "__name__", "an exception")
            logging.getLogger("gevent").error("%s failed with %s", where, name)
        else:
            logging.getLogger("gevent").error("%s failed", where, exc_info=(kind, value, tb))

    hub.print_exception = print_exception
