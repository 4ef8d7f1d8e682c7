"""Query-string and form values the database cannot take are refused with 400, never a 500."""

import re

import pytest

from app import create_app
from database import db
from tests.conftest import base_config


@pytest.fixture
def login_client(database_url):
    """A test client of the app with the board's login on, holding the login form's token."""
    app = create_app(base_config(database_url) | {"BOARD_LOGIN": True})
    client = app.test_client()
    page = client.get("/login")
    client.csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    yield client
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("event_id", ["\x00", "sr:match:1\x00", "x" * 65])
def test_bet_stops_refuse_an_event_id_no_row_can_hold(client, event_id):
    answer = client.get("/feed/bet-stops", query_string={"event_id": event_id})
    assert answer.status_code == 400 and answer.json == {"error": "bad request"}


def test_bet_stops_take_an_event_id_as_long_as_the_column_holds(client):
    answer = client.get("/feed/bet-stops", query_string={"event_id": "x" * 64})
    assert answer.status_code == 200 and answer.json == {"bet_stops": []}


@pytest.mark.parametrize(
    "query", [{"limit": "1\x00"}, {"event\x00": "sr:match:1"}, {"unknown": "\x00"}]
)
def test_a_nul_anywhere_in_the_query_string_is_answered_400(client, query):
    answer = client.get("/feed/bet-stops", query_string=query)
    assert answer.status_code == 400 and answer.json == {"error": "bad request"}


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_nul_in_a_login_field_is_answered_400(login_client, field):
    form = {"username": "alice", "password": "correct horse", "csrf_token": login_client.csrf_token}
    form[field] += "\x00"
    answer = login_client.post("/login", data=form)
    assert answer.status_code == 400 and "400 Bad Request" in answer.text
