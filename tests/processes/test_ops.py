"""How the app shows itself: headers on every page, error answers, /ready, /metrics and logs."""

import json
import logging
import re
import time
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from database import db
from tests.conftest import base_config
from tests.redis_server import own_redis
from tests.servers import ROOT, gunicorn, wait_answering
from tests.wallet.calls import deposit, place_bet_body

REDIS_TEST_URL = "redis://127.0.0.1:6379/13"
PAGES = [
    ("GET", "/"),
    ("GET", "/login"),
    ("GET", "/feed/status"),
    ("GET", "/feed/bet-stops"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/static/board/main.js"),
    ("GET", "/no-such-page"),
    ("POST", "/wallet/get_balance"),
]


def make_app(database_url, **settings):
    return create_app(base_config(database_url) | settings)


@pytest.fixture
def dispose():
    apps = []
    yield apps.append
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# Headers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_every_page_sends_the_security_headers(client, method, path):
    answer = client.open(path, method=method, json={} if method == "POST" else None)
    answer.close()  # a static file's answer holds the file open
    policy = answer.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in answer.headers  # plain HTTP: no HSTS


def test_hsts_behind_https(database_url, dispose):
    app = make_app(database_url, PROXY_HOPS=1)
    dispose(app)
    answer = app.test_client().get("/health", headers={"X-Forwarded-Proto": "https"})
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("template", ["board.html", "login.html", "error.html"])
def test_templates_hold_no_inline_script_style_or_handler(template):
    text = (ROOT / "templates" / template).read_text()
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE)
    assert not re.search(r"<script(?![^>]*\ssrc=)", text)
    assert "<style" not in text and not re.search(r"\sstyle\s*=", text)


# Errors -----------------------------------------------------------------------------------------


def test_an_unexpected_error_answers_json_without_a_traceback(database_url, monkeypatch, dispose):
    app = make_app(database_url, TESTING=False)
    dispose(app)

    def broken(*_args):
        raise RuntimeError("secret internals at /srv/app/feed/store.py line 42")

    monkeypatch.setattr(app.extensions["feed"].store, "recent_bet_stops", broken)
    answer = app.test_client().get("/feed/bet-stops")
    assert answer.status_code == 500
    assert answer.json == {"error": "internal server error"}
    assert b"Traceback" not in answer.data and b"secret internals" not in answer.data


def test_an_unexpected_error_on_a_page_shows_a_plain_page(database_url, monkeypatch, dispose):
    import feed.board.views

    app = make_app(database_url, TESTING=False)
    dispose(app)

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(feed.board.views, "render_template", broken)
    answer = app.test_client().get("/")
    assert answer.status_code == 500 and "500 Internal Server Error" in answer.text
    assert "Traceback" not in answer.text and "secret internals" not in answer.text
    assert answer.headers["Content-Security-Policy"]


def test_an_unknown_api_path_answers_json(client):
    answer = client.get("/feed/no-such-thing")
    assert answer.status_code == 404 and answer.json == {"error": "not found"}


# /ready -----------------------------------------------------------------------------------------


def test_ready_when_the_database_answers(client):
    answer = client.get("/ready")
    assert answer.status_code == 200
    assert answer.json == {
        "ready": True,
        "checks": {"database": "ok", "redis": "off", "feed": "off"},
    }


def test_not_ready_when_the_database_is_unreachable(dispose):
    url = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"
    app = make_app(url)
    dispose(app)
    answer = app.test_client().get("/ready")
    assert answer.status_code == 503 and answer.json["ready"] is False
    assert answer.json["checks"]["database"] != "ok"
    assert "refused" in answer.json["checks"]["database"].lower()


@pytest.mark.parametrize(
    ("url", "usable"), [(REDIS_TEST_URL, True), ("redis://127.0.0.1:9/0", False)]
)
def test_ready_says_whether_redis_answers(sqlite_database_url, dispose, url, usable):
    app = make_app(sqlite_database_url, REDIS_URL=url)
    dispose(app)
    answer = app.test_client().get("/ready")
    assert answer.status_code == (200 if usable else 503)
    assert (answer.json["checks"]["redis"] == "ok") is usable


def test_not_ready_while_the_feed_is_not_connected(sqlite_database_url, dispose):
    app = make_app(sqlite_database_url, FEED_ENABLED=True)
    dispose(app)
    answer = app.test_client().get("/ready")
    assert answer.status_code == 503
    assert answer.json["checks"]["feed"] == "down: not connected upstream"


