"""docs/wallet-api.md, the integrators' page: its examples are answered 0000, and its tables of
fields and codes are those of the wallet's own OpenAPI document."""

import json
import re

import pytest

from tests.servers import ROOT
from tests.wallet.calls import USER

DOC = ROOT / "docs" / "wallet-api.md"
SECRET = "s3cret-for-the-doc"
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def doc_text():
    return DOC.read_text(encoding="utf-8")


def http_examples():
    """[(callback, headers, body)] of the page's ```http examples, in order."""
    examples = []
    for block in re.findall(r"```http\n(.*?)```", doc_text(), re.S):
        head, _, body = block.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, path = request_line.split()
        assert method == "POST"
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append((path.removeprefix("/wallet/"), headers, body))
    return examples


def json_examples():
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc_text(), re.S)]


def table_rows(heading):
    """The cells of each row of the first table under `heading`, backticks removed."""
    section = doc_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_the_page_shows_a_place_bet_and_its_settle():
    assert [callback for callback, _, _ in http_examples()] == ["place_bet", "settle"]


@pytest.mark.parametrize("app_config", [{"WALLET_SECRET": SECRET}])
def test_each_example_is_answered_0000_as_the_page_shows(funded, client, app_config):
    (answer_shown,) = json_examples()
    answers = []
    for callback, headers, body in http_examples():
        headers = {
            name: value.replace("<WALLET_SECRET>", SECRET) for name, value in headers.items()
        }
        answer = client.post(f"/wallet/{callback}", data=body, headers=headers)
        assert answer.status_code == 200
        assert answer.json["code"] == "0000", (callback, answer.json)
        answers.append(answer.json)
    placed, settled = answers
    assert placed.keys() == answer_shown.keys()
    assert placed["balance"] == answer_shown["balance"] == "60.0"  # USER held 110.0
    assert settled["balance"] == "160.0"
    shown_user = {json.loads(body)["userId"] for _, _, body in http_examples()}
    assert shown_user == {USER}


def openapi_fields(spec, schema, prefix=""):
    for name, field in schema["properties"].items():
        limit = field.get("maxLength", field.get("maxItems"))
        yield prefix + name, str(limit), "yes" if name in schema["required"] else "no"
        if field.get("type") == "array":
            yield from openapi_fields(spec, field["items"], f"{name}[].")


@SQLITE
def test_the_fields_table_is_the_documents(client):
    spec = client.get("/wallet/openapi.json").json
    documented = set()
    for path, item in spec["paths"].items():
        ref = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        callback = path.removeprefix("/wallet/")
        documented |= {(callback, *field) for field in openapi_fields(spec, schema)}
    shown = {
        (callback, field, limit, required)
        for callback, field, _, limit, required in table_rows("Fields")
    }
    assert shown == documented


@SQLITE
def test_the_codes_table_is_the_documents(client):
    failures = client.get("/wallet/openapi.json").json["components"]["x-failures"]
    documented = {(name, f["code"], f["meaning"]) for name, f in failures.items()}
    assert {tuple(row) for row in table_rows("Codes")} == documented


def test_the_page_names_the_document_and_the_readme_names_the_page():
    assert "`GET https://<host>/wallet/openapi.json`" in doc_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    wallet_section = readme.split("\n## Wallet\n", 1)[1].split("\n## ", 1)[0]
    assert "(docs/wallet-api.md)" in wallet_section
