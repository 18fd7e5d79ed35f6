"""Reading qbXML requests and writing responses: the small helpers every simulator handler module shares.

The handler modules import the module and call them qualified (``wire.sub(ret, "Name", name)``,
``wire.text_of(request, "RefNumber")``): readers are named ``*_of``, writers ``sub``/``add_*``, value
formatters ``*_text``, and ``response``/``with_ret``/``page_response`` build the ``*Rs``. For the
simulator's own modules; nothing outside ``ml_connector.simulator`` should import them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ml_connector.simulator.company.records import (
    ZERO,
    StatusError,
    missing_element,
    money,
)

Render = Callable[[str], "etree._Element | None"]  # one record's *Ret, or None if it is gone
NO_MATCH = "A query request did not find a matching object in QuickBooks"

_DATETIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[+-]\d{1,2}:\d{1,2})?)?)?)?$"
)
_ADDRESS_PARTS = (
    "Addr1",
    "Addr2",
    "Addr3",
    "Addr4",
    "Addr5",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Note",
)

# ----------------------------------------------------------------------------------------------------------
# Reading requests
# ----------------------------------------------------------------------------------------------------------


def text_of(parent: etree._Element, tag: str) -> str | None:
    found = parent.find(tag)
    return None if found is None else (found.text or "")


def texts_of(parent: etree._Element, tag: str) -> list[str]:
    return [e.text or "" for e in parent.findall(tag)]


def required(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        raise missing_element(tag)
    return found


def required_text(parent: etree._Element, tag: str) -> str:
    value = text_of(parent, tag)
    if not value:
        raise missing_element(tag)
    return value


# QuickBooks' built-in currency names (CurrencyRef FullName); other codes are shown as the code itself.
_CURRENCY_NAMES = {
    "USD": "US Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "CHF": "Swiss Franc",
}


def currency_name(code: str) -> str:
    return _CURRENCY_NAMES.get(code, code)


def currency_list_id(code: str) -> str:
    """A stable ListID per currency (the simulator keeps no currency list records)."""
    return f"{sum(ord(c) << (8 * i) for i, c in enumerate(code)):08X}-1000000000"


def exchange_rate_of(parent: etree._Element) -> Decimal | None:
    """ExchangeRate (FLOATTYPE): schema-valid decimal text, or absent/empty."""
    return decimal_of(parent, "ExchangeRate", invalid='The exchange rate "{value}" is not a number.')


def reject(parent: etree._Element, *tags: str) -> None:
    for tag in tags:
        if parent.find(tag) is not None:
            raise unsupported(f"{parent.tag}/{tag}")


def ref_of(parent: etree._Element, tag: str) -> tuple[str | None, str | None]:
    found = parent.find(tag)
    if found is None:
        return None, None
    return text_of(found, "ListID"), text_of(found, "FullName")


def list_id_lookup(find: Callable[..., Any]) -> Callable[[str], str | None]:
    def lookup(full_name: str) -> str | None:
        found = find(full_name=full_name)
        return found.list_id if found else None

    return lookup


def parse_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def flag_of(parent: etree._Element, tag: str, *, default: bool) -> bool:
    """An optional BOOLTYPE element; absent or empty means QuickBooks' default for it."""
    value = text_of(parent, tag)
    return parse_bool(value) if value else default


def int_of(parent: etree._Element, tag: str) -> int | None:
    value = text_of(parent, tag)
    return int(value) if value else None


def decimal_of(
    parent: etree._Element,
    tag: str,
    *,
    invalid: str = 'The value "{value}" in the field "{tag}" is not a valid number.',
) -> Decimal | None:
    """A decimal field, or None when absent or empty; text that is no number is QuickBooks' 3210 ``invalid``."""
    value = text_of(parent, tag)
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise StatusError(3210, invalid.format(value=value, tag=tag)) from None


def amount_of(parent: etree._Element, tag: str) -> Decimal | None:
    value = decimal_of(parent, tag)
    return money(value) if value is not None else None


def date_of(parent: etree._Element | None, tag: str) -> date | None:
    value = text_of(parent, tag) if parent is not None else None
    if not value:
        return None
    try:
        year, month, day = (int(part) for part in value.split("-"))
        return date(year, month, day)
    except ValueError:
        raise StatusError(
            3020, f'There was an error when converting the date value "{value}" in the field "{tag}".'
        ) from None


def wall_clock_of(parent: etree._Element, tag: str, *, end: bool) -> datetime | None:
    """A DATETIMETYPE filter bound as a naive local time. Missing parts widen the bound: a To-date without a
    time means the end of that day. Any UTC offset is ignored (QuickBooks reads the wall clock)."""
    value = text_of(parent, tag)
    if not value:
        return None
    found = _DATETIME.match(value.strip())
    try:
        if not found:
            raise ValueError(value)
        year, month, day = int(found[1]), int(found[2]), int(found[3])
        parts = [found[4], found[5], found[6]]
        fill = (23, 59, 59) if end else (0, 0, 0)
        hour, minute, second = (int(p) if p is not None else fill[i] for i, p in enumerate(parts))
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise StatusError(
            3020, f'There was an error when converting the date value "{value}" in the field "{tag}".'
        ) from None


