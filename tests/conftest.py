"""Shared fixtures: the app on SQLite and PostgreSQL, its client, and database helpers; and a
check that every test ends every thread it starts."""

import collections
import os
import shutil
import tempfile
import threading
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from hypothesis.internal.detection import is_hypothesis_test

from app import create_app
from database import db
from tests.upstream import Upstream

# The wallet's fixtures, for its tests in every folder.
pytest_plugins = ["tests.wallet.fixtures"]
# A folder says what kind of test it holds: unit/ runs in this process, processes/ starts
# servers and commands, browser/ drives Chromium. The last two are slow by their nature.
SLOW_KINDS = {"processes", "browser"}

SHARED_POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
# Under pytest-xdist, the worker running these tests ("gw0", "gw1", ...); None in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def of_this_worker(url):
    """The database of this worker on the server of `url`: `<name>_<worker>` under pytest-xdist
    (each worker empties and migrates its own), `url` itself in one process."""
    if WORKER is None:
        return url
    parts = urlsplit(url)
    return parts._replace(path=f"{parts.path.rstrip('/')}_{WORKER}").geturl()


POSTGRES_URL = of_this_worker(SHARED_POSTGRES_URL)
# The app refuses to start on a database URL without a SECRET_KEY of its own; the servers and
# commands the tests start inherit this one.
os.environ.setdefault("SECRET_KEY", "tests-" + os.urandom(16).hex())
# Likewise without a gate for the wallet: the servers the tests start listen on loopback only,
# which is the private network WALLET_OPEN stands for. The gate's own tests unset it.
os.environ.setdefault("WALLET_OPEN", "1")


def base_config(database_url):
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 20, "max_overflow": 40}
        if database_url.startswith("postgresql")
        else {},
        "FEED_ENABLED": False,
        "WALLET_CODES": {},
        "WALLET_ALLOWED_IPS": [],
        "WALLET_SECRET": "",
        "WALLET_MAINTENANCE": False,
        "WALLET_FREE_CREDIT": False,
        "PROXY_HOPS": 0,
        # The board's login has tests of its own (test_accounts.py); elsewhere it is off.
        "BOARD_LOGIN": False,
        # BetStops a store keeps on disk while the database is down: each app a file of its own.
        "FEED_SPILL_FILE": os.path.join(tempfile.mkdtemp(prefix="feed-spill-"), "spill"),
    }


def psycopg(url):
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def postgres_url():
    """The psycopg URL of the test PostgreSQL (this worker's database, created on the server of
    TEST_DATABASE_URL if missing), or skip (fail under CI) when it is unreachable."""
    url = psycopg(POSTGRES_URL)
    try:
        if url != psycopg(SHARED_POSTGRES_URL):
            create_database(psycopg(SHARED_POSTGRES_URL), urlsplit(url).path.lstrip("/"))
        engine = sa.create_engine(url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
    except sa.exc.OperationalError as exc:
        message = f"needs PostgreSQL at {POSTGRES_URL} (set TEST_DATABASE_URL): {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL tests; " + message)
        pytest.skip(message)
    return url


