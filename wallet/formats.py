"""The provider's wire formats: 28-character GMT+8 timestamps and decimal amount strings."""

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

GMT8 = timezone(timedelta(hours=8))
# ASCII: otherwise \d matches every script's digits, and Decimal reads "５" as 5.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}", re.ASCII)
TIMESTAMP_LENGTH = 28
AMOUNT = re.compile(r"-?\d+(\.\d+)?", re.ASCII)
MAX_DECIMALS = 4  # the provider's "at most 4 decimal places"
# Far more than any amount needs (MAX_UNITS has 13 integer digits), and checked before parsing:
# converting a long number costs time that grows with the square of its digits.
MAX_AMOUNT_LENGTH = 32

# Money is held as integer ten-thousandths: the provider allows at most 4 decimal places.
UNITS = 10**MAX_DECIMALS
# The largest amount: 1,000,000,000,000.0.
MAX_UNITS = 10**16
# The most an account may hold: 100 of the largest amounts. A bound on each amount is no bound on
# their sum (an event_settle of 1000 of them is 10**19 units, past the 2**63 - 1 of PostgreSQL's
# bigint), so every credit is checked against this before it is written (ledger.post): a balance,
# and one amount on top of it, stay far inside a signed 64-bit column.
MAX_BALANCE = 100 * MAX_UNITS


def format_ts(moment):
    """Format an aware datetime as the provider's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in GMT+8."""
    local = moment.astimezone(GMT8)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+0800"


def parse_ts(text):
    """Parse a provider timestamp into an aware UTC datetime; raise ValueError with the reason."""
    if len(text) != TIMESTAMP_LENGTH:
        raise ValueError("must be 28 characters as yyyy-MM-ddTHH:mm:ss.SSS+hhmm")
    if not TIMESTAMP.fullmatch(text):
        raise ValueError("must be yyyy-MM-ddTHH:mm:ss.SSS+hhmm in ASCII digits")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a real date and time") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the years 0001 to 9999 once its offset applies") from None


def parse_amount(text, *, allow_zero):
    """Parse an amount string into integer units; raise ValueError with the reason."""
    if len(text) > MAX_AMOUNT_LENGTH:
        raise ValueError(f"is longer than {MAX_AMOUNT_LENGTH} characters")
    if not AMOUNT.fullmatch(text):
        raise ValueError("is not a decimal number")
    if text.startswith("-") and Decimal(text) != 0:
        raise ValueError("must not be negative")
    _, _, decimals = text.partition(".")
    if len(decimals) > MAX_DECIMALS:
        raise ValueError(f"has more than {MAX_DECIMALS} decimal places")
    units = int(Decimal(text) * UNITS)
    if units == 0 and not allow_zero:
        raise ValueError("must be greater than zero")
    if units > MAX_UNITS:
        raise ValueError("is too large")
    return abs(units)


def format_amount(units):
    """Format integer units as the provider's amount string: '100.0', '100.1234'."""
    text = f"{Decimal(units) / UNITS:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
