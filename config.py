"""Settings read from the environment, in one place."""

import json
import math
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

DEVELOPMENT_SECRET = "dev"  # the old default: never with a production database


class SettingError(Exception):
    """A setting the app cannot start with; the message says what to change."""


def database_url(environ, instance_path):
    """Return the SQLAlchemy URL for DATABASE_URL, or a SQLite file under instance/."""
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{Path(instance_path) / 'dashboard.sqlite'}"
    # Hosting platforms still hand out postgres://, which SQLAlchemy no longer accepts,
    # and a bare postgresql:// would select psycopg2, which blocks a gevent worker.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def flag(environ, name, default=False):
    """Read a boolean environment variable: 1/true/yes/on are true."""
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def csv(environ, name):
    """Read a comma-separated environment variable as a list of non-empty strings."""
    return [item.strip() for item in environ.get(name, "").split(",") if item.strip()]


def secret_key(environ, instance_path):
    """SECRET_KEY; without one, a random key kept under instance/ (local use only).

    A production database (DATABASE_URL set) needs a SECRET_KEY of its own: anyone who knows
    the key can sign themselves a board session.
    """
    key = environ.get("SECRET_KEY", "").strip()
    if environ.get("DATABASE_URL", "").strip() and key in ("", DEVELOPMENT_SECRET):
        raise SettingError(
            "SECRET_KEY is unset or the development default while DATABASE_URL is set: set"
            " SECRET_KEY to a long random value, e.g. the output of"
            " python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if key:
        return key
    # Kept in a file so that every worker, and the next start, sign with the same key.
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="ascii") as out:
            out.write(secrets.token_hex(32))
    except FileExistsError:
        pass
    return path.read_text(encoding="ascii").strip()


def wallet_gated(environ):
    """Whether the wallet has a gate: the provider's shared secret or its addresses."""
    return bool(environ.get("WALLET_SECRET", "").strip() or csv(environ, "WALLET_ALLOWED_IPS"))


def bind_host(environ):
    """The address the server listens on, and why when it is loopback only.

    The platform routes to 0.0.0.0. On the embedded database with no gate and no WALLET_OPEN
    (`make run`), anyone who reaches the port could move money: loopback only, unless HOST says.
    """
    host = environ.get("HOST", "").strip()
    if host:
        return host, None
    if environ.get("DATABASE_URL", "").strip() or wallet_gated(environ):
        return "0.0.0.0", None  # a production start: refused later without a gate
    if flag(environ, "WALLET_OPEN"):
        return "0.0.0.0", None
    return "127.0.0.1", (
        "the wallet has no gate (WALLET_SECRET, WALLET_ALLOWED_IPS): serving on 127.0.0.1 only;"
        " HOST=0.0.0.0 or WALLET_OPEN=1 serves other machines too"
    )


def wallet_open(environ):
    """WALLET_OPEN: the wallet takes callbacks from anyone on purpose (a private network).

    With a production database (DATABASE_URL set) the wallet needs a gate: the provider's
    shared secret or its addresses, or this flag saying that the network in front is the gate.
    Without one, anyone who can reach the app can post a settlement and be paid.
    """
    wanted = flag(environ, "WALLET_OPEN")
    if environ.get("DATABASE_URL", "").strip() and not (wallet_gated(environ) or wanted):
        raise SettingError(
            "the wallet would pay anyone while DATABASE_URL is set: set WALLET_SECRET (the"
            " provider sends it in every callback's X-Wallet-Secret header) or"
            " WALLET_ALLOWED_IPS (the provider's addresses), or WALLET_OPEN=1 if a private"
            " network is the wallet's only gate"
        )
    return wanted


