"""A fresh virtualenv from requirements.txt alone runs every Procfile process type.

The platform installs requirements.txt and nothing else, so a module that only the test
requirements bring in would break the deploy while the rest of the suite stays green.
"""

import contextlib
import os
import shlex
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.servers import ROOT, procfile
from tests.upstream import free_port

pytestmark = pytest.mark.slow

# What each long-running process type must do to count as booted: `web` answers this path;
# `feed` connects to the local upstream (through the shared Redis, under a prefix of its own).
ANSWERS = {"web": "/health", "feed": "upstream"}


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new virtualenv holding requirements.txt and nothing else; its bin directory.

    Not even pip (nor the setuptools it brings): this environment's pip installs into it."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
    return venv / "bin"


@pytest.fixture
def process_env(fresh_venv, tmp_path):
    """The platform's environment: the fresh venv first on PATH, a database of its own, a port."""
    unset = ("VIRTUAL_ENV", "PYTHONPATH", "WALLET_OPEN")  # the platform has the gate app.json asks
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return env | {
        "WALLET_SECRET": "generated-by-the-platform",
        "PATH": f"{fresh_venv}:{env.get('PATH', '')}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite'}",
        "PORT": str(free_port()),
        "FEED_URL": "ws://127.0.0.1:9/ws",
    }


def run_release(env):
    return subprocess.run(
        shlex.split(procfile()["release"]), cwd=ROOT, env=env, capture_output=True, timeout=120
    )


def test_procfile_names_the_release_web_and_feed_processes():
    assert {"release", "web", "feed"} <= procfile().keys()
    assert procfile().keys() - {"release"} == ANSWERS.keys()


def test_the_release_step_runs_from_a_fresh_install(process_env):
    result = run_release(process_env)
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("name", [n for n in procfile() if n != "release"])
def test_every_long_running_process_boots_from_a_fresh_install(
    name, process_env, tmp_path, upstream, redis_bus_url
):
    url, prefix = redis_bus_url
    process_env |= {"REDIS_URL": url, "REDIS_PREFIX": prefix, "FEED_URL": upstream.url}
    if name == "web":
        process_env.pop("REDIS_URL")  # the embedded shape; the feed process needs Redis
    assert run_release(process_env).returncode == 0
    log = tmp_path / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["bash", "-c", procfile()[name]],
            cwd=ROOT,
            env=process_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not answered(ANSWERS[name], process_env, upstream):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{name} did not {ANSWERS[name]}"
            time.sleep(0.2)
        # A worker that dies on its first import is restarted by gunicorn's arbiter, which
        # keeps the port open; make sure the process is still whole a moment later.
        time.sleep(1)
        assert process.poll() is None, log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(timeout=30)


def answered(what, env, upstream):
    if what == "upstream":
        return upstream.accepted > 0
    url = f"http://127.0.0.1:{env['PORT']}{what}"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
