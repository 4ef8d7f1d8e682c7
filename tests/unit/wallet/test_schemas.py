"""Every field of every callback refused precisely, with nothing written."""

import json

import pytest

from tests.wallet.calls import (
    USER,
    cancel_bet_body,
    credits,
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
# Real dates and times until their offset takes them past year 1 or year 9999.
OUT_OF_RANGE = ("0001-01-01T00:00:00.000+0800", "9999-12-31T23:59:59.999-0800")
OUTSIDE_THE_YEARS = "is outside the years 0001 to 9999 once its offset applies"
AMOUNTS = {"betAmount", "validBetAmount", "winAmount"}


# A refund's fields that move no money are kept however they arrive (test_ledger.py).
LENIENT = {("cancel_bet", name) for name in ("ts", "reason", "gameType", "gameCode")}


def field_cases():
    for callback, make in VALID.items():
        for name in make():
            if (callback, name) in LENIENT:
                continue
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
                for text in OUT_OF_RANGE:
                    yield callback, name, text, f"{name} {OUTSIDE_THE_YEARS}"
            if name in AMOUNTS:
                yield callback, name, "-1.0", f"{name} must not be negative"
                yield callback, name, "1.23456", f"{name} has more than 4 decimal places"
                yield callback, name, "fifty", f"{name} is not a decimal number"
                if name == "betAmount":
                    yield callback, name, "0", f"{name} must be greater than zero"


@pytest.mark.parametrize(("callback", "name", "value", "desc"), list(field_cases()))
def test_bad_field_is_refused_precisely_and_writes_nothing(
    app, client, rows_before, callback, name, value, desc
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
    assert row_counts(app) == rows_before


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
def test_unreadable_body_is_refused(app, client, rows_before, body, desc):
    answer = client.post("/wallet/cancel_bet", data=body, content_type="application/json")
    assert answer.json == {"code": "9999", "desc": desc}
    assert row_counts(app) == rows_before


# A body each callback would act on if it read it: every one moves money but get_balance.
ACTED_ON = {
    "get_balance": lambda: {"userId": USER},
    "place_bet": lambda: place_bet_body("TX-NEW"),
    "cancel_bet": lambda: cancel_bet_body("TX-OPEN"),
    "settle": lambda: settle_body("TX-OPEN", bet="7"),
    "event_settle": lambda: event_settle_body(("S-NEW", USER, "1000000")),
}


@pytest.mark.parametrize("callback", sorted(ACTED_ON))
@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        # What a cross-site page can send without a preflight: a form, or text.
        ("text/plain", "'text/plain'"),
        ("text/plain;charset=UTF-8", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        ("multipart/form-data; boundary=x", "'multipart/form-data'"),
        ("application/jsonp", "'application/jsonp'"),
        ("x/" + "y" * 1000, repr("x/" + "y" * 253)),  # the desc shows a media type's most
        (None, "missing"),
    ],
)
def test_a_body_not_declared_json_is_refused_and_moves_nothing(
    app, client, open_bet, callback, content_type, named
):
    before = row_counts(app)
    data = json.dumps(ACTED_ON[callback]())
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = client.post(f"/wallet/{callback}", data=data, headers=headers)
    assert answer.status_code == 200
    desc = f"body is not declared JSON: Content-Type is {named}, not application/json"
    assert answer.json == {"code": "9999", "desc": desc}
    assert row_counts(app) == before


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "application/json; charset=utf-8", "APPLICATION/JSON;x=y"]
)
def test_a_body_declared_json_in_any_case_and_with_parameters_is_read(
    app, client, funded, content_type
):
    data = json.dumps(ACTED_ON["event_settle"]())
    answer = client.post("/wallet/event_settle", data=data, headers={"Content-Type": content_type})
    assert answer.json == {"code": "0000", "desc": ""}
    assert credits(app, USER) == (10_001_000_000, 100_000)


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
        *(
            (
                [{"settleId": "S1", "eventId": "E", "userId": "u", "amount": "1", "createTime": t}],
                f"settles[0].createTime {OUTSIDE_THE_YEARS}",
            )
            for t in OUT_OF_RANGE
        ),
    ],
)
def test_bad_event_settle_is_refused_precisely(app, client, rows_before, settles, desc):
    answer = client.post("/wallet/event_settle", json={"settles": settles})
    assert answer.json == {"code": "9999", "desc": desc}
    assert row_counts(app) == rows_before


def test_one_bad_item_refuses_the_whole_batch(app, client, rows_before):
    body = event_settle_body(("S1", "hrgpl0001", "5.0"), ("S2", "nobody", "5.0"))
    answer = client.post("/wallet/event_settle", json=body)
    assert answer.json == {"code": "9999", "desc": "unknown userId 'nobody'"}
    assert row_counts(app) == rows_before


BODY_LIMIT = 1024 * 1024
# The fields that decide money or identify it: refused when wrong, on every callback.
STRICT = {
    "get_balance": {"userId": lambda: {"userId": "hrgpl0001"}},
    "place_bet": {name: lambda: place_bet_body("TX-V1") for name in place_bet_body("TX-V1")},
    "settle": {name: lambda: settle_body("TX-V1") for name in settle_body("TX-V1")},
    "cancel_bet": {name: lambda: cancel_bet_body("TX-V1") for name in ("userId", "txId")},
}


