"""What every in-process test shares."""

import pytest
from argon2 import PasswordHasher

from accounts import passwords

# Argon2id at its smallest cost: the same algorithm, the same hash format and the same checks,
# in well under a millisecond instead of ~0.2 s of CPU (four lanes of 64 MiB). These tests are
# about who may log in and how often, not what a hash costs; the servers and commands of
# processes/ and browser/ hash at the production cost.
QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    monkeypatch.setattr(passwords, "HASHER", QUICK_HASHER)
    monkeypatch.setattr(passwords, "_decoy", [])  # the decoy too, hashed at this cost
