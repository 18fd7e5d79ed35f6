"""Customers: CustomerAdd, CustomerMod, CustomerQuery and reading CustomerRet.

Builders follow the CustomerAdd/CustomerMod sequences of qbxml130.xsd; only the fields the connector
maintains are offered. A Mod sends only the fields that are set on :class:`CustomerFields`, so it
re-applies our change and nothing else, leaving whatever a bookkeeper edited in QuickBooks alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from ml_connector.qbxml import nodes
from ml_connector.qbxml.text import fit_name, qb_text
from ml_connector.qbxml.values import QbDateTime

ActiveStatus = Literal["ActiveOnly", "InactiveOnly", "All"]

# Field limits from the CustomerAdd/CustomerMod sequences.
_LEN = {
    "CompanyName": 41,
    "FirstName": 25,
    "LastName": 25,
    "Phone": 21,
    "Email": 1023,
    "AccountNumber": 99,
    "Notes": 4095,
    "FullName": 209,
}


@dataclass(frozen=True)
class Address:
    """AddressData: five street lines plus city/state/postal code/country (lengths cut to the schema)."""

    addr1: str | None = None
    addr2: str | None = None
    addr3: str | None = None
    addr4: str | None = None
    addr5: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    note: str | None = None


_ADDRESS_FIELDS = (
    ("Addr1", "addr1", 41),
    ("Addr2", "addr2", 41),
    ("Addr3", "addr3", 41),
    ("Addr4", "addr4", 41),
    ("Addr5", "addr5", 41),
    ("City", "city", 31),
    ("State", "state", 21),
    ("PostalCode", "postal_code", 13),
    ("Country", "country", 31),
    ("Note", "note", 41),
)


def add_address(
    parent: nodes.Element, tag: str, address: Address | None, *, keep_empty: bool = False
) -> None:
    if address is None:
        return
    element = nodes.sub(parent, tag)
    for xml_name, attribute, max_len in _ADDRESS_FIELDS:
        nodes.add_text(element, xml_name, getattr(address, attribute), max_len, keep_empty=keep_empty)
    if len(element) == 0:
        parent.remove(element)


def read_address(element: nodes.Element, tag: str) -> Address | None:
    found = element.find(tag)
    if found is None:
        return None
    return Address(
        **{attribute: nodes.text_of(found, xml_name) for xml_name, attribute, _ in _ADDRESS_FIELDS}
    )


# uuid5(NAMESPACE_URL, "urn:ml-connector:stripe-customer"), written out so it can never drift. Never change it:
# a CustomerAdd whose answer was lost is verified by finding this GUID on the customer it may have created.
STRIPE_CUSTOMER_NAMESPACE = uuid.UUID("ad47f5ea-82b6-52c1-8130-107d6589da80")


def customer_external_guid(stripe_customer_id: str) -> str:
    """The ExternalGUID a customer created for a Stripe customer carries (UUIDv5 of its id, upper case)."""
    if not isinstance(stripe_customer_id, str) or not stripe_customer_id.strip():
        raise ValueError("stripe_customer_id must be a non-empty string")
    return "{" + str(uuid.uuid5(STRIPE_CUSTOMER_NAMESPACE, stripe_customer_id.strip())).upper() + "}"


@dataclass(frozen=True)
class CustomerFields:
    """The customer fields the connector writes. ``None`` means "do not send".

    In a Mod, an empty string is sent as an empty element, which QuickBooks reads as "clear this field".
    ``name`` is required for an Add and optional for a Mod (a Mod that omits it keeps the current name).
    ``external_guid`` can only be set by an Add; QuickBooks has no way to change it later.
    """

    name: str | None = None
    is_active: bool | None = None
    parent_list_id: str | None = None
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    bill_address: Address | None = None
    phone: str | None = None
    email: str | None = None
    account_number: str | None = None
    notes: str | None = None
    external_guid: str | None = None


def _add_customer_body(parent: nodes.Element, fields: CustomerFields, *, is_mod: bool) -> None:
    """Fields shared by CustomerAdd and CustomerMod, in their common schema order."""
    keep = is_mod
    if fields.name is not None:
        nodes.sub(parent, "Name", fit_name(fields.name))
    nodes.add_bool(parent, "IsActive", fields.is_active)
    nodes.add_ref(parent, "ParentRef", list_id=fields.parent_list_id)
    nodes.add_text(parent, "CompanyName", fields.company_name, _LEN["CompanyName"], keep_empty=keep)
    nodes.add_text(parent, "FirstName", fields.first_name, _LEN["FirstName"], keep_empty=keep)
    nodes.add_text(parent, "LastName", fields.last_name, _LEN["LastName"], keep_empty=keep)
    add_address(parent, "BillAddress", fields.bill_address, keep_empty=keep)
    nodes.add_text(parent, "Phone", fields.phone, _LEN["Phone"], keep_empty=keep)
    nodes.add_text(parent, "Email", fields.email, _LEN["Email"], keep_empty=keep)
    nodes.add_text(parent, "AccountNumber", fields.account_number, _LEN["AccountNumber"], keep_empty=keep)
    nodes.add_text(parent, "Notes", fields.notes, _LEN["Notes"], multiline=True, keep_empty=keep)


def customer_add(fields: CustomerFields) -> str:
    """A CustomerAddRq. The Name is fitted to QuickBooks' 41 characters (see ``text.fit_name``)."""
    if fields.name is None:
        raise ValueError("CustomerAdd needs a name")
    request = nodes.new_request("CustomerAddRq")
    add = nodes.sub(request, "CustomerAdd")
    _add_customer_body(add, fields, is_mod=False)
    # ExternalGUID sits after Notes (and fields we do not send) in the CustomerAdd sequence.
    nodes.add_guid(add, "ExternalGUID", fields.external_guid)
    return nodes.to_text(request)


