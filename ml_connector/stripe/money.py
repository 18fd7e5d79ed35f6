"""Stripe amounts (integer minor units) <-> exact ``Decimal`` major units.

Stripe states every amount as an integer in the currency's smallest unit, and the size of that unit is a
property of the currency, not of the amount: 1000 is USD 10.00 but JPY 1000 and KWD 1.000. Reading a JPY
amount as cents would book a payment at one hundredth of its value, so the exponent table below is the one
place that decides, and both directions are exact: a value that cannot be represented in the currency's minor
unit is refused rather than rounded, because a silently rounded amount is a reconciliation break that nobody
notices until the bank statement disagrees.

The tables follow Stripe's "Supported currencies" page (docs.stripe.com/currencies):

* zero-decimal currencies are listed explicitly;
* three-decimal currencies (BHD, JOD, KWD, OMR, TND) use thousandths; Stripe additionally asks that the last
  digit of a charged amount be 0, which is a charge-creation rule and is enforced by Stripe, not here;
* ISK, HUF and TWD are "special cases" that Stripe still represents with two decimals in the API (their
  charged amounts must be whole units, i.e. multiples of 100), so they keep exponent 2 here; converting with
  exponent 0 would be off by a factor of 100.

Every other currency has two decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

ZERO_DECIMAL_CURRENCIES: Final[frozenset[str]] = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
        "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }
)  # fmt: skip
THREE_DECIMAL_CURRENCIES: Final[frozenset[str]] = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


class MoneyError(ValueError):
    """An amount or currency that cannot be converted without losing or inventing value."""


def _normalise_currency(currency: str) -> str:
    code = currency.strip().lower()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise MoneyError(f"not an ISO 4217 currency code: {currency!r}")
    return code


def exponent(currency: str) -> int:
    """Number of decimal places in ``currency``'s Stripe minor unit (0, 2 or 3)."""
    code = _normalise_currency(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_decimal(amount: int, currency: str) -> Decimal:
    """Stripe minor units -> major units, exact, with exactly ``exponent(currency)`` decimal places.

    ``bool`` is rejected even though it is an ``int``: a ``True`` amount is always a bug upstream.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MoneyError(f"Stripe amounts are integers in minor units, got {type(amount).__name__}")
    # Built from the digit tuple rather than by division so that no decimal context (precision, rounding)
    # can ever take part: the result is exact for amounts of any size.
    digits = tuple(int(d) for d in str(abs(amount)))
    return Decimal((1 if amount < 0 else 0, digits, -exponent(currency)))


def to_minor(amount: Decimal, currency: str) -> int:
    """Major units -> Stripe minor units, refusing anything that is not exactly representable.

    ``Decimal("12.50")`` in USD is 1250; ``Decimal("12.505")`` in USD is refused, as is ``Decimal("1.5")``
    in JPY.
    Floats are refused outright: ``0.1`` has no exact binary value, so accepting it would let a float creep in
    upstream and only fail on some amounts.
    """
    if not isinstance(amount, Decimal):
        raise MoneyError(f"money must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise MoneyError(f"money must be finite, got {amount}")
    # Work on the digit tuple so no decimal context can round: shifting the exponent by the currency's
    # exponent must leave no non-zero digit behind the point.
    sign, digits, exp = amount.as_tuple()
    assert isinstance(exp, int)  # finite, checked above
    shifted = exp + exponent(currency)
    if shifted >= 0:
        magnitude = int("".join(map(str, digits))) * 10**shifted
    else:
        kept, dropped = digits[:shifted], digits[shifted:]
        if any(dropped):
            raise MoneyError(f"{amount} is not a whole number of {currency.upper()} minor units")
        magnitude = int("".join(map(str, kept)) or "0")
    return -magnitude if sign else magnitude
