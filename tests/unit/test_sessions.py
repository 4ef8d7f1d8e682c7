import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from sessions import CookieSessionWhenSent
from tests.conftest import base_config


@pytest.fixture
def cookie_app():
    app = Flask(__name__)
    app.secret_key = "test"
    app.session_interface = CookieSessionWhenSent()

    @app.post("/remember/<value>")
    def remember(value):
        session["value"] = value
        return {}

    @app.get("/recall")
    def recall():
        return {"value": session.get("value")}

    return app


def refuse_to_sign(*_args):
    raise AssertionError("the cookie signer was built for a request without cookies")


def test_a_session_written_without_a_cookie_is_read_back(cookie_app):
    client = cookie_app.test_client()
    assert client.get("/recall").json == {"value": None}
    assert "session=" in client.post("/remember/42").headers["Set-Cookie"]
    assert client.get("/recall").json == {"value": "42"}


def test_a_tampered_cookie_opens_an_empty_session(cookie_app):
    client = cookie_app.test_client()
    client.set_cookie("session", "eyJ2YWx1ZSI6IjQyIn0.forged.signature")
    assert client.get("/recall").json == {"value": None}


def test_a_request_without_cookies_builds_no_signer(cookie_app, monkeypatch):
    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer", refuse_to_sign)
    assert cookie_app.test_client().get("/recall").json == {"value": None}


def test_the_app_opens_no_session_for_a_callback_without_cookies(sqlite_database_url, monkeypatch):
    app = create_app(base_config(sqlite_database_url))
    monkeypatch.setattr(SecureCookieSessionInterface, "get_signing_serializer", refuse_to_sign)
    answer = app.test_client().post("/wallet/get_balance", json={"userId": "nobody"})
    assert answer.status_code == 200 and answer.json["code"] != "0000"
