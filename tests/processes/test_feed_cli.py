"""`flask feed simulate`, `record` and `replay`, as separate processes over real sockets."""

import base64
import itertools
import json
import os
import subprocess
import sys
import time

import pytest
import websocket

from feed.market.model import Applied
from feed.upstream import frames
from tests.servers import ROOT
from tests.upstream import free_port, wait_until


def flask(*args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "feed", *args],
        cwd=ROOT,
        env=os.environ | {"FEED_ENABLED": "0"},
        **popen,
    )


def connect(port):
    holder = {}

    def attempt():
        try:
            holder["ws"] = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=10)
            return True
        except OSError:
            return False

    wait_until(attempt, timeout=20, what=f"a feed server on port {port}")
    return holder["ws"]


@pytest.mark.slow
def test_simulator_speaks_the_protocol_in_both_frame_forms(tmp_path):
    port = free_port()
    server = flask("simulate", "--port", str(port), "--seed", "1", "--rate", "200")
    try:
        ws = connect(port)
        seen, forms = [], set()

        def groups():
            return {frame.data["groups"] for frame in seen if frame.cmd == frames.BET_STOP}

        deadline = time.monotonic() + 30  # BetStops come about once a second
        while not ("all" in groups() and len(groups()) > 1) and time.monotonic() < deadline:
            raw = ws.recv()
            forms.add(type(raw))
            seen.append(frames.decode(raw))
        cmds = {frame.cmd for frame in seen}
        assert {frames.FIXTURE_CHANGE, frames.ODDS_CHANGE, frames.BET_STOP, frames.ALIVE} <= cmds
        assert "all" in groups() and len(groups()) > 1
        assert forms == {str, bytes}
        ws.send(json.dumps({"cmd": frames.PING, "data": "ping"}))
        wait_until(lambda: frames.decode(ws.recv()).cmd == frames.PING, what="a pong")
        ws.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_record_then_replay_gives_back_the_same_frames(tmp_path):
    sim_port, replay_port = free_port(), free_port()
    recording = tmp_path / "feed.jsonl"
    simulator = flask("simulate", "--port", str(sim_port), "--seed", "2", "--rate", "100")
    try:
        connect(sim_port).close()
        recorder = flask(
            "record",
            str(recording),
            "--url",
            f"ws://127.0.0.1:{sim_port}/ws",
            "--seconds",
            "1.5",
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = recorder.communicate(timeout=30)
        assert out.startswith("recorded ")
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    lines = [json.loads(line) for line in recording.read_text().splitlines()]
    assert len(lines) > 50 and any("binary" in line for line in lines)
    assert all(a["t"] <= b["t"] for a, b in itertools.pairwise(lines))

    player = flask("replay", str(recording), "--port", str(replay_port), "--speed", "20")
    try:
        ws = connect(replay_port)
        replayed = [ws.recv() for _ in lines]
        ws.close()
    finally:
        player.terminate()
        player.wait(timeout=10)
    expected = [base64.b64decode(e["binary"]) if "binary" in e else e["text"] for e in lines]
    assert replayed == expected


def test_prune_command_deletes_what_is_older_than_the_retention(app):
    store = app.extensions["feed"].store
    now = store.clock()
    for at, event_id in ((now - 31 * 86_400_000, "old"), (now, "new")):
        store.clock = lambda at=at: at
        stop = Applied(status="suspended", groups="all", timestamp=at, event_id=event_id)
        store.log_bet_stop(stop, at)
        store.changed([closed_line(event_id)], {"event_id": event_id, "product": 1})
        store.flush()
    store.clock = lambda: now
    result = app.test_cli_runner().invoke(args=["feed", "prune"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "pruned 1 BetStops, 1 closed lines, 1 events"
    assert [e["event_id"] for e in store.recent_bet_stops()] == ["new"]
    store.clock = lambda: now + 1000
    result = app.test_cli_runner().invoke(args=["feed", "prune", "--days", "0", "--yes"])
    assert result.output.splitlines()[-1] == "pruned 1 BetStops, 1 closed lines, 1 events"
    assert store.recent_bet_stops() == []


def closed_line(event_id):
    return {
        "event_id": event_id,
        "market_id": 1,
        "specifiers": "",
        "product": 1,
        "status": "settled",
        "updated_at": 0,
        "outcomes": {},
    }


def feed_report(identity, role, epoch, upstream, lag):
    """A feed process's report as `feed consume` writes it, its metrics text included."""
    return {
        "role": role,
        "id": identity,
        "epoch": epoch,
        "link": "up",
        "boards": 0,
        "lag": lag,
        "upstream": upstream,
        "at": int(time.time() * 1000),
        "store": {"state": "writing"},
        "snapshot": None,
        "health": {"connected": upstream, "products": {}},
        "counts": {"bet_stop": 3},
        "names": {"unknown_markets": 0},
        "metrics": "# HELP feed_messages_total ...\n" * 150,
    }


@pytest.fixture
def reporting(redis_bus_url):
    """Two feed processes reporting through Redis every half second, as long as the test runs;
    the settings of a shell that reaches them."""
    import threading

    import redis

    from feed.bus.transport import RedisBus

    url, prefix = redis_bus_url
    client = redis.Redis.from_url(url)
    bus, stop = RedisBus(client, prefix), threading.Event()

    def report():
        while True:
            bus.report(
                "feed-a:41", feed_report("feed-a:41", "leader", 7, True, {"messages": 2, "ms": 15})
            )
            bus.report(
                "feed-b:42",
                feed_report("feed-b:42", "standby", None, False, {"messages": 0, "ms": 0}),
            )
            if stop.wait(0.5):
                return

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    yield {"REDIS_URL": url, "REDIS_PREFIX": prefix}
    stop.set()
    thread.join(timeout=5)
    client.close()


def status_command(settings, *args):
    return subprocess.run(
        [str(ROOT / "bin" / "flask"), "feed", "status", *args],
        env=os.environ | {"FEED_ENABLED": "0"} | settings,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_feed_status_prints_one_line_per_feed_process(reporting):
    result = status_command(reporting)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "feed-a:41  leader   epoch 7  upstream connected      lag 2 messages, 15 ms",
        "feed-b:42  standby  epoch -  upstream not connected  lag 0 messages, 0 ms",
    ]


@pytest.mark.slow
def test_feed_status_json_is_the_whole_report_but_the_metrics_text(reporting):
    result = status_command(reporting, "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert [c["id"] for c in status["consumers"]] == ["feed-a:41", "feed-b:42"]
    expected = feed_report("feed-a:41", "leader", 7, True, {"messages": 2, "ms": 15})
    del expected["metrics"]
    assert status["consumers"][0].keys() == expected.keys()
    assert status["consumers"][0]["counts"] == {"bet_stop": 3}
    assert "metrics" not in result.stdout and "# HELP" not in result.stdout
