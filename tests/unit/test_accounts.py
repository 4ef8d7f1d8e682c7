"""The board's login: accounts, the form and its refusals, sessions, and the gate on the board."""

import logging
import re
import threading
import time
import uuid

import pytest
import redis
import sqlalchemy as sa

from accounts import gate, passwords, users
from accounts.limiter import FREE_FAILURES
from accounts.models import User
from app import create_app
from database import db
from tests.conftest import base_config

PASSWORD = "correct horse battery"
REDIS_TEST_URL = "redis://127.0.0.1:6379/13"  # a database number of this suite's own


@pytest.fixture
def app_config():
    return {"BOARD_LOGIN": True}


@pytest.fixture
def alice(app):
    with app.app_context():
        users.add("alice", PASSWORD, "trader")
    return "alice"


def csrf(client, path="/login"):
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def log_in(client, username="alice", password=PASSWORD, token=None):
    token = csrf(client) if token is None else token
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def cookie_header(response):
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and "session=" in v)


# The form -------------------------------------------------------------------------------------


def test_the_login_form_has_username_password_and_a_hidden_csrf_token(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert re.search(r'<input name="username"', page.text)
    assert re.search(r'<input name="password" type="password"', page.text)
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]{20,}"', page.text)


def test_a_login_goes_to_the_board_with_a_session_cookie(client, alice):
    answer = log_in(client)
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    cookie = cookie_header(answer)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    assert client.get("/feed/status").status_code == 200
    assert client.get("/feed/bet-stops").status_code == 200


def test_the_cookie_is_secure_behind_https(database_url, alice):
    app = create_app(base_config(database_url) | {"BOARD_LOGIN": True, "PROXY_HOPS": 1})
    client = app.test_client()
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    page = client.get("/login", headers=https)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        headers=https,
    )
    assert answer.status_code == 302
    assert "; Secure" in cookie_header(answer)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong password!"), ("nobody", PASSWORD)]
)
def test_wrong_credentials_say_so_without_telling_which(client, alice, username, password):
    answer = log_in(client, username, password)
    assert answer.status_code == 401
    assert "Wrong username or password." in answer.text
    assert client.get("/feed/status").status_code == 401


@pytest.mark.parametrize(
    ("username", "password"), [("al\x00ice", PASSWORD), ("alice", PASSWORD + "\x00")]
)
def test_a_nul_byte_in_the_login_is_refused_not_an_error(client, alice, caplog, username, password):
    # The request's values refuse a NUL before any view reads them (ops/values.py).
    answer = log_in(client, username, password)
    assert answer.status_code == 400
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert client.get("/feed/status").status_code == 401  # and nobody logged in


def test_a_wrong_password_is_logged_as_one_warning_without_a_traceback(client, alice, caplog):
    caplog.set_level(logging.INFO)
    assert log_in(client, password="wrong password!").status_code == 401
    logged = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    assert logged == [("WARNING", "login failed (address 127.0.0.1, account 'alice')", None)]


def test_a_login_without_the_forms_csrf_token_is_refused(client, alice):
    csrf(client)
    for token in ("", "forged-token"):
        answer = log_in(client, token=token)
        assert answer.status_code == 400 and "expired" in answer.text
    assert client.get("/feed/status").status_code == 401


def test_a_disabled_account_cannot_log_in(app, client, alice):
    with app.app_context():
        users.disable("alice")
    assert log_in(client).status_code == 401


def test_passwords_are_stored_as_argon2id_hashes_only(app, alice):
    with app.app_context():
        stored = db.session.execute(db.select(User)).scalar_one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "!")


def test_a_login_holds_no_database_connection_while_its_password_is_checked(
    app, client, alice, monkeypatch
):
    held = []
    verify = passwords.verify_password

    def watched(*args):
        held.append(db.engine.pool.checkedout())
        return verify(*args)

    monkeypatch.setattr(passwords, "verify_password", watched)
    assert log_in(client, password="wrong password!").status_code == 401
    assert log_in(client).status_code == 302
    assert held == [0, 0]


