"""qbXML scalar values: money, quantities, dates, date-times, booleans.

Money is ``decimal.Decimal`` from end to end. A float reaching :func:`format_amount` is a bug (binary
floating point cannot hold 0.10 exactly), so it is refused with ``TypeError`` instead of being rounded
into something that looks right.

Date-times need more care than their lexical form suggests. QuickBooks reads a date-time *without* an
offset as local time on the QuickBooks machine, and it reports TimeModified with an offset that has been
observed not to follow daylight saving time (PROTOCOL.md section 10): in summer the clock reading is right
but the offset is an hour off. So the only value that is safe to send back as ``FromModifiedDate`` is the
wall-clock reading exactly as QuickBooks printed it, without the offset. :class:`QbDateTime` keeps that
reading next to the timezone-aware value QuickBooks claims, and :func:`format_qb_datetime` only accepts
wall-clock values, never an aware datetime that would have to be converted with an unknown zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_CENT = Decimal("0.01")
_FIVE_PLACES = Decimal("0.00001")
_AMOUNT_MAX_INT_DIGITS = 13  # AMTTYPE: up to 13 integer digits
_QUANTITY_MAX_INT_DIGITS = 10  # PRICETYPE / QUANTYPE / PERCENTTYPE: up to 10 integer digits, 5 decimals

_AMOUNT_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DATETIME_TEXT = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:T(?P<h>\d{1,2})(?::(?P<mi>\d{1,2})(?::(?P<s>\d{1,2})"
    r"(?P<off>(?P<sign>[+-])(?P<oh>\d{1,2}):(?P<om>\d{1,2})|Z)?)?)?)?"
)


def _exact_decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{what} must be Decimal (or int), not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{what} must be finite, got {amount}")
    return amount


def format_amount(value: Decimal) -> str:
    """AMTTYPE text: exactly two decimals, rounded half-up (how invoices round cents), no exponent.

    ``int`` is accepted because it is exact; ``float`` raises ``TypeError``.
    """
    amount = _exact_decimal(value, "amount").quantize(_CENT, rounding=ROUND_HALF_UP)
    if amount == 0:
        amount = abs(amount)  # never "-0.00"
    text = f"{amount:f}"
    if len(text.lstrip("-").split(".")[0]) > _AMOUNT_MAX_INT_DIGITS:
        raise ValueError(f"amount {text} has more than {_AMOUNT_MAX_INT_DIGITS} integer digits")
    return text


def parse_amount(text: str) -> Decimal:
    """Read an AMTTYPE/PRICETYPE/QUANTYPE value as QuickBooks prints it (``"1250.00"``, ``"-250"``)."""
    cleaned = text.strip()
    if not _AMOUNT_TEXT.fullmatch(cleaned):
        raise ValueError(f"not a qbXML amount: {text!r}")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes this
        raise ValueError(f"not a qbXML amount: {text!r}") from exc


def format_quantity(value: Decimal) -> str:
    """PRICETYPE/QUANTYPE/PERCENTTYPE text: at most five decimals (half-up), trailing zeros removed.

    Used for invoice-line Quantity and Rate, where QuickBooks keeps more precision than cents.
    """
    number = _exact_decimal(value, "quantity").quantize(_FIVE_PLACES, rounding=ROUND_HALF_UP)
    if number == 0:
        return "0"
    text = f"{number:f}".rstrip("0").rstrip(".")
    if len(text.lstrip("-").split(".")[0]) > _QUANTITY_MAX_INT_DIGITS:
        raise ValueError(f"quantity {text} has more than {_QUANTITY_MAX_INT_DIGITS} integer digits")
    return text


def format_date(value: date) -> str:
    """DATETYPE text ``YYYY-MM-DD``.

    A ``datetime`` is refused: its date depends on a time zone, and picking one here would hide that
    decision from the caller.
    """
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date, not {type(value).__name__}")
    return value.isoformat()


def parse_date(text: str) -> date:
    """Read DATETYPE text; QuickBooks may print single-digit months/days."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text.strip())
    if not match:
        raise ValueError(f"not a qbXML date: {text!r}")
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)


