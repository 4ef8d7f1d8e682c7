"""Log lines for people and for log drains: every line timestamped; LOG_FORMAT=json for drains."""

import json
import logging
import sys
import time

FORMATS = ("text", "json")


class UTCText(logging.Formatter):
    """`2026-11-22T03:55:00.123Z WARNING feed.client: message`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record, datefmt=None):
        return timestamp(record.created)


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
        return json.dumps(line, ensure_ascii=False)


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
    """Send INFO and above to standard error, in `log_format`; calling again replaces it."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StandardError)]:
        root.removeHandler(handler)
    handler = StandardError()
    handler.setFormatter(JSONLines() if log_format == "json" else UTCText())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
