"""The server under test, in either of the app's shapes, as a benchmark starts it.

- `embedded`: gunicorn + gevent, one worker, the feed consumed inside it (the default);
- `deployed`: the feed process (`flask feed consume`) publishing through Redis to gunicorn with
  two workers (`WEB_CONCURRENCY=2`), as on the platform with `REDIS_URL` set. Its Redis is
  `BENCH_REDIS_URL` (by default the machine's), under keys of the run's own, removed at the end.

Both serve the checkout `root` with the settings `env` (the database migrated already). The
server's CPU is that of every process that does the app's work: the workers and the feed process
(Redis's own is not counted).
"""

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

from bench.wallet import answers_health

SHAPES = ("embedded", "deployed")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LINKED_IN_A_ROW = 10  # answers of /feed/status, from whichever worker, that must say "up"


class Server:
    """A started shape: its gunicorn master first, then the feed process when deployed."""

    def __init__(self, shape, port, processes, prefix=None):
        self.shape, self.port, self.processes, self.prefix = shape, port, processes, prefix
        self.linked = 0

    def pids(self):
        """The processes whose CPU is the server's: gunicorn's workers and the feed process."""
        return [*worker_pids(self.processes[0]), *(p.pid for p in self.processes[1:])]

    def ready(self):
        """Whether it answers /health and, deployed, every worker follows the feed process (ten
        answers in a row say so, from whichever worker the kernel picks)."""
        if not answers_health(self.port):
            return False
        if self.shape == "embedded":
            return True
        self.linked = self.linked + 1 if linked(self.port) else 0
        return self.linked >= LINKED_IN_A_ROW

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.prefix is not None:
            forget_redis(self.prefix)


def start(shape, root, port, env, prefix=None):
    """Start `shape` on `port`, serving checkout `root` with the settings `env`; deployed, under
    Redis keys named `prefix` (by default, a new one the server removes when it stops)."""
    env = env | {"PORT": str(port), "FEED_ENABLED": "1", "WEB_CONCURRENCY": "1"}
    env.pop("REDIS_URL", None)
    processes = []
    if shape == "deployed":
        prefix = prefix or f"bench-{uuid.uuid4().hex[:8]}"
        env |= {"REDIS_URL": REDIS, "REDIS_PREFIX": prefix, "WEB_CONCURRENCY": "2"}
    gunicorn = [sys.executable, "-m", "gunicorn", "--log-level", "warning"]
    gunicorn += ["-b", f"127.0.0.1:{port}", "app:create_app()"]
    processes.append(subprocess.Popen(gunicorn, cwd=root, env=env))
    if shape == "deployed":
        feed = [sys.executable, "-m", "flask", "--app", "app", "feed", "consume"]
        processes.append(subprocess.Popen(feed, cwd=root, env=env))
    return Server(shape, port, processes, prefix if shape == "deployed" else None)


def worker_pids(master):
    """gunicorn's workers (the master's children), or the master itself."""
    try:
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    except OSError:
        children = []
    return [int(child) for child in children] or [master.pid]


def linked(port):
    """Whether the worker that answers follows the feed process."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed/status", timeout=5) as r:
            return json.load(r).get("link") == "up"
    except OSError:
        return False


def forget_redis(prefix):
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
