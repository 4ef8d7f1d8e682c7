"""The wallet's rules as a pure-Python model, and the state machine that plays random
interleavings of the five callbacks against the real wallet and the model (unit/wallet/test_model
on SQLite, test_model_postgres on PostgreSQL: two files, so that two workers run them at once).

Hypothesis chooses the callbacks, repeats and reorderings over a handful of txIds and users; after
every step each answer's code and balance must equal the model's; at the end of every history
the ledger must audit clean. The ledger only grows, so a problem a step leaves is still there at
the end, where the audit's eight queries cost once instead of at every step.
"""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
)

from app import create_app
from database import db
from tests.conftest import base_config
from tests.wallet.calls import (
    audit,
    cancel_bet_body,
    credits,
    deposit,
    event_settle_body,
    place_bet_body,
    settle_body,
)
from wallet.formats import format_amount, parse_amount

USERS = ["u1", "u2", "ghost"]  # ghost has no account
TX_IDS = ["T1", "T2", "T3", "T4"]
AMOUNTS = ["5", "30", "70.5", "200"]
WINS = ["0", "10", "61.25"]
SETTLE_IDS = ["S1", "S2", "S3"]


class WalletModel:
    """The rules as plain Python: what each callback must answer and do to the balances."""

    def __init__(self):
        self.accounts = {"u1": [1_000_000, 200_000], "u2": [500_000, 0]}  # [real, free]
        self.bets = {}
        self.payouts = {}

    def balance(self, user):
        real, free = self.accounts.get(user, (0, 0))
        return format_amount(real + free)

    def place_bet(self, tx, user, amount):
        if user not in self.accounts:
            return "9999"
        bet = self.bets.get(tx)
        if bet is not None:
            if bet["amount"] is None:
                return "8001"
            if (bet["user"], bet["amount"]) != (user, amount):
                return "9999"
            return "8001" if bet["state"] == "cancelled" else "0000"
        real, free = self.accounts[user]
        if amount > real + free:
            return "9999"
        from_free = min(free, amount)
        self.accounts[user] = [real - (amount - from_free), free - from_free]
        self.bets[tx] = {
            "user": user,
            "amount": amount,
            "real": amount - from_free,
            "free": from_free,
            "state": "placed",
            "win": None,
        }
        return "0000"

    def cancel_bet(self, tx, user):
        bet = self.bets.get(tx)
        if bet is None:
            self.bets[tx] = {"user": user, "amount": None, "state": "cancelled", "win": None}
            return "0000"
        if bet["user"] != user or bet["state"] == "settled":
            return "9999"
        if bet["state"] == "placed":
            self.accounts[user][0] += bet["real"]
            self.accounts[user][1] += bet["free"]
            bet["state"] = "cancelled"
        return "0000"

    def settle(self, tx, user, amount, win):
        bet = self.bets.get(tx)
        if user not in self.accounts or bet is None or bet["user"] != user:
            return "9999"
        if bet["state"] == "cancelled" or bet["amount"] != amount:
            return "9999"
        if bet["state"] == "settled":
            return "0000" if bet["win"] == win else "9999"
        self.accounts[user][0] += win
        bet["state"], bet["win"] = "settled", win
        return "0000"

    def event_settle(self, payouts):
        if any(user not in self.accounts for _, user, _ in payouts):
            return "9999"
        credited = {}
        for settle_id, user, amount in payouts:
            seen = self.payouts.get(settle_id) or credited.get(settle_id)
            if seen is not None:
                if seen != (user, amount):
                    return "9999"
                continue
            credited[settle_id] = (user, amount)
        for settle_id, (user, amount) in credited.items():
            self.payouts[settle_id] = (user, amount)
            self.accounts[user][0] += amount
        return "0000"


class WalletMachine(RuleBasedStateMachine):
    database_url = None  # set per backend below

    def __init__(self):
        super().__init__()
        self.app = create_app(base_config(self.database_url()))
        for user, amount, free in (("u1", "100", False), ("u1", "20", True), ("u2", "50", False)):
            deposit(self.app, user, amount, free=free)
        self.client = self.app.test_client()
        self.model = WalletModel()

    def call(self, callback, body, expected_code, user=None):
        answer = self.client.post(f"/wallet/{callback}", json=body)
        assert answer.status_code == 200
        assert answer.json["code"] == expected_code, (callback, body, answer.json)
        if expected_code == "0000" and user is not None:
            assert answer.json["balance"] == self.model.balance(user)
        elif expected_code != "0000":
            assert answer.json["desc"]

    @rule(user=st.sampled_from(USERS))
    def get_balance(self, user):
        expected = "0000" if user in self.model.accounts else "9999"
        self.call("get_balance", {"userId": user}, expected, user)

    @rule(tx=st.sampled_from(TX_IDS), user=st.sampled_from(USERS), amount=st.sampled_from(AMOUNTS))
    def place_bet(self, tx, user, amount):
        expected = self.model.place_bet(tx, user, parse_amount(amount, allow_zero=False))
        self.call("place_bet", place_bet_body(tx, user=user, amount=amount), expected, user)

    @rule(tx=st.sampled_from(TX_IDS), user=st.sampled_from(USERS))
    def cancel_bet(self, tx, user):
        expected = self.model.cancel_bet(tx, user)
        self.call("cancel_bet", cancel_bet_body(tx, user=user), expected, user)

    @rule(
        tx=st.sampled_from(TX_IDS),
        user=st.sampled_from(USERS),
        amount=st.sampled_from(AMOUNTS),
        win=st.sampled_from(WINS),
    )
    def settle(self, tx, user, amount, win):
        units = parse_amount(amount, allow_zero=False)
        expected = self.model.settle(tx, user, units, parse_amount(win, allow_zero=True))
        self.call("settle", settle_body(tx, user=user, bet=amount, win=win), expected, user)

    @rule(
        payouts=st.lists(
            st.tuples(
                st.sampled_from(SETTLE_IDS), st.sampled_from(USERS), st.sampled_from(AMOUNTS)
            ),
            min_size=1,
            max_size=3,
        )
    )
    def event_settle(self, payouts):
        units = [(sid, user, parse_amount(a, allow_zero=False)) for sid, user, a in payouts]
        expected = self.model.event_settle(units)
        self.call("event_settle", event_settle_body(*payouts), expected)

    @invariant()
    def balances_match_the_model(self):
        for user in USERS:
            expected = self.model.accounts.get(user)
            assert credits(self.app, user) == (None if expected is None else tuple(expected))

    def teardown(self):
        try:
            assert audit(self.app) == []
        finally:
            with self.app.app_context():
                db.engine.dispose()


MACHINE_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
