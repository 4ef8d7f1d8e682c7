"""The CLI as the README shows it, from a fresh shell, and the servers' refusals to start: errors a
person can act on, no tracebacks. unit/test_commands.py has each command's refusals, in process."""

import os
import subprocess

import pytest

from tests.servers import ROOT
from tests.upstream import free_port

pytestmark = pytest.mark.slow  # each case starts the CLI afresh
FLASK = str(ROOT / "bin" / "flask")


def fresh_shell(**settings):
    """A shell's environment with no venv active: just the system's PATH and these settings."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env["SECRET_KEY"] = os.environ["SECRET_KEY"]
    env["WALLET_OPEN"] = "1"  # a shell on this machine: loopback is the wallet's only gate
    return env | settings


def flask(*args, env, stdin=None, timeout=60):
    return subprocess.run(
        [FLASK, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def migrated(sqlite_database_url):
    return fresh_shell(DATABASE_URL=sqlite_database_url, FEED_ENABLED="0")


def test_the_readme_examples_run_from_a_fresh_shell(migrated):
    added = flask("users", "add", "alice", env=migrated, stdin="correct horse battery\n")
    assert added.returncode == 0, added.stderr
    assert flask("users", "list", env=migrated).stdout.split() == ["alice", "trader", "active"]
    deposit = flask("wallet", "deposit", "--create", "alice", "10", env=migrated)
    assert deposit.returncode == 0 and deposit.stdout.startswith("alice: balance 10.0")
    shown = flask("wallet", "balance", "alice", env=migrated)
    assert shown.stdout == "alice: balance 10.0 (real 10.0, free 0.0)\n"
    entries = flask("wallet", "history", "alice", env=migrated).stdout.splitlines()
    assert [" ".join(line.split()[1:]) for line in entries] == [
        "deposit +10.0 (real +10.0, free 0.0) balance 10.0"
    ]


def start_server(env):
    """Run the Procfile's web command until it stops by itself; its output."""
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "app:create_app()"],
        cwd=ROOT,
        env=env | {"PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("settings", "sentence"),
    [
        ({"DATABASE_URL": "sqlite:///{tmp}/new.sqlite"}, "run `flask --app app db upgrade`"),
        ({"DATABASE_URL": "sqlite:///{tmp}/any.sqlite", "SECRET_KEY": ""}, "set SECRET_KEY"),
        (
            {"DATABASE_URL": "sqlite:///{tmp}/any.sqlite", "WALLET_OPEN": ""},
            "set WALLET_SECRET",
        ),
        (
            {"DATABASE_URL": "sqlite:///{tmp}/any.sqlite", "FEED_URL": "xpbet.example/ws"},
            "FEED_URL must be a ws:// or wss:// URL",
        ),
    ],
)
def test_the_server_stops_at_start_with_a_sentence(tmp_path, settings, sentence):
    env = fresh_shell(FEED_ENABLED="0") | {k: v.format(tmp=tmp_path) for k, v in settings.items()}
    result = start_server(env)
    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("db", "upgrade"), ("feed", "consume"), ("wallet", "audit")])
def test_a_production_database_with_an_open_wallet_refuses_every_process(tmp_path, command):
    env = fresh_shell(DATABASE_URL=f"sqlite:///{tmp_path / 'any.sqlite'}", WALLET_OPEN="")
    result = flask(*command, env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert all(name in lines[0] for name in ("WALLET_SECRET", "WALLET_ALLOWED_IPS", "WALLET_OPEN"))


def test_the_web_process_with_an_open_wallet_says_so_on_one_line(tmp_path):
    env = fresh_shell(DATABASE_URL=f"sqlite:///{tmp_path / 'any.sqlite'}", WALLET_OPEN="")
    result = start_server(env)
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if "WALLET_SECRET" in line]
    assert len(refusals) == 1 and "WALLET_ALLOWED_IPS" in refusals[0]
    assert "WALLET_OPEN" in refusals[0] and "Traceback" not in result.stderr


def gunicorn_settings(env):
    """What gunicorn reads from gunicorn.conf.py in this environment: the bind and what it said."""
    script = "import runpy; print(runpy.run_path('gunicorn.conf.py')['bind'])"
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", script],
        cwd=ROOT,
        env=env | {"PORT": "8123"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip(), result.stderr


def test_make_run_with_an_open_wallet_serves_loopback_only_and_says_so():
    bind, said = gunicorn_settings(fresh_shell(WALLET_OPEN=""))
    assert bind == "127.0.0.1:8123"
    assert "127.0.0.1 only" in said and "WALLET_SECRET" in said


@pytest.mark.parametrize(
    ("settings", "bind"),
    [
        ({"WALLET_OPEN": "", "HOST": "0.0.0.0"}, "0.0.0.0:8123"),
        ({"WALLET_OPEN": "1"}, "0.0.0.0:8123"),
        ({"WALLET_OPEN": "", "WALLET_SECRET": "from-the-provider"}, "0.0.0.0:8123"),
        ({"WALLET_OPEN": "", "DATABASE_URL": "postgresql://db/app"}, "0.0.0.0:8123"),
    ],
)
def test_a_gate_a_production_database_or_host_serves_every_interface(settings, bind):
    assert gunicorn_settings(fresh_shell(**settings)) == (bind, "")