def create_database(server_url, name):
    """Create database `name` on the server of `server_url`, unless it exists."""
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
            ).first()
            if found is None:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated():
    """The test PostgreSQL database, emptied and migrated once per run."""
    url = postgres_url()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    app = create_app(base_config(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


def sqlite_url(sqlite_template, tmp_path):
    path = tmp_path / "test.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def truncate_all(url):
    """Empty every table and start every id sequence again.

    Only what the last test touched: a TRUNCATE gives each table a new file (~0.1 s for all of
    them, hundreds of times a run), while finding the tables that hold rows and the sequences
    that were read is one round trip each."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        names = [table.name for table in db.metadata.sorted_tables]
        holding = " UNION ALL ".join(f"(SELECT '{name}' FROM {name} LIMIT 1)" for name in names)
        written = [name for (name,) in connection.exec_driver_sql(holding)]
        if written:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(written)} CASCADE")
        read = connection.exec_driver_sql(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences"
            " WHERE last_value IS NOT NULL"
        )
        for (sequence,) in read.all():
            connection.exec_driver_sql(f"ALTER SEQUENCE {sequence} RESTART")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The URL of an empty, migrated database: a SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(request.getfixturevalue("sqlite_template"), tmp_path)
    url = request.getfixturevalue("postgres_migrated")
    truncate_all(url)
    return url


@pytest.fixture
def postgres_database_url(postgres_migrated):
    """An empty, migrated PostgreSQL database, for the tests whose point is real concurrency."""
    truncate_all(postgres_migrated)
    return postgres_migrated


@pytest.fixture
def app_config():
    """Overrides a test module may set for the app it gets."""
    return {}


THREADS_GRACE_S = 2.0  # how long a test's threads have to end once the test is over
# Predicates of threads that a fixture broader than one test owns, and ends itself.
SHARED_THREADS = []


def threads_left(before, grace_s=THREADS_GRACE_S):
    """The threads not in `before` still running after `grace_s`, but shared ones."""
    deadline = time.monotonic() + grace_s
    left = []
    for thread in threading.enumerate():
        if thread in before or any(shared(thread) for shared in SHARED_THREADS):
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            left.append(thread)
    return left


def described(threads):
    return ", ".join(f"{t.name} ({'daemon' if t.daemon else 'not daemon'})" for t in threads)


@pytest.fixture(autouse=True)
def spill_file_of_its_own(monkeypatch, tmp_path):
    """The processes a test starts keep BetStops waiting for their database in a file of the
    test's own: one a test left behind must never be written into the next test's database."""
    monkeypatch.setenv("FEED_SPILL_FILE", str(tmp_path / "feed-spill"))


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Fail a test that leaves a thread running: hubs' wakers, mirrors, consumers, upstreams and
    every other thread a test starts are ended by the test or its fixtures."""
    before = set(threading.enumerate())
    yield
    left = threads_left(before)
    if left:
        pytest.fail(f"the test left {len(left)} thread(s) running: {described(left)}")


def close_app(app):
    """Close the app's hub (whose waker a board's subscription starts) and its database pool. A
    test that starts the app's feed stops it itself."""
    app.extensions["feed"].hub.close()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(database_url, app_config):
    app = create_app(base_config(database_url) | app_config)
    if database_url.startswith("sqlite"):
        without_fsync(app)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sqlite_database_url(sqlite_template, tmp_path):
    """An empty, migrated SQLite file, for tests whose subject is not the database."""
    return sqlite_url(sqlite_template, tmp_path)


NO_FSYNC_PRAGMA = "PRAGMA synchronous=OFF"


def without_fsync(app):
    """Commit on the app's SQLite file without an fsync: nothing a test in this process writes
    need survive a power cut, and an fsync a commit doubles what a commit takes."""
    with app.app_context():
        sa.event.listen(db.engine, "connect", lambda dbapi, _: dbapi.execute(NO_FSYNC_PRAGMA))


@pytest.fixture
def feed_app(sqlite_database_url):
    """The app on SQLite, its feed driven by the test alone: no upstream, nothing started."""
    app = create_app(base_config(sqlite_database_url) | {"FEED_URL": ""})
    without_fsync(app)
    yield app
    close_app(app)


@pytest.fixture
def upstream():
    """A local upstream feed server, started; killed at the end of the test."""
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture
def redis_bus_url():
    """(url, prefix): the shared Redis, under keys of this test's own, removed afterwards."""
    from tests.redis_server import forget, shared_redis

    url, prefix = shared_redis()
    yield url, prefix
    forget(url, prefix)


def playwright_thread(thread):
    """A thread of Playwright's event loop (its executor, its driver's watcher): the module's
    browser starts them as its tests need them, and they end when it closes."""
    return thread.name.startswith("asyncio")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one for each test module that asks for it."""
    from tests.board_page import chromium

    before = set(threading.enumerate())
    SHARED_THREADS.append(playwright_thread)
    try:
        yield from chromium()
    finally:
        SHARED_THREADS.remove(playwright_thread)
    left = [thread for thread in threads_left(before) if playwright_thread(thread)]
    if left:
        pytest.fail(f"the browser left {len(left)} thread(s) running: {described(left)}")


def kind_of(item):
    """The folder under tests/ of `item`'s module: what kind of test it is."""
    return item.path.relative_to(item.config.rootpath / "tests").parts[0]


def pytest_collection_modifyitems(items):
    """Mark every test of processes/ and browser/ slow, and those of browser/ browser too; run
    them first, then the in-process modules marked slow or drawing examples with Hypothesis
    (hundreds each), then the others, the largest first. Parallel workers take modules in
    this order (`make test` asks pytest-xdist to keep it), so the long ones start at once and
    the many short ones fill the gaps at the end, instead of one long module being the last
    thing a run waits for."""
    sizes = collections.Counter(item.path for item in items)
    long = {
        item.path
        for item in items
        if item.get_closest_marker("slow") or is_hypothesis_test(getattr(item, "obj", None))
    }
    for item in items:
        kind = kind_of(item)
        if kind in SLOW_KINDS:
            item.add_marker(pytest.mark.slow)
        if kind == "browser":
            item.add_marker(pytest.mark.browser)

    def order(item):
        slow = kind_of(item) in SLOW_KINDS
        if slow:
            return (0, 0)
        return (1 if item.path in long else 2, -sizes[item.path])

    items.sort(key=order)  # stable: modules stay whole, in their own order
