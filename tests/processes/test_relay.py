"""The relay to the browsers: snapshot then ordered messages, over real sockets."""

import contextlib
import json
import socket
import threading
import time
import urllib.request

import pytest
import websocket

import feed.board.hub
from database import db
from feed.board.hub import GROUP_SIZE, LocalHub
from feed.market.descriptions import MarketDescriptions
from feed.market.health import FeedHealth
from feed.market.model import MarketLine, Outcome
from feed.market.rules import MarketState
from feed.relay import Relay
from feed.upstream import frames
from tests import feed_messages as messages
from tests.feed_messages import (
    EVENT,
    bet_stop,
    big_board,
    event_id,
    line,
    market,
    odds,
    outcome,
)
from tests.servers import (
    boards,
    gunicorn,
    python_output,
    raw_board,
    receive_snapshot,
    wait_for_lines,
)
from tests.upstream import wait_until

ODDS = odds([market(1), market(166, line("total=9.5", outcomes=[outcome("12", 1.8)]))], stamp=1000)


@pytest.fixture
def new_hub():
    """LocalHub(**options), as many as the test makes: each closed, its waker ended, after it."""
    hubs = []

    def make(**options):
        hubs.append(LocalHub(**options))
        return hubs[-1]

    yield make
    for hub in hubs:
        hub.close()


def test_a_subscriber_that_falls_a_backlog_behind_is_told_and_resumes_from_a_snapshot(new_hub):
    hub = new_hub(backlog=3)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        for seq in range(1, 5):
            hub.publish(seq, f"m{seq}")
            assert fast.take(timeout=0) == [(seq, f"m{seq}")]
        assert not slow.behind
        assert slow.take(timeout=0) == [] and slow.behind and not fast.behind
        assert slow.take(timeout=0) == []  # nothing more until it is brought current
        assert not slow.dropped  # not closed: its handler sends it the board as it is now
        assert not slow.resume(0)  # the backlog no longer holds what follows 0
        assert slow.resume(3) and not slow.behind  # a snapshot as of 3: it goes on from there
        hub.publish(5, "m5")
        assert slow.take(timeout=0) == [(4, "m4"), (5, "m5")]


def test_a_subscriber_takes_everything_it_missed_in_one_go(new_hub):
    hub = new_hub(backlog=3)
    hub.publish(1, "before")
    with hub.subscribe() as browser:
        for seq in (2, 3, 4):
            hub.publish(seq, f"m{seq}")
        assert browser.take(timeout=0) == [(2, "m2"), (3, "m3"), (4, "m4")]
        assert browser.take(timeout=0) == []
        assert not browser.dropped


def test_hub_fans_out_one_serialised_message_to_everyone(new_hub):
    hub = new_hub()
    with hub.subscribe() as a, hub.subscribe() as b:
        text = json.dumps({"type": "bet_stop"})
        hub.publish(1, text)
        assert a.take(0)[0][1] is text and b.take(0)[0][1] is text


def test_take_waits_for_a_publish_a_nudge_or_a_close(new_hub):
    hub = new_hub()
    with hub.subscribe() as browser:
        for wake in (lambda: hub.publish(1, "m1"), hub.nudge, hub.close):
            threading.Timer(0.1, wake).start()
            started = time.monotonic()
            taken = browser.take(timeout=5)
            assert time.monotonic() - started < 4
        assert taken == [] and browser.dropped


def test_the_hub_wakes_idle_handlers_by_itself(new_hub):
    hub = new_hub(nudge_every=0.1)
    with hub.subscribe() as browser:
        woken = threading.Event()
        threading.Thread(target=lambda: (browser.take(), woken.set()), daemon=True).start()
        assert woken.wait(5)  # no publish, no timeout: only the hub's own nudge wakes it
    hub.close()


