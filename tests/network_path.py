"""A network path to a local server that a test can cut: packets lost, no connection closed.

A network namespace of the test's own, joined to this one by a virtual link, with a forwarder on
each side: the application connects to the namespace's address, its bytes cross the link to the
forwarder there, back across the link to this side's forwarder, and on to the server. Taking the
namespace's address away drops every packet on the way, as a failover or a NAT that
forgets a connection does: the server and the application each still hold an open socket, and
nothing tells either of them.
"""

import contextlib
import os
import subprocess
import sys

import pytest

from tests.servers import ROOT
from tests.upstream import free_port

FORWARD = str(ROOT / "tests" / "tcp_forward.py")


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _usable():
    if os.geteuid() != 0:
        return "needs root for a network namespace"
    try:
        ip("netns", "list")
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"cannot make network namespaces here: {exc}"
    return None


class NetworkPath:
    """The address (host, port) reaching `target_port` on this machine across a cuttable link."""

    def __init__(self, target_port):
        problem = _usable()
        if problem:
            if os.environ.get("CI"):
                pytest.fail("CI must run the network-path tests; " + problem)
            pytest.skip(problem)
        tag = f"{os.getpid() % 100000}"
        subnet = 1 + os.getpid() % 250
        self.namespace, self.here, self.there = f"np{tag}", f"nph{tag}", f"npn{tag}"
        self.near, self.far = f"10.250.{subnet}.1", f"10.250.{subnet}.2"
        self.target_port = target_port
        self.processes = []

    def __enter__(self):
        ip("netns", "add", self.namespace)
        try:
            ip("link", "add", self.here, "type", "veth", "peer", "name", self.there)
            ip("link", "set", self.there, "netns", self.namespace)
            ip("addr", "add", f"{self.near}/30", "dev", self.here)
            ip("link", "set", self.here, "up")
            ip("-n", self.namespace, "addr", "add", f"{self.far}/30", "dev", self.there)
            ip("-n", self.namespace, "link", "set", self.there, "up")
            ip("-n", self.namespace, "link", "set", "lo", "up")
            back, there = free_port(), free_port()
            self._forward([], self.near, back, "127.0.0.1", self.target_port)
            inside = ["ip", "netns", "exec", self.namespace]
            self._forward(inside, self.far, there, self.near, back)
            self.address = (self.far, there)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _forward(self, prefix, host, port, target_host, target_port):
        command = [*prefix, sys.executable, FORWARD, host, str(port), target_host, str(target_port)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        if process.stdout.readline().strip() != "listening":
            raise RuntimeError(f"the forwarder on {host}:{port} did not start")

    def cut(self):
        """Lose every packet on the way from now on; nobody is told.

        The namespace gives its address up: packets still cross the link (so no error comes back,
        as it would for a link gone down) and are dropped there as not its own.
        """
        ip("-n", self.namespace, "addr", "del", f"{self.far}/30", "dev", self.there)

    def heal(self):
        ip("-n", self.namespace, "addr", "add", f"{self.far}/30", "dev", self.there)

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.wait(timeout=10)
            process.stdout.close()
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", self.here)
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("netns", "del", self.namespace)
