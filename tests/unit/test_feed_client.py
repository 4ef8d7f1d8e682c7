"""The feed client against a real local websocket server: frames, resubscription, outages."""

import threading
import time

import pytest

from feed.upstream import frames
from feed.upstream.client import BACKOFF_BASE_S, UpstreamClient
from tests import feed_messages as messages
from tests.feed_messages import LIVE, bet_stop, odds_old, old_market, outcome
from tests.upstream import Upstream, wait_until

EVENT = messages.event_id(7)  # not the shared one: sr:match:1 and 2 are other events here


def odds(event=EVENT, status=1, ts=None, odds_value=2.5):
    """An odds change in the older shape: the 1x2 at `odds_value`."""
    markets = [old_market(1, "", status, [outcome("1", odds_value)])]
    return odds_old(markets, event, LIVE, ts or None)


@pytest.fixture
def database_url(sqlite_database_url):
    return sqlite_database_url


@pytest.fixture
def app_config(upstream):
    return {"FEED_URL": upstream.url, "FEED_ENABLED": True, "FEED_SUBSCRIBE": ["sr:match:99"]}


@pytest.fixture
def feed(app):
    runtime = app.extensions["feed"]
    runtime.client.backoff_base, runtime.client.backoff_cap = 0.05, 0.2
    runtime.start()
    yield runtime
    runtime.stop()


def verdict(feed):
    """Whether each product is up, as the boards are told."""
    return {int(p): info["up"] for p, info in feed.health_report()["products"].items()}


def line_status(feed, event=EVENT):
    line = feed.state.lines.get((event, 1, ""))
    return None if line is None else line.status


def test_text_and_binary_frames_are_applied(feed, upstream):
    upstream.wait_connected()
    upstream.alive()  # odds open lines only while their products are up
    upstream.send_frame(frames.ODDS_CHANGE, odds(ts=100))
    stop = bet_stop(EVENT, "all", None, 200, None)
    upstream.send_frame(frames.BET_STOP, stop, binary=True)
    wait_until(lambda: line_status(feed) == "suspended", what="the binary BetStop")
    assert feed.state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2.5


def test_subscribes_after_connect_to_configured_and_known_events(feed, upstream):
    upstream.wait_connected()
    upstream.alive()  # odds open lines only while their products are up
    wait_until(lambda: (frames.SUBSCRIBE, ["sr:match:99"]) in upstream.commands, what="subscribe")
    upstream.send_frame(frames.ODDS_CHANGE, odds(ts=100))
    wait_until(lambda: line_status(feed) == "active")
    upstream.stop()
    upstream.start()
    upstream.wait_connected()
    wait_until(
        lambda: (frames.SUBSCRIBE, [EVENT, "sr:match:99"]) in upstream.commands,
        what="resubscription to the event learnt before the restart",
    )


@pytest.mark.slow
def test_killed_and_restarted_many_times_it_always_comes_back(feed, upstream):
    for round_number in range(12):
        upstream.wait_connected()
        upstream.alive()
        wait_until(lambda: verdict(feed)[1], what="health up")
        upstream.send_frame(
            frames.ODDS_CHANGE, odds(ts=1000 + round_number, odds_value=2 + round_number)
        )
        wait_until(
            lambda r=round_number: (
                feed.state.lines.get((EVENT, 1, "")) is not None
                and feed.state.lines[(EVENT, 1, "")].outcomes["1"].odds == 2 + r
            )
        )
        upstream.stop()
        # While it is down, the board must read every line of every product as suspended.
        wait_until(lambda: verdict(feed) == {1: False, 3: False}, what="down")
        assert feed.health_report()["connected"] is False
        upstream.start()
    upstream.wait_connected()
    assert feed.client.connects >= 12
    subscribes = [data for cmd, data in upstream.commands if cmd == frames.SUBSCRIBE]
    assert len(subscribes) >= 12 and all(EVENT in ids for ids in subscribes[1:])


