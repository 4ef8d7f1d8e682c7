"""The wallet's callbacks follow the model of its rules over random histories, on SQLite
(tests/wallet/model.py; test_model_postgres.py on PostgreSQL)."""

import shutil

import pytest
from hypothesis.stateful import run_state_machine_as_test

from tests.wallet.model import MACHINE_SETTINGS, WalletMachine


@pytest.mark.slow
def test_callbacks_follow_the_model_on_sqlite(sqlite_template, tmp_path):
    def fresh_database():
        path = tmp_path / "model.sqlite"
        path.unlink(missing_ok=True)
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"

    machine = type("SqliteWallet", (WalletMachine,), {"database_url": staticmethod(fresh_database)})
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
