"""Password hashing with Argon2id (argon2-cffi), off the gevent loop."""

import sys
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()  # argon2-cffi's defaults: RFC 9106's low-memory profile
_decoy = []  # built at the first use, not at every import
# Each hash takes tens of milliseconds and 64 MiB: a few at once per process, the rest wait.
_AT_ONCE = threading.BoundedSemaphore(2)

MIN_LENGTH = 10
MAX_LENGTH = 1024  # bounds the work an attacker can ask for


def hash_password(password):
    """The Argon2id hash of `password`, as a self-describing string."""
    return _off_loop(HASHER.hash, password)


def verify_password(stored_hash, password):
    """True when `password` matches `stored_hash`; a None hash is checked against a decoy."""
    if not 0 < len(password) <= MAX_LENGTH:
        return False
    if not _decoy:
        _decoy.append(HASHER.hash("not a password anyone has"))
    # Verifying against the decoy when the username is unknown takes as long as for a real
    # account, so the time of an answer does not tell which usernames exist.
    return _off_loop(_matches, stored_hash or _decoy[0], password) and bool(stored_hash)


def _matches(stored_hash, password):
    # A wrong password is an answer, not an error: no exception leaves the thread it is checked
    # on (gevent's thread pool would print its traceback straight to standard error).
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password):
    """Why `password` cannot be used, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


def _off_loop(function, *args):
    # Argon2 is one C call of ~50 ms. In a gevent worker it would stop every other request of
    # the worker, money callbacks included; gevent's thread pool runs it on a real thread
    # (cffi releases the GIL) while this greenlet waits and the others go on.
    with _AT_ONCE:
        monkey = sys.modules.get("gevent.monkey")
        if monkey is not None and monkey.is_module_patched("threading"):
            import gevent

            return gevent.get_hub().threadpool.apply(function, args)
        return function(*args)