def test_the_hub_keeps_waking_boards_when_its_own_bookkeeping_fails(monkeypatch, caplog, new_hub):
    # Every message reaches the boards through the hub's waker: if it died, every board would
    # sit on its last (maybe bettable) lines until a timeout.
    def broken(behind):
        raise OSError("metrics directory gone")

    monkeypatch.setattr(feed.board.hub.metrics, "relay_backlog", broken)
    hub = new_hub(nudge_every=0.05)
    with hub.subscribe() as browser:
        time.sleep(0.3)  # the waker has nudged, and failed, several times
        threading.Timer(0.1, hub.publish, (1, "m1")).start()
        started, taken = time.monotonic(), []
        while not taken and time.monotonic() - started < 5:
            taken = browser.take(timeout=5)
        assert taken == [(1, "m1")] and time.monotonic() - started < 4  # woken, not timed out
    hub.close()
    failures = [r for r in caplog.records if "hub" in r.getMessage()]
    assert len(failures) == 1  # logged once, not at every nudge


def test_subscribe_always_unregisters(new_hub):
    hub = new_hub()
    with pytest.raises(RuntimeError), hub.subscribe():
        raise RuntimeError("socket died")
    assert hub.subscribers == 0


def test_many_subscribers_share_few_wake_up_events(new_hub):
    hub = new_hub()
    with contextlib.ExitStack() as stack:
        browsers = [stack.enter_context(hub.subscribe()) for _ in range(100)]
        assert hub.subscribers == 100 and len(hub.groups) == 100 // GROUP_SIZE + 1
        hub.publish(1, "m1")
        assert all(b.take(0) == [(1, "m1")] for b in browsers)
    assert hub.subscribers == 0


def test_under_gevent_a_fan_out_lets_the_rest_of_the_worker_in_between_groups():
    # gevent runs the handlers a publish wakes one after another and only then polls the
    # worker's sockets: a wallet callback's database answer waited for the whole fan-out.
    group_size, woken, wallet_ran_after = map(int, python_output("fan_out_under_gevent").split())
    assert woken == 10 * group_size + 1
    assert wallet_ran_after <= group_size  # after the first group's writes, not the tenth's


def fan_out_written_by_the_hub(mode):
    return json.loads(python_output("written_by_the_hub", mode))


def test_under_gevent_the_hub_writes_to_idle_boards_itself_without_waking_their_handlers():
    # Waking 5,000 handlers, each looking at the backlog and framing its own write, cost a
    # fan-out more CPU than the writes themselves: an idle board's socket takes the message
    # straight from the hub, which lets the rest of the worker in between groups as before.
    run = fan_out_written_by_the_hub("all")
    boards = 10 * run["group_size"]
    assert sorted(number for number, _ in run["written"]) == list(range(boards))
    assert all(taken == [[1, "bet stop"]] for _, taken in run["written"])
    assert run["takes"] == []  # no handler ran
    assert run["wallet_ran_after"] <= run["group_size"]


def test_under_gevent_a_board_whose_socket_took_part_of_a_write_is_finished_by_its_handler():
    # What a full socket does not take at once stays with the board for its handler to write:
    # the hub wakes those handlers, with nothing more to take, and writes to each board once.
    run = fan_out_written_by_the_hub("half")
    boards = 10 * run["group_size"]
    assert sorted(number for number, _ in run["written"]) == list(range(boards))
    woken = {number for number, _ in run["takes"]}
    assert {number for number in range(boards) if number % 2} <= woken
    assert all(taken == [] for _, taken in run["takes"])  # the message was handed over


def test_under_gevent_the_hub_never_writes_to_a_board_whose_handler_is_busy_writing():
    # One writer per socket: a handler in the middle of a long write is left alone, and
    # takes the message itself when it next looks.
    run = fan_out_written_by_the_hub("busy")
    boards = 10 * run["group_size"]
    assert sorted(number for number, _ in run["written"]) == list(range(1, boards))
    assert run["takes"] == [[0, [[1, "bet stop"]]]]


def fan_out_beside_money(groups, money, give_way):
    printed = python_output("money_during_a_fan_out", groups, money, give_way)
    group_size, received, wallet_done_after, took = printed.split()
    return int(group_size), int(received), int(wallet_done_after), float(took)


