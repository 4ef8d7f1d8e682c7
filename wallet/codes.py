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
