"""Money, dates and QuickBooks-local date-times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ml_connector.qbxml.values import (
    QbDateTime,
    format_amount,
    format_bool,
    format_date,
    format_qb_datetime,
    format_quantity,
    parse_amount,
    parse_bool,
    parse_date,
    parse_qb_datetime,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1250"), "1250.00"),
        (Decimal("0.005"), "0.01"),
        (Decimal("2.675"), "2.68"),
        (Decimal("-0.005"), "-0.01"),
        (Decimal("-0.001"), "0.00"),
        (Decimal("1E+2"), "100.00"),
        (Decimal("9999999999999.994"), "9999999999999.99"),
        (7, "7.00"),
    ],
)
def test_amounts_have_exactly_two_decimals_rounded_half_up(value: Decimal, expected: str) -> None:
    assert format_amount(value) == expected


def test_float_money_is_refused() -> None:
    with pytest.raises(TypeError):
        format_amount(0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_amount(True)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("10000000000000")])
def test_amounts_quickbooks_cannot_hold_are_refused(value: Decimal) -> None:
    with pytest.raises(ValueError):
        format_amount(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1250.00", Decimal("1250.00")),
        ("-250.00", Decimal("-250.00")),
        (" 3 ", Decimal(3)),
        ("0.5", Decimal("0.5")),
    ],
)
def test_amounts_are_read_as_exact_decimals(text: str, expected: Decimal) -> None:
    amount = parse_amount(text)
    assert amount == expected
    assert isinstance(amount, Decimal)


@pytest.mark.parametrize("text", ["", "abc", "1,250.00", "1e5", "--1"])
def test_unreadable_amounts_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


def test_quantities_and_rates_keep_up_to_five_decimals() -> None:
    assert format_quantity(Decimal("1.50000")) == "1.5"
    assert format_quantity(Decimal("0.123456")) == "0.12346"
    assert format_quantity(Decimal("100")) == "100"
    assert format_quantity(Decimal("0")) == "0"
    with pytest.raises(TypeError):
        format_quantity(1.5)  # type: ignore[arg-type]


def test_dates_round_trip_and_datetimes_are_not_silently_truncated() -> None:
    assert format_date(date(2024, 3, 9)) == "2024-03-09"
    assert parse_date("2024-3-9") == date(2024, 3, 9)
    with pytest.raises(TypeError):
        format_date(datetime(2024, 3, 9, 12))
    with pytest.raises(ValueError):
        parse_date("09/03/2024")


def test_booleans_use_schema_spelling() -> None:
    assert format_bool(True) == "true"
    assert format_bool(False) == "false"
    assert parse_bool("true") is True
    assert parse_bool(" false ") is False
    with pytest.raises(ValueError):
        parse_bool("yes")


def test_time_modified_keeps_the_wall_clock_and_the_claimed_instant() -> None:
    value = parse_qb_datetime("2024-03-04T09:00:12-05:00")
    assert value.wall_clock == "2024-03-04T09:00:12"
    assert value.moment == datetime(2024, 3, 4, 14, 0, 12, tzinfo=UTC)


def test_a_summer_timestamp_with_a_winter_offset_feeds_back_its_wall_clock_unchanged() -> None:
    # PROTOCOL.md section 10: the printed offset may ignore DST; the clock reading is what QuickBooks filters on.
    value = parse_qb_datetime("2024-07-01T10:00:00-05:00")
    assert format_qb_datetime(value) == "2024-07-01T10:00:00"


def test_date_times_without_offset_or_seconds_are_read() -> None:
    value = parse_qb_datetime("2024-3-4T9:05")
    assert value.wall_clock == "2024-03-04T09:05:00"
    assert value.moment.tzinfo is UTC
    eastern = timezone(timedelta(hours=-5))
    assert parse_qb_datetime("2024-03-04", default_tz=eastern).moment.utcoffset() == timedelta(hours=-5)
    assert parse_qb_datetime("2024-03-04T09:00:00Z").moment.utcoffset() == timedelta(0)


def test_unreadable_date_times_raise() -> None:
    with pytest.raises(ValueError):
        parse_qb_datetime("yesterday")


def test_filters_are_written_as_wall_clock_without_offset() -> None:
    assert format_qb_datetime(datetime(2024, 1, 1)) == "2024-01-01T00:00:00"
    assert format_qb_datetime(datetime(2024, 1, 1, 8, 30, 5, 999999)) == "2024-01-01T08:30:05"


def test_an_aware_datetime_is_refused_for_filters() -> None:
    with pytest.raises(TypeError):
        format_qb_datetime(datetime(2024, 1, 1, tzinfo=UTC))


def test_a_watermark_can_be_moved_back_by_an_overlap_window() -> None:
    value = parse_qb_datetime("2024-03-04T00:02:00-05:00")
    assert value.minus(timedelta(minutes=5)) == "2024-03-03T23:57:00"
    assert value.local == datetime(2024, 3, 4, 0, 2)
    assert str(value) == "2024-03-04T00:02:00"


def test_a_qb_datetime_must_be_timezone_aware_and_well_formed() -> None:
    with pytest.raises(ValueError):
        QbDateTime(wall_clock="2024-03-04T00:00:00", moment=datetime(2024, 3, 4))
    with pytest.raises(ValueError):
        QbDateTime(wall_clock="2024-03-04 00:00", moment=datetime(2024, 3, 4, tzinfo=UTC))