def test_under_gevent_a_fan_out_waits_for_a_money_transaction_in_flight():
    # Between groups the worker polls its sockets, but 5,000 boards' writes still took the
    # cores from the database and from the callback between its round trips: a cancel_bet in
    # flight finishes before the next group is woken. A whole second allowed to give way: the
    # fan-out goes on as soon as the transaction ends, not when the allowance runs out.
    group_size, received, wallet_done_after, took = fan_out_beside_money(10, "one", 1.0)
    assert received == 10 * group_size
    assert wallet_done_after == group_size  # after the first group, not after all ten
    assert took < 0.5


def test_under_gevent_money_that_never_ends_holds_a_fan_out_only_so_long():
    # A storm of callbacks, or one stuck in its transaction, must not keep the boards on their
    # last lines: the waits of one fan-out are bounded by GIVE_WAY plus its own running time,
    # not GIVE_WAY at each of its 100 groups (five seconds at 50 ms).
    give_way = 0.05
    group_size, received, wallet_done_after, took = fan_out_beside_money(100, "storm", give_way)
    assert received == 100 * group_size and wallet_done_after == -1
    assert took < 20 * give_way


def test_a_waker_giving_way_is_woken_when_money_ends_though_another_waker_started_meanwhile():
    # Every waker of the process waits on the event the end of urgent work sets: a second
    # waker that made its own left the first waiting out its whole allowance.
    assert float(python_output("two_wakers")) < 0.5


def receive(ws):
    return json.loads(ws.recv())


def test_bet_stop_reaches_every_browser_with_cmd_and_data_intact(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()  # odds open lines only while their products are up
        upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
        browsers = []
        for _ in range(5):
            ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
            snapshot = receive(ws)
            assert snapshot["type"] == "snapshot"
            browsers.append((ws, snapshot["seq"]))
        wait_until(lambda: len(receive_snapshot(address)["lines"]) == 2, what="the odds applied")
        stop = bet_stop(EVENT, "all", stamp=1764843686186)
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
        upstream.send_frame(frames.BET_STOP, bet_stop(EVENT, "corner", None, 2000, None))
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
        statuses = {
            (line["market_id"], line["status"], line["reason"]) for line in snapshot["lines"]
        }
        # What the upstream said while no one listened is unknown: the open line waits for odds.
        assert statuses == {(1, "suspended", "feed gap"), (166, "suspended", "corner")}
        assert snapshot["health"]["products"]["1"]["up"] is False  # the overlay: read suspended
        assert snapshot["bet_stops"][0]["groups"] == "corner"
        upstream.start()
        upstream.wait_connected()
        upstream.alive()
        wait_until(lambda: receive_snapshot(address)["health"]["products"]["1"]["up"])
        upstream.send_frame(frames.ODDS_CHANGE, ODDS | {"timestamp": 3000}, 3000)
        wait_until(lambda: "active" in {x["status"] for x in receive_snapshot(address)["lines"]})


def test_a_snapshot_larger_than_the_socket_buffers_reaches_a_slow_reader_whole(
    upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.alive()  # odds open lines only while their products are up
        for odds in big_board():
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        # MBs of odds to apply: what the test starts from, however busy the machine is.
        wait_for_lines(address, 400 * 40 * 2)
        ws = websocket.create_connection(
            f"ws://{address}/ws", timeout=10, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]
        )
        time.sleep(1)  # the server's write fills every buffer and must wait for the reader
        stop = bet_stop(event_id(3), "all", None, None, None)
        upstream.send_frame(frames.BET_STOP, stop, 2000)
        snapshot = receive(ws)
        assert len(snapshot["lines"]) == 400 * 40 * 2
        message = receive(ws)
        while message["type"] != "bet_stop":
            message = receive(ws)
        assert message["seq"] > snapshot["seq"] and len(message["lines"]) == 80
        ws.close()


def test_a_board_that_stops_reading_is_cut_off_after_two_ping_periods(
    upstream, sqlite_database_url
):
    settings = {"BOARD_PING_SECONDS": "1", "BOARD_NUDGE_SECONDS": "0.5"}
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url, **settings) as address:
        upstream.wait_connected()
        upstream.alive()  # odds open lines only while their products are up
        for odds in big_board():
            upstream.send_frame(frames.ODDS_CHANGE, odds, 1000)
        # MBs of odds to apply: what the test starts from, however busy the machine is.
        wait_for_lines(address, 400 * 40 * 2)
        stuck = raw_board(address, receive_buffer=4096)
        # From here it reads nothing: the snapshot (MBs) fills every buffer on the way and the
        # server's write takes nothing more. Two ping periods later the handler lets go.
        started = time.monotonic()
        wait_until(lambda: boards(address) == 0, timeout=30, what="the stuck board cut off")
        assert time.monotonic() - started < 15
        stuck.close()


