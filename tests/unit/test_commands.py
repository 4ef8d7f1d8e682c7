"""The CLI's refusals and answers, run in this process: the same `flask --app app` group, the
same checks and sentences on standard error, without a new interpreter's start (~0.7 s of CPU
each). processes/test_commands.py runs the README's commands and the servers from a fresh shell."""

import os
import signal
import socket
import traceback
from dataclasses import dataclass

import flask.cli
import pytest
from click.testing import CliRunner

COMMAND_TIMEOUT_S = 30  # a command that should refuse at once and serves instead fails the test


@dataclass
class Completed:
    """What a command left, as a process's would read: its status and its two streams."""

    returncode: int
    stdout: str
    stderr: str


def fresh_shell(**settings):
    """A shell's settings: none of this process's environment but the test's spill file."""
    env = {"SECRET_KEY": os.environ["SECRET_KEY"], "WALLET_OPEN": "1"}
    env["FEED_SPILL_FILE"] = os.environ["FEED_SPILL_FILE"]  # the test's own (tests/conftest.py)
    return env | settings


def timed_out(_signal, _frame):
    raise TimeoutError(f"the command ran for {COMMAND_TIMEOUT_S} s")


def flask_command(*args, env, stdin=None):
    """`flask --app app ARGS` with exactly the settings `env`. An exception the CLI did not turn
    into a sentence is a traceback on standard error, as it would be from a shell."""
    settings = {name: None for name in os.environ} | env
    # Flask's CLI marks the environment as run from it; the runner restores only what it set.
    settings.setdefault("FLASK_RUN_FROM_CLI", None)
    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(COMMAND_TIMEOUT_S)
    try:
        result = CliRunner().invoke(
            flask.cli.cli, ["--app", "app", *args], input=stdin, env=settings
        )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return Completed(result.exit_code, result.stdout, stderr)


def refused(result, sentence):
    """The command failed with `sentence` on standard error, and no traceback anywhere."""
    assert result.returncode != 0
    assert sentence in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def migrated(sqlite_database_url):
    return fresh_shell(DATABASE_URL=sqlite_database_url, FEED_ENABLED="0")


def test_help_describes_every_group(migrated):
    text = flask_command("--help", env=migrated).stdout
    for group in ("feed", "wallet", "users"):
        line = next(line for line in text.splitlines() if line.strip().startswith(group + " "))
        assert len(line.split()) > 2, f"no description for {group}: {line!r}"


def test_a_database_not_migrated_says_to_run_db_upgrade(tmp_path):
    env = fresh_shell(DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite'}", FEED_ENABLED="0")
    for command in (("wallet", "audit"), ("users", "list"), ("wallet", "deposit", "bob", "5")):
        refused(flask_command(*command, env=env), "run `flask --app app db upgrade`")


def test_an_unreachable_database_is_named_though_another_app_ran_a_command_first(migrated):
    # The commands are shared by every app a process makes: the sentence names this one's.
    assert flask_command("users", "list", env=migrated).returncode == 0
    env = fresh_shell(DATABASE_URL="postgresql://postgres@127.0.0.1:9/nothing", FEED_ENABLED="0")
    result = flask_command("users", "list", env=env)
    refused(result, "cannot reach the database at postgresql+psycopg://postgres@127.0.0.1:9/")


def test_a_port_in_use_is_said_so(migrated):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused(flask_command("feed", "simulate", "--port", port, env=migrated), "port is in use")


@pytest.mark.parametrize("command", ["simulate", "replay"])
@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_is_one_line_naming_it(migrated, tmp_path, command, port):
    recording = tmp_path / "recording.jsonl"
    recording.write_text('{"t": 0.1, "text": "{}"}\n')
    args = [str(recording)] if command == "replay" else []
    result = flask_command("feed", command, *args, "--port", port, env=migrated)
    refused(result, f"--port {port} is not a port: pick one from 1 to 65535 (0: any free one)")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("days", ["0", "0.5"])
def test_feed_prune_under_a_day_is_refused_without_yes(migrated, days):
    result = flask_command("feed", "prune", "--days", days, env=migrated)
    refused(
        result,
        f"--days {days} is under a day: it deletes the BetStop log a running board shows;"
        " pass --yes to do it anyway",
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_feed_prune_under_a_day_with_yes_prunes(migrated):
    result = flask_command("feed", "prune", "--days", "0", "--yes", env=migrated)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pruned 0 BetStops, 0 closed lines, 0 events"


@pytest.mark.parametrize(
    "url", ["xpbet.example/ws", "https://xpbet.example/ws", "ws:///ws", "wss//xpbet.example/ws"]
)
def test_a_malformed_feed_url_is_refused_at_start_in_one_line(migrated, url):
    result = flask_command("users", "list", env=migrated | {"FEED_URL": url + "?token=s3cret"})
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
    result = flask_command(
        "feed", "record", str(tmp_path / "out.jsonl"), "--url", url, env=migrated
    )
    refused(result, sentence)


def test_feed_record_without_a_url_says_which_setting(migrated, tmp_path):
    refused(flask_command("feed", "record", str(tmp_path / "out.jsonl"), env=migrated), "FEED_URL")


@pytest.mark.parametrize(
    "content", ["{not json\n", '{"t": 0.1, "text": "x"}\n[1, 2]\n', "plain words\n"]
)
def test_feed_replay_refuses_a_file_that_is_not_a_recording(migrated, tmp_path, content):
    recording = tmp_path / "recording.jsonl"
    recording.write_text(content)
    result = flask_command("feed", "replay", str(recording), "--port", "0", env=migrated)
    refused(result, "is not a recording")


@pytest.mark.parametrize("rate", ["0", "-3"])
def test_feed_simulate_refuses_a_rate_that_is_not_positive(migrated, rate):
    refused(
        flask_command("feed", "simulate", "--rate", rate, env=migrated),
        "Invalid value for '--rate'",
    )


@pytest.mark.parametrize(
    ("amount", "sentence"), [("-5", "must not be negative"), ("abc", "is not a decimal number")]
)
def test_wallet_deposit_refuses_a_bad_amount(migrated, amount, sentence):
    refused(flask_command("wallet", "deposit", "alice", amount, env=migrated), sentence)


def test_wallet_audit_says_what_it_checked(migrated):
    flask_command("wallet", "deposit", "--create", "alice", "10", env=migrated)
    flask_command("wallet", "deposit", "--create", "bob", "5", "--free", env=migrated)
    result = flask_command("wallet", "audit", env=migrated)
    assert result.returncode == 0
    assert result.stdout.strip() == "ledger consistent: 2 accounts and 2 entries checked"


@pytest.mark.parametrize(
    "gate", [{"WALLET_SECRET": "s3cret-from-the-provider"}, {"WALLET_ALLOWED_IPS": "10.0.0.0/8"}]
)
def test_a_production_database_starts_with_either_gate(migrated, gate):
    env = migrated | {"WALLET_OPEN": ""} | gate
    result = flask_command("wallet", "audit", env=env)
    assert result.returncode == 0, result.stderr


def test_a_command_leaves_this_process_as_it_found_it(migrated):
    before = dict(os.environ)
    completed = flask_command("users", "list", env=migrated)
    assert completed.returncode == 0 and "Traceback" not in completed.stderr
    assert dict(os.environ) == before