def customer_mod(list_id: str, edit_sequence: str, fields: CustomerFields) -> str:
    """A CustomerModRq changing only the fields set on ``fields``."""
    if fields.external_guid is not None:
        raise ValueError("ExternalGUID cannot be modified; QuickBooks only accepts it on CustomerAdd")
    request = nodes.new_request("CustomerModRq")
    mod = nodes.sub(request, "CustomerMod")
    nodes.add_id(mod, "ListID", list_id)
    nodes.add_id(mod, "EditSequence", edit_sequence, nodes.EDIT_SEQUENCE_MAX_LEN)
    _add_customer_body(mod, fields, is_mod=True)
    return nodes.to_text(request)


def customer_query(
    *,
    list_ids: Sequence[str] = (),
    full_names: Sequence[str] = (),
    max_returned: int | None = None,
    active_status: ActiveStatus | None = None,
    from_modified: datetime | QbDateTime | None = None,
    to_modified: datetime | QbDateTime | None = None,
    name_contains: str | None = None,
    owner_ids: Sequence[str] = ("0",),
    iterator: bool = False,
) -> str:
    """A CustomerQueryRq: by ListIDs, by FullNames, or by filters (optionally as an iterator).

    ``owner_ids`` defaults to ``("0",)`` so public custom fields (``DataExtRet``) come back with each
    customer; pass ``()`` to skip them. Dates are QuickBooks-local wall clock (see ``values``).
    The three ways of selecting are a choice in the schema, so mixing them raises ``ValueError``.
    """
    filters_used = any(
        v is not None for v in (max_returned, active_status, from_modified, to_modified, name_contains)
    )
    _check_one_selection(bool(list_ids), bool(full_names), filters_used, iterator, max_returned)
    request = nodes.new_request("CustomerQueryRq", iterator=iterator)
    for list_id in list_ids:
        nodes.add_id(request, "ListID", list_id)
    for full_name in full_names:
        nodes.add_text(request, "FullName", full_name, _LEN["FullName"])
    nodes.add_int(request, "MaxReturned", max_returned, minimum=1)
    if active_status is not None:
        nodes.sub(request, "ActiveStatus", active_status)
    nodes.add_datetime(request, "FromModifiedDate", from_modified)
    nodes.add_datetime(request, "ToModifiedDate", to_modified)
    if name_contains is not None:
        # Cleaned like stored names, so a search for "Łódź" finds the "Lodz" we stored.
        needle = qb_text(name_contains, _LEN["FullName"])
        if not needle:
            raise ValueError(f"name_contains has nothing QuickBooks can match: {name_contains!r}")
        name_filter = nodes.sub(request, "NameFilter")
        nodes.sub(name_filter, "MatchCriterion", "Contains")
        nodes.sub(name_filter, "Name", needle)
    nodes.add_owner_ids(request, owner_ids)
    return nodes.to_text(request)


def _check_one_selection(
    by_ids: bool, by_names: bool, by_filters: bool, iterator: bool, max_returned: int | None
) -> None:
    if sum((by_ids, by_names, by_filters)) > 1:
        raise ValueError("select by ids, by names or by filters, not a mix (the schema makes them a choice)")
    if iterator and (by_ids or by_names):
        raise ValueError("an iterator pages through a filtered query, not a list of ids or names")
    if iterator and max_returned is None:
        raise ValueError("an iterator needs max_returned (the page size)")


@dataclass(frozen=True)
class Customer:
    list_id: str
    edit_sequence: str
    time_modified: QbDateTime | None
    name: str
    full_name: str
    parent_list_id: str | None
    sublevel: int
    is_active: bool
    company_name: str | None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    bill_address: Address | None
    notes: str | None
    account_number: str | None
    balance: Decimal | None
    total_balance: Decimal | None
    external_guid: str | None
    data_ext: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)


def read_customer(ret: nodes.Element) -> Customer:
    """One CustomerRet, read by element name (QuickBooks' order is not relied on)."""
    parent_list_id, _ = nodes.ref_of(ret, "ParentRef")
    return Customer(
        **nodes.list_header(ret),
        time_modified=nodes.datetime_of(ret, "TimeModified"),
        parent_list_id=parent_list_id,
        sublevel=nodes.int_of(ret, "Sublevel") or 0,
        company_name=nodes.text_of(ret, "CompanyName"),
        first_name=nodes.text_of(ret, "FirstName"),
        last_name=nodes.text_of(ret, "LastName"),
        email=nodes.text_of(ret, "Email"),
        phone=nodes.text_of(ret, "Phone"),
        bill_address=read_address(ret, "BillAddress"),
        notes=nodes.text_of(ret, "Notes"),
        account_number=nodes.text_of(ret, "AccountNumber"),
        balance=nodes.amount_of(ret, "Balance"),
        total_balance=nodes.amount_of(ret, "TotalBalance"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        data_ext=nodes.data_ext_of(ret),
    )


def parse_customers(rs_xml: str) -> list[Customer]:
    """Every CustomerRet in a CustomerQueryRs/AddRs/ModRs (``ResponseItem.xml``)."""
    return [read_customer(ret) for ret in nodes.rets(rs_xml, "CustomerRet")]