STRANGER = {"X-Forwarded-For": "203.0.113.7"}  # behind one proxy (PROXY_HOPS=1)


@pytest.mark.parametrize(
    ("headers", "environ", "detailed"),
    [
        (STRANGER, {}, False),
        (STRANGER | {"Authorization": "Bearer wrong"}, {}, False),
        (STRANGER | {"Authorization": "Bearer s3cret-token"}, {}, True),
        ({"X-Forwarded-For": "10.1.2.3"}, {}, True),
        ({}, {"REMOTE_ADDR": "127.0.0.1"}, True),  # this machine, not behind the proxy
    ],
)
def test_ready_shows_why_not_only_to_the_metrics_token_and_allowed_addresses(
    dispose, headers, environ, detailed
):
    app = make_app(
        "postgresql+psycopg://postgres@127.0.0.1:9/nothing",
        PROXY_HOPS=1,
        METRICS_TOKEN="s3cret-token",
        METRICS_ALLOWED_IPS=["10.0.0.0/8", "127.0.0.1/32"],
    )
    dispose(app)
    answer = app.test_client().get("/ready", headers=headers, environ_base=environ)
    assert answer.status_code == 503
    if detailed:
        assert "refused" in answer.json["checks"]["database"].lower()
    else:
        assert answer.json == {"ready": False}


@pytest.mark.slow
def test_under_gunicorn_ready_keeps_a_stopped_redis_s_address_from_strangers(
    sqlite_database_url, tmp_path
):
    with own_redis(tmp_path) as server:
        settings = {"FEED_ENABLED": "0", "PROXY_HOPS": "1", "METRICS_TOKEN": "s3cret-token"}
        with gunicorn(sqlite_database_url, REDIS_URL=server.url, **settings) as address:
            wait_answering(address)  # a request that waits for a booting worker may be cut
            assert requests.get(f"http://{address}/ready", headers=STRANGER, timeout=30).ok
            server.stop()
            answer = requests.get(f"http://{address}/ready", headers=STRANGER, timeout=10)
            assert (answer.status_code, answer.json()) == (503, {"ready": False})
            assert str(server.port) not in answer.text
            token = STRANGER | {"Authorization": "Bearer s3cret-token"}
            answer = requests.get(f"http://{address}/ready", headers=token, timeout=10)
            assert answer.status_code == 503
            assert str(server.port) in answer.json()["checks"]["redis"]


def test_health_stays_a_cheap_liveness_check(sqlite_database_url, dispose):
    app = make_app("postgresql+psycopg://postgres@127.0.0.1:9/nothing")
    dispose(app)
    assert app.test_client().get("/health").json == {"status": "ok"}


# /metrics ---------------------------------------------------------------------------------------


def scrape(client, **headers):
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})


def test_metrics_without_settings_answer_this_machine_only(client):
    assert scrape(client).status_code == 200
    remote = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert remote.status_code == 403


def test_metrics_with_a_token_want_it_as_a_bearer(sqlite_database_url, dispose):
    app = make_app(sqlite_database_url, METRICS_TOKEN="s3cret-token")
    dispose(app)
    client = app.test_client()
    assert scrape(client).status_code == 403  # the token replaces "this machine"
    assert scrape(client, Authorization="Bearer wrong").status_code == 403
    assert scrape(client, Authorization="Bearer s3cret-token").status_code == 200


def test_metrics_for_an_allowed_network(sqlite_database_url, dispose):
    app = make_app(sqlite_database_url, METRICS_ALLOWED_IPS=["10.0.0.0/8"])
    dispose(app)
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "11.1.2.3"}).status_code == 403


def metric_families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_and_name_what_on_call_needs(client):
    client.post("/wallet/get_balance", json={"userId": "nobody"})
    families = metric_families(scrape(client).text)
    for name in (
        "dashboard_feed_upstream_delay_seconds",
        "dashboard_board_delay_seconds",
        "dashboard_feed_frames",
        "dashboard_feed_frames_skipped",
        "dashboard_feed_up",
        "dashboard_boards_connected",
        "dashboard_boards_cut_off",
        "dashboard_boards_caught_up",
        "dashboard_relay_backlog_messages",
        "dashboard_db_write_behind_lag_seconds",
        "dashboard_db_set_aside_rows",
        "dashboard_wallet_callbacks",
        "dashboard_wallet_callback_seconds",
        "dashboard_db_pool_wait_seconds",
    ):
        assert name in families, name


