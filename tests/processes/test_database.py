"""The database under gevent: a wait for it parks one greenlet, never the worker."""

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import gevent
import psycopg
import pytest
import requests
import sqlalchemy as sa

from app import create_app
from database import Busy, DriverStatement, UTCDateTime, db, run_in_transaction
from infra import gevent_waits
from tests.conftest import base_config
from tests.servers import gunicorn, python_output
from tests.wallet.calls import audit, cancel_bet_body, credits, deposit, place_bet_body
from wallet import store

USER = "hrgpl0001"


@pytest.mark.slow
def test_under_gunicorn_sqlite_locked_by_another_process_keeps_the_worker_answering(
    sqlite_database_url,
):
    app = create_app(base_config(sqlite_database_url))
    deposit(app, USER, "100")
    with app.app_context():
        db.engine.dispose()
    with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
        base = f"http://{address}"
        placed = requests.post(
            f"{base}/wallet/place_bet", json=place_bet_body("TX-1", amount="30"), timeout=30
        )
        assert placed.json()["balance"] == "70.0"

        # Another process's writer (`flask wallet deposit` during traffic, say) holds SQLite's
        # write lock: this test process is that other process.
        holder = sqlite3.connect(sqlite_database_url.removeprefix("sqlite:///"))
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                waiting = pool.submit(
                    requests.post,
                    f"{base}/wallet/cancel_bet",
                    json=cancel_bet_body("TX-1"),
                    timeout=60,
                )
                answered = 0
                while not waiting.done():
                    health = requests.get(f"{base}/health", timeout=10)
                    assert health.json() == {"status": "ok"}, "the worker stopped answering"
                    answered += 1
                refused = waiting.result()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert answered >= 1
        # The callback gave up waiting while the lock was still held: a failure the provider
        # retries, HTTP 200, nothing moved.
        assert refused.status_code == 200
        assert refused.json()["code"] == "9999"
        assert refused.json()["desc"].endswith("retry later")
        assert credits(app, USER) == (700_000, 0)

        retried = requests.post(f"{base}/wallet/cancel_bet", json=cancel_bet_body("TX-1"))
        assert (retried.json()["code"], retried.json()["balance"]) == ("0000", "100.0")
    assert audit(app) == []
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def connect(postgres_database_url, monkeypatch):
    """Open psycopg connections to the test database that wait on gevent's hub."""
    monkeypatch.setattr(psycopg.waiting, "wait", gevent_waits.wait_on_gevent_hub)
    url = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
    opened = []

    def open_one():
        opened.append(psycopg.connect(url, autocommit=True))
        return opened[-1]

    yield open_one
    for connection in opened:
        connection.close()


@pytest.mark.postgres
def test_queries_on_the_hub_let_other_greenlets_run(connect):
    connections = [connect() for _ in range(4)]

    def sleep(connection, n):
        return connection.execute("SELECT pg_sleep(0.4), %s", (n,)).fetchone()[1]

    started = time.monotonic()
    greenlets = [gevent.spawn(sleep, c, n) for n, c in enumerate(connections)]
    gevent.joinall(greenlets, raise_error=True)
    assert [g.value for g in greenlets] == [0, 1, 2, 3]
    assert time.monotonic() - started < 1.2, "the four 0.4 s queries ran one after another"


@pytest.mark.postgres
def test_a_wait_with_a_timeout_ends_on_time(connect):
    connection = connect()
    connection.execute("LISTEN nothing_comes")
    started = time.monotonic()
    assert list(connection.notifies(timeout=0.3)) == []
    assert 0.25 < time.monotonic() - started < 2


@pytest.mark.postgres
def test_a_wait_on_the_hub_returns_the_servers_error(connect):
    with pytest.raises(psycopg.errors.DivisionByZero):
        connect().execute("SELECT 1 / 0")


