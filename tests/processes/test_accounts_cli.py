"""`flask users ...`: add, list, disable, new password, and the newcomer's first account."""

import re

import pytest

from accounts import passwords, users
from accounts.models import User
from database import db

PASSWORD = "correct horse battery"


@pytest.fixture
def app_config():
    return {"BOARD_LOGIN": True}


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args, stdin=None):
        return runner.invoke(args=["users", *args], input=stdin)

    return invoke


def stored(app, username):
    with app.app_context():
        return users.find(username)


def test_add_reads_the_password_from_standard_input(app, run):
    result = run("add", "alice", "--role", "admin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "added alice (admin)"
    user = stored(app, "alice")
    assert user.role == "admin" and user.active
    assert passwords.verify_password(user.password_hash, PASSWORD)
    assert PASSWORD not in result.output


def test_add_defaults_to_the_trader_role(app, run):
    assert run("add", "bob", stdin=PASSWORD + "\n").exit_code == 0
    assert stored(app, "bob").role == "trader"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "alice", "--role", "boss"), PASSWORD, "'boss' is not one of"),
        (("add", "al ice"), PASSWORD, "letters, digits"),
        (("add", "al\x00ice"), PASSWORD, "letters, digits"),
        (("add", "alice"), "short", "at least 10 characters"),
        (("add", "alice"), "", "no password on standard input"),
        (("disable", "nobody"), None, "no account named 'nobody'"),
        (("passwd", "nobody"), PASSWORD, "no account named 'nobody'"),
        (("passwd", "al\x00ice"), PASSWORD, "no account named 'al\\x00ice'"),
        (("disable", "al\x00ice"), None, "no account named 'al\\x00ice'"),
    ],
)
def test_refusals_say_what_to_change(run, args, stdin, message):
    result = run(*args, stdin=None if stdin is None else stdin + "\n" if stdin else "")
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_taken_name_is_refused_in_any_case(run):
    run("add", "alice", stdin=PASSWORD + "\n")
    result = run("add", "ALICE", stdin=PASSWORD + "\n")
    assert result.exit_code == 1 and "exists already" in result.output


def test_list_shows_name_role_and_state(run):
    assert "no accounts yet" in run("list").output
    run("add", "alice", stdin=PASSWORD + "\n")
    run("add", "bob", "--role", "viewer", stdin=PASSWORD + "\n")
    run("disable", "bob")
    lines = run("list").output.splitlines()
    assert [line.split() for line in lines] == [
        ["alice", "trader", "active"],
        ["bob", "viewer", "disabled"],
    ]


def test_passwd_sets_a_new_password_and_ends_sessions(app, run):
    run("add", "alice", stdin=PASSWORD + "\n")
    result = run("passwd", "alice", stdin="another long password\n")
    assert result.exit_code == 0 and "sessions are ended" in result.output
    user = stored(app, "alice")
    assert passwords.verify_password(user.password_hash, "another long password")
    assert user.session_epoch == 1


def test_enable_lets_a_disabled_account_log_in_again(app, run):
    run("add", "alice", stdin=PASSWORD + "\n")
    run("disable", "alice")
    result = run("enable", "alice")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "enabled alice"
    assert stored(app, "alice").active
    assert run("list").output.split() == ["alice", "trader", "active"]


def test_enable_an_active_account_says_so_and_changes_nothing(app, run):
    run("add", "alice", stdin=PASSWORD + "\n")
    result = run("enable", "alice")
    assert result.exit_code == 0
    assert result.output.strip() == "alice is active already"
    assert stored(app, "alice").session_epoch == 0


@pytest.mark.parametrize("username", ["nobody", "al\x00ice"])
def test_enable_names_an_account_that_does_not_exist(run, username):
    result = run("enable", username)
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: no account named {username!r} (flask --app app users list)"
    )