def name_matcher(element: etree._Element | None, value_tag: str) -> Callable[[str], bool]:
    if element is None:
        return lambda _value: True
    criterion = text_of(element, "MatchCriterion") or "StartsWith"
    wanted = (text_of(element, value_tag) or "").casefold()
    if criterion == "Contains":
        return lambda value: wanted in value.casefold()
    if criterion == "EndsWith":
        return lambda value: value.casefold().endswith(wanted)
    return lambda value: value.casefold().startswith(wanted)


def range_matcher(element: etree._Element | None, from_tag: str, to_tag: str) -> Callable[[str], bool]:
    """Inclusive, case-insensitive; numbers compare as numbers (RefNumber 9 < 10), as QuickBooks sorts them."""
    if element is None:
        return lambda _value: True
    low, high = text_of(element, from_tag), text_of(element, to_tag)

    def key(value: str) -> tuple[int, int, str]:
        return (0, int(value), "") if value.isdigit() else (1, 0, value.casefold())

    def match(value: str) -> bool:
        if low and key(value) < key(low):
            return False
        if high and key(value) > key(high) and not value.casefold().startswith(high.casefold()):
            return False
        return True

    return match


def amount_matcher(element: etree._Element | None) -> Callable[[Decimal], bool]:
    if element is None:
        return lambda _value: True
    operator = required_text(element, "Operator")
    amount = amount_of(element, "Amount") or ZERO
    compare: dict[str, Callable[[Decimal], bool]] = {
        "LessThan": lambda v: v < amount,
        "LessThanEqual": lambda v: v <= amount,
        "Equal": lambda v: v == amount,
        "GreaterThan": lambda v: v > amount,
        "GreaterThanEqual": lambda v: v >= amount,
    }
    return compare[operator]


def normalise_field(tag: str, value: str) -> str:
    if tag == "CreditLimit" and value:
        return amount_text(Decimal(value))
    if tag == "IsStatementWithParent" and value:
        return bool_text(parse_bool(value))
    return value


def address_of(parent: etree._Element, tag: str) -> dict[str, str] | None:
    found = parent.find(tag)
    if found is None:
        return None
    return {str(part.tag): part.text or "" for part in found if part.text}


def split_at(ids: list[str], size: int | None) -> tuple[list[str], list[str]]:
    if size is None:
        return list(ids), []
    return ids[:size], ids[size:]


# ----------------------------------------------------------------------------------------------------------
# Writing responses
# ----------------------------------------------------------------------------------------------------------


def _severity(code: int) -> str:
    if code < 500:
        return "Info"
    return "Warn" if code < 1000 else "Error"


def response(request: etree._Element, code: int = 0, message: str = "Status OK") -> etree._Element:
    tag = str(request.tag)
    rs = etree.Element(tag[:-2] + "Rs" if tag.endswith("Rq") else tag + "Rs")
    request_id = request.get("requestID")
    if request_id is not None:
        rs.set("requestID", request_id)
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", _severity(code))
    rs.set("statusMessage", message)
    return rs


def with_ret(request: etree._Element, ret: etree._Element) -> etree._Element:
    """A Status OK Rs carrying one *Ret: what every Add and Mod answers."""
    rs = response(request)
    rs.append(ret)
    return rs


def page_response(
    request: etree._Element,
    ids: Sequence[str],
    render: Render,
    warning: StatusError | None,
    *,
    remaining: int | None = None,
    iterator_id: str | None = None,
) -> etree._Element:
    rets = [ret for ret in (render(i) for i in ids) if ret is not None]
    if warning is not None and warning.code >= 1000:
        raise warning
    if warning is not None:
        rs = response(request, warning.code, warning.message)
    elif rets:
        rs = response(request)
    else:
        rs = response(request, 1, NO_MATCH)
    rs.set("retCount", str(len(rets)))
    if iterator_id is not None:
        rs.set("iteratorRemainingCount", str(remaining or 0))
        rs.set("iteratorID", iterator_id)
    rs.extend(rets)
    return rs


def unsupported(what: str) -> StatusError:
    return StatusError(
        3250,
        "This feature is not enabled or not available in this version of QuickBooks. "
        f"(The ml-connector QuickBooks simulator does not implement {what}.)",
    )


def sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def add_ref(parent: etree._Element, tag: str, list_id: str, full_name: str) -> None:
    ref = etree.SubElement(parent, tag)
    sub(ref, "ListID", list_id)
    sub(ref, "FullName", full_name)


def add_address(parent: etree._Element, tag: str, parts: dict[str, str] | None) -> None:
    if not parts:
        return
    address = etree.SubElement(parent, tag)
    for part in _ADDRESS_PARTS:
        sub(address, part, parts.get(part))


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def amount_text(value: Decimal) -> str:
    rounded = money(value)
    return f"{rounded + ZERO:.2f}" if rounded else "0.00"


def price_text(value: Decimal) -> str:
    """PRICETYPE: at least two decimals, at most five."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:.2f}"
    return format(value.quantize(Decimal("0.00001")).normalize(), "f")


def number_text(value: Decimal) -> str:
    return format(value.normalize(), "f")
