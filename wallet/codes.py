"""Every answer code the wallet gives, in one table.

The provider documents only 0000, 8001 and 9999. Every other failure is named here and answers 9999
with a precise desc, unless the operator maps its name to the provider's own code in WALLET_CODES
(a JSON object such as {"insufficient_balance": "1018"}).
"""

from enum import Enum

SUCCESS = "0000"
NO_RELEVANT_CODE = "9999"


class Failure(Enum):
    """A named way a callback can fail; the value is the name WALLET_CODES uses."""

    MALFORMED_REQUEST = "malformed_request"
    FORBIDDEN_ADDRESS = "forbidden_address"
    BAD_SECRET = "bad_secret"
    MAINTENANCE = "maintenance"
    UNKNOWN_USER = "unknown_user"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    TX_CONFLICT = "tx_conflict"
    USER_MISMATCH = "user_mismatch"
    BET_NOT_FOUND = "bet_not_found"
    BET_CANCELLED = "bet_cancelled"
    BET_ALREADY_SETTLED = "bet_already_settled"
    SETTLE_CONFLICT = "settle_conflict"
    INTERNAL_ERROR = "internal_error"
    BUSY = "busy"
    BET_FAILED = "bet_failed"
    BALANCE_LIMIT = "balance_limit"


# What each failure means, for the provider's integrators (the OpenAPI document, openapi.py).
MEANINGS = {
    Failure.MALFORMED_REQUEST: "a field missing or out of its limits, a body not JSON or not "
    "declared JSON, or too large; the desc names what",
    Failure.FORBIDDEN_ADDRESS: "the caller's address is not in WALLET_ALLOWED_IPS",
    Failure.BAD_SECRET: "the shared secret header is missing or wrong",
    Failure.MAINTENANCE: "the wallet is under maintenance: nothing was done; retry later",
    Failure.UNKNOWN_USER: "no account has this userId",
    Failure.INSUFFICIENT_BALANCE: "the balance is less than betAmount",
    Failure.TX_CONFLICT: "this txId was placed before with another userId, amount, round or game",
    Failure.USER_MISMATCH: "this txId is another userId's bet",
    Failure.BET_NOT_FOUND: "no bet was placed with this txId",
    Failure.BET_CANCELLED: "the bet of this txId was cancelled: it cannot be settled",
    Failure.BET_ALREADY_SETTLED: "the bet of this txId was settled: it cannot be cancelled",
    Failure.SETTLE_CONFLICT: "betAmount differs from the bet's, or this txId or settleId was "
    "paid before with other content",
    Failure.INTERNAL_ERROR: "an unexpected error (HTTP 500): nothing was done; retry",
    Failure.BUSY: "the account or the database was held elsewhere for too long: nothing was "
    "done; retry",
    Failure.BET_FAILED: "place_bet only: the bet definitely failed (its txId was cancelled "
    "first, or since): send no cancel_bet",
    Failure.BALANCE_LIMIT: "the credit would take the balance past the most an account may "
    "hold: nothing moved",
}

DEFAULT_CODES = {failure: NO_RELEVANT_CODE for failure in Failure} | {
    # place_bet only: "this bet definitely failed", so the provider sends no cancel_bet.
    Failure.BET_FAILED: "8001",
}


def code_table(overrides):
    """Return {Failure: code} with the operator's overrides applied; reject unknown names."""
    table = dict(DEFAULT_CODES)
    for name, code in overrides.items():
        try:
            failure = Failure(name)
        except ValueError:
            raise ValueError(f"WALLET_CODES names an unknown failure: {name!r}") from None
        if failure is Failure.BET_FAILED:
            raise ValueError("WALLET_CODES cannot remap bet_failed: 8001 is the provider's own")
        if not (isinstance(code, str) and len(code) == 4 and code != SUCCESS):
            raise ValueError(f"WALLET_CODES[{name!r}] must be a 4-character code other than 0000")
        table[failure] = code
    return table