def test_passwd_on_a_disabled_account_says_it_stays_disabled_and_how_to_enable_it(app, run):
    run("add", "bob", stdin=PASSWORD + "\n")
    run("disable", "bob")
    result = run("passwd", "bob", stdin="another long password\n")
    assert result.exit_code == 0
    assert result.output.strip() == (
        "new password set for bob; it stays disabled: flask --app app users enable bob"
        " lets it log in"
    )
    user = stored(app, "bob")
    assert not user.active and passwords.verify_password(
        user.password_hash, "another long password"
    )


def test_local_makes_one_account_and_prints_its_password_once(app, run):
    first = run("local")
    assert first.exit_code == 0
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert passwords.verify_password(stored(app, "local").password_hash, password)
    again = run("local")
    assert password not in again.output and "/login" in again.output
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_local_with_the_login_off_says_so(database_url):
    from app import create_app
    from tests.conftest import base_config

    app = create_app(base_config(database_url) | {"BOARD_LOGIN": False})
    result = app.test_cli_runner().invoke(args=["users", "local"])
    assert "login is off" in result.output
    with app.app_context():
        assert db.session.query(User).count() == 0
    with app.app_context():
        db.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("settings", "address"),
    [({}, "http://localhost:8000/login"), ({"PORT": "8123"}, "http://localhost:8123/login")],
)
def test_local_prints_the_address_of_the_port_the_server_takes(
    sqlite_database_url, settings, address
):
    import os
    import subprocess

    from tests.servers import ROOT

    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    env |= {"SECRET_KEY": os.environ["SECRET_KEY"], "WALLET_OPEN": "1", "FEED_ENABLED": "0"}
    env |= {"DATABASE_URL": sqlite_database_url} | settings
    command = [str(ROOT / "bin" / "flask"), "users", "local"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Board login at {address}  username: local  password: ")


@pytest.mark.slow
def test_bin_run_prints_a_login_that_opens_the_board(sqlite_database_url, tmp_path):
    import os

    import requests

    from tests.servers import start_script
    from tests.upstream import free_port, wait_until

    port = free_port()
    env = os.environ | {
        "DATABASE_URL": sqlite_database_url,
        "PORT": str(port),
        "FEED_URL": "ws://127.0.0.1:9/ws",  # no simulator: this test is about the login
    }
    env.pop("BOARD_LOGIN", None)
    output = tmp_path / "run.log"
    server = start_script("run", env, output)
    try:
        wait_until(lambda: "password: " in output.read_text(), timeout=60, what="the login")
        found = re.search(r"username: (\S+)\s+password: (\S+)", output.read_text())
        base = f"http://127.0.0.1:{port}"
        http = requests.Session()

        def answers():
            try:
                return http.get(base + "/login", timeout=2).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # not up, or still booting
                return False

        wait_until(answers, timeout=60, what="the server")
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(base + "/login").text)
        board = http.post(
            base + "/login",
            data={"username": found[1], "password": found[2], "csrf_token": token[1]},
            timeout=5,
        )
        assert board.status_code == 200 and 'id="feed-banner"' in board.text
        http.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.mark.slow
def test_add_at_a_terminal_asks_twice_and_echoes_nothing(sqlite_database_url):
    import os
    import pty
    import subprocess

    from tests.servers import ROOT

    controller, terminal = pty.openpty()
    env = os.environ | {"DATABASE_URL": sqlite_database_url, "FEED_ENABLED": "0"}
    command = subprocess.Popen(
        [str(ROOT / "bin" / "flask"), "users", "add", "carol"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    seen = b""

    def read_until(text):
        nonlocal seen
        while text not in seen:
            chunk = os.read(controller, 1024)
            assert chunk, seen
            seen += chunk

    read_until(b"Password for carol: ")
    os.write(controller, PASSWORD.encode() + b"\n")
    read_until(b"Repeat for confirmation: ")
    os.write(controller, PASSWORD.encode() + b"\n")
    assert command.wait(timeout=60) == 0
    try:
        read_until(b"added carol (trader)")
    finally:
        os.close(controller)
    assert PASSWORD.encode() not in seen