def test_malformed_flood_between_good_frames_loses_nothing(feed, upstream):
    upstream.wait_connected()
    upstream.alive()  # odds open lines only while their products are up
    garbage = [
        "{oops",
        "[]",
        '{"cmd": "x"}',
        b"\x00\x01",
        '{"cmd": 10030, "data": {"groups": "all"}}',
        '{"cmd": 10020, "data": {"match_id": "e", "odds_markets": [{"id": "bad"}]}}',
        '{"cmd": 55555, "data": {}}',
        b"\x1e\x27\x00\x00" + b"\x00" * 8 + b"{not json",
    ]
    events = [f"sr:match:{n}" for n in range(50)]
    for number, event in enumerate(events):
        for raw in garbage:
            upstream.send(raw)
        upstream.send_frame(
            frames.ODDS_CHANGE, odds(event=event, ts=10 + number), binary=number % 2 == 0
        )
    wait_until(
        lambda: all(line_status(feed, e) == "active" for e in events), what="every good frame"
    )
    assert feed.client.connects == 1  # the client never died of its input
    assert feed.relay.counts["bad_frames"] == 7 * 50
    assert feed.relay.counts["unknown_cmd"] == 50


def test_pings_every_interval_and_declares_a_silent_connection_dead(feed, upstream):
    feed.client.ping_every = 0.2
    upstream.wait_connected()
    wait_until(lambda: (frames.PING, "ping") in upstream.commands, what="a ping")
    silent = Upstream(answer_pings=False).start()
    try:
        feed.client.url = silent.url
        feed.client.silence_limit = 0.6
        upstream.stop()
        silent.wait_connected()
        wait_until(lambda: silent.accepted >= 2, timeout=10, what="a reconnect after silence")
    finally:
        silent.stop()


def test_odds_source_offset_turns_health_down(feed, upstream):
    upstream.wait_connected()
    upstream.alive()
    wait_until(lambda: verdict(feed) == {1: True, 3: True})
    upstream.alive(offset=25)
    wait_until(lambda: verdict(feed) == {1: False, 3: False})


def test_text_frame_with_invalid_utf8_is_skipped_without_reconnecting(feed, upstream):
    upstream.wait_connected()
    upstream.alive()  # odds open lines only while their products are up
    connection = next(iter(upstream.connections))
    # A text frame whose bytes are not UTF-8, written raw: no library would build one.
    payload = b"\xff\xfe{"
    connection.socket.sendall(bytes([0x81, len(payload)]) + payload)
    upstream.send_frame(frames.ODDS_CHANGE, odds(ts=100))
    wait_until(lambda: line_status(feed) == "active", what="the good frame after the bad one")
    assert feed.client.connects == 1
    assert feed.relay.counts["bad_json"] == 1


def test_a_message_over_the_limit_is_read_through_and_dropped_without_reconnecting(app, upstream):
    feed = app.extensions["feed"]
    feed.client.max_message_bytes = 4096
    feed.start()
    try:
        upstream.wait_connected()
        upstream.alive()  # odds open lines only while their products are up
        stop = bet_stop("sr:match:1", "all", None, None, None)
        upstream.send(frames.encode_text(frames.BET_STOP, stop | {"pad": "x" * 10_000}, 100))
        big = frames.encode_text(frames.BET_STOP, stop | {"pad": "y" * 6_000}, 100)
        upstream.send([big[i : i + 1000] for i in range(0, len(big), 1000)])  # fragments
        near = frames.encode_text(frames.BET_STOP, stop | {"pad": "z" * 3_000}, 100)
        upstream.send([near, "w" * 2000])  # the first fragment fits; the message does not
        small = frames.encode_text(frames.ODDS_CHANGE, odds(event="sr:match:2", ts=10), 100)
        upstream.send([small[:50], small[50:]])  # a message in fragments, under the limit
        upstream.send_frame(frames.ODDS_CHANGE, odds(ts=100))
        wait_until(lambda: line_status(feed) == "active", what="the frame after the large ones")
        assert line_status(feed, "sr:match:2") == "active"
        assert feed.relay.counts["frame_too_large"] == 3
        assert feed.relay.counts["bad_frames"] == 3
        assert feed.client.connects == 1 and upstream.accepted == 1
        assert not feed.state.lines_by_event.get("sr:match:1")
    finally:
        feed.stop()