def wallet_callbacks(client):
    """({(callback, code, failure): answers}, {callback: answers timed}) as /metrics shows
    them."""
    families = metric_families(scrape(client).text)
    counted = {
        (s.labels["callback"], s.labels["code"], s.labels["failure"]): s.value
        for s in families["dashboard_wallet_callbacks"].samples
        if s.name == "dashboard_wallet_callbacks_total"
    }
    timed = {
        s.labels["callback"]: s.value
        for s in families["dashboard_wallet_callback_seconds"].samples
        if s.name == "dashboard_wallet_callback_seconds_count"
    }
    return counted, timed


def test_wallet_callbacks_are_counted_by_answer_code_and_timed(
    sqlite_database_url, monkeypatch, dispose
):
    import wallet.views

    app = make_app(
        sqlite_database_url, TESTING=False, WALLET_CODES={"unknown_user": "1001", "busy": "1002"}
    )
    dispose(app)
    client = app.test_client()
    deposit(app, "counted", "100")
    counted_before, timed_before = wallet_callbacks(client)

    def post(callback, body):
        return client.post(f"/wallet/{callback}", json=body).status_code

    assert post("get_balance", {"userId": "counted"}) == 200
    assert post("get_balance", {"userId": "nobody"}) == 200
    assert post("cancel_bet", {"userId": "counted"}) == 200  # no txId: malformed
    monkeypatch.setattr(wallet.views, "run_in_transaction", lambda *_a, **_k: 1 / 0)
    assert post("get_balance", {"userId": "counted"}) == 500
    assert client.get("/wallet/get_balance").status_code == 405  # no callback: not counted

    counted, timed = wallet_callbacks(client)
    new = {key: counted[key] - counted_before.get(key, 0) for key in counted}
    assert {key: n for key, n in new.items() if n} == {
        ("get_balance", "0000", "none"): 1,
        ("get_balance", "1001", "unknown_user"): 1,
        ("cancel_bet", "9999", "malformed_request"): 1,
        ("get_balance", "9999", "internal_error"): 1,
    }
    assert timed["get_balance"] - timed_before.get("get_balance", 0) == 3
    assert timed["cancel_bet"] - timed_before.get("cancel_bet", 0) == 1


def callbacks_by_pid(directory):
    """{pid: wallet callbacks counted} from the workers' metric files."""
    counted = {}
    for path in Path(directory).glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for _key, value, _ts, _pos in MmapedDict.read_all_values_from_file(str(path)):
            if "dashboard_wallet_callbacks_total" in _key:
                counted[pid] = counted.get(pid, 0) + value
    return counted


@pytest.mark.slow
def test_metrics_add_up_every_gunicorn_worker(sqlite_database_url, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    with gunicorn(
        sqlite_database_url,
        WEB_CONCURRENCY="2",
        FEED_ENABLED="0",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        # Several workers are the deployed shape, which has Redis (keys of this test's own).
        REDIS_URL=REDIS_TEST_URL,
        REDIS_PREFIX=f"test-metrics-{uuid.uuid4().hex}",
    ) as address:
        wait_answering(address)
        sent = 0
        deadline = time.monotonic() + 60
        # New connections until both workers have answered some (the kernel picks the worker).
        while len([n for n in callbacks_by_pid(directory).values() if n]) < 2:
            assert time.monotonic() < deadline, "one worker took every connection"
            for _ in range(10):
                body = place_bet_body(f"tx-{uuid.uuid4().hex[:12]}", user="nobody")
                answer = requests.post(f"http://{address}/wallet/place_bet", json=body, timeout=5)
                assert answer.status_code == 200
                sent += 1
        for _ in range(3):  # whichever worker answers the scrape, it counts both
            text = requests.get(f"http://{address}/metrics", timeout=5).text
            families = metric_families(text)
            calls = families["dashboard_wallet_callbacks"].samples
            total = sum(s.value for s in calls if s.name == "dashboard_wallet_callbacks_total")
            assert total == sent
            assert {s.labels["callback"] for s in calls if s.value} == {"place_bet"}
            latency = families["dashboard_wallet_callback_seconds"].samples
            count = [s for s in latency if s.name == "dashboard_wallet_callback_seconds_count"]
            assert sum(s.value for s in count) == sent
            waits = families["dashboard_db_pool_wait_seconds"].samples
            pool_waits = next(s.value for s in waits if s.name.endswith("_count"))
            assert pool_waits >= sent  # every callback took a connection from the pool


# Logs -------------------------------------------------------------------------------------------


def test_log_lines_start_with_a_utc_timestamp(sqlite_database_url, capsys, dispose):
    dispose(make_app(sqlite_database_url, LOG_FORMAT="text"))
    capsys.readouterr()
    logging.getLogger("feed.upstream.client").warning("live odds down: no alive for 20 s")
    line = capsys.readouterr().err.strip()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING feed\.upstream\.client: live odds down: "
        r"no alive for 20 s",
        line,
    )


