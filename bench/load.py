"""A small HTTP/1.1 keep-alive load generator: closed-loop throughput and open-loop latency.

Latency in the open loop is measured from when each request was due, not from when it was sent,
so a stalled server cannot hide its queue (no coordinated omission).
"""

import asyncio
import contextlib
import gc
import json
import statistics
import time


class Connection:
    """One keep-alive connection sending JSON requests and reading JSON answers."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, path, body):
        """POST `body` as JSON (GET when it is None) and return (status, decoded answer)."""
        data = b"" if body is None else json.dumps(body).encode()
        method = "GET" if body is None else "POST"
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        self.writer.write(head + data)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await self.reader.readexactly(length)
        if b"connection: close" in header.lower():
            self.writer.close()
            await self.open()
        return status, json.loads(payload)

    def close(self):
        if self.writer:
            self.writer.close()


@contextlib.contextmanager
def collector_paused():
    """Keep this process's garbage collector still while it measures.

    Latency counts from when a request was due, so a pause of the load generator itself (a full
    collection walks every request body it holds: ~50 ms) would be charged to the server.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def percentile(values, share):
    """The value below which `share` of `values` lie (0.0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def summarise(latencies, elapsed, errors):
    return {
        "requests": len(latencies),
        "errors": errors,
        "per_second": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=0.0) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
    }


async def closed_loop(host, port, requests, concurrency, accept):
    """Send every (path, body) as fast as `concurrency` connections allow."""
    queue = list(reversed(requests))
    latencies, errors = [], 0

    async def worker():
        nonlocal errors
        connection = Connection(host, port)
        await connection.open()
        try:
            while queue:
                path, body = queue.pop()
                started = time.perf_counter()
                status, answer = await connection.request(path, body)
                latencies.append(time.perf_counter() - started)
                if not accept(status, answer):
                    errors += 1
        finally:
            connection.close()

    with collector_paused():
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return summarise(latencies, time.perf_counter() - started, errors)


async def open_loop(host, port, requests, rate, connections, accept):
    """Send request i at start + i / rate, whatever the server is doing; time from that moment."""
    idle = asyncio.Queue()
    for _ in range(connections):
        connection = Connection(host, port)
        await connection.open()
        idle.put_nowait(connection)
    latencies, errors, timeline = [], 0, []

    async def one(due, path, body):
        nonlocal errors
        connection = await idle.get()
        try:
            status, answer = await connection.request(path, body)
        finally:
            idle.put_nowait(connection)
        latencies.append(time.perf_counter() - due)
        timeline.append((due - start, latencies[-1]))
        if not accept(status, answer):
            errors += 1

    with collector_paused():
        start = time.perf_counter()
        tasks = []
        for i, (path, body) in enumerate(requests):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, path, body)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().close()
    result = summarise(latencies, elapsed, errors)
    result["worst_seconds"] = _worst_seconds(timeline)
    return result


def _worst_seconds(timeline, count=3):
    """The seconds of the run whose slowest request was slowest: where a tail comes from."""
    slowest = {}
    for offset, latency in timeline:
        second = int(offset)
        slowest[second] = max(slowest.get(second, 0.0), latency)
    worst = sorted(slowest.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"s{second}={latency * 1000:.0f}ms" for second, latency in worst)
