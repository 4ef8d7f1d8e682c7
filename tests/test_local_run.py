"""`make run` and `make run-deployed` (bin/run, bin/run-deployed) as an operator starts them."""

import os
import signal
import socket
import subprocess

import pytest

from tests.servers import ROOT
from tests.upstream import free_port

pytestmark = pytest.mark.slow  # each case starts the whole stack


def stop_group(process):
    """End what the script started (its own session), whatever state it is in."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_make_run_stops_naming_simulator_port_when_its_port_is_taken(sqlite_database_url):
    web_port = free_port()
    env = os.environ | {"DATABASE_URL": sqlite_database_url, "PORT": str(web_port)}
    env.pop("FEED_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.Popen(
            [str(ROOT / "bin" / "run")],
            cwd=ROOT,
            env=env | {"SIMULATOR_PORT": str(port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            try:
                out, err = run.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                served = listening(web_port)
                stop_group(run)
                pytest.fail(f"bin/run went on with the simulator's port taken (serving: {served})")
        finally:
            stop_group(run)
    assert run.returncode != 0
    said = [line for line in err.splitlines() if "SIMULATOR_PORT" in line]
    assert said == [
        f"error: SIMULATOR_PORT {port} is in use: stop what holds it, or set SIMULATOR_PORT to a"
        " free port (or FEED_URL to a feed)"
    ], err
    assert "Traceback" not in out + err
    assert not listening(web_port)