def test_logins_at_once_hold_at_most_two_of_the_pools_connections(app, alice):
    with app.app_context():
        engine = db.engine
    held, most = [0], [0]
    lock = threading.Lock()

    def checked_out(*_args):
        with lock:
            held[0] += 1
            most[0] = max(most[0], held[0])
        time.sleep(0.05)  # a slow database: the reads overlap

    def checked_in(*_args):
        with lock:
            held[0] -= 1

    sa.event.listen(engine.pool, "checkout", checked_out)
    sa.event.listen(engine.pool, "checkin", checked_in)
    clients = [app.test_client() for _ in range(8)]
    tokens = [csrf(c) for c in clients]
    start = threading.Barrier(len(clients))
    answers = []

    def try_once(number):
        start.wait()
        answers.append(log_in(clients[number], f"guess{number}", "x" * 12, tokens[number]))

    threads = [threading.Thread(target=try_once, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sa.event.remove(engine.pool, "checkout", checked_out)
    sa.event.remove(engine.pool, "checkin", checked_in)
    assert [a.status_code for a in answers] == [401] * len(clients)
    assert most[0] == 2


def test_a_login_that_gets_no_turn_at_the_database_is_answered_503(client, alice, monkeypatch):
    monkeypatch.setattr(users, "LOGIN_WAIT_S", 0.01)
    token = csrf(client)
    taken = [users._LOGIN_READS.acquire() for _ in range(2)]  # two logins reading, slowly
    try:
        answer = log_in(client, token=token)
    finally:
        for _ in taken:
            users._LOGIN_READS.release()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert "The login is busy. Try again in a moment." in answer.text
    assert log_in(client, token=token).status_code == 302


# Repeated failures ------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def frozen(*apps):
    """Give the apps' login limiters one clock that moves only when the test moves it."""
    clock = Clock()
    for app in apps:
        app.extensions["accounts"].limiter.clock = clock
    return clock


def test_past_the_free_failures_even_the_right_password_waits_unchecked(
    app, client, alice, monkeypatch
):
    clock = frozen(app)
    for _ in range(FREE_FAILURES["pair"]):
        assert log_in(client, password="wrong password!").status_code == 401
    checked = []
    verify = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: checked.append(a) or verify(*a))
    refused = log_in(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "Too many failed logins. Try again in 1 second." in refused.text
    assert checked == []  # refused before the password is looked at: no oracle
    assert client.get("/feed/status").status_code == 401
    clock.now += 1
    assert log_in(client, password="wrong password!").status_code == 401
    refused = log_in(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "Try again in 2 seconds." in refused.text
    clock.now += 2
    assert log_in(client).status_code == 302
    assert len(checked) == 2


def test_a_long_wait_is_told_in_minutes(app, client, alice):
    clock = frozen(app)
    for _ in range(FREE_FAILURES["pair"] + 8):
        assert log_in(client, password="wrong password!").status_code == 401
        clock.now += 3600 - 1  # each wait over, the count not yet forgotten
    clock.now -= 3600 - 1  # back to the thirteenth failure: 2**8 s to wait
    refused = log_in(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "256"
    assert "Try again in 5 minutes." in refused.text


def test_repeated_failures_from_one_address_are_answered_429(app, client, alice):
    frozen(app)
    for number in range(FREE_FAILURES["address"]):
        assert log_in(client, username=f"guess{number}", password="x" * 12).status_code == 401
    refused = log_in(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"


def test_the_failures_are_counted_in_redis_for_every_worker(database_url, alice):
    prefix = f"test-login-{uuid.uuid4().hex}:"
    settings = {"BOARD_LOGIN": True, "REDIS_URL": REDIS_TEST_URL, "LOGIN_LIMIT_PREFIX": prefix}
    first, second = (create_app(base_config(database_url) | settings) for _ in range(2))
    frozen(first, second)
    try:
        for _ in range(FREE_FAILURES["pair"]):
            assert log_in(first.test_client(), password="wrong password!").status_code == 401
        # Another process (here another app) sees the same count.
        assert log_in(second.test_client()).status_code == 429
        stored = redis.Redis.from_url(REDIS_TEST_URL)
        assert stored.hget(prefix + "account:alice", "n") == b"5"
        assert 0 < stored.pttl(prefix + "account:alice") <= 3600 * 1000
    finally:
        client = redis.Redis.from_url(REDIS_TEST_URL)
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()


def test_without_redis_the_limit_holds_in_the_process(database_url, alice):
    settings = {"BOARD_LOGIN": True, "REDIS_URL": "redis://127.0.0.1:9/0"}
    app = create_app(base_config(database_url) | settings)
    frozen(app)
    client = app.test_client()
    for _ in range(FREE_FAILURES["pair"]):
        assert log_in(client, password="wrong password!").status_code == 401
    assert log_in(client).status_code == 429
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(params=["memory", "redis"])
def behind_a_router(request, database_url, alice):
    """The app behind one proxy (X-Forwarded-For names the address), its failures counted in
    the process or in Redis, its clock frozen: (app, clock)."""
    settings = {"BOARD_LOGIN": True, "PROXY_HOPS": 1}
    prefix = f"test-login-{uuid.uuid4().hex}:"
    if request.param == "redis":
        settings |= {"REDIS_URL": REDIS_TEST_URL, "LOGIN_LIMIT_PREFIX": prefix}
    app = create_app(base_config(database_url) | settings)
    yield app, frozen(app)
    with app.app_context():
        db.engine.dispose()
    client = redis.Redis.from_url(REDIS_TEST_URL)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)
    client.close()


def log_in_from(client, address, password=PASSWORD):
    """Log in as alice from `address`."""
    forwarded = {"X-Forwarded-For": address}
    page = client.get("/login", headers=forwarded)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"username": "alice", "password": password, "csrf_token": token}
    return client.post("/login", data=form, headers=forwarded)


def test_failures_from_other_addresses_never_lock_the_owner_out(behind_a_router):
    app, clock = behind_a_router
    attacker, owner = app.test_client(), app.test_client()
    for number in range(3 * 6):  # past the account's free failures, from six addresses
        answer = log_in_from(attacker, f"203.0.113.{number % 6 + 1}", "wrong password!")
        assert answer.status_code in (401, 429)
        clock.now += 1
    # Where the guesses came from, even the right password waits...
    assert log_in_from(attacker, "203.0.113.1").status_code == 429
    # ...but the owner, from an address with no failures, is let in.
    assert log_in_from(owner, "198.51.100.7").status_code == 302


def test_failures_for_an_account_from_one_address_slow_that_address_only(behind_a_router):
    app, _clock = behind_a_router
    attacker, owner = app.test_client(), app.test_client()
    for _ in range(FREE_FAILURES["pair"]):
        assert log_in_from(attacker, "203.0.113.1", "wrong password!").status_code == 401
    refused = log_in_from(attacker, "203.0.113.1")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert log_in_from(owner, "198.51.100.7").status_code == 302


# The gate ---------------------------------------------------------------------------------------


def test_the_board_and_its_feed_need_a_session(client):
    board = client.get("/")
    assert board.status_code == 302 and board.headers["Location"] == "/login"
    for path in ("/feed/status", "/feed/bet-stops"):
        answer = client.get(path)
        assert answer.status_code == 401 and answer.json == {"error": "login required"}


def test_the_wallet_and_health_are_not_behind_the_login(client):
    assert client.get("/health").status_code == 200
    answer = client.post("/wallet/get_balance", json={"userId": "nobody"})
    assert answer.status_code == 200 and "code" in answer.json


def test_logging_out_ends_the_session(client, alice):
    log_in(client)
    token = csrf(client, "/")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    answer = client.post("/logout", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/login"
    assert client.get("/feed/status").status_code == 401


def test_a_copied_cookie_stops_working_after_logging_out(app, alice):
    first = app.test_client()
    log_in(first)
    copied = app.test_client()
    copied.set_cookie("session", first.get_cookie("session").value)
    assert copied.get("/feed/status").status_code == 200
    first.post("/logout", data={"csrf_token": csrf(first, "/")})
    assert copied.get("/feed/status").status_code == 401


def test_a_new_password_ends_open_sessions(app, client, alice):
    log_in(client)
    with app.app_context():
        users.set_password("alice", "another long password")
    assert client.get("/feed/status").status_code == 401
    assert log_in(client, password="another long password").status_code == 302


def test_a_session_older_than_its_lifetime_has_ended(database_url, alice):
    app = create_app(base_config(database_url) | {"BOARD_LOGIN": True, "BOARD_SESSION_HOURS": 0})
    client = app.test_client()
    assert log_in(client).status_code == 302
    assert client.get("/feed/status").status_code == 401
    with app.app_context():
        db.engine.dispose()


def test_with_the_login_off_the_board_is_open_and_says_so(database_url):
    app = create_app(base_config(database_url) | {"BOARD_LOGIN": False})
    client = app.test_client()
    board = client.get("/")
    assert board.status_code == 200 and 'id="login-off"' in board.text
    assert client.get("/feed/status").status_code == 200
    assert client.get("/login").status_code == 302
    with app.app_context():
        db.engine.dispose()


def test_the_board_shows_a_log_out_button_and_no_login_off_notice(client, alice):
    log_in(client)
    board = client.get("/")
    assert 'action="/logout"' in board.text and 'id="login-off"' not in board.text


# Secret key -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "dev"])
def test_a_production_database_refuses_the_default_secret_key(monkeypatch, capsys, key):
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/app")
    if key is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(SystemExit) as stopped:
        create_app({"FEED_ENABLED": False})
    assert stopped.value.code == 3
    error = capsys.readouterr().err
    assert "SECRET_KEY" in error and "Traceback" not in error


def test_without_a_database_url_a_local_key_is_made_and_kept(monkeypatch, tmp_path):
    import config

    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = config.secret_key({}, tmp_path)
    assert len(first) >= 32 and first != "dev"
    assert config.secret_key({}, tmp_path) == first


def test_a_path_added_later_is_behind_the_login_from_its_first_day(app, client):
    @app.get("/feed/markets")
    def markets():
        return {"markets": []}

    assert client.get("/feed/markets").status_code == 401
    page = client.get("/some/new/page", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"] == "/login"


def test_a_plain_request_to_the_socket_without_a_session_is_refused(client):
    assert client.get("/ws").status_code == 401


# Open boards' sessions ------------------------------------------------------------------------


@pytest.fixture
def epochs(app):
    """AccountEpochs on a clock the test moves, and sleeps move; its reading thread started by
    the test (`read_while_asked()`), and its reads counted (`reads`)."""
    clock = Clock()

    def sleep(seconds):
        clock.now += seconds

    view = gate.AccountEpochs(clock, sleep, start_thread=lambda run, args: started.append(args))
    started = []
    view.started, view.reads = started, []
    read = view._read

    def counted(app, unless_fresh=False):
        before = view.read_at
        read(app, unless_fresh)
        if view.read_at != before:
            view.reads.append(view.read_at)

    view._read = counted
    view.read_while_asked = lambda: view._read_while_asked(*started.pop())
    return view


def user_id(app, username):
    with app.app_context():
        return users.find(username).id


def test_a_view_too_old_lets_the_hub_write_nothing_and_the_handler_reads(app, alice, epochs):
    alice_id = user_id(app, alice)
    assert epochs.session_ended(app, alice_id, 0, wait=False) is None  # the hub: no I/O
    assert epochs.reads == []
    assert epochs.session_ended(app, alice_id, 0) is False  # the handler reads
    assert epochs.session_ended(app, alice_id, 0, wait=False) is False
    epochs.clock.now += gate.EPOCHS_FRESH_S + 0.01  # no read meanwhile: the database is slow
    assert epochs.session_ended(app, alice_id, 0, wait=False) is None
    assert len(epochs.reads) == 1


def test_while_boards_ask_one_thread_reads_for_all_every_half_the_views_age(app, alice, epochs):
    alice_id = user_id(app, alice)
    for _ in range(1000):  # every board of the process, written to
        epochs.session_ended(app, alice_id, 0, wait=False)
    assert len(epochs.started) == 1
    asked_at = epochs.clock.now
    epochs.read_while_asked()  # until no board has asked for EPOCHS_UNASKED_S
    every = gate.EPOCHS_FRESH_S / 2
    assert epochs.reads == [asked_at + i * every for i in range(len(epochs.reads))]
    assert epochs.reads[-1] - asked_at == gate.EPOCHS_UNASKED_S
    assert not epochs.reading
    epochs.session_ended(app, alice_id, 0, wait=False)  # a board asks again: reading resumes
    assert len(epochs.started) == 1


def test_a_change_by_another_process_is_seen_at_the_next_read(app, alice, epochs):
    alice_id = user_id(app, alice)
    epochs.session_ended(app, alice_id, 0)
    with app.app_context():
        users.disable(alice)
    assert epochs.session_ended(app, alice_id, 0, wait=False) is False  # the view of before
    epochs.clock.now += gate.EPOCHS_FRESH_S / 2 + 0.01
    epochs._read_while_asked(app)  # its read of half a view's age later; then nobody asks
    assert epochs.session_ended(app, alice_id, 0, wait=False) is True


def test_a_log_out_in_this_process_shows_at_once_and_no_read_takes_it_back(app, alice, epochs):
    alice_id = user_id(app, alice)
    epochs.session_ended(app, alice_id, 0)
    epochs.moved(alice_id, 1)  # committed after the read below began: it reads epoch 0
    assert epochs.session_ended(app, alice_id, 0, wait=False) is True
    epochs.clock.now += gate.EPOCHS_FRESH_S + 0.01
    assert epochs.session_ended(app, alice_id, 0) is True
    assert len(epochs.reads) == 2
    assert epochs.session_ended(app, alice_id, 1) is False


def test_a_failed_read_keeps_what_is_known_until_the_next(app, alice, epochs, monkeypatch):
    alice_id = user_id(app, alice)
    epochs.session_ended(app, alice_id, 0)
    epochs.clock.now += gate.EPOCHS_FRESH_S + 0.01
    tried = []

    def database_away(work):
        tried.append(work)
        raise sa.exc.OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(gate, "run_in_transaction", database_away)
    assert epochs.session_ended(app, alice_id, 0) is False
    assert epochs.session_ended(app, alice_id, 0) is False
    assert len(tried) == 1 and epochs.failing


def watch(app, epochs, user_id, lasts=3600):
    return gate.SessionWatch(app, epochs, user_id, 0, epochs.clock.now + lasts)


def test_a_watch_says_not_now_when_it_cannot_tell_and_never_again_once_ended(app, alice, epochs):
    board = watch(app, epochs, user_id(app, alice))
    assert board.may_write(False) is False and not board.ended  # the hub leaves it to the handler
    assert board.may_write(True) is True  # the handler reads
    with app.app_context():
        users.disable(alice)
    epochs._read(app)
    assert board.may_write(False) is False and board.ended
    epochs.moved(user_id(app, alice), 0)  # whatever the view says next
    assert board.may_write(True) is False


def test_a_watch_answers_from_the_view_it_saw_until_the_view_changes_or_grows_old(
    app, alice, epochs, monkeypatch
):
    alice_id = user_id(app, alice)
    board = watch(app, epochs, alice_id)
    assert board.may_write(True) is True  # the handler reads
    assert board.may_write(False) is True  # a first answer from the view it read
    asked = []
    session_ended = epochs.session_ended

    def counted(*args):
        asked.append(args)
        return session_ended(*args)

    monkeypatch.setattr(epochs, "session_ended", counted)
    for _ in range(100):  # every message, while nothing changes
        assert board.may_write(False) is True
    assert asked == []
    epochs.clock.now += gate.EPOCHS_FRESH_S + 0.01  # no read since: too old to be told
    assert board.may_write(False) is False and len(asked) == 1
    assert board.may_write(True) is True and len(asked) == 2  # the handler reads
    epochs.moved(alice_id, 1)  # logged out in this process
    assert board.may_write(False) is False and board.ended


def test_a_session_past_its_lifetime_has_ended_for_its_board_without_a_read(app, alice, epochs):
    board = watch(app, epochs, user_id(app, alice), lasts=10)
    assert board.may_write(True) is True
    epochs.clock.now += 10.01
    assert board.may_write(False) is False and board.ended
    assert len(epochs.reads) == 1
