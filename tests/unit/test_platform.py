"""What the platform reads: app.json, the Procfile and the runtime pin agree with each other."""

import json
import sys

from tests.servers import ROOT, procfile


def app_json():
    return json.loads((ROOT / "app.json").read_text())


def test_app_json_asks_for_postgresql_and_redis():
    plans = {addon["plan"].split(":")[0] for addon in app_json()["addons"]}
    assert plans == {"heroku-postgresql", "heroku-redis"}


def test_the_formation_runs_web_and_one_feed_process_of_the_procfile():
    formation = app_json()["formation"]
    assert formation.keys() == {"web", "feed"} and formation.keys() <= procfile().keys()
    assert formation["feed"]["quantity"] == 1


def test_migrations_run_at_release_and_after_the_first_deploy():
    assert procfile()["release"] == "flask --app app db upgrade"
    assert app_json()["scripts"]["postdeploy"] == procfile()["release"]


def test_the_runtime_pin_is_the_python_the_tests_run_on():
    pinned = (ROOT / ".python-version").read_text().strip()
    assert pinned == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_platforms_self_signed_redis_certificate_is_accepted():
    assert app_json()["env"]["REDIS_TLS_VERIFY"]["value"] == "off"


def test_app_json_gives_the_wallet_a_gate_the_app_accepts():
    import config

    env = app_json()["env"]
    assert env["WALLET_SECRET"]["generator"] == "secret"
    assert "WALLET_OPEN" not in env
    # What the platform sets from app.json (a secret in place of each generator), and what the
    # deployer is asked for.
    platform = {k: v["value"] for k, v in env.items() if "value" in v}
    platform |= {k: "generated-secret" for k, v in env.items() if v.get("generator") == "secret"}
    platform |= {"DATABASE_URL": "postgres://u:p@db:5432/app", "FEED_URL": "wss://feed.example/ws"}
    settings = config.from_environment(platform)
    assert settings["WALLET_SECRET"] and not settings["WALLET_OPEN"]
