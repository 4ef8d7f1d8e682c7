"""Who may call the wallet: IP allowlist, shared secret, maintenance switch."""

import pytest

from tests.wallet.calls import cancel_bet_body, place_bet_body, row_counts


@pytest.mark.parametrize(
    "app_config", [{"WALLET_ALLOWED_IPS": ["203.0.113.0/24"], "PROXY_HOPS": 1}]
)
@pytest.mark.parametrize(
    ("forwarded_for", "allowed"),
    [
        ("203.0.113.9", True),
        ("198.51.100.7", False),
        # A caller cannot smuggle an allowed address in front of the one the router appends.
        ("203.0.113.9, 198.51.100.7", False),
    ],
)
def test_allowlist_uses_the_address_the_router_saw(
    app, client, rows_before, forwarded_for, allowed
):
    answer = client.post(
        "/wallet/place_bet",
        json=place_bet_body("TX-1"),
        headers={"X-Forwarded-For": forwarded_for},
    )
    if allowed:
        assert answer.json["code"] == "0000"
    else:
        assert answer.json["code"] == "9999"
        assert answer.json["desc"].endswith("is not allowed")
        assert row_counts(app) == rows_before


@pytest.mark.parametrize("app_config", [{"WALLET_SECRET": "s3cret"}])
@pytest.mark.parametrize(
    ("offered", "allowed"), [("s3cret", True), ("s3crex", False), (None, False)]
)
def test_shared_secret_is_required(app, client, rows_before, offered, allowed):
    headers = {} if offered is None else {"X-Wallet-Secret": offered}
    answer = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1"), headers=headers)
    if allowed:
        assert answer.json["code"] == "0000"
    else:
        assert answer.json == {"code": "9999", "desc": "missing or wrong X-Wallet-Secret"}
        assert row_counts(app) == rows_before


@pytest.mark.parametrize(
    "app_config", [{"WALLET_MAINTENANCE": True, "WALLET_CODES": {"maintenance": "1200"}}]
)
@pytest.mark.parametrize("callback", ["place_bet", "cancel_bet", "get_balance"])
def test_maintenance_refuses_every_callback_without_touching_money(
    app, client, rows_before, callback
):
    body = {"place_bet": place_bet_body("TX-1"), "cancel_bet": cancel_bet_body("TX-1")}.get(
        callback, {"userId": "hrgpl0001"}
    )
    answer = client.post(f"/wallet/{callback}", json=body)
    assert answer.json == {"code": "1200", "desc": "wallet under maintenance, retry later"}
    assert row_counts(app) == rows_before


@pytest.mark.parametrize(
    "codes",
    [{"no_such_failure": "1234"}, {"unknown_user": "12"}, {"bet_failed": "1234"}, {"x": "0000"}],
)
def test_bad_code_mapping_fails_at_start(database_url, codes):
    from app import create_app
    from tests.conftest import base_config

    with pytest.raises(ValueError, match="WALLET_CODES"):
        create_app(base_config(database_url) | {"WALLET_CODES": codes})