def format_bool(value: bool) -> str:
    """BOOLTYPE text; lower-case as the schema's xsd:boolean requires."""
    if not isinstance(value, bool):
        raise TypeError(f"expected bool, not {type(value).__name__}")
    return "true" if value else "false"


def parse_bool(text: str) -> bool:
    cleaned = text.strip().lower()
    if cleaned in {"true", "1"}:
        return True
    if cleaned in {"false", "0"}:
        return False
    raise ValueError(f"not a qbXML boolean: {text!r}")


@dataclass(frozen=True)
class QbDateTime:
    """A date-time as QuickBooks reported it.

    ``wall_clock`` is the local clock reading on the QuickBooks machine, ``YYYY-MM-DDTHH:MM:SS`` with no
    offset. It is what you store as a sync watermark and feed back in ``FromModifiedDate``: QuickBooks
    reads offset-less values as its own local time, so the round trip is exact whatever the DST quirk.

    ``moment`` is the timezone-aware instant QuickBooks *claims* (its printed offset, or ``default_tz``
    when it printed none). Because that offset may ignore DST it can be an hour off; use it for display
    and rough ordering across companies, never to build a filter.
    """

    wall_clock: str
    moment: datetime

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None:
            raise ValueError("QbDateTime.moment must be timezone-aware")
        datetime.strptime(self.wall_clock, "%Y-%m-%dT%H:%M:%S")  # raises ValueError if malformed

    @property
    def local(self) -> datetime:
        """The wall clock as a naive datetime, e.g. to subtract an overlap window."""
        return datetime.strptime(self.wall_clock, "%Y-%m-%dT%H:%M:%S")

    def minus(self, delta: timedelta) -> str:
        """Wall-clock filter text ``delta`` earlier (re-reading a small overlap is how we avoid gaps)."""
        return format_qb_datetime(self.local - delta)

    def __str__(self) -> str:
        return self.wall_clock


def parse_qb_datetime(text: str, *, default_tz: tzinfo = UTC) -> QbDateTime:
    """Read DATETIMETYPE text (``2024-03-04T09:00:12-05:00``, possibly without offset or seconds)."""
    match = _DATETIME_TEXT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a qbXML date-time: {text!r}")
    parts = match.groupdict()
    local = datetime(
        int(parts["y"]),
        int(parts["mo"]),
        int(parts["d"]),
        int(parts["h"] or 0),
        int(parts["mi"] or 0),
        int(parts["s"] or 0),
    )
    zone: tzinfo = default_tz
    if parts["off"] == "Z":
        zone = UTC
    elif parts["off"]:
        offset = timedelta(hours=int(parts["oh"]), minutes=int(parts["om"]))
        zone = timezone(-offset if parts["sign"] == "-" else offset)
    return QbDateTime(wall_clock=local.strftime("%Y-%m-%dT%H:%M:%S"), moment=local.replace(tzinfo=zone))


def format_qb_datetime(value: datetime | QbDateTime) -> str:
    """DATETIMETYPE text for query filters: the QuickBooks-local wall clock, no offset.

    Accepts a :class:`QbDateTime` (its wall clock) or a *naive* datetime meaning QuickBooks-local time.
    An aware datetime is refused: converting it needs the QuickBooks machine's zone and DST rules, which
    we do not know and which QuickBooks itself reports inconsistently.
    """
    if isinstance(value, QbDateTime):
        return value.wall_clock
    if not isinstance(value, datetime):
        raise TypeError(f"expected datetime or QbDateTime, not {type(value).__name__}")
    if value.tzinfo is not None:
        raise TypeError(
            "pass QuickBooks-local wall-clock time (naive datetime or QbDateTime), not an aware datetime"
        )
    return value.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
