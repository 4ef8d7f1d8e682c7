"""Settings read from the environment."""

import pytest

import config


def test_database_url_defaults_to_a_sqlite_file_under_instance():
    url = config.database_url({}, "/srv/instance")
    assert url == "sqlite:////srv/instance/dashboard.sqlite"


def test_platform_postgres_urls_are_served_through_psycopg():
    for given in ("postgres://u:p@db:5432/app", "postgresql://u:p@db:5432/app"):
        assert config.database_url({"DATABASE_URL": given}, "i") == (
            "postgresql+psycopg://u:p@db:5432/app"
        )


def test_the_pool_is_a_fixed_set_of_connections_sized_by_the_environment():
    assert config.from_environment({})["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 10
    options = config.from_environment({"DATABASE_POOL_SIZE": "4"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"]) == (4, 0)


def test_flags_read_the_usual_spellings():
    assert [config.flag({"X": v}, "X") for v in ("1", "true", "Yes", "on")] == [True] * 4
    assert [config.flag({"X": v}, "X") for v in ("0", "false", "off")] == [False] * 3
    assert config.flag({"X": " "}, "X", default=True) is True


def test_boards_are_pinged_every_25_s_unless_told_otherwise():
    assert config.from_environment({})["BOARD_PING_SECONDS"] == 25
    assert config.from_environment({"BOARD_PING_SECONDS": "0.5"})["BOARD_PING_SECONDS"] == 0.5


def test_the_hubs_nudge_is_5_s_unless_set_above_zero():
    assert config.from_environment({})["BOARD_NUDGE_SECONDS"] == 5
    given = config.from_environment({"BOARD_NUDGE_SECONDS": "0.5"})
    assert given["BOARD_NUDGE_SECONDS"] == 0.5
    for value in ("0", "-1", "nan", "soon"):
        with pytest.raises(config.SettingError, match=f"BOARD_NUDGE_SECONDS must be .*'{value}'"):
            config.from_environment({"BOARD_NUDGE_SECONDS": value})


def test_a_product_is_down_after_20_s_without_an_alive_unless_set_above_zero():
    assert config.from_environment({})["FEED_ALIVE_TIMEOUT_SECONDS"] == 20
    given = config.from_environment({"FEED_ALIVE_TIMEOUT_SECONDS": "3"})
    assert given["FEED_ALIVE_TIMEOUT_SECONDS"] == 3
    for value in ("0", "-1", "nan", "soon"):
        refused = f"FEED_ALIVE_TIMEOUT_SECONDS must .*'{value}'"
        with pytest.raises(config.SettingError, match=refused):
            config.from_environment({"FEED_ALIVE_TIMEOUT_SECONDS": value})


def test_every_database_wait_is_bounded_by_a_setting():
    defaults = config.from_environment({})
    assert defaults["SQLALCHEMY_ENGINE_OPTIONS"]["pool_timeout"] == 2
    assert (defaults["DATABASE_LOCK_TIMEOUT"], defaults["DATABASE_STATEMENT_TIMEOUT"]) == (2, 5)
    given = config.from_environment(
        {
            "DATABASE_POOL_TIMEOUT": "0.5",
            "DATABASE_LOCK_TIMEOUT": "1.5",
            "DATABASE_STATEMENT_TIMEOUT": "3",
        }
    )
    assert given["SQLALCHEMY_ENGINE_OPTIONS"]["pool_timeout"] == 0.5
    assert (given["DATABASE_LOCK_TIMEOUT"], given["DATABASE_STATEMENT_TIMEOUT"]) == (1.5, 3)


def test_log_format_is_text_or_json():
    import pytest

    assert config.log_format({}) == "text"
    assert config.log_format({"LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(config.SettingError, match="LOG_FORMAT must be text or json"):
        config.log_format({"LOG_FORMAT": "jsno"})


def test_a_production_database_needs_a_gate_for_the_wallet():
    import pytest

    production = {"DATABASE_URL": "postgresql://app@db/app", "SECRET_KEY": "k" * 32}
    with pytest.raises(config.SettingError) as refused:
        config.from_environment(production)
    for name in ("WALLET_SECRET", "WALLET_ALLOWED_IPS", "WALLET_OPEN"):
        assert name in str(refused.value)
    for blank in ({"WALLET_SECRET": "  "}, {"WALLET_ALLOWED_IPS": " , "}, {"WALLET_OPEN": "0"}):
        with pytest.raises(config.SettingError):
            config.from_environment(production | blank)
    for gate in ({"WALLET_SECRET": "x"}, {"WALLET_ALLOWED_IPS": "10.1.2.3"}, {"WALLET_OPEN": "1"}):
        assert config.from_environment(production | gate)["WALLET_OPEN"] == ("WALLET_OPEN" in gate)


def test_the_embedded_database_may_run_an_open_wallet():
    assert config.from_environment({})["WALLET_OPEN"] is False


def test_a_body_s_wait_is_bounded_by_settings_above_zero():
    import pytest

    defaults = config.from_environment({})
    assert (defaults["BODY_TIMEOUT_SECONDS"], defaults["BODY_WAITS_PER_ADDRESS"]) == (5, 20)
    given = config.from_environment({"BODY_TIMEOUT_SECONDS": "2.5", "BODY_WAITS_PER_ADDRESS": "3"})
    assert (given["BODY_TIMEOUT_SECONDS"], given["BODY_WAITS_PER_ADDRESS"]) == (2.5, 3)
    for name, value in [
        ("BODY_TIMEOUT_SECONDS", "0"),
        ("BODY_TIMEOUT_SECONDS", "-1"),
        ("BODY_TIMEOUT_SECONDS", "nan"),
        ("BODY_TIMEOUT_SECONDS", "inf"),
        ("BODY_TIMEOUT_SECONDS", "soon"),
        ("BODY_WAITS_PER_ADDRESS", "0"),
        ("BODY_WAITS_PER_ADDRESS", "2.5"),
    ]:
        with pytest.raises(config.SettingError, match=f"{name} must be .* above 0, not '{value}'"):
            config.from_environment({name: value})


def test_port_is_a_whole_number_from_1_to_65535():
    import pytest

    assert config.from_environment({})["PORT"] == 8000
    assert config.from_environment({"PORT": "8123"})["PORT"] == 8123
    for text in ("0", "65536", "99999", "80a", "-1"):
        with pytest.raises(config.SettingError, match=f"PORT must be a port.*not '{text}'"):
            config.from_environment({"PORT": text})


def test_feed_url_is_empty_or_a_websocket_url_with_a_host():
    import pytest

    assert config.from_environment({})["FEED_URL"] == ""
    given = "wss://xpbet-ws-api.helix.city/ws?token=t"
    assert config.from_environment({"FEED_URL": given})["FEED_URL"] == given
    for url in ("xpbet.example/ws", "http://xpbet.example/ws", "ws:///ws", "ws://h:99999/ws"):
        with pytest.raises(config.SettingError, match="FEED_URL must be a ws:// or wss:// URL"):
            config.from_environment({"FEED_URL": url})
