import pytest

from feed.market.health import FeedHealth, Outages


def healthy(now=1_000_000):
    health = FeedHealth()
    health.socket(True)
    health.alive({"offset_time": 0}, now)
    return health


def test_down_until_connected_and_alive():
    health = FeedHealth()
    assert health.verdict(0) == {1: False, 3: False}
    health.socket(True)
    assert health.verdict(0) == {1: False, 3: False}
    health.alive({}, 0)
    assert health.verdict(0) == {1: True, 3: True}


def test_no_alive_for_20_seconds_is_down():
    health = healthy()
    assert health.verdict(1_020_000) == {1: True, 3: True}
    assert health.verdict(1_020_001) == {1: False, 3: False}


def test_the_alive_timeout_is_a_setting_and_goes_to_the_boards_with_the_health():
    health = FeedHealth(alive_timeout_ms=3000)
    health.socket(True)
    health.alive({}, 1_000_000)
    assert health.verdict(1_003_000) == {1: True, 3: True}
    assert health.verdict(1_003_001) == {1: False, 3: False}
    report = health.report(1_003_001)
    assert report["alive_timeout_ms"] == 3000
    assert report["products"]["1"]["reason"] == "no alive for 3 s"


def test_offset_over_20_seconds_means_the_source_is_down():
    health = healthy()
    health.alive({"offset_time": 21}, 1_000_500)
    assert health.verdict(1_000_500) == {1: False, 3: False}


def test_products_are_kept_apart():
    health = healthy()
    health.alive({"product": 1, "offset_time": 0}, 1_030_000)
    assert health.verdict(1_030_000) == {1: True, 3: False}


def test_socket_down_is_down_at_once():
    health = healthy()
    health.socket(False)
    assert health.verdict(1_000_001) == {1: False, 3: False}
    health.socket(True)
    assert health.verdict(1_000_001) == {1: False, 3: False}  # needs a fresh alive


@pytest.mark.parametrize(
    ("product", "up"),
    [
        ("3", {1: False, 3: True}),  # text, as the feed may send any number
        (3.0, {1: False, 3: True}),
        ("1", {1: True, 3: False}),
        (None, {1: True, 3: True}),  # as good as none: it speaks for every product
        ("prematch", {1: False, 3: False}),  # a product we cannot read speaks for none of ours
        (2, {1: False, 3: False}),
        (float("inf"), {1: False, 3: False}),
        ([3], {1: False, 3: False}),
    ],
)
def test_an_alive_speaks_for_the_product_it_names_and_no_other(product, up):
    health = FeedHealth()
    health.socket(True)
    health.alive({"product": product, "offset_time": 0}, 0)
    assert health.verdict(0) == up


def test_why_a_product_is_down_in_words():
    health = FeedHealth()
    assert health.why_down(1, 0) == "upstream not connected yet"
    health.socket(True)
    assert health.why_down(1, 0) == "no alive yet"
    health.alive({"offset_time": 30}, 1_000)
    assert health.why_down(1, 1_000) == "the source is 30 s behind"
    health.alive({"offset_time": 0}, 2_000)
    assert health.why_down(1, 2_000) is None
    assert health.why_down(1, 22_001) == "no alive for 20 s"
    health.socket(False)
    assert health.why_down(1, 22_001) == "upstream disconnected"


def test_an_outage_begins_when_a_product_goes_down_and_ends_with_its_duration():
    outages = Outages()
    why = {1: "no alive for 20 s", 3: "no alive for 20 s"}.get
    assert outages.update({1: True, 3: True}, why, 1_000) == []
    began = outages.update({1: False, 3: True}, why, 5_000)
    assert began == [
        {
            "product": 1,
            "reason": "no alive for 20 s",
            "since": 5_000,
            "until": None,
            "duration_ms": None,
        }
    ]
    assert (outages.since(1), outages.since(3)) == (5_000, None)
    assert outages.update({1: False, 3: True}, why, 6_000) == []  # the same outage goes on
    ended = outages.update({1: True, 3: True}, why, 65_000)
    assert ended == [began[0] | {"until": 65_000, "duration_ms": 60_000}]
    assert began[0]["until"] is None  # what the boards were sent stays as it was
    assert outages.recent() == ended
    assert outages.since(1) is None


def test_outages_are_bounded_and_one_still_going_on_is_never_forgotten():
    outages = Outages(kept=3)
    down = "the source is 30 s behind"
    outages.update({1: True, 3: False}, lambda product: down, 0)  # prematch down for good
    for n in range(10):  # live flaps ten times
        outages.update({1: False, 3: False}, lambda product: down, 10 + 2 * n)
        outages.update({1: True, 3: False}, lambda product: down, 11 + 2 * n)
    recent = outages.recent()
    assert [(o["product"], o["since"], o["until"]) for o in recent] == [
        (3, 0, None),
        (1, 24, 25),
        (1, 26, 27),
        (1, 28, 29),
    ]


def test_a_report_says_why_and_since_when_a_product_is_down():
    health = healthy()
    outages = Outages()
    now = 1_000_100
    up = health.report(now, outages)["products"]["1"]
    assert "reason" not in up and "down_since" not in up
    health.alive({"product": 3, "offset_time": 30}, now)
    outages.update(health.verdict(now), lambda product: health.why_down(product, now), now)
    prematch = health.report(now + 500, outages)["products"]["3"]
    assert prematch["up"] is False
    assert prematch["reason"] == "the source is 30 s behind"
    assert prematch["down_since"] == now
    assert "down_since" not in health.report(now + 500, outages)["products"]["1"]


def test_after_a_reconnect_the_wait_for_an_alive_says_alives_came_before():
    health = healthy()
    health.socket(False)
    assert health.why_down(1, 1_000_100) == "upstream disconnected"
    health.socket(True)
    assert health.why_down(1, 1_000_200) == "no alive since the reconnect"
    report = health.report(1_000_200)["products"]["1"]
    assert report["alive_age_ms"] is None and report["alives_before"] is True
    fresh = FeedHealth()
    fresh.socket(True)
    assert fresh.why_down(1, 0) == "no alive yet"
    assert "alives_before" not in fresh.report(0)["products"]["1"]
    assert "alives_before" not in healthy().report(1_000_000)["products"]["1"]


def test_a_start_up_is_told_as_such_and_forgotten_when_the_feed_came_within_20_seconds():
    why = {1: "upstream not connected yet", 3: "upstream not connected yet"}.get
    outages = Outages()
    began = outages.update({1: False, 3: False}, why, 0, startup=True)
    assert [o["startup"] for o in began] == [True, True]
    ended = outages.update({1: True, 3: True}, why, 20_000)
    # The boards are told it ended (they close it), and keep no entry of it.
    assert [(o["until"], o["startup"]) for o in ended] == [(20_000, True), (20_000, True)]
    assert outages.recent() == []
    # A start whose feed took longer lost odds for that long: an outage like any other.
    slow = Outages()
    slow.update({1: False, 3: True}, why, 0, startup=True)
    assert slow.update({1: True, 3: True}, why, 20_001)[0]["duration_ms"] == 20_001
    assert [(o["product"], o["until"]) for o in slow.recent()] == [(1, 20_001)]
    # Later outages are never start-ups, however short.
    slow.update({1: False, 3: True}, why, 30_000)
    slow.update({1: True, 3: True}, why, 30_500)
    assert [o["since"] for o in slow.recent()] == [0, 30_000]
    assert "startup" not in slow.recent()[1]
