"""Stripe minor units and exact decimal amounts, per currency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ml_connector.stripe.money import MoneyError, exponent, to_decimal, to_minor


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (1250, "usd", "12.50"),
        (1, "eur", "0.01"),
        (-1250, "usd", "-12.50"),
        (0, "gbp", "0.00"),
        (500, "jpy", "500"),
        (500, "JPY", "500"),
        (12345, "krw", "12345"),
        (1000, "kwd", "1.000"),
        (5125, "kwd", "5.125"),
        (1, "bhd", "0.001"),
        (10000, "isk", "100.00"),  # ISK is still two-decimal in Stripe's API
        (10000, "huf", "100.00"),
        (1000, "ugx", "1000"),
    ],
)
def test_stripe_amounts_become_exact_decimals_with_the_currencys_places(
    minor: int, currency: str, major: str
) -> None:
    value = to_decimal(minor, currency)
    assert value == Decimal(major)
    assert str(value) == major  # the exponent is the currency's, not whatever arithmetic left behind
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("major", "currency", "minor"),
    [
        ("12.5", "usd", 1250),
        ("12.50", "usd", 1250),
        ("12.500000", "usd", 1250),
        ("1E+2", "usd", 10000),
        ("500", "jpy", 500),
        ("500.00", "jpy", 500),
        ("5.125", "kwd", 5125),
        ("5.12", "jod", 5120),
        ("0.000", "usd", 0),
        ("-3.20", "cad", -320),
    ],
)
def test_decimal_amounts_become_stripe_minor_units(major: str, currency: str, minor: int) -> None:
    assert to_minor(Decimal(major), currency) == minor


@pytest.mark.parametrize(
    ("major", "currency"),
    [("12.505", "usd"), ("1.5", "jpy"), ("0.5", "krw"), ("5.1255", "kwd"), ("0.001", "eur")],
)
def test_amounts_finer_than_the_minor_unit_are_refused_not_rounded(major: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="not a whole number"):
        to_minor(Decimal(major), currency)


def test_amounts_beyond_default_decimal_precision_stay_exact() -> None:
    huge = 10**40 + 7
    assert to_minor(to_decimal(huge, "usd"), "usd") == huge
    assert to_decimal(huge, "jpy") == Decimal(huge)


@pytest.mark.parametrize("bad", [12.5, 1250.0, "12.50", 12])
def test_anything_but_a_decimal_is_refused_as_money(bad: object) -> None:
    with pytest.raises(MoneyError):
        to_minor(bad, "usd")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_non_finite_decimals_are_refused(bad: Decimal) -> None:
    with pytest.raises(MoneyError):
        to_minor(bad, "usd")


@pytest.mark.parametrize("bad", [12.5, True, "1250"])
def test_stripe_amounts_must_be_integers(bad: object) -> None:
    with pytest.raises(MoneyError):
        to_decimal(bad, "usd")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["", "us", "usdx", "12$", "€€€"])
def test_unknown_currency_codes_are_refused(currency: str) -> None:
    with pytest.raises(MoneyError):
        exponent(currency)


def test_exponents_follow_stripes_documented_lists() -> None:
    zero = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
    three = "BHD JOD KWD OMR TND".split()
    assert {exponent(c) for c in zero} == {0}
    assert {exponent(c) for c in three} == {3}
    assert {exponent(c) for c in ["usd", "eur", "gbp", "cad", "isk", "huf", "twd", "mxn"]} == {2}