@pytest.mark.slow
@pytest.mark.postgres
def test_under_gunicorn_a_callback_waiting_for_a_lock_blocks_nothing_else(
    postgres_database_url,
):
    app = create_app(base_config(postgres_database_url))
    deposit(app, USER, "100")
    # A lock released well inside DATABASE_LOCK_TIMEOUT: every waiting callback goes through.
    with gunicorn(postgres_database_url, FEED_ENABLED="0", DATABASE_LOCK_TIMEOUT="30") as address:
        base = f"http://{address}/wallet"
        placed = requests.post(f"{base}/place_bet", json=place_bet_body("TX-1", amount="30"))
        assert placed.json()["balance"] == "70.0"

        # Another session holds the account's row lock: the cancel must queue behind it.
        holder = sa.create_engine(postgres_database_url)
        with holder.connect() as connection, ThreadPoolExecutor(max_workers=50) as pool:
            transaction = connection.begin()
            connection.execute(sa.text("SELECT 1 FROM wallet_accounts FOR UPDATE"))
            cancel = cancel_bet_body("TX-1")
            answers = [
                pool.submit(requests.post, f"{base}/cancel_bet", json=cancel) for _ in range(50)
            ]
            time.sleep(0.5)
            assert not any(answer.done() for answer in answers), "a cancel ignored the lock"
            started = time.monotonic()
            assert requests.get(f"http://{address}/health", timeout=5).json() == {"status": "ok"}
            assert time.monotonic() - started < 1, "the worker was blocked by a database wait"
            transaction.rollback()
            results = [answer.result(timeout=30).json() for answer in answers]
        holder.dispose()

    assert {(r["code"], r["balance"]) for r in results} == {("0000", "100.0")}
    assert credits(app, USER) == (1_000_000, 0)
    assert audit(app) == []
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_the_app_leaves_psycopgs_wait_alone(postgres_database_url):
    # The gevent worker's setup installs the hub wait (gunicorn.conf.py), not the app.
    before = psycopg.waiting.wait
    app = create_app(base_config(postgres_database_url))
    assert psycopg.waiting.wait is before is not gevent_waits.wait_on_gevent_hub
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("patch", "installed"), [(True, True), (False, False)])
def test_the_hub_wait_is_installed_only_where_gevent_has_patched(patch, installed):
    printed = python_output("hub_wait_installed", "patched" if patch else "plain")
    assert printed == f"{installed}\n"


@pytest.mark.postgres
def test_a_worker_on_postgresql_waits_on_the_hub(postgres_database_url):
    # The app's engine has loaded psycopg by the time the worker's setup installs the wait.
    assert python_output("hub_wait_installed", "app", postgres_database_url) == "True\n"


def test_a_worker_that_has_not_loaded_psycopg_is_not_made_to():
    # A worker on SQLite: importing psycopg to install a wait it never makes costs every start.
    assert python_output("hub_wait_installed", "sqlite") == "False\n"


@pytest.mark.postgres
def test_a_statement_running_past_its_limit_is_cancelled_as_busy(postgres_database_url):
    app = create_app(base_config(postgres_database_url) | {"DATABASE_STATEMENT_TIMEOUT": 0.2})

    def lock_then_sleep(connection):
        store.lock_account(connection, "nobody")  # the wallet's lock sets the limits
        connection.exec_driver_sql("SELECT pg_sleep(30)")

    with app.app_context():
        with pytest.raises(Busy, match="a statement ran longer"):
            run_in_transaction(lock_then_sleep)
        # The connection it ran on went back to the pool in a usable state.
        assert run_in_transaction(lambda c: c.exec_driver_sql("SELECT 1").scalar()) == 1
        db.engine.dispose()


@pytest.mark.postgres
def test_the_time_limits_hold_for_the_rest_of_a_wallet_transaction_only(postgres_database_url):
    app = create_app(
        base_config(postgres_database_url)
        | {"DATABASE_LOCK_TIMEOUT": 30, "DATABASE_STATEMENT_TIMEOUT": 7}
    )

    def limits(connection):
        return [connection.exec_driver_sql(f"SHOW {name}").scalar() for name in LIMITS]

    def lock_then_read_limits(connection):
        store.lock_account(connection, "nobody")
        return limits(connection)

    with app.app_context():
        lock, statement = run_in_transaction(lock_then_read_limits)
        assert 29_000 <= int(lock.removesuffix("ms")) <= 30_000 or lock == "30s"
        assert statement == "7s"
        # They end with the transaction: the next one on the same connection has none until it
        # takes a wallet lock, nor has anything outside run_in_transaction (migrations, reads).
        assert run_in_transaction(limits) == ["0", "0"]
        assert [db.session.execute(sa.text(f"SHOW {name}")).scalar() for name in LIMITS] == [
            "0",
            "0",
        ]
        db.session.remove()
        db.engine.dispose()


LIMITS = ("lock_timeout", "statement_timeout")