def test_an_idle_board_that_answers_pings_stays_connected(sqlite_database_url):
    # No feed, so nothing wakes the handler but the hub's nudge: pings go out up to a nudge
    # late, and a board silent for two pings and a nudge (2.5 s here) would be cut off.
    with gunicorn(
        sqlite_database_url, FEED_ENABLED="0", BOARD_PING_SECONDS="1", BOARD_NUDGE_SECONDS="0.5"
    ) as address:
        ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        assert receive(ws)["type"] == "snapshot"
        pings, until = 0, time.monotonic() + 6
        while time.monotonic() < until:
            opcode, _ = ws.recv_data(control_frame=True)  # answers each ping with a pong
            pings += opcode == websocket.ABNF.OPCODE_PING
        assert pings >= 2
        assert boards(address) == 1
        ws.close()


def test_status_counts_the_boards_connected(sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_ENABLED="0") as address:
        assert boards(address) == 0
        browsers = [websocket.create_connection(f"ws://{address}/ws", timeout=10) for _ in range(3)]
        wait_until(lambda: boards(address) == 3, what="three boards counted")
        for ws in browsers:
            ws.close()
        wait_until(lambda: boards(address) == 0, what="the closed boards noticed")


def test_messages_to_idle_boards_are_written_by_the_hub_under_gunicorn(
    upstream, sqlite_database_url
):
    # The handlers of /ws let the hub write for them: no handler is woken for these (but for
    # one that falls on the hub's nudge of every handler, every 5 s).
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        assert receive(ws)["type"] == "snapshot"
        for number in range(3):
            stop = bet_stop(event_id(number), "all", None, number, None)
            upstream.send_frame(frames.BET_STOP, stop, 2000 + number)
            while receive(ws)["type"] != "bet_stop":
                pass
        with urllib.request.urlopen(f"http://{address}/feed/status", timeout=10) as answer:
            assert json.load(answer)["hub_writes"] >= 2
        ws.close()


def test_a_burst_arrives_complete_and_in_order(upstream, sqlite_database_url):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()
        upstream.send_frame(frames.ODDS_CHANGE, ODDS, 1000)
        wait_until(lambda: len(receive_snapshot(address)["lines"]) == 2)
        ws = websocket.create_connection(f"ws://{address}/ws", timeout=10)
        seq = receive(ws)["seq"]
        for number in range(500):
            stop = bet_stop(EVENT, "all", None, 2000 + number, None)
            upstream.send_frame(frames.BET_STOP, stop, 2000 + number)
        seen = []
        while len(seen) < 500:
            message = receive(ws)
            assert message["seq"] == seq + 1
            seq = message["seq"]
            if message["type"] == "bet_stop":
                seen.append(message["data"]["timestamp"])
        assert seen == [2000 + number for number in range(500)]
        ws.close()


def test_health_goes_out_at_once_on_a_change_and_at_most_every_5_s_otherwise(app):
    runtime = app.extensions["feed"]
    now = [0]
    runtime.relay.elapsed = lambda: now[0]  # the clock health ages are measured on

    def alive(product, at):
        now[0] = at
        data = messages.alive(product, subscribed=None, now_s=0, last_alive_time=0)
        runtime.relay.handle(frames.Frame(frames.ALIVE, at, data), at)

    with runtime.hub.subscribe() as browser:
        runtime.relay.connection(True)
        alive(1, 1_000)  # product 1 comes up: a change
        alive(3, 1_100)  # product 3 comes up: a change
        alive(1, 2_000)  # nothing new, 0.9 s after the last: held back
        alive(3, 2_100)
        alive(1, 6_100)  # 5 s after the last: the board's alive ages are refreshed
        alive(3, 6_200)
        sent = [json.loads(text) for _, text in browser.take(0)]
    health = [m["health"]["products"] for m in sent if m["type"] == "health"]
    assert [(p["1"]["up"], p["3"]["up"]) for p in health] == [
        (False, False),  # the socket is up: always told, whatever the verdict
        (True, False),
        (True, True),
        (True, True),
    ]