def test_a_frame_handler_that_raises_loses_that_frame_only(upstream):
    received = []

    def on_frame(raw):
        if "boom" in raw:
            raise RuntimeError("a bug in the handler")
        received.append(raw)

    client = UpstreamClient(upstream.url, on_frame, lambda connected: None, list)
    threading.Thread(target=client.run, daemon=True).start()
    try:
        upstream.wait_connected()
        upstream.send("boom")
        upstream.send("after")
        wait_until(lambda: received == ["after"], what="the frame after the failing one")
        assert client.connects == 1 and client.handler_errors == 1
    finally:
        client.stop()


def recording_client(upstream, on_frame, delays):
    """A client that records each wait before reconnecting; rng at its top, so waits are maximal."""

    def sleep(seconds):
        delays.append(seconds)
        time.sleep(min(seconds, 0.05))  # the test checks the waits asked for, not the clock

    client = UpstreamClient(
        upstream.url, on_frame, lambda connected: None, list, sleep=sleep, rng=lambda: 0.999
    )
    threading.Thread(target=client.run, daemon=True).start()
    return client


def test_after_a_healthy_session_it_reconnects_at_once(upstream):
    received, delays = [], []
    client = recording_client(upstream, received.append, delays)
    client.healthy_after = 0.2
    try:
        for session in range(1, 8):
            wait_until(lambda s=session: upstream.accepted == s and upstream.connections)
            upstream.alive()
            wait_until(lambda s=session: len(received) == s, what="the alive")
            time.sleep(0.3)
            upstream.drop()  # the upstream ends a session that carried data for a while
        wait_until(lambda: len(delays) == 7 and upstream.accepted == 8, what="the 8th connect")
        assert all(delay < BACKOFF_BASE_S for delay in delays), delays
    finally:
        client.stop()


def test_sessions_that_end_within_seconds_back_off_though_they_carried_a_frame(upstream):
    received, delays = [], []
    client = recording_client(upstream, received.append, delays)
    try:
        for session in range(1, 6):
            wait_until(lambda s=session: upstream.accepted == s and upstream.connections)
            upstream.send("an error")
            wait_until(lambda s=session: len(received) == s, what="the error frame")
            upstream.drop()  # one frame, then closed: not a healthy session
        wait_until(lambda: len(delays) == 5, what="the 5th wait")
        assert delays == sorted(delays) and delays[-1] > 8 * delays[0]
    finally:
        client.stop()


def test_sessions_that_carry_nothing_back_off(upstream):
    delays = []
    client = recording_client(upstream, lambda raw: None, delays)
    try:
        for session in range(1, 6):
            wait_until(lambda s=session: upstream.accepted == s and upstream.connections)
            upstream.drop()  # accepted, then closed before a single frame
        wait_until(lambda: len(delays) == 5, what="the 5th wait")
        assert delays == sorted(delays) and delays[-1] > 8 * delays[0]
    finally:
        client.stop()


def raw_frame(opcode, payload, fin=True):
    """A server's (unmasked) websocket frame, built by hand so a test can cut it anywhere."""
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return bytes([first, len(payload)]) + payload
    return bytes([first, 126]) + len(payload).to_bytes(2, "big") + payload