@pytest.mark.postgres
def test_a_driver_statement_keeps_its_types_both_ways(postgres_database_url):
    app = create_app(base_config(postgres_database_url))
    echo = DriverStatement(
        sa.select(
            sa.bindparam("at", type_=UTCDateTime).label("at"),
            sa.bindparam("n", type_=sa.BigInteger).label("n"),
        )
    )
    at = datetime(2026, 11, 22, 9, 30, 15, 123000, tzinfo=timezone(timedelta(hours=8)))

    def run(connection):
        # Another session time zone: a time handed over unconverted would move by its offset.
        connection.exec_driver_sql("SET LOCAL TimeZone = 'America/Sao_Paulo'")
        return echo.execute(connection, {"at": at, "n": 10**15, "unused": "ignored"})

    with app.app_context():
        (row,) = run_in_transaction(run)
        db.engine.dispose()
    assert row.at == at and row.at.tzinfo is UTC
    assert row.n == 10**15


@pytest.mark.postgres
def test_a_driver_statement_raises_sqlalchemys_error_and_rolls_back(postgres_database_url):
    app = create_app(base_config(postgres_database_url))
    deposit(app, USER, "100")
    square_root = DriverStatement(sa.select(sa.func.sqrt(sa.bindparam("x", type_=sa.Float))))

    def credit_then_fail(connection):
        accounts = store.ACCOUNTS
        emptied = accounts.update().where(accounts.c.user_id == USER)
        connection.execute(emptied.values(real_credit=0, balance=0))
        return square_root.execute(connection, {"x": -1.0})

    with app.app_context():
        with pytest.raises(sa.exc.DataError) as raised:
            run_in_transaction(credit_then_fail)
        assert raised.value.orig.sqlstate == "2201F"  # invalid_argument_for_power_function
        # The connection went back to the pool usable.
        (root,) = run_in_transaction(lambda c: square_root.execute(c, {"x": 4.0}))
        assert tuple(root) == (2.0,)
    assert credits(app, USER) == (1_000_000, 0)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_a_driver_statement_takes_every_parameter_at_its_call(postgres_database_url):
    app = create_app(base_config(postgres_database_url))
    with app.app_context():
        with pytest.raises(ValueError, match="has a value of its own"):
            run_in_transaction(lambda c: DriverStatement(sa.select(sa.literal(5))).execute(c, {}))
        db.engine.dispose()


@pytest.mark.postgres
def test_connections_the_server_dropped_fail_one_callback_and_are_replaced(
    postgres_database_url,
):
    app = create_app(base_config(postgres_database_url))
    deposit(app, USER, "100")
    client = app.test_client()
    for n in range(3):
        placed = client.post("/wallet/place_bet", json=place_bet_body(f"TX-{n}", amount="10"))
        assert placed.json["code"] == "0000"
    with app.app_context():
        held = [db.engine.connect() for _ in range(3)]  # the pool holds three connections
        for connection in held:
            connection.close()
    # The server restarts, or fails over: every connection in the pool is gone.
    url = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert dropped >= 3

    answers = [client.post("/wallet/cancel_bet", json=cancel_bet_body(f"TX-{n}")) for n in range(3)]
    # The callback that met a dropped connection refunds nothing and says so; the pool drops the
    # others it holds, so the next callbacks run on new connections.
    assert answers[0].status_code == 500
    assert answers[0].json == {"code": "9999", "desc": "internal error"}
    assert [(a.status_code, a.json["code"]) for a in answers[1:]] == [(200, "0000")] * 2
    retried = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-0"))
    assert (retried.json["code"], retried.json["balance"]) == ("0000", "100.0")
    assert credits(app, USER) == (1_000_000, 0)
    assert audit(app) == []
    with app.app_context():
        db.engine.dispose()


def test_no_free_connection_in_time_is_busy(sqlite_database_url):
    config = base_config(sqlite_database_url) | {
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.1}
    }
    app = create_app(config)
    with app.app_context():
        taken = db.engine.connect()  # the pool's only connection
        with pytest.raises(Busy, match="no database connection"):
            run_in_transaction(lambda c: c.exec_driver_sql("SELECT 1").scalar())
        taken.close()
        db.engine.dispose()


# Under the gevent worker, as the app runs: a greenlet keeps running after it gives a connection
# back until it waits for something, so it is first to ask again.
def test_connections_go_to_waiters_in_the_order_they_asked(sqlite_database_url):
    served = python_output("pool_under_gevent", sqlite_database_url)
    assert json.loads(served) == [f"W{i}" for i in range(5)]
