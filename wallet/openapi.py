"""The wallet's OpenAPI 3 document, for the game provider's integrators.

Built from what the callbacks run on: each request body from its schema (schemas.py: the same
specs that parse it), the answers from the views' shapes, every failure and its code from the
app's code table (codes.py, WALLET_CODES applied). Nothing in it is written out by hand but
prose.
"""

import inspect

from . import schemas
from .codes import MEANINGS, SUCCESS
from .formats import MAX_DECIMALS, TIMESTAMP_LENGTH

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1"
JSON = schemas.JSON_MEDIA_TYPE
# The statuses other than 200 a callback answers, each with a failure answer (views.py).
OTHER_STATUSES = {
    "408": "the body did not arrive within the server's time (busy): retry",
    "429": "this address has too many bodies still arriving (busy): retry",
    "500": "an unexpected error (internal_error): nothing was done; retry",
}


def document(callbacks, codes, *, free_credit, secret_header, secret_required, max_body):
    """The OpenAPI document of `callbacks` ({name: (request type, operation, reports
    balance)}), answering failures with `codes` ({Failure: code}); with `free_credit`, success
    answers carry realCredit and freeCredit; `secret_required`: every call must carry the
    secret in `secret_header`; a body holds at most `max_body` bytes."""
    components = {
        "BalanceAnswer": _balance_answer(free_credit),
        "SuccessAnswer": _success_answer(),
        "FailureAnswer": _failure_answer(codes),
    }
    paths = {}
    for name, (request_type, operation, reports_balance) in callbacks.items():
        components[request_type.__name__] = schemas.request_schema(request_type)
        success = "BalanceAnswer" if reports_balance else "SuccessAnswer"
        paths[f"/wallet/{name}"] = {"post": _operation(name, request_type, operation, success)}
    spec = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Operator wallet: the game provider's single-wallet callbacks",
            "version": API_VERSION,
            "description": _description(max_body),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "walletSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": secret_header,
                    "description": "WALLET_SECRET, the secret the operator gives the provider",
                }
            },
            "x-failures": {
                failure.value: {"code": codes[failure], "meaning": MEANINGS[failure]}
                for failure in codes
            },
        },
    }
    if secret_required:
        spec["security"] = [{"walletSecret": []}]
    return spec


def _operation(name, request_type, operation, success):
    failure = {"$ref": "#/components/schemas/FailureAnswer"}
    answered = {"oneOf": [{"$ref": f"#/components/schemas/{success}"}, failure]}
    responses = {
        "200": {
            "description": f"{SUCCESS} with what was done, or a failure with its desc",
            "content": {JSON: {"schema": answered}},
        }
    }
    for status, why in OTHER_STATUSES.items():
        responses[status] = {"description": why, "content": {JSON: {"schema": failure}}}
    body = {"$ref": f"#/components/schemas/{request_type.__name__}"}
    return {
        "operationId": name,
        "summary": inspect.getdoc(operation).splitlines()[0],
        "description": inspect.getdoc(operation),
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": body}},
        },
        "responses": responses,
    }


def _balance_answer(free_credit):
    credit = {"type": "string", "pattern": f"^[0-9]+\\.[0-9]{{1,{MAX_DECIMALS}}}$"}
    properties = {
        "code": {"type": "string", "enum": [SUCCESS]},
        "balance": credit | {"description": "real + free credit"},
        "balanceTs": schemas.Timestamp().json_schema()
        | {"description": "when the balance last changed, in GMT+8 (+0800)"},
        "desc": {"type": "string", "enum": [""]},
    }
    if free_credit:
        properties["realCredit"] = credit
        properties["freeCredit"] = credit | {"description": "chips: bet, never cashed out"}
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def _success_answer():
    return {
        "type": "object",
        "required": ["code", "desc"],
        "properties": {
            "code": {"type": "string", "enum": [SUCCESS]},
            "desc": {"type": "string", "enum": [""]},
        },
        "additionalProperties": False,
    }


def _failure_answer(codes):
    named = "; ".join(f"{failure.value} {code}" for failure, code in codes.items())
    return {
        "type": "object",
        "required": ["code", "desc"],
        "properties": {
            "code": {
                "type": "string",
                "enum": sorted(set(codes.values())),
                "description": f"the failure's code (components.x-failures): {named}",
            },
            "desc": {"type": "string", "minLength": 1, "description": "what was wrong, precisely"},
        },
        "additionalProperties": False,
    }


def _description(max_body):
    return (
        "The provider POSTs each callback to {callbackURL}/<name>, callbackURL being "
        "https://<host>/wallet, with a JSON body (Content-Type: application/json; any other, "
        f"or none, is refused unread). A body holds at most {max_body:,} bytes and "
        f"{schemas.MAX_SEPARATORS:,} commas and colons. Every answer the server could read is "
        f"HTTP 200 with a code: {SUCCESS} success, any other a failure whose desc says why "
        "(components.x-failures names each failure and its code). Every callback may be sent "
        "again, at once, concurrently or hours later: a repeat of one that succeeded moves "
        "nothing and answers 0000 with the balance of the moment. Amounts are strings with at most "
        f"{MAX_DECIMALS} decimal places; times are {TIMESTAMP_LENGTH} characters in GMT+8."
    )
