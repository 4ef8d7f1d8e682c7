"""The board's ES modules (static/board/), served under one URL per version of the whole set.

A module's relative imports ("./state.js") resolve against the URL of the module that imports
them. A version in a query string (main.js?v=...) would reach the entry module only: its imports
would be fetched without it, and a browser could run a new main.js with an old state.js it kept,
or a server mid-deploy could answer half of them from each version. An import map could version
each URL, but it is an inline script, which the Content-Security-Policy (script-src 'self')
forbids. So the version is a path segment, /static/board/<version>/main.js, which every relative
import inherits: a page loads each of its modules from the one version its HTML names.

The version is a digest of every file of the set, so a URL stands for one content: browsers keep
it for a year without asking again. A version this server does not have (a page from before a
deploy asking a server after it, or the other way round while both serve) is answered 404 and
never kept: a board that cannot load one version whole does not start (it reads "Connecting…",
nothing bettable) rather than run modules of two versions together; a reload loads the current
one.
"""

import functools
import hashlib
import logging
from pathlib import Path

from flask import current_app, send_from_directory
from werkzeug.exceptions import NotFound

from ops.errors import error_answer

FOLDER = "board"  # in the app's static folder
ENTRY = "main.js"
VERSION_LENGTH = 16  # hex digits of the digest
KEEP_S = 365 * 24 * 3600
RULE = f"/static/{FOLDER}/<string(length={VERSION_LENGTH}):version>/<path:filename>"
log = logging.getLogger(__name__)


def folder():
    return Path(current_app.static_folder) / FOLDER


def version(root=None):
    """The set's version: a new one when any file is added, removed or changed. Each call looks
    at the files' names, sizes and times only; their contents are read again when those change
    (an edit while the development server runs)."""
    root = Path(root) if root is not None else folder()
    stamp = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        stamp.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return _digest(str(root), tuple(stamp))


@functools.lru_cache(maxsize=8)
def _digest(root, stamp):
    digest = hashlib.sha256()
    for name, _size, _mtime in stamp:
        data = (Path(root) / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:VERSION_LENGTH]


def page_modules():
    """What the board's page loads: the version, its entry module, and the others to fetch at once
    (modulepreload) rather than one level of imports after another."""
    root = folder()
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.js"))
    return {
        "version": version(root),
        "entry": ENTRY,
        "preload": [name for name in names if name != ENTRY],
    }


def send_module(asked, filename):
    """A file of the set at the version its page asked for, kept a year; else 404, kept never."""
    current = version()
    if asked != current:
        log.info("a board asked for its modules at version %s; this server has %s", asked, current)
        body, status = error_answer(NotFound())
        return body, status, {"Cache-Control": "no-store"}
    answer = send_from_directory(folder(), filename, max_age=KEEP_S)
    answer.cache_control.immutable = True
    return answer
