"""Whether this process can do its work: the database, Redis (when configured) and the feed.

Each check answers within a few seconds whatever the dependency does: it runs aside, and the
answer is "no answer" when it takes longer. One check of each kind runs at a time per process.
"""

import threading

import sqlalchemy as sa

from database import db

CHECK_TIMEOUT_S = 2


class Probe:
    """Runs one check at a time aside, and waits for it at most CHECK_TIMEOUT_S."""

    def __init__(self, check):
        self.check = check
        self.running = None  # the Event of the check under way
        self.result = None
        self.lock = threading.Lock()

    def __call__(self, *args):
        with self.lock:
            if self.running is None:
                self.running = threading.Event()
                threading.Thread(target=self._run, args=(self.running, args), daemon=True).start()
            running = self.running
        if not running.wait(CHECK_TIMEOUT_S):
            return f"no answer within {CHECK_TIMEOUT_S} s"
        return self.result

    def _run(self, done, args):
        try:
            result = self.check(*args)
        except Exception as exc:
            result = _first_line(exc)
        with self.lock:
            self.result = result
            self.running = None
        done.set()


def _first_line(exc):
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def check_database(app):
    with app.app_context(), db.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return "ok"


def check_redis(client):
    client.ping()
    return "ok"


def check_feed(runtime):
    # The feed's status in either shape: this process consumes, or it follows the feed process
    # (whose health the status carries).
    report = runtime.status()
    if "products" not in report:
        return "down: no word from the feed process"
    if not report.get("connected"):
        return "down: not connected upstream"
    down = [p for p, product in report["products"].items() if not product["up"]]
    if down:
        return "down: product " + ", ".join(down) + " has no timely alive"
    return "ok"


class Readiness:
    """The checks of one app."""

    def __init__(self, app):
        self.app = app
        self.database = Probe(check_database)
        self.redis = Probe(check_redis)
        self.redis_client = None
        if app.config.get("REDIS_URL"):
            from infra.redis_client import redis_client

            config = app.config
            self.redis_client = redis_client(
                config["REDIS_URL"], config["REDIS_TLS_VERIFY"], config["REDIS_CA_CERTS"], 1
            )

    def report(self):
        """(ready, {check: "ok" | "off" | why not})."""
        checks = {"database": self.database(self.app)}
        checks["redis"] = self.redis(self.redis_client) if self.redis_client else "off"
        runtime = self.app.extensions.get("feed")
        if runtime is None or not self.app.config.get("FEED_ENABLED"):
            checks["feed"] = "off"
        else:
            checks["feed"] = check_feed(runtime)
        return all(v in ("ok", "off") for v in checks.values()), checks
