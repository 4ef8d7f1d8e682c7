from datetime import UTC, datetime

import pytest

from wallet.formats import format_amount, format_ts, parse_amount, parse_ts


def test_timestamp_is_28_characters_in_gmt8():
    text = format_ts(datetime(2022, 10, 14, 15, 0, 0, 123456, tzinfo=UTC))
    assert text == "2022-10-14T23:00:00.123+0800"
    assert len(text) == 28


def test_timestamp_round_trips():
    assert format_ts(parse_ts("2022-10-14T23:00:00.000+0800")) == "2022-10-14T23:00:00.000+0800"


@pytest.mark.parametrize(
    "text",
    [
        "2022-10-14T23:00:00.000+08:00",  # isoformat's colon
        "2022-10-14T23:00:00+0800",  # no milliseconds
        "2022-10-14 23:00:00.000+0800",
        "2022-13-14T23:00:00.000+0800",  # no 13th month
        "2022-02-30T23:00:00.000+0800",
        "",
    ],
)
def test_timestamp_rejects_other_shapes(text):
    with pytest.raises(ValueError):
        parse_ts(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00.000+0800", "9999-12-31T23:59:59.999-0800"])
def test_a_timestamp_its_offset_takes_past_the_years_is_refused_with_the_reason(text):
    with pytest.raises(ValueError, match="is outside the years 0001 to 9999 once its offset"):
        parse_ts(text)


@pytest.mark.parametrize(
    ("text", "units"),
    [("50.0", 500_000), ("100.1234", 1_001_234), ("1", 10_000), ("0.0001", 1)],
)
def test_amount_parses_to_ten_thousandths(text, units):
    assert parse_amount(text, allow_zero=False) == units


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5", "must not be negative"),
        ("0", "must be greater than zero"),
        ("0.0000", "must be greater than zero"),
        ("1.00000", "more than 4 decimal places"),
        ("1.23456", "more than 4 decimal places"),
        ("abc", "not a decimal number"),
        ("1e3", "not a decimal number"),
        ("NaN", "not a decimal number"),
        (" 5", "not a decimal number"),
        ("9" * 20, "too large"),
    ],
)
def test_amount_refuses_bad_values_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_amount(text, allow_zero=False)


def test_zero_allowed_where_the_field_allows_it():
    assert parse_amount("0.0", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("units", "text"), [(1_000_000, "100.0"), (1_001_234, "100.1234"), (5_000, "0.5"), (0, "0.0")]
)
def test_amount_formats_with_at_most_4_decimals(units, text):
    assert format_amount(units) == text


def test_an_amount_longer_than_any_amount_is_refused_before_it_is_parsed():
    # Parsed, 300,000 digits cost seconds of CPU (the conversion is quadratic).
    with pytest.raises(ValueError, match="is longer than 32 characters"):
        parse_amount("9" * 300_000, allow_zero=False)


@pytest.mark.parametrize("text", ["５", "٥٠", "１.５", "5.٥", "۵"])
def test_only_ascii_digits_are_money(text):
    with pytest.raises(ValueError, match="is not a decimal number"):
        parse_amount(text, allow_zero=False)


@pytest.mark.parametrize(
    "text", ["２０２２-10-14T23:00:00.000+0800", "2022-10-14T23:00:00.000+0８00"]
)
def test_timestamps_are_ascii_digits(text):
    with pytest.raises(ValueError, match="in ASCII digits"):
        parse_ts(text)