def feed_url(environ):
    """FEED_URL: empty (no upstream), or a ws:// or wss:// URL with a host."""
    url = environ.get("FEED_URL", "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- read only to refuse a port out of range
        well_formed = parts.scheme in ("ws", "wss") and bool(parts.hostname)
    except ValueError:
        well_formed = False
    if not well_formed:
        shown = parts._replace(query="", fragment="").geturl()  # a token stays out of logs
        raise SettingError(
            "FEED_URL must be a ws:// or wss:// URL with a host, like"
            f" wss://xpbet-ws-api.helix.city/ws, not {shown!r}"
        )
    return url


def log_format(environ):
    """LOG_FORMAT: text (the default) or json."""
    value = environ.get("LOG_FORMAT", "").strip().lower() or "text"
    if value not in ("text", "json"):
        raise SettingError(f"LOG_FORMAT must be text or json, not {value!r}")
    return value


def above_zero(environ, name, default, kind=float):
    """Read a number above zero (a whole one with kind=int); the default when unset."""
    text = environ.get(name, "").strip() or str(default)
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not (math.isfinite(value) and value > 0):
        whole = "a whole number" if kind is int else "a number"
        raise SettingError(f"{name} must be {whole} above 0, not {text!r}")
    return value


def port(environ, name, default):
    """Read a TCP port (1 to 65535); the default when unset."""
    text = environ.get(name, "").strip() or str(default)
    if not (text.isdigit() and 1 <= int(text) <= 65535):
        raise SettingError(f"{name} must be a port, a whole number from 1 to 65535, not {text!r}")
    return int(text)


def connect_args(environ, url):
    """The driver's connection settings: on PostgreSQL, bounds on connecting and on a peer that
    went silent (a failover that drops packets), so that no wait on the database is endless."""
    if not url.startswith("postgresql"):
        return {}
    dead = above_zero(environ, "DATABASE_DEAD_SECONDS", 20)
    return {
        "connect_timeout": max(1, round(above_zero(environ, "DATABASE_CONNECT_TIMEOUT", 5))),
        # Probes after a third of it idle, then two more, a sixth apart: a silent peer is
        # found within it. Data sent and not acknowledged for as long fails the connection.
        "keepalives": 1,
        "keepalives_idle": max(1, round(dead / 3)),
        "keepalives_interval": max(1, round(dead / 6)),
        "keepalives_count": 4,
        "tcp_user_timeout": round(dead * 1000),
    }


def from_environment(environ=None, instance_path="instance"):
    """Build the app's configuration mapping from environment variables."""
    environ = os.environ if environ is None else environ
    redis_prefix = environ.get("REDIS_PREFIX", "dashboard").strip() or "dashboard"
    session_hours = float(environ.get("BOARD_SESSION_HOURS", "12"))
    return {
        # The largest request body taken (bytes): the wallet's callbacks are a few hundred.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SECRET_KEY": secret_key(environ, instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(environ, instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "connect_args": connect_args(environ, database_url(environ, instance_path)),
            # Recycle rather than pre-ping: a ping is a round trip on every money callback.
            "pool_recycle": 300,
            # A fixed set of connections, no overflow: past the pool's size, callbacks queue for
            # a connection instead of opening one each (a new connection costs more than the
            # callback, and two cores gain nothing from more transactions at once).
            "pool_size": int(environ.get("DATABASE_POOL_SIZE", "10")),
            "max_overflow": 0,
            # Bounded: a callback that cannot have a connection answers "busy, retry later".
            "pool_timeout": float(environ.get("DATABASE_POOL_TIMEOUT", "2")),
        },
        # Longest a transaction waits for a lock held by another one (an account's row lock on
        # PostgreSQL, the write lock on SQLite), and a statement may run (PostgreSQL), before it
        # gives up and a callback answers "busy, retry later".
        "DATABASE_LOCK_TIMEOUT": float(environ.get("DATABASE_LOCK_TIMEOUT", "2")),
        "DATABASE_STATEMENT_TIMEOUT": float(environ.get("DATABASE_STATEMENT_TIMEOUT", "5")),
        # Longest a request's body may take to arrive after its headers; and how many requests
        # of one client address a worker waits for a body at once (more must bring it whole).
        "BODY_TIMEOUT_SECONDS": above_zero(environ, "BODY_TIMEOUT_SECONDS", 5),
        "BODY_WAITS_PER_ADDRESS": above_zero(environ, "BODY_WAITS_PER_ADDRESS", 20, kind=int),
        # The web server's port (gunicorn.conf.py binds it): where a printed address points.
        "PORT": port(environ, "PORT", 8000),
        # How many proxies in front of us append to X-Forwarded-For (1 behind a platform router).
        "PROXY_HOPS": int(environ.get("PROXY_HOPS", "0")),
        # Wallet
        "WALLET_FREE_CREDIT": flag(environ, "WALLET_FREE_CREDIT"),
        "WALLET_ALLOWED_IPS": csv(environ, "WALLET_ALLOWED_IPS"),
        "WALLET_SECRET": environ.get("WALLET_SECRET", ""),
        "WALLET_OPEN": wallet_open(environ),
        "WALLET_SECRET_HEADER": environ.get("WALLET_SECRET_HEADER", "X-Wallet-Secret"),
        "WALLET_MAINTENANCE": flag(environ, "WALLET_MAINTENANCE"),
        "WALLET_CODES": json.loads(environ.get("WALLET_CODES") or "{}"),
        # Feed
        "FEED_URL": feed_url(environ),
        "FEED_TOKEN": environ.get("FEED_TOKEN", ""),
        "FEED_LANG": environ.get("FEED_LANG", ""),
        "FEED_SUBSCRIBE": csv(environ, "FEED_SUBSCRIBE"),
        "FEED_MARKETS_FILE": environ.get("FEED_MARKETS_FILE", ""),
        "FEED_ENABLED": flag(environ, "FEED_ENABLED", default=True),
        # The largest upstream message taken (bytes); a larger one is read through, dropped and
        # counted, never held in memory.
        "FEED_MAX_FRAME_BYTES": int(environ.get("FEED_MAX_FRAME_BYTES", str(4 * 1024 * 1024))),
        # Bytes of relay messages kept for boards that are behind (besides 2,048 messages at
        # most); a board that falls further behind is closed and resyncs.
        "BOARD_BACKLOG_BYTES": int(environ.get("BOARD_BACKLOG_BYTES", str(32 * 1024 * 1024))),
        # Deployed shape: with REDIS_URL the `feed` process consumes and the web workers relay.
        "REDIS_URL": environ.get("REDIS_URL", "").strip(),
        # Names of this deployment's keys and channel in Redis (several apps may share one Redis).
        "REDIS_PREFIX": redis_prefix,
        # The login limiter's counts in Redis, shared by every process of the deployment.
        "LOGIN_LIMIT_PREFIX": f"{redis_prefix}:login:",
        # rediss:// with the platform's self-signed certificate: off skips verification; or
        # trust a certificate file (PEM) with REDIS_CA_CERTS.
        "REDIS_TLS_VERIFY": flag(environ, "REDIS_TLS_VERIFY", default=True),
        "REDIS_CA_CERTS": environ.get("REDIS_CA_CERTS", "").strip(),
        # A consumer that stops renewing its lease is replaced after this many seconds.
        "FEED_LEASE_SECONDS": float(environ.get("FEED_LEASE_SECONDS", "5")),
        # A product with no alive for this long is down (its lines read suspended); the boards
        # learn it from the health they are sent.
        "FEED_ALIVE_TIMEOUT_SECONDS": above_zero(environ, "FEED_ALIVE_TIMEOUT_SECONDS", 20),
        # The feed's write-behind: how often, how many rows a transaction, how many BetStops
        # may wait for a database that is away. A killed worker loses at most what waits.
        "FEED_FLUSH_SECONDS": float(environ.get("FEED_FLUSH_SECONDS", "1")),
        "FEED_FLUSH_ROWS": int(environ.get("FEED_FLUSH_ROWS", "500")),
        "FEED_STORE_BACKLOG": int(environ.get("FEED_STORE_BACKLOG", "100000")),
        "FEED_SPILL_FILE": environ.get("FEED_SPILL_FILE", ""),
        # Closed lines and events leave memory and snapshots after the grace, the database
        # (with the BetStop log) after the retention.
        "FEED_CLOSED_GRACE_SECONDS": float(environ.get("FEED_CLOSED_GRACE_SECONDS", "600")),
        "FEED_RETENTION_DAYS": float(environ.get("FEED_RETENTION_DAYS", "30")),
        # Seconds between the server's pings to each board: inside any router's idle timeout.
        # A board that neither answers nor takes a write for two of them (plus a nudge) is closed.
        "BOARD_PING_SECONDS": float(environ.get("BOARD_PING_SECONDS", "25")),
        # Seconds between the hub's wake-ups of idle board handlers, to ping or to notice a
        # closed socket or an ended session: a wait per handler would cost every message.
        "BOARD_NUDGE_SECONDS": above_zero(environ, "BOARD_NUDGE_SECONDS", 5),
        # Board login and on-call
        "BOARD_LOGIN": flag(environ, "BOARD_LOGIN", default=True),
        "BOARD_ORIGINS": csv(environ, "BOARD_ORIGINS"),
        "BOARD_SESSION_HOURS": session_hours,
        # The session cookie: never read by the page's script, not sent on cross-site requests.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=session_hours),
        "METRICS_TOKEN": environ.get("METRICS_TOKEN", ""),
        "METRICS_ALLOWED_IPS": csv(environ, "METRICS_ALLOWED_IPS"),
        "LOG_FORMAT": log_format(environ),
    }
