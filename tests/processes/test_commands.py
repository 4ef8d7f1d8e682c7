"""The CLI as the README shows it, from a fresh shell: errors a person can act on, no tracebacks."""

import os
import socket
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


def refused(result, sentence):
    """The command failed with `sentence` on standard error, and no traceback anywhere."""
    assert result.returncode != 0
    assert sentence in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


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


def test_help_describes_every_group(migrated):
    text = flask("--help", env=migrated).stdout
    for group in ("feed", "wallet", "users"):
        line = next(line for line in text.splitlines() if line.strip().startswith(group + " "))
        assert len(line.split()) > 2, f"no description for {group}: {line!r}"


def test_a_database_not_migrated_says_to_run_db_upgrade(tmp_path):
    env = fresh_shell(DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite'}", FEED_ENABLED="0")
    for command in (("wallet", "audit"), ("users", "list"), ("wallet", "deposit", "bob", "5")):
        refused(flask(*command, env=env), "run `flask --app app db upgrade`")


def test_an_unreachable_database_is_named(tmp_path):
    env = fresh_shell(DATABASE_URL="postgresql://postgres@127.0.0.1:9/nothing", FEED_ENABLED="0")
    result = flask("users", "list", env=env)
    refused(result, "cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:9/")


def test_a_port_in_use_is_said_so(migrated):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused(flask("feed", "simulate", "--port", port, env=migrated), "port is in use")


@pytest.mark.parametrize("command", ["simulate", "replay"])
@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_is_one_line_naming_it(migrated, tmp_path, command, port):
    recording = tmp_path / "recording.jsonl"
    recording.write_text('{"t": 0.1, "text": "{}"}\n')
    args = [str(recording)] if command == "replay" else []
    result = flask("feed", command, *args, "--port", port, env=migrated)
    refused(result, f"--port {port} is not a port: pick one from 1 to 65535 (0: any free one)")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("days", ["0", "0.5"])
def test_feed_prune_under_a_day_is_refused_without_yes(migrated, days):
    result = flask("feed", "prune", "--days", days, env=migrated)
    refused(
        result,
        f"--days {days} is under a day: it deletes the BetStop log a running board shows;"
        " pass --yes to do it anyway",
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_feed_prune_under_a_day_with_yes_prunes(migrated):
    result = flask("feed", "prune", "--days", "0", "--yes", env=migrated)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pruned 0 BetStops, 0 closed lines, 0 events"


@pytest.mark.parametrize(
    "url", ["xpbet.example/ws", "https://xpbet.example/ws", "ws:///ws", "wss//xpbet.example/ws"]
)
def test_a_malformed_feed_url_is_refused_at_start_in_one_line(migrated, url):
    result = flask("users", "list", env=migrated | {"FEED_URL": url + "?token=s3cret"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: FEED_URL must be a ws:// or wss:// URL with a host, like"
        f" wss://xpbet-ws-api.helix.city/ws, not {url!r}"
    ], result.stderr
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://feed.example/ws", "must be a ws:// or wss:// URL"),
        ("not a url", "must be a ws:// or wss:// URL"),
        ("ws://127.0.0.1:9/ws", "cannot connect to ws://127.0.0.1:9/ws"),
    ],
)
def test_feed_record_names_a_bad_url(migrated, tmp_path, url, sentence):
    result = flask("feed", "record", str(tmp_path / "out.jsonl"), "--url", url, env=migrated)
    refused(result, sentence)


def test_feed_record_without_a_url_says_which_setting(migrated, tmp_path):
    refused(flask("feed", "record", str(tmp_path / "out.jsonl"), env=migrated), "FEED_URL")


@pytest.mark.parametrize(
    "content", ["{not json\n", '{"t": 0.1, "text": "x"}\n[1, 2]\n', "plain words\n"]
)
def test_feed_replay_refuses_a_file_that_is_not_a_recording(migrated, tmp_path, content):
    recording = tmp_path / "recording.jsonl"
    recording.write_text(content)
    result = flask("feed", "replay", str(recording), "--port", "0", env=migrated)
    refused(result, "is not a recording")


@pytest.mark.parametrize("rate", ["0", "-3"])
def test_feed_simulate_refuses_a_rate_that_is_not_positive(migrated, rate):
    refused(flask("feed", "simulate", "--rate", rate, env=migrated), "Invalid value for '--rate'")


@pytest.mark.parametrize(
    ("amount", "sentence"), [("-5", "must not be negative"), ("abc", "is not a decimal number")]
)
def test_wallet_deposit_refuses_a_bad_amount(migrated, amount, sentence):
    refused(flask("wallet", "deposit", "alice", amount, env=migrated), sentence)


def test_wallet_audit_says_what_it_checked(migrated):
    flask("wallet", "deposit", "--create", "alice", "10", env=migrated)
    flask("wallet", "deposit", "--create", "bob", "5", "--free", env=migrated)
    result = flask("wallet", "audit", env=migrated)
    assert result.returncode == 0
    assert result.stdout.strip() == "ledger consistent: 2 accounts and 2 entries checked"


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


@pytest.mark.parametrize(
    "gate", [{"WALLET_SECRET": "s3cret-from-the-provider"}, {"WALLET_ALLOWED_IPS": "10.0.0.0/8"}]
)
def test_a_production_database_starts_with_either_gate(migrated, gate):
    env = migrated | {"WALLET_OPEN": ""} | gate
    result = flask("wallet", "audit", env=env)
    assert result.returncode == 0, result.stderr


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
