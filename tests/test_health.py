import pytest

from feed.health import FeedHealth


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