def test_frames_cut_by_read_timeouts_are_sized_once_and_dropped_once(app, upstream):
    feed = app.extensions["feed"]
    feed.client.max_message_bytes = 4096
    feed.client.silence_limit = 2  # the client's reads time out after 0.5 s
    feed.start()
    try:
        upstream.wait_connected()
        upstream.alive()  # odds open lines only while their products are up
        sock = next(iter(upstream.connections)).socket
        # A message under the limit in three fragments, the second cut mid-payload by a pause
        # longer than a read's timeout: it must be sized once, not once per read.
        fits = frames.encode_text(frames.ODDS_CHANGE, odds(ts=100) | {"pad": "x" * 3700}, 100)
        fits = fits.encode()
        assert 3800 < len(fits) < 4096
        second = raw_frame(0x0, fits[1000:3000], fin=False)
        sock.sendall(raw_frame(0x1, fits[:1000], fin=False) + second[:500])
        time.sleep(0.8)
        sock.sendall(second[500:] + raw_frame(0x0, fits[3000:]))
        wait_until(lambda: line_status(feed) == "active", what="the message in fragments")
        # A message over the limit, cut by a pause: dropped once, and the next one applies.
        over = frames.encode_text(
            frames.BET_STOP, bet_stop(EVENT, None, None, None, None, pad="y" * 6000), 200
        )
        whole = raw_frame(0x1, over.encode())
        sock.sendall(whole[:3000])
        time.sleep(0.8)
        sock.sendall(whole[3000:])
        upstream.send_frame(frames.ODDS_CHANGE, odds(event="sr:match:2", ts=300))
        wait_until(lambda: line_status(feed, "sr:match:2") == "active", what="the next frame")
        assert line_status(feed) == "active"  # the dropped BetStop stopped nothing
        assert feed.relay.counts["frame_too_large"] == 1
        assert feed.client.connects == 1 and upstream.accepted == 1
    finally:
        feed.stop()


@pytest.mark.parametrize(
    "app_config", [{"FEED_URL": "ws://upstream.invalid/ws", "FEED_MAX_FRAME_BYTES": 4096}]
)
def test_one_setting_bounds_a_frame_at_the_socket_and_at_the_relay(app):
    runtime = app.extensions["feed"]
    assert runtime.client.max_message_bytes == 4096
    stop = bet_stop("sr:match:1", "all", None, None, None)
    runtime.relay.receive(frames.encode_text(frames.BET_STOP, stop | {"pad": "x" * 5000}, 100))
    assert runtime.relay.counts["too_large"] == 1
    assert not runtime.state.lines_by_event and not runtime.relay.bet_stops


def many_lines(count, ts):
    markets = [old_market(18, f"total={i}.5", 1, [outcome("12", 1.9)]) for i in range(count)]
    return odds_old(markets, EVENT, LIVE, ts)


def test_the_client_lets_the_worker_run_between_slices_of_a_large_odds_change(
    feed, upstream, monkeypatch
):
    monkeypatch.setattr("feed.upstream.client.APPLY_FOR", 0)  # a step a turn: each slice
    upstream.wait_connected()
    upstream.alive()
    wait_until(lambda: all(verdict(feed).values()), what="the feed up")
    feed.relay.receive.slice_lines = 10
    seen = []  # the relay's sequence number at each turn of the loop the client gives
    feed.client.turn = lambda give_way=0.0: seen.append(feed.relay.seq)
    start = feed.relay.seq
    upstream.send_frame(frames.ODDS_CHANGE, many_lines(100, 1000))
    wait_until(lambda: feed.relay.seq >= start + 10, what="ten slices")
    assert set(range(start + 1, start + 10)) <= set(seen)


def test_a_bet_stop_behind_a_large_odds_change_goes_out_before_its_last_slice(feed, upstream):
    upstream.wait_connected()
    upstream.alive()
    wait_until(lambda: all(verdict(feed).values()), what="the feed up")
    feed.relay.receive.slice_lines = 1
    start = feed.relay.seq
    upstream.send_frame(frames.ODDS_CHANGE, many_lines(300, 1000))
    upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, "all", LIVE, 2000))
    wait_until(lambda: feed.relay.seq >= start + 301, what="the slices and the BetStop")
    assert feed.relay.counts["bet_stops_ahead"] == 1
    lines = [line for key, line in feed.state.lines.items() if key[0] == EVENT]
    assert len(lines) == 300 and {line.status for line in lines} == {"suspended"}
