"""Settings read from the environment."""

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
