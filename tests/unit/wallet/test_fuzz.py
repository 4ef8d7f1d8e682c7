"""Thousands of random and malformed bodies: never an HTTP 500, never a balance change."""

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wallet.calls import (
    USER,
    cancel_bet_body,
    credits,
    event_settle_body,
    place_bet_body,
    settle_body,
)
from wallet.views import CALLBACKS

# Thousands of examples: on SQLite only, where a run takes a minute.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FUZZ = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Values that no field accepts: missing, wrong types, empty, or longer than any field allows.
poison = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.just(""),
    st.just("   "),
    st.lists(st.text(max_size=3), max_size=2),
    st.text(alphabet="abc", min_size=61, max_size=80),
)
AMOUNT_FIELDS = {"betAmount", "validBetAmount", "winAmount", "amount"}
TIME_FIELDS = {"ts", "betTime", "createTime"}
bad_amounts = st.sampled_from(["-1.0", "1.23456", "fifty", "1e3", "0x10"])
bad_times = st.sampled_from(
    ["2022-10-14T23:00:00+08:00", "2022-10-14", "2022-02-30T23:00:00.000+0800"]
)


def valid_bodies(tx_id):
    return {
        "place_bet": place_bet_body(tx_id, user=USER),
        "cancel_bet": cancel_bet_body(tx_id, user=USER),
        "settle": settle_body(tx_id, user=USER),
        "get_balance": {"userId": USER},
        "event_settle": event_settle_body(("FZ-1", USER, "5")),
    }


@pytest.fixture
def held(app, open_bet):
    """What USER holds with a bet open: what no refused callback may change."""
    return credits(app, USER)


def assert_refused_without_a_500(client, callback, data):
    answer = client.post(f"/wallet/{callback}", data=data, content_type="application/json")
    assert answer.status_code == 200, answer.data
    assert answer.json["code"] != "0000" or callback in {"get_balance", "cancel_bet"}
    assert len(answer.json["code"]) == 4
    return answer.json


@pytest.mark.slow
@FUZZ
@given(callback=st.sampled_from(sorted(CALLBACKS)), body=json_values)
def test_random_json_never_500s_nor_moves_money(app, client, held, callback, body):
    assert_refused_without_a_500(client, callback, json.dumps(body))
    assert credits(app, USER) == held


@pytest.mark.slow
@FUZZ
@given(callback=st.sampled_from(sorted(CALLBACKS)), data=st.binary(max_size=200))
def test_random_bytes_never_500_nor_move_money(app, client, held, callback, data):
    assert_refused_without_a_500(client, callback, data)
    assert credits(app, USER) == held


@pytest.mark.slow
@FUZZ
@given(callback=st.sampled_from(sorted(CALLBACKS)), data=st.data())
def test_one_poisoned_field_is_refused_and_moves_nothing(app, client, held, callback, data):
    body = valid_bodies("TX-OPEN")[callback]
    target = body["settles"][0] if callback == "event_settle" else body
    # A refund's fields that move no money are kept however they arrive: poison the others.
    fields = {"userId", "txId"} if callback == "cancel_bet" else set(target)
    field = data.draw(st.sampled_from(sorted(fields)))
    if field in AMOUNT_FIELDS:
        value = data.draw(poison | bad_amounts)
    elif field in TIME_FIELDS:
        value = data.draw(poison | bad_times)
    else:
        value = data.draw(poison)
    if value is None:
        del target[field]
    else:
        target[field] = value
    answer = assert_refused_without_a_500(client, callback, json.dumps(body))
    assert answer["code"] == "9999" and field in answer["desc"]
    assert credits(app, USER) == held


class Raw(str):
    """JSON text written into a body as it is: what json.dumps cannot write."""


HUGE = "9" * 5000  # over the 4,300 digits Python reads an integer from text in
raw_numbers = st.sampled_from(
    [Raw(HUGE), Raw(f"-{HUGE}"), Raw(f"[{HUGE}]"), Raw(f'{{"n": {HUGE}}}'), Raw("1e999")]
)


def stamp(moment, sign, hours, minutes):
    """A 28-character timestamp of any date and time, and any offset a day holds."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}"
        f"{sign}{hours:02d}{minutes:02d}"
    )


timestamps = st.builds(
    stamp, st.datetimes(), st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)
) | st.sampled_from(["0001-01-01T00:00:00.000+0800", "9999-12-31T23:59:59.999-0800"])
texts = (
    st.text(max_size=40)
    | st.text(min_size=31, max_size=200)
    | st.sampled_from(["VOID\x00ROUND", "\ud800", "x\nERROR forged line", "BET_FAILED"])
)
# What a refund's fields that move no money may hold: anything, or nothing (None: left out).
details = st.fixed_dictionaries(
    {
        name: st.none() | json_values | raw_numbers | texts | timestamps
        for name in ("ts", "reason", "gameType", "gameCode")
    }
)
extras = st.dictionaries(
    st.text(max_size=10).filter(lambda key: key not in {"userId", "txId"}),
    json_values | raw_numbers,
    max_size=3,
)
tx_ids = (f"PR-{n}" for n in itertools.count())


def cancel_body(tx_id, fields):
    """cancel_bet's body text for USER's `tx_id`, with these other fields (None: left out)."""
    body = {"userId": USER, "txId": tx_id} | {k: v for k, v in fields.items() if v is not None}
    members = (
        f"{json.dumps(key)}: {value if isinstance(value, Raw) else json.dumps(value)}"
        for key, value in body.items()
    )
    return "{" + ", ".join(members) + "}"


@pytest.mark.slow
@FUZZ
@given(first=details, again=details, extra=extras)
def test_a_cancel_of_a_real_bet_refunds_it_once_whatever_its_other_fields(
    app, client, held, first, again, extra
):
    tx_id = next(tx_ids)
    placed = client.post("/wallet/place_bet", json=place_bet_body(tx_id, amount="1.5"))
    assert placed.json["code"] == "0000"
    for fields in (first | extra, again):
        data = cancel_body(tx_id, fields)
        answer = client.post("/wallet/cancel_bet", data=data, content_type="application/json")
        assert answer.status_code == 200, answer.data
        assert answer.json["code"] == "0000", answer.json
    assert credits(app, USER) == held
