"""Concurrent, repeated and crashing deliveries move money exactly once.

These run on SQLite and on the real PostgreSQL, where row locks and unique constraints are what
stand between a retry storm and a double refund.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import psycopg
import pytest
import requests
import sqlalchemy as sa

from app import create_app
from database import db
from infra import gevent_waits
from tests.conftest import base_config
from tests.servers import gunicorn
from tests.wallet.calls import (
    USER,
    audit,
    cancel_bet_body,
    credits,
    deposit,
    place_bet_body,
    statements_run,
)
from wallet.formats import format_ts
from wallet.models import LedgerEntry

# For the tests where every call must go through: a loaded machine may keep 50 threads waiting
# for one account's lock longer than its default 2 s, which would answer "busy, retry later".
PATIENT = {"DATABASE_LOCK_TIMEOUT": 60.0}


def post_all(app, requests, workers):
    """POST every (callback, body) at once from `workers` threads; return the JSON answers."""
    assert len(requests) == workers, "one thread per request, all released at once"
    barrier = threading.Barrier(workers)

    def send(request):
        callback, body = request
        client = app.test_client()
        barrier.wait(timeout=10)
        answer = client.post(f"/wallet/{callback}", json=body)
        assert answer.status_code == 200, answer.data
        return answer.json

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(send, requests))


@pytest.mark.parametrize("app_config", [PATIENT])
def test_fifty_concurrent_identical_cancels_refund_once(app, client, funded):
    client.post("/wallet/place_bet", json=place_bet_body("TX-1", amount="70"))
    answers = post_all(app, [("cancel_bet", cancel_bet_body("TX-1"))] * 50, workers=50)
    assert [a["code"] for a in answers] == ["0000"] * 50
    assert {a["balance"] for a in answers} == {"110.0"}
    assert credits(app, USER) == (1_000_000, 100_000)
    assert audit(app) == []


@pytest.mark.parametrize("app_config", [PATIENT])
def test_balance_ts_is_taken_after_the_lock_and_written_to_the_ledger(app, funded):
    bodies = [place_bet_body(f"TX-{i}", amount="0.5") for i in range(200)]

    def send(body):
        answer = app.test_client().post("/wallet/place_bet", json=body)
        return body["txId"], answer.json

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(send, bodies))
    assert {answer["code"] for _, answer in answers} == {"0000"}
    # Every bet takes 0.5: the balance each answer reports says in which order they committed.
    in_commit_order = sorted(answers, key=lambda answer: -float(answer[1]["balance"]))
    stamps = [answer["balanceTs"] for _, answer in in_commit_order]
    went_back = [(a, b) for a, b in pairwise(stamps) if b < a]
    assert went_back == [], f"{len(went_back)} of 199 commits reported an earlier time"

    with app.app_context():
        ledger = db.session.execute(
            sa.select(LedgerEntry.reference, LedgerEntry.created_at)
            .where(LedgerEntry.kind == "bet")
            .order_by(LedgerEntry.id)
        ).all()
        db.session.remove()
    times = [created for _, created in ledger]
    assert all(a <= b for a, b in pairwise(times))
    # The time each answer reported is the time its ledger entry holds.
    assert {tx_id: format_ts(created) for tx_id, created in ledger} == {
        tx_id: answer["balanceTs"] for tx_id, answer in answers
    }


def test_balance_ts_never_goes_back_on_an_account_when_the_clock_does(app, client, funded):
    wallet = app.extensions["wallet"]
    # Later than anything `funded` wrote at the real time, whatever day the suite runs on.
    late = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    early = late - timedelta(hours=1)
    wallet.clock = lambda: late
    first = client.post("/wallet/place_bet", json=place_bet_body("TX-1")).json
    wallet.clock = lambda: early  # the host's clock stepped back an hour
    second = client.post("/wallet/place_bet", json=place_bet_body("TX-2")).json
    balance = client.post("/wallet/get_balance", json={"userId": USER}).json
    assert first["balanceTs"] == second["balanceTs"] == balance["balanceTs"] == format_ts(late)


@pytest.mark.slow
def test_place_bet_racing_cancel_bet_always_restores_the_balance(app, funded):
    start = credits(app, USER)
    for round_number in range(200):
        tx_id = f"RACE-{round_number}"
        requests = [("place_bet", place_bet_body(tx_id)), ("cancel_bet", cancel_bet_body(tx_id))]
        if round_number % 2:
            requests.reverse()
        answers = dict(zip(("a", "b"), post_all(app, requests, workers=2), strict=True))
        assert answers["a"]["code"] in {"0000", "8001"}
        assert answers["b"]["code"] in {"0000", "8001"}
        assert credits(app, USER) == start, f"round {round_number}: {answers}"
    assert audit(app) == []


def test_three_hour_retry_storm_refunds_once(app, client, funded):
    client.post("/wallet/place_bet", json=place_bet_body("TX-1", amount="70"))
    # One cancel a minute for three hours, as the provider retries until it reads 0000.
    for _ in range(180):
        answer = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1"))
        assert answer.json["code"] == "0000"
    assert credits(app, USER) == (1_000_000, 100_000)
    assert audit(app) == []


def test_crash_after_the_ledger_write_commits_nothing_and_the_retry_refunds_once(
    app, client, funded
):
    client.post("/wallet/place_bet", json=place_bet_body("TX-1", amount="70"))
    after_bet = credits(app, USER)
    crashes = []

    def crash_once(statement, parameters):
        # Right after the database has executed the refund's ledger INSERT, before any commit
        # (on PostgreSQL it is one of the WITH queries of the refund's single write).
        refund = "INSERT INTO wallet_ledger" in statement and "cancel" in str(parameters)
        if refund and not crashes:
            crashes.append(True)
            raise RuntimeError("power cut between the ledger write and the commit")

    with statements_run(app, after=crash_once):
        crashed = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1"))
        assert crashed.status_code == 500
        assert crashed.json == {"code": "9999", "desc": "internal error"}
        assert crashes == [True]
        assert credits(app, USER) == after_bet
        assert audit(app) == []

        retried = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1"))
        assert (retried.json["code"], retried.json["balance"]) == ("0000", "110.0")
        again = client.post("/wallet/cancel_bet", json=cancel_bet_body("TX-1"))
        assert again.json["balance"] == "110.0"
        assert credits(app, USER) == (1_000_000, 100_000)


@pytest.mark.slow
@pytest.mark.postgres
def test_under_gunicorn_a_held_account_lock_stalls_that_account_only(postgres_database_url):
    app = create_app(base_config(postgres_database_url))
    others = [f"other{i}" for i in range(20)]
    for user in ["stuck", *others]:
        deposit(app, user, "100")
    with gunicorn(postgres_database_url, FEED_ENABLED="0", DATABASE_LOCK_TIMEOUT="1") as address:
        base = f"http://{address}/wallet"

        def post(callback, body):
            started = time.monotonic()
            answer = requests.post(f"{base}/{callback}", json=body, timeout=60)
            return answer.status_code, answer.json(), time.monotonic() - started

        assert post("place_bet", place_bet_body("TX-S", user="stuck", amount="30"))[0] == 200
        # An operator's psql session locks the account's row and neither commits nor rolls back.
        url = postgres_database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as holder, ThreadPoolExecutor(max_workers=70) as pool:
            holder.execute("SELECT 1 FROM wallet_accounts WHERE user_id = 'stuck' FOR UPDATE")
            # More of its callbacks than the worker has database connections (10)...
            stuck = [
                pool.submit(post, "cancel_bet", cancel_bet_body("TX-S", user="stuck"))
                for _ in range(30)
            ]
            time.sleep(0.5)
            # ...and meanwhile every other account's callbacks.
            free = [
                pool.submit(
                    post, "place_bet", place_bet_body(f"TX-{i}", user=others[i % 20], amount="1")
                )
                for i in range(40)
            ]
            # Both sets are answered while the lock is still held: it is released only after.
            free_answers = [answer.result(timeout=60) for answer in free]
            stuck_answers = [answer.result(timeout=60) for answer in stuck]
            holder.rollback()

        assert [(status, answer["code"]) for status, answer, _ in free_answers] == [
            (200, "0000")
        ] * 40
        for status, answer, elapsed in stuck_answers:
            assert (status, answer["code"]) == (200, "9999")
            assert answer["desc"].endswith("retry later")
            assert elapsed < 5, "a callback waited on the held lock for longer than 5 s"
        assert credits(app, "stuck") == (700_000, 0)

        retried = post("cancel_bet", cancel_bet_body("TX-S", user="stuck"))[1]
        assert (retried["code"], retried["balance"]) == ("0000", "100.0")
    assert audit(app) == []
    with app.app_context():
        db.engine.dispose()


def test_a_callback_is_urgent_work_from_its_first_statement_to_its_commit_only(
    app, open_bet, monkeypatch
):
    # A worker's board fan-outs wait while urgent work is in progress (feed/hub.py): a wallet
    # transaction not marked so would share the cores with thousands of boards' writes again.
    # Waiting for the account's turn or for a connection is not urgent: the fan-outs would
    # give way to a queue.
    marked, waiting = [], []

    def ran(_statement, _parameters):
        marked.append(gevent_waits.urgent_in_progress())

    turns = app.extensions["wallet"].turns
    take = turns.take

    def take_watched(*args):
        waiting.append(gevent_waits.urgent_in_progress())
        return take(*args)

    monkeypatch.setattr(turns, "take", take_watched)

    def checked_out(*_):
        waiting.append(gevent_waits.urgent_in_progress())

    def committed(_connection):
        marked.append(gevent_waits.urgent_in_progress())

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "checkout", checked_out)
    sa.event.listen(engine, "commit", committed)
    try:
        with statements_run(app, after=ran):
            answer = app.test_client().post("/wallet/cancel_bet", json=cancel_bet_body(open_bet))
    finally:
        sa.event.remove(engine, "checkout", checked_out)
        sa.event.remove(engine, "commit", committed)
    assert answer.json["code"] == "0000"
    assert len(marked) >= 3 and all(marked)  # its statements and its commit
    assert waiting == [False, False]  # its turn, its connection
    assert not gevent_waits.urgent_in_progress()  # and no longer once it is over
