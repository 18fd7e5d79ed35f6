"""Reading qbXML requests and writing responses: the small helpers every simulator handler module shares.

Package-private (the underscore names are kept from when they lived in ``processor.py``); nothing outside
``ml_connector.simulator`` should import them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ml_connector.simulator.company import (
    ZERO,
    StatusError,
    missing_element,
    money,
)

Render = Callable[[str], "etree._Element | None"]  # one record's *Ret, or None if it is gone
_NO_MATCH = "A query request did not find a matching object in QuickBooks"

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


def _text(parent: etree._Element, tag: str) -> str | None:
    found = parent.find(tag)
    return None if found is None else (found.text or "")


def _texts(parent: etree._Element, tag: str) -> list[str]:
    return [e.text or "" for e in parent.findall(tag)]


def _required(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        raise missing_element(tag)
    return found


def _required_text(parent: etree._Element, tag: str) -> str:
    value = _text(parent, tag)
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


def _currency_name(code: str) -> str:
    return _CURRENCY_NAMES.get(code, code)


def _currency_list_id(code: str) -> str:
    """A stable ListID per currency (the simulator keeps no currency list records)."""
    return f"{sum(ord(c) << (8 * i) for i, c in enumerate(code)):08X}-1000000000"


def _rate(parent: etree._Element) -> Decimal | None:
    """ExchangeRate (FLOATTYPE): schema-valid decimal text, or absent/empty."""
    return _decimal(parent, "ExchangeRate", invalid='The exchange rate "{value}" is not a number.')


def _reject(parent: etree._Element, *tags: str) -> None:
    for tag in tags:
        if parent.find(tag) is not None:
            raise _unsupported(f"{parent.tag}/{tag}")


def _ref(parent: etree._Element, tag: str) -> tuple[str | None, str | None]:
    found = parent.find(tag)
    if found is None:
        return None, None
    return _text(found, "ListID"), _text(found, "FullName")


def _lookup_id(find: Callable[..., Any]) -> Callable[[str], str | None]:
    def lookup(full_name: str) -> str | None:
        found = find(full_name=full_name)
        return found.list_id if found else None

    return lookup


def _to_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def _flag(parent: etree._Element, tag: str, *, default: bool) -> bool:
    """An optional BOOLTYPE element; absent or empty means QuickBooks' default for it."""
    value = _text(parent, tag)
    return _to_bool(value) if value else default


def _int(parent: etree._Element, tag: str) -> int | None:
    value = _text(parent, tag)
    return int(value) if value else None


def _decimal(
    parent: etree._Element,
    tag: str,
    *,
    invalid: str = 'The value "{value}" in the field "{tag}" is not a valid number.',
) -> Decimal | None:
    """A decimal field, or None when absent or empty; text that is no number is QuickBooks' 3210 ``invalid``."""
    value = _text(parent, tag)
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise StatusError(3210, invalid.format(value=value, tag=tag)) from None


def _amount(parent: etree._Element, tag: str) -> Decimal | None:
    value = _decimal(parent, tag)
    return money(value) if value is not None else None


def _date(parent: etree._Element | None, tag: str) -> date | None:
    value = _text(parent, tag) if parent is not None else None
    if not value:
        return None
    try:
        year, month, day = (int(part) for part in value.split("-"))
        return date(year, month, day)
    except ValueError:
        raise StatusError(
            3020, f'There was an error when converting the date value "{value}" in the field "{tag}".'
        ) from None


def _wall_clock(parent: etree._Element, tag: str, *, end: bool) -> datetime | None:
    """A DATETIMETYPE filter bound as a naive local time. Missing parts widen the bound: a To-date without a
    time means the end of that day. Any UTC offset is ignored (QuickBooks reads the wall clock)."""
    value = _text(parent, tag)
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


def _name_matcher(element: etree._Element | None, value_tag: str) -> Callable[[str], bool]:
    if element is None:
        return lambda _value: True
    criterion = _text(element, "MatchCriterion") or "StartsWith"
    wanted = (_text(element, value_tag) or "").casefold()
    if criterion == "Contains":
        return lambda value: wanted in value.casefold()
    if criterion == "EndsWith":
        return lambda value: value.casefold().endswith(wanted)
    return lambda value: value.casefold().startswith(wanted)


