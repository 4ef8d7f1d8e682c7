"""Redis for tests: the shared server under a key prefix of the test's own, or a private one."""

import contextlib
import os
import socket
import subprocess
import time
import uuid

import pytest
import redis

from tests.upstream import free_port

SHARED_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def shared_redis():
    """(url, prefix) on the shared Redis, or skip (fail under CI) when it is unreachable."""
    client = redis.Redis.from_url(SHARED_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        message = f"needs Redis at {SHARED_URL} (set TEST_REDIS_URL): {exc}"
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis tests; " + message)
        pytest.skip(message)
    finally:
        client.close()
    return SHARED_URL, f"test-{uuid.uuid4().hex[:12]}"


def forget(url, prefix):
    """Delete every key under `prefix` (never anything else on a shared server)."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisServer:
    """A redis-server of the test's own, on a free port, that a test may stop and start again."""

    def __init__(self, directory, tls=None):
        self.port = free_port()
        self.directory = directory
        self.tls = tls  # (certificate file, key file): serve rediss:// only
        self.process = None

    @property
    def url(self):
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    def start(self):
        command = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory)]
        if self.tls:
            certificate, key = self.tls
            command += ["--port", "0", "--tls-port", str(self.port)]
            command += ["--tls-cert-file", str(certificate), "--tls-key-file", str(key)]
            command += ["--tls-auth-clients", "no"]
        else:
            command += ["--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self):
        """Kill it, as a crash or a platform restart would: everything it held is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextlib.contextmanager
def own_redis(directory, tls=None):
    server = RedisServer(directory, tls).start()
    try:
        yield server
    finally:
        server.stop()
