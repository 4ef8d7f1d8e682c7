"""GET /wallet/openapi.json: the callbacks described for the provider's integrators, as the
wallet validates and answers them."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from database import db
from tests.conftest import base_config, sqlite_url
from tests.servers import gunicorn, wait_answering
from tests.wallet.calls import (
    USER,
    cancel_bet_body,
    deposit,
    event_settle_body,
    place_bet_body,
    settle_body,
)
from wallet.codes import Failure

# What the document says does not depend on the database: SQLite is enough.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Every answer: never a server error, its status and content type documented, its body as
# the document describes it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# A body each callback answers 0000 to, once USER is funded and TX-OPEN placed (open_bet).
VALID = {
    "get_balance": lambda: {"userId": USER},
    "place_bet": lambda: place_bet_body("TX-NEW"),
    "cancel_bet": lambda: cancel_bet_body("TX-OPEN"),
    "settle": lambda: settle_body("TX-OPEN", bet="7"),
    "event_settle": lambda: event_settle_body(("S-NEW", USER, "5")),
}


def document(client):
    answer = client.get("/wallet/openapi.json")
    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    return answer.json


def resolve(spec, schema):
    """`schema` with a $ref to the document's components followed."""
    while "$ref" in schema:
        _, _, _, name = schema["$ref"].split("/")
        schema = spec["components"]["schemas"][name]
    return schema


def request_schema(spec, callback):
    operation = spec["paths"][f"/wallet/{callback}"]["post"]
    assert operation["requestBody"]["required"] is True
    return resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])


def documented_fields(spec, schema, prefix=""):
    """(path in the body, field schema, whether required) of every field, items' included."""
    for name, field in schema["properties"].items():
        yield prefix + name, field, name in schema.get("required", ())
        if field.get("type") == "array":
            yield from documented_fields(spec, resolve(spec, field["items"]), f"{name}[0].")


def body_with(body, path, value):
    """A copy of `body` with the field at `path` ("settles[0].userId") set, or removed (None)."""
    copy = {**body, "settles": [dict(item) for item in body.get("settles", [])]}
    target, name = copy, path
    if "[0]." in path:
        target, name = copy["settles"][0], path.split(".", 1)[1]
    if value is None:
        del target[name]
    else:
        target[name] = value
    return copy


@SQLITE
def test_the_document_is_openapi_3_of_the_five_callbacks(client):
    spec = document(client)
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {f"/wallet/{callback}" for callback in VALID}
    for path in spec["paths"].values():
        assert set(path) == {"post"}


@SQLITE
@pytest.mark.parametrize(
    ("callback", "field", "limit"),
    [
        ("get_balance", "userId", 50),
        ("place_bet", "txId", 20),
        ("place_bet", "roundId", 20),
        ("place_bet", "tableId", 50),
        ("place_bet", "gameType", 10),
        ("place_bet", "gameCode", 20),
        ("place_bet", "category", 20),
        ("place_bet", "ts", 28),
        ("cancel_bet", "reason", 30),
        ("settle", "winAmount", 32),
        ("event_settle", "settles[0].settleId", 20),
        ("event_settle", "settles[0].eventId", 60),
    ],
)
def test_the_document_gives_the_providers_limits(client, callback, field, limit):
    spec = document(client)
    fields = {
        path: schema for path, schema, _ in documented_fields(spec, request_schema(spec, callback))
    }
    assert fields[field]["maxLength"] == limit


@SQLITE
def test_a_refund_is_documented_strict_on_whose_bet_it_is_only(client):
    spec = document(client)
    cancel = request_schema(spec, "cancel_bet")
    assert sorted(cancel["required"]) == ["txId", "userId"]
    assert cancel["properties"]["reason"]["enum"] == [
        "BET_REQUEST_TIME_OUT",
        "BET_FAILED",
        "VOID_ROUND",
    ]
    settles = request_schema(spec, "event_settle")["properties"]["settles"]
    assert (settles["minItems"], settles["maxItems"]) == (1, 1000)


@SQLITE
@pytest.mark.parametrize("app_config", [{"WALLET_CODES": {"busy": "1002"}}])
def test_every_failure_is_documented_with_the_code_it_answers(client, app_config):
    spec = document(client)
    failures = spec["components"]["x-failures"]
    assert set(failures) == {failure.value for failure in Failure}
    assert failures["busy"]["code"] == "1002"
    assert failures["bet_failed"]["code"] == "8001"
    assert failures["unknown_user"]["code"] == "9999"
    codes = resolve(spec, {"$ref": "#/components/schemas/FailureAnswer"})["properties"]["code"]
    assert sorted(codes["enum"]) == ["1002", "8001", "9999"]


@SQLITE
def test_each_callbacks_success_and_failure_answers_are_documented(client):
    spec = document(client)
    for callback in VALID:
        answers = spec["paths"][f"/wallet/{callback}"]["post"]["responses"]
        ok = answers["200"]["content"]["application/json"]["schema"]
        shapes = [resolve(spec, shape) for shape in ok["oneOf"]]
        success = next(s for s in shapes if s["properties"]["code"]["enum"] == ["0000"])
        balance = {"balance", "balanceTs"} <= set(success["required"])
        assert balance is (callback != "event_settle")
        assert resolve(spec, {"$ref": "#/components/schemas/FailureAnswer"}) in shapes


@SQLITE
def test_every_documented_limit_and_required_field_is_the_one_the_callbacks_apply(client, open_bet):
    spec = document(client)
    for callback, make_body in VALID.items():
        for path, field, required in documented_fields(spec, request_schema(spec, callback)):
            name = path.rsplit(".", 1)[-1]
            missing = client.post(f"/wallet/{callback}", json=body_with(make_body(), path, None))
            if "maxLength" in field:
                long = "9" * (field["maxLength"] + 1)
                too_long = client.post(
                    f"/wallet/{callback}", json=body_with(make_body(), path, long)
                )
            if required:
                assert missing.json["desc"] == f"{path} is missing", (callback, path)
                if "maxLength" in field:
                    assert too_long.json["desc"] == (
                        f"{path} is longer than {field['maxLength']} characters"
                    ), (callback, path, name)
            else:  # a refund goes through whatever a field of no money holds
                assert missing.json["code"] == "0000", (callback, path)
                assert too_long.json["code"] == "0000", (callback, path)


@pytest.fixture(scope="module")
def live_wallet(sqlite_template, tmp_path_factory):
    """The address of gunicorn serving the wallet on a SQLite file where USER holds money."""
    url = sqlite_url(sqlite_template, tmp_path_factory.mktemp("live_wallet"))
    app = create_app(base_config(url))
    deposit(app, USER, "1000")
    with app.app_context():
        db.engine.dispose()
    with gunicorn(url, FEED_ENABLED="0") as address:
        wait_answering(address)
        yield address


@pytest.fixture(scope="module")
def wallet_api(live_wallet):
    """The document as the running server serves it, loaded by Schemathesis."""
    return schemathesis.openapi.from_url(f"http://{live_wallet}/wallet/openapi.json")


# Schemathesis' own pytest loader (schemathesis.pytest.from_fixture) does not run under this
# pytest: each callback's cases are drawn with Hypothesis here instead.
@pytest.mark.slow
@pytest.mark.parametrize("callback", list(VALID))
def test_every_answer_to_what_the_document_allows_is_as_documented(wallet_api, callback):
    operation = wallet_api[f"/wallet/{callback}"]["POST"]

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    def answered_as_documented(case):
        case.call_and_validate(checks=CHECKS)

    answered_as_documented()