def _range_matcher(element: etree._Element | None, from_tag: str, to_tag: str) -> Callable[[str], bool]:
    """Inclusive, case-insensitive; numbers compare as numbers (RefNumber 9 < 10), as QuickBooks sorts them."""
    if element is None:
        return lambda _value: True
    low, high = _text(element, from_tag), _text(element, to_tag)

    def key(value: str) -> tuple[int, int, str]:
        return (0, int(value), "") if value.isdigit() else (1, 0, value.casefold())

    def match(value: str) -> bool:
        if low and key(value) < key(low):
            return False
        if high and key(value) > key(high) and not value.casefold().startswith(high.casefold()):
            return False
        return True

    return match


def _amount_matcher(element: etree._Element | None) -> Callable[[Decimal], bool]:
    if element is None:
        return lambda _value: True
    operator = _required_text(element, "Operator")
    amount = _amount(element, "Amount") or ZERO
    compare: dict[str, Callable[[Decimal], bool]] = {
        "LessThan": lambda v: v < amount,
        "LessThanEqual": lambda v: v <= amount,
        "Equal": lambda v: v == amount,
        "GreaterThan": lambda v: v > amount,
        "GreaterThanEqual": lambda v: v >= amount,
    }
    return compare[operator]


def _normalise_field(tag: str, value: str) -> str:
    if tag == "CreditLimit" and value:
        return _amt(Decimal(value))
    if tag == "IsStatementWithParent" and value:
        return _bool(_to_bool(value))
    return value


def _address_of(parent: etree._Element, tag: str) -> dict[str, str] | None:
    found = parent.find(tag)
    if found is None:
        return None
    return {str(part.tag): part.text or "" for part in found if part.text}


def _split(ids: list[str], size: int | None) -> tuple[list[str], list[str]]:
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


def _rs(request: etree._Element, code: int = 0, message: str = "Status OK") -> etree._Element:
    tag = str(request.tag)
    rs = etree.Element(tag[:-2] + "Rs" if tag.endswith("Rq") else tag + "Rs")
    request_id = request.get("requestID")
    if request_id is not None:
        rs.set("requestID", request_id)
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", _severity(code))
    rs.set("statusMessage", message)
    return rs


def _with_ret(request: etree._Element, ret: etree._Element) -> etree._Element:
    """A Status OK Rs carrying one *Ret: what every Add and Mod answers."""
    rs = _rs(request)
    rs.append(ret)
    return rs


def _page(
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
        rs = _rs(request, warning.code, warning.message)
    elif rets:
        rs = _rs(request)
    else:
        rs = _rs(request, 1, _NO_MATCH)
    rs.set("retCount", str(len(rets)))
    if iterator_id is not None:
        rs.set("iteratorRemainingCount", str(remaining or 0))
        rs.set("iteratorID", iterator_id)
    rs.extend(rets)
    return rs


def _unsupported(what: str) -> StatusError:
    return StatusError(
        3250,
        "This feature is not enabled or not available in this version of QuickBooks. "
        f"(The ml-connector QuickBooks simulator does not implement {what}.)",
    )


def _sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def _ref_element(parent: etree._Element, tag: str, list_id: str, full_name: str) -> None:
    ref = etree.SubElement(parent, tag)
    _sub(ref, "ListID", list_id)
    _sub(ref, "FullName", full_name)


def _address(parent: etree._Element, tag: str, parts: dict[str, str] | None) -> None:
    if not parts:
        return
    address = etree.SubElement(parent, tag)
    for part in _ADDRESS_PARTS:
        _sub(address, part, parts.get(part))


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _amt(value: Decimal) -> str:
    rounded = money(value)
    return f"{rounded + ZERO:.2f}" if rounded else "0.00"


def _price(value: Decimal) -> str:
    """PRICETYPE: at least two decimals, at most five."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:.2f}"
    return format(value.quantize(Decimal("0.00001")).normalize(), "f")


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")
