"""The wallet's log lines: one line each, whatever a callback's fields hold."""

import json
import logging

import pytest

from ops.logs import JSONLines, UTCText
from tests.wallet.calls import cancel_bet_body, place_bet_body, settle_body

FORGED = "x\nERROR forged line"


@pytest.mark.parametrize(
    ("formatter", "message"),
    [(UTCText(), lambda line: line), (JSONLines(), lambda line: json.loads(line)["message"])],
    ids=["text", "json"],
)
def test_a_newline_in_a_field_stays_escaped_inside_its_log_line(
    client, funded, caplog, formatter, message
):
    client.post("/wallet/place_bet", json=place_bet_body("TX-1"))
    client.post("/wallet/settle", json=settle_body("TX-1"))
    # A cancel after settle alerts with its reason, which a refund keeps however it arrives.
    with caplog.at_level(logging.INFO, logger="wallet"):
        client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1", reason=FORGED))
    # The doubt noted on the reason, the alert, and the refusal.
    records = [r for r in caplog.records if r.name.startswith("wallet")]
    assert [r.name for r in records] == ["wallet.views", "wallet.alerts", "wallet.views"]
    lines = [formatter.format(r) for r in records]
    assert all("\n" not in line for line in lines)
    assert "reason='x\\nERROR forged line'" in message(lines[1])
