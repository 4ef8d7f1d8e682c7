"""The app under gunicorn + gevent, as the platform runs it, and its feed process."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import websocket

from tests.upstream import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "scripts"


def procfile():
    """The Procfile's process types and commands, in file order."""
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def run_script(name, *args):
    """Run tests/scripts/`name`.py with `args` from the project's root, its modules importable
    as a worker's are; the finished process, its output captured as text."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(SCRIPTS / f"{name}.py"), *map(str, args)],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def python_output(name, *args):
    """What tests/scripts/`name`.py prints (run_script); the test fails with the script's
    stderr if the script fails."""
    done = run_script(name, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextlib.contextmanager
def gunicorn(database_url, stderr=None, **settings):
    """Run `gunicorn app:create_app()` with these environment settings; yield its base URL."""
    with web_dyno(database_url, stderr, **settings) as (address, _):
        yield address


@contextlib.contextmanager
def web_dyno(database_url, stderr=None, **settings):
    """A web process as the Procfile runs it; yield (its address, the gunicorn process).

    Its standard error goes to `stderr` (a file open for writing) if given, else to the test's."""
    port = free_port()
    # The board's login is off unless a test turns it on (BOARD_LOGIN="on").
    env = os.environ | {"DATABASE_URL": database_url, "PORT": str(port), "BOARD_LOGIN": "off"}
    env |= settings
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stderr=stderr,
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
        yield f"127.0.0.1:{port}", server
    finally:
        # The test is over: gunicorn's quick stop. Its worker still runs worker_exit (the feed's
        # last write) but does not wait up to a second for its loop to see SIGTERM. Tests of what
        # SIGTERM does send it themselves.
        stop(server, signal.SIGINT)


def wait_answering(address, timeout=60):
    """Wait until a worker of the server at `address` answers /health: gunicorn's master takes
    connections at once, and a worker booting on a busy machine can take many seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/health", timeout=timeout) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def feed_process(database_url, **settings):
    """`flask --app app feed consume`, the Procfile's feed process; yield the process."""
    env = os.environ | {"DATABASE_URL": database_url, "FEED_ENABLED": "1"} | settings
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "feed", "consume"], cwd=ROOT, env=env
    )
    try:
        yield process
    finally:
        stop(process)


def start_script(name, env, log_path):
    """Run bin/`name` as a shell runs it, in a process group of its own, its output in
    `log_path`; the caller ends the group (os.killpg)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [str(ROOT / "bin" / name)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process, sig=signal.SIGTERM):
    """SIGTERM, as the platform sends (or `sig`), and wait; SIGKILL if it does not go within
    30 s."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def raw_board(address, receive_buffer=None):
    """A board's socket after the upgrade, at the byte level: it answers nothing by itself."""
    board = socket.socket()
    if receive_buffer:
        board.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    board.connect(("127.0.0.1", int(address.rsplit(":", 1)[1])))
    board.sendall(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    board.settimeout(10)
    assert board.recv(12) == b"HTTP/1.1 101"
    return board


def receive_snapshot(address):
    """The snapshot a board connecting now to the server at `address` gets."""
    ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
    try:
        return json.loads(ws.recv())
    finally:
        ws.close()


def wait_for_lines(address, count, timeout=60):
    """Wait until a board connecting to the server at `address` gets `count` lines.

    A snapshot of many lines is MBs to serialise and parse: it is asked for four times a
    second, so that reading it leaves the CPU to the server applying what it waits for."""
    deadline = time.monotonic() + timeout
    while len(receive_snapshot(address)["lines"]) != count:
        assert time.monotonic() < deadline, f"no snapshot of {count} lines in {timeout} s"
        time.sleep(0.25)


def boards(address):
    """How many boards the server at `address` says are connected."""
    with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
        return json.load(answer)["boards"]