def test_the_backlog_is_bounded_by_bytes_as_well_as_by_count(new_hub):
    hub = new_hub(backlog=100, backlog_bytes=10)
    with hub.subscribe() as slow, hub.subscribe() as fast:
        for seq in (1, 2, 3):
            hub.publish(seq, "abcd")
            assert fast.take(timeout=0) == [(seq, "abcd")]
        assert hub.bytes == 8 and [seq for seq, _ in hub.messages] == [2, 3]
        assert slow.take(timeout=0) == [] and slow.behind  # message 1 is gone
        hub.publish(4, "x" * 50)  # larger than the whole bound: kept alone, so it can be sent
        assert fast.take(timeout=0) == [(4, "x" * 50)]
        assert hub.bytes == 50 and len(hub.messages) == 1


def strict_loads(text):
    """json.loads refusing NaN and the infinities, as a browser's JSON.parse does."""

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_never_reach_a_board_as_bare_tokens(app):
    runtime = app.extensions["feed"]
    nan = float("nan")
    runtime.state.restore(
        [],
        [MarketLine(EVENT, 1, "", 1, outcomes={"1": Outcome(nan), "2": Outcome(float("inf"))})],
    )
    runtime.relay.handle(
        frames.Frame(frames.ALIVE, 1000, messages.alive(offset=nan, subscribed=None)), 1000
    )
    with runtime.hub.subscribe() as browser:
        stop = messages.bet_stop(EVENT, "all", None, 2000, None, note=float("-inf"))
        runtime.relay.handle(frames.Frame(frames.BET_STOP, 2000, stop), 2000)
        sent = [strict_loads(text) for _, text in browser.take(0)]
    bet_stop = next(m for m in sent if m["type"] == "bet_stop")
    assert bet_stop["data"] == stop | {"note": None}  # the value is left out, not the message
    assert bet_stop["lines"][0]["status"] == "suspended"
    assert bet_stop["lines"][0]["outcomes"]["1"]["odds"] is None
    snapshot = strict_loads(runtime.relay.snapshot()[1])
    assert snapshot["health"]["products"]["1"]["up"] is False  # a NaN offset reads as behind
    assert snapshot["lines"][0]["outcomes"] == {
        "1": {"odds": None, "active": True},
        "2": {"odds": None, "active": True},
    }
    assert runtime.relay.counts["non_finite_numbers"] == 2  # the BetStop, the snapshot


def test_data_too_deep_to_encode_is_left_out_and_the_change_still_goes_out(app):
    runtime = app.extensions["feed"]
    deep = []
    for _ in range(50_000):  # built, not parsed: deeper than any encoder goes
        deep = [deep]
    runtime.state.restore([], [MarketLine(EVENT, 1, "", 1, outcomes={"1": Outcome(2.0)})])
    with runtime.hub.subscribe() as browser:
        stop = bet_stop(EVENT, "all", None, 2000, None, extra=deep)
        runtime.relay.handle(frames.Frame(frames.BET_STOP, 2000, stop), 2000)
        sent = [strict_loads(text) for _, text in browser.take(0)]
    assert [(m["type"], m["data"], m["seq"]) for m in sent] == [("bet_stop", None, 1)]
    assert sent[0]["lines"][0]["status"] == "suspended"
    assert runtime.relay.counts["data_not_encodable"] == 1


