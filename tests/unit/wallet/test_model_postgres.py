"""The wallet's callbacks follow the model of its rules over random histories, on PostgreSQL
(tests/wallet/model.py; test_model.py on SQLite)."""

import pytest
from hypothesis.stateful import run_state_machine_as_test

from tests.conftest import truncate_all
from tests.wallet.model import MACHINE_SETTINGS, WalletMachine


@pytest.mark.slow
@pytest.mark.postgres
def test_callbacks_follow_the_model_on_postgres(postgres_migrated):
    def fresh_database():
        truncate_all(postgres_migrated)
        return postgres_migrated

    machine = type(
        "PostgresWallet", (WalletMachine,), {"database_url": staticmethod(fresh_database)}
    )
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
