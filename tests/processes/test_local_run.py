"""`make run` and `make run-deployed` (bin/run, bin/run-deployed) as an operator starts them."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.servers import ROOT, start_script
from tests.upstream import free_port, wait_until

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


@pytest.mark.parametrize("script", ["run", "run-deployed"])
def test_make_run_stops_naming_simulator_port_when_its_port_is_taken(sqlite_database_url, script):
    web_port = free_port()
    env = os.environ | {"DATABASE_URL": sqlite_database_url, "PORT": str(web_port)}
    env.pop("FEED_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.Popen(
            [str(ROOT / "bin" / script)],
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
                pytest.fail(f"bin/{script} went on with the simulator's port taken ({served=})")
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


def feed_status(port):
    """The web process's /feed/status, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed/status", timeout=5) as answer:
            return json.load(answer)
    except (OSError, ValueError):
        return None


def leaders(status):
    return [c["id"] for c in (status or {}).get("consumers", []) if c["role"] == "leader"]


def test_make_run_deployed_outlives_its_leader_and_stops_the_redis_it_started(
    sqlite_database_url, tmp_path
):
    web_port = free_port()
    env = os.environ | {
        "DATABASE_URL": sqlite_database_url,
        "PORT": str(web_port),
        "SIMULATOR_PORT": str(free_port()),
        "BOARD_LOGIN": "off",  # /feed/status without a login
        "FEED_LEASE_SECONDS": "2",  # the takeover this script lives through, sooner
    }
    for name in ("REDIS_URL", "REDIS_PREFIX", "FEED_URL"):
        env.pop(name, None)
    output = tmp_path / "run-deployed.log"
    run = start_script("run-deployed", env, output)
    try:
        wait_until(
            lambda: (
                len(leaders(feed_status(web_port))) == 1
                and len(feed_status(web_port)["consumers"]) == 2
            ),
            timeout=90,
            what=f"a leader and a standby ({output.read_text()[-2000:]})",
        )
        (leader,) = leaders(feed_status(web_port))
        os.kill(int(leader.rsplit(":", 1)[1]), signal.SIGKILL)
        unanswered = []

        def taken_over():
            status = feed_status(web_port)
            if status is None:
                unanswered.append(time.monotonic())
            return bool(leaders(status)) and leaders(status) != [leader]

        wait_until(taken_over, timeout=30, what="the standby to lead")
        # The killed process comes back, and stands by.
        wait_until(
            lambda: len((feed_status(web_port) or {}).get("consumers", [])) == 2,
            timeout=30,
            what="the killed feed process back as a standby",
        )
        assert unanswered == [], "the web process stopped answering during the takeover"
        assert run.poll() is None
        redis_ports = re.findall(
            r"Redis of its own at redis://127\.0\.0\.1:(\d+)/0", output.read_text()
        )
        assert len(redis_ports) == 1, output.read_text()[-2000:]
        assert listening(int(redis_ports[0]))
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGTERM)  # the script, as Ctrl-C or a terminal closing would
        try:
            run.wait(timeout=40)
        finally:
            stop_group(run)
    assert not listening(int(redis_ports[0]))
    assert not listening(web_port)
