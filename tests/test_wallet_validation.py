"""Every field of every callback refused precisely, with nothing written."""

import pytest

from tests.wallet_calls import (
    cancel_bet_body,
    deposit,
    event_settle_body,
    place_bet_body,
    row_counts,
    settle_body,
)

VALID = {
    "get_balance": lambda: {"userId": "hrgpl0001"},
    "place_bet": lambda: place_bet_body("TX-V1"),
    "cancel_bet": lambda: cancel_bet_body("TX-V1"),
    "settle": lambda: settle_body("TX-V1"),
}

LIMITS = {
    "userId": 50,
    "txId": 20,
    "roundId": 20,
    "tableId": 50,
    "gameType": 10,
    "gameCode": 20,
    "category": 20,
}
TIMESTAMPS = {"ts", "betTime"}
AMOUNTS = {"betAmount", "validBetAmount", "winAmount"}


def field_cases():
    for callback, make in VALID.items():
        for name in make():
            yield callback, name, None, f"{name} is missing"
            yield callback, name, "", f"{name} is empty"
            yield callback, name, 12, f"{name} must be a string, got a number"
            yield callback, name, ["x"], f"{name} must be a string, got an array"
            if name in LIMITS:
                yield (
                    callback,
                    name,
                    "x" * (LIMITS[name] + 1),
                    f"{name} is longer than {LIMITS[name]} characters",
                )
            if name in TIMESTAMPS:
                yield callback, name, "2022-10-14T23:00:00+08:00", f"{name} must be 28 characters"
            if name in AMOUNTS:
                yield callback, name, "-1.0", f"{name} must not be negative"
                yield callback, name, "1.23456", f"{name} has more than 4 decimal places"
                yield callback, name, "fifty", f"{name} is not a decimal number"
                if name == "betAmount":
                    yield callback, name, "0", f"{name} must be greater than zero"
            if name == "reason":
                yield (
                    callback,
                    name,
                    "BORED",
                    "reason must be one of BET_REQUEST_TIME_OUT, BET_FAILED, VOID_ROUND",
                )


@pytest.fixture
def funded(app):
    deposit(app, "hrgpl0001", "100")
    return row_counts(app)


@pytest.mark.parametrize(("callback", "name", "value", "desc"), list(field_cases()))
def test_bad_field_is_refused_precisely_and_writes_nothing(
    app, client, funded, callback, name, value, desc
):
    body = VALID[callback]()
    if value is None:
        del body[name]
    else:
        body[name] = value
    answer = client.post(f"/wallet/{callback}", json=body)
    assert answer.status_code == 200
    assert answer.json["code"] == "9999"
    assert answer.json["desc"].startswith(desc)
    assert row_counts(app) == funded


@pytest.mark.parametrize(
    ("body", "desc"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b"", "body is not valid JSON"),
    ],
)
def test_unreadable_body_is_refused(app, client, funded, body, desc):
    answer = client.post("/wallet/cancel_bet", data=body, content_type="application/json")
    assert answer.json == {"code": "9999", "desc": desc}
    assert row_counts(app) == funded


@pytest.mark.parametrize(
    ("settles", "desc"),
    [
        ([], "settles must not be empty"),
        ("x", "settles must be a JSON array"),
        ([{"settleId": "S1"}], "settles[0].eventId is missing"),
        (
            [{"settleId": "S1", "eventId": "E", "userId": "u", "amount": "0", "createTime": "x"}],
            "settles[0].amount must be greater than zero",
        ),
        ([7], "settles[0] must be a JSON object"),
    ],
)
def test_bad_event_settle_is_refused_precisely(app, client, funded, settles, desc):
    answer = client.post("/wallet/event_settle", json={"settles": settles})
    assert answer.json == {"code": "9999", "desc": desc}
    assert row_counts(app) == funded


def test_one_bad_item_refuses_the_whole_batch(app, client, funded):
    body = event_settle_body(("S1", "hrgpl0001", "5.0"), ("S2", "nobody", "5.0"))
    answer = client.post("/wallet/event_settle", json=body)
    assert answer.json == {"code": "9999", "desc": "unknown userId 'nobody'"}
    assert row_counts(app) == funded