def strict_fields():
    for callback, fields in STRICT.items():
        for name, make in fields.items():
            yield callback, name, make
    for name in ("settleId", "eventId", "userId", "amount", "createTime"):
        yield "event_settle", f"settles[0].{name}", None


def with_value(callback, name, make, value):
    """The valid body of `callback` with `name` set to `value` (settles[0].x: the first item's)."""
    if callback == "event_settle":
        body = event_settle_body(("S1", "hrgpl0001", "5.0"))
        body["settles"][0][name.removeprefix("settles[0].")] = value
    else:
        body = make()
        body[name] = value
    return body


@pytest.mark.parametrize(("callback", "name", "make"), list(strict_fields()))
def test_a_field_as_long_as_the_body_limit_is_refused_by_its_length(
    app, client, rows_before, callback, name, make
):
    short = json.dumps(with_value(callback, name, make, ""))
    # Digits, so that an amount or a time would be parsed if the length were not checked first.
    body = with_value(callback, name, make, "9" * (BODY_LIMIT - len(short) - 1))
    data = json.dumps(body).encode()
    assert BODY_LIMIT - 10 < len(data) <= BODY_LIMIT
    answer = client.post(f"/wallet/{callback}", data=data, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json["code"] == "9999"
    assert answer.json["desc"].startswith(f"{name} is longer than ")
    assert row_counts(app) == rows_before


@pytest.mark.parametrize(("callback", "name", "make"), list(strict_fields()))
@pytest.mark.parametrize(
    ("value", "wrong"),
    [
        # PostgreSQL cannot store a NUL; SQLite would.
        ("TX\x00-1", "contains a control character"),
        ("TX\x1b-1", "contains a control character"),
        # A lone surrogate: valid JSON, but no UTF-8 can encode it.
        ("TX\ud800-1", "is not valid Unicode"),
    ],
)
def test_an_unstorable_character_is_refused_identically_on_both_databases(
    app, client, rows_before, callback, name, make, value, wrong
):
    answer = client.post(f"/wallet/{callback}", json=with_value(callback, name, make, value))
    assert answer.status_code == 200
    assert answer.json["code"] == "9999"
    if name.endswith(("ts", "Time", "betTime")):
        assert answer.json["desc"].startswith(f"{name} must be")
    elif name.endswith(("Amount", "amount")):
        assert answer.json["desc"] == f"{name} is not a decimal number"
    else:
        assert answer.json["desc"] == f"{name} {wrong}"
    assert row_counts(app) == rows_before


@pytest.mark.parametrize(
    "data",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"userId": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"userId": "hrgpl0001", "x": ' + '{"a": ' * 15_000 + "1" + "}" * 15_001,
    ],
)
def test_json_nested_too_deeply_is_refused(app, client, rows_before, data):
    answer = client.post("/wallet/get_balance", data=data, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json == {"code": "9999", "desc": "body is nested too deeply"}


@pytest.mark.parametrize(
    ("name", "value", "desc"),
    [
        ("betAmount", "５", "betAmount is not a decimal number"),
        ("betAmount", "٥٠", "betAmount is not a decimal number"),
        (
            "betTime",
            "２０２２-10-14T22:59:59.920+0800",
            "betTime must be yyyy-MM-ddTHH:mm:ss.SSS+hhmm in ASCII digits",
        ),
    ],
)
def test_digits_other_than_ascii_are_refused(app, client, rows_before, name, value, desc):
    answer = client.post("/wallet/place_bet", json=place_bet_body("TX-1") | {name: value})
    assert answer.json == {"code": "9999", "desc": desc}
    assert credits(app, "hrgpl0001") == (1_000_000, 100_000)


@pytest.mark.parametrize(
    "data",
    [
        json.dumps({"userId": "hrgpl0001"} | {f"k{i}": 0 for i in range(20_001)}),
        '{"userId": "hrgpl0001", "x": [' + ",".join(["{}"] * 20_001) + "]}",
    ],
    ids=["keys", "objects"],
)
def test_a_body_with_more_values_than_any_callback_is_refused_before_parsing(
    app, client, rows_before, data
):
    answer = client.post("/wallet/get_balance", data=data, content_type="application/json")
    assert answer.status_code == 200
    assert answer.json == {
        "code": "9999",
        "desc": "body holds more values than any callback (over 20,000 commas and colons)",
    }


def test_the_largest_real_body_is_within_the_bound_on_values(app, client, rows_before):
    # 1000 payouts, the most an event_settle may hold, with every field at its longest.
    payout = {
        "settleId": "S" * 20,
        "eventId": "E" * 60,
        "userId": "U" * 50,
        "amount": "9" * 12 + ".9999",
        "createTime": "2022-10-14T23:00:00.000+0800",
    }
    body = {"settles": [payout | {"settleId": f"S{i:019d}"} for i in range(1000)]}
    answer = client.post("/wallet/event_settle", json=body)
    assert answer.json == {"code": "9999", "desc": f"unknown userId {'U' * 50!r}"}