def test_a_change_the_boards_cannot_be_told_makes_them_resync(app, monkeypatch):
    runtime = app.extensions["feed"]
    runtime.state.restore([], [MarketLine(EVENT, 1, "", 1, outcomes={"1": Outcome(2.0)})])

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runtime.store, "log_bet_stop", broken)
    with runtime.hub.subscribe() as browser:
        stop = bet_stop(EVENT, None, None, None, None)
        runtime.relay.handle(frames.Frame(frames.BET_STOP, 2000, stop), 2000)
        runtime.relay.handle(frames.Frame(frames.ODDS_CHANGE, 3000, ODDS), 3000)
        sent = [json.loads(text) for _, text in browser.take(0)]
    # The line is suspended and nobody was told: the gap in seq sends every board to resync.
    assert runtime.state.lines[(EVENT, 1, "")].status == "suspended"
    assert [m["seq"] for m in sent] == [2]
    assert runtime.relay.snapshot()[0] == 2
    assert runtime.relay.counts["resyncs"] == 1 and runtime.relay.counts["error_RuntimeError"] == 1


def test_boards_hear_the_upstream_drop_when_products_are_already_down(
    upstream, sqlite_database_url
):
    with gunicorn(sqlite_database_url, FEED_URL=upstream.url) as address:
        upstream.wait_connected()  # no alive: every product is down from the start
        wait_until(lambda: receive_snapshot(address)["health"]["connected"])
        ws = websocket.create_connection(f"ws://{address}/ws", timeout=30)
        snapshot = receive(ws)
        assert snapshot["health"]["connected"] is True
        assert not any(p["up"] for p in snapshot["health"]["products"].values())
        upstream.stop()
        message = receive_before(ws, time.monotonic() + 20)
        while message["type"] != "health":
            message = receive_before(ws, time.monotonic() + 20)
        assert message["health"]["connected"] is False
        assert message["seq"] == snapshot["seq"] + 1
        ws.close()


def receive_before(ws, deadline):
    """The next message, or fail at `deadline` (the server's pings would keep a plain recv up)."""
    ws.settimeout(max(deadline - time.monotonic(), 0.1))
    while True:
        opcode, data = ws.recv_data(control_frame=True)  # pings answered, and handed back
        if opcode == websocket.ABNF.OPCODE_TEXT:
            return json.loads(data)
        assert time.monotonic() < deadline, "no message in time"


def test_unreadable_parts_of_a_message_are_counted_by_kind(app):
    relay = app.extensions["feed"].relay
    unreadable = market(5, line(None, outcomes=[outcome("1", "")]))
    bad = odds([*ODDS["markets"], unreadable], stamp=1000)
    relay.receive(frames.encode_text(frames.ODDS_CHANGE, bad, 1000))
    relay.receive(frames.encode_text(frames.ODDS_CHANGE, bad, 1000))
    assert relay.counts["bad_odds"] == 2 and relay.counts["skipped_parts"] == 2
    assert relay.counts["bad_frames"] == 0  # the message applied: only its bad part was skipped


def test_a_restart_remembers_the_logged_bet_stops_for_lines_created_later(app):
    runtime = app.extensions["feed"]
    # A BetStop for an event with no lines yet, logged; then the process restarts.
    stop = bet_stop(EVENT, "all", None, 5000, None)
    runtime.relay.handle(frames.Frame(frames.BET_STOP, 5000, stop), 5000)
    runtime.store.flush()
    from app import create_app

    restarted_app = create_app(app.config | {"FEED_URL": ""})
    restarted = restarted_app.extensions["feed"]
    try:
        restarted.relay.restore()
        assert restarted.relay.snapshot() and restarted.relay.bet_stops[0]["event_id"] == EVENT
        # Odds stamped before the stop arrive after the restart: the lines they create obey it.
        restarted.relay.handle(frames.Frame(frames.ODDS_CHANGE, 1000, ODDS), 1000)
        statuses = {line.status for line in restarted.state.lines.values()}
        assert statuses == {"suspended"}
    finally:
        with restarted_app.app_context():
            db.engine.dispose()