def test_json_logs_for_log_drains(sqlite_database_url, capsys, dispose, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    dispose(create_app(base_config(sqlite_database_url)))
    capsys.readouterr()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("wallet.views").exception("wallet callback failed")
    entry = json.loads(capsys.readouterr().err.strip())
    assert entry["level"] == "ERROR" and entry["logger"] == "wallet.views"
    assert entry["message"] == "wallet callback failed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert "ValueError: boom" in entry["exception"]
    dispose(create_app(base_config(sqlite_database_url) | {"LOG_FORMAT": "text"}))


BREAKERS = ["\n", "\r\n", "\x00", "\x1b[2J", "\x85", "\u2028"]  # each ends a line somewhere


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_break_in_a_logged_value_cannot_forge_a_line(
    sqlite_database_url, capsys, dispose, log_format
):
    dispose(make_app(sqlite_database_url, LOG_FORMAT=log_format))
    capsys.readouterr()
    forged = "2026-11-22T03:55:00.123Z INFO accounts.views: login: mallory (admin)"
    for breaker in BREAKERS:
        logging.getLogger("accounts.views").warning("login failed (%s)", f"x{breaker}{forged}")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(BREAKERS)
    for line, breaker in zip(lines, BREAKERS, strict=True):
        if log_format == "json":
            assert json.loads(line)["message"] == f"login failed (x{breaker}{forged})"
        else:
            escaped = breaker.encode("unicode_escape").decode()
            assert line.endswith(f" WARNING accounts.views: login failed (x{escaped}{forged})")
    dispose(make_app(sqlite_database_url, LOG_FORMAT="text"))


def test_a_traceback_in_text_is_one_line(sqlite_database_url, capsys, dispose):
    dispose(make_app(sqlite_database_url, LOG_FORMAT="text"))
    capsys.readouterr()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("wallet.views").exception("wallet callback failed")
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\S+Z ERROR wallet\.views: wallet callback failed\\nTraceback \(most recent call "
        r"last\):\\n.*\\nValueError: boom",
        line,
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_gunicorns_error_log_in_a_worker_takes_the_apps_format(
    sqlite_database_url, dispose, log_format
):
    import io

    written = io.StringIO()
    gunicorn_log = logging.getLogger("gunicorn.error")  # as gunicorn sets it up before the app
    handler = logging.StreamHandler(written)
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(message)s"))
    gunicorn_log.addHandler(handler)
    gunicorn_log.propagate = False
    try:
        dispose(make_app(sqlite_database_url, LOG_FORMAT=log_format))
        try:
            raise ValueError("boom")
        except ValueError:
            gunicorn_log.exception("Error handling request /x\ny")
    finally:
        gunicorn_log.removeHandler(handler)
        gunicorn_log.propagate = True
    (line,) = written.getvalue().splitlines()
    if log_format == "json":
        entry = json.loads(line)
        assert entry["logger"] == "gunicorn.error"
        assert entry["message"] == "Error handling request /x\ny"
        assert "ValueError: boom" in entry["exception"]
    else:
        assert " ERROR gunicorn.error: Error handling request /x\\ny\\nTraceback" in line


def test_a_failed_greenlet_is_logged_as_one_json_line(sqlite_database_url):
    from tests.servers import run_script

    done = run_script("failed_greenlet", sqlite_database_url)
    assert done.returncode == 0, done.stderr
    (entry,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert entry["level"] == "ERROR" and entry["logger"] == "gevent"
    assert entry["message"].endswith(" failed")
    assert "ValueError: boom" in entry["exception"]
