"""Benchmarks: each a `make` target, each starting the app the way the platform runs it."""

import os
import secrets

# The servers and commands a benchmark starts inherit these: a database URL needs a secret key
# of its own, and the benchmarks' clients measure the relay, not the board's login.
os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
os.environ.setdefault("BOARD_LOGIN", "off")
