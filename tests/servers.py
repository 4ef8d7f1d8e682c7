"""The app under gunicorn + gevent, as the platform runs it, for end-to-end tests."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.upstream import free_port

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def gunicorn(database_url, **settings):
    """Run `gunicorn app:create_app()` with these environment settings; yield its base URL."""
    port = free_port()
    env = os.environ | {"DATABASE_URL": database_url, "PORT": str(port)} | settings
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