def test_a_bet_stop_log_entry_has_one_shape_live_in_snapshots_and_in_the_log(app, client):
    runtime = app.extensions["feed"]
    runtime.relay.connection(True)
    runtime.relay.handle(frames.Frame(frames.ALIVE, 1000, {}), 1000)  # odds open lines now
    runtime.relay.handle(frames.Frame(frames.ODDS_CHANGE, 1000, ODDS), 1000)
    with runtime.hub.subscribe() as browser:
        stop = bet_stop(EVENT, "all", 1, 2000, None)
        runtime.relay.handle(frames.Frame(frames.BET_STOP, 2000, stop), 2001)
        live = json.loads(browser.take(0)[-1][1])
    runtime.store.flush()
    _, snapshot = runtime.relay.snapshot()
    logged = client.get("/feed/bet-stops").get_json()["bet_stops"]
    assert live["type"] == "bet_stop"
    assert live["entry"] == json.loads(snapshot)["bet_stops"][-1] == logged[0]
    assert live["entry"]["lines_hit"] == 2 and live["entry"]["received_at"] == 2001


def test_messages_are_published_outside_the_relays_lock(app):
    # A hub may yield to other greenlets while it publishes; the views take this lock for
    # snapshots, so it must not be held meanwhile.
    runtime = app.extensions["feed"]
    relay, published = runtime.relay, []

    class WatchingHub:
        def publish(self, seq, text):
            published.append((seq, relay.lock.locked()))

    relay.hub = WatchingHub()
    relay.handle(frames.Frame(frames.ODDS_CHANGE, 1000, ODDS), 1000)
    relay.connection(False)
    assert published and all(not held for _, held in published)
    assert [seq for seq, _ in published] == list(range(1, len(published) + 1))


def test_the_board_socket_is_the_feed_blueprints_and_only_it_drops_compression(app):
    assert {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}["/ws"] == "feed.stream"
    hooks = app.before_request_funcs
    assert all(f.__name__ != "refuse_compression" for f in hooks.get(None, []))
    assert any(f.__name__ == "refuse_compression" for f in hooks.get("feed", []))


def test_the_boards_get_the_outages_in_the_snapshot_and_as_each_begins_and_ends(new_hub):
    now = [10_000]
    hub = new_hub()
    state = MarketState(MarketDescriptions.load(None))
    relay = Relay(state, FeedHealth(), hub, store=None, clock=lambda: now[0])

    def alive(at, offset=0):
        now[0] = at
        relay.handle(
            frames.Frame(frames.ALIVE, at, messages.alive(offset=offset, subscribed=None)), at
        )

    # Every product is down from the start until the feed says otherwise: a start-up, told as
    # such; one the feed ends within 20 s lost nothing and is not kept.
    start = json.loads(relay.snapshot()[1])
    assert [
        (o["product"], o["reason"], o["since"], o["until"], o["startup"]) for o in start["outages"]
    ] == [
        (1, "upstream not connected yet", 10_000, None, True),
        (3, "upstream not connected yet", 10_000, None, True),
    ]
    assert start["health"]["products"]["1"]["down_since"] == 10_000
    with hub.subscribe() as browser:
        relay.connection(True)
        alive(11_000)  # both up: the start's outages end
        alive(12_000, offset=30)  # the source is late: both down
        alive(12_500, offset=30)  # the same outage goes on: nothing new to log
        alive(15_000)  # both up again
        sent = [json.loads(text) for _, text in browser.take(0)]
    health = [m for m in sent if m["type"] == "health"]
    assert all(isinstance(m["outages"], list) for m in health)
    outages = [outage for message in health for outage in message["outages"]]
    told = [(o["product"], o["reason"], o["since"], o["until"]) for o in outages]
    behind = "the source is 30 s behind"
    assert told == [
        (1, "upstream not connected yet", 10_000, 11_000),
        (3, "upstream not connected yet", 10_000, 11_000),
        (1, behind, 12_000, None),
        (3, behind, 12_000, None),
        (1, behind, 12_000, 15_000),
        (3, behind, 12_000, 15_000),
    ]
    ended = [o for o in outages if o["until"] is not None]
    assert [o["duration_ms"] for o in ended] == [1_000, 1_000, 3_000, 3_000]
    assert [o.get("startup", False) for o in ended] == [True, True, False, False]
    # A board that connects now gets them all, oldest first, as they were sent, but the start.
    snapshot = json.loads(relay.snapshot()[1])
    assert snapshot["outages"] == ended[2:]
    assert "down_since" not in snapshot["health"]["products"]["1"]
