"""The relay to the browsers: snapshot then ordered messages, over real sockets."""

import json

import pytest
import websocket

from feed import frames
from feed.hub import LocalHub
from tests.servers import gunicorn
from tests.upstream import wait_until

EVENT = "sr:match:42"
ODDS = {
    "event_id": EVENT,
    "product": 1,
    "timestamp": 1000,
    "markets": [
        {"id": 1, "lines": [{"specifiers": "", "outcomes": [{"id": "1", "odds": 2.0}]}]},
        {
            "id": 166,
            "lines": [{"specifiers": "total=9.5", "outcomes": [{"id": "12", "odds": 1.8}]}],
        },
    ],
}


def test_hub_drops_a_subscriber_that_cannot_keep_up():
    hub = LocalHub(queue_size=3)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        for seq in range(1, 5):
            hub.publish(seq, f"m{seq}")
            assert fast.get(timeout=0) == (seq, f"m{seq}")
        assert slow.dropped and not fast.dropped
        assert hub.subscribers == {fast}


def test_hub_fans_out_one_serialised_message_to_everyone():
    hub = LocalHub()
    with hub.subscribe() as a, hub.subscribe() as b:
        text = json.dumps({"type": "bet_stop"})
        hub.publish(1, text)
        assert a.get(0)[1] is text and b.get(0)[1] is text


def test_subscribe_always_unregisters():
    hub = LocalHub()
    with pytest.raises(RuntimeError), hub.subscribe():
        raise RuntimeError("socket died")
    assert hub.subscribers == set()


def receive(ws):
    return json.loads(ws.recv())


def test_bet_stop_reaches_every_browser_with_cmd_and_data_intact(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
        browsers = []
        for _ in range(5):
            ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
            snapshot = receive(ws)
            assert snapshot["type"] == "snapshot"
            browsers.append((ws, snapshot["seq"]))
        wait_until(lambda: len(receive_snapshot(address)["lines"]) == 2, what="the odds applied")
        stop = {
            "event_id": EVENT,
            "market_status": "suspended",
            "product": 1,
            "groups": "all",
            "timestamp": 1764843686186,
        }
        upstream.send_frame(frames.BET_STOP, stop, 1764843686186)
        for ws, seq in browsers:
            message = receive(ws)
            while message["type"] != "bet_stop":
                assert message["seq"] == seq + 1
                seq = message["seq"]
                message = receive(ws)
            assert (message["cmd"], message["time"], message["data"]) == (
                10030,
                1764843686186,
                stop,
            )
            assert message["seq"] == seq + 1
            assert {line["market_id"] for line in message["lines"]} == {1, 166}
            assert {line["status"] for line in message["lines"]} == {"suspended"}
            assert isinstance(message["received"], int)
            ws.close()


def receive_snapshot(address):
    ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
    try:
        return receive(ws)
    finally:
        ws.close()


def test_compression_offers_are_refused(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        ws = websocket.create_connection(
            f"ws://{address}/ws",
            header=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        )
        assert "sec-websocket-extensions" not in {k.lower() for k in ws.getheaders()}
        assert receive(ws)["type"] == "snapshot"
        ws.close()


def test_restarted_process_shows_the_last_board_suspended_until_healthy(
    upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()
        upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
        upstream.send_frame(
            frames.BET_STOP, {"event_id": EVENT, "groups": "corner", "timestamp": 2000}
        )
        wait_until(lambda: receive_snapshot(address)["bet_stops"], what="the BetStop logged")
        wait_until(
            lambda: any(
                line["status"] == "suspended" for line in receive_snapshot(address)["lines"]
            )
        )
        wait_until(lambda: receive_snapshot(address)["health"]["products"]["1"]["up"])
    upstream.stop()
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        snapshot = receive_snapshot(address)
        statuses = {(line["market_id"], line["status"]) for line in snapshot["lines"]}
        assert statuses == {(1, "active"), (166, "suspended")}
        assert snapshot["health"]["products"]["1"]["up"] is False  # the overlay: read suspended
        assert snapshot["bet_stops"][0]["groups"] == "corner"
        upstream.start()
        upstream.wait_connected()
        upstream.alive()
        wait_until(lambda: receive_snapshot(address)["health"]["products"]["1"]["up"])
