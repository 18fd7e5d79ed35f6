"""Where the Stripe id lives on the QuickBooks customer, and how it is written without clobbering anything."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from ml_connector.qbxml.customers import Customer
from ml_connector.sync.link_field import (
    LinkField,
    NotesFull,
    notes_with_stripe_id,
    stripe_id_on,
    write_back_from_snapshot,
    write_back_request,
)

NOTES = LinkField("notes")
DATAEXT = LinkField("dataext", "StripeCustomerId")


def customer(**changes: object) -> Customer:
    base = Customer(
        list_id="80000001-1700000000", edit_sequence="1700000000", time_modified=None, name="Acme",
        full_name="Acme", parent_list_id=None, sublevel=0, is_active=True, company_name=None,
        first_name=None, last_name=None, email=None, phone=None, bill_address=None, notes=None,
        account_number=None, balance=None, total_balance=None, external_guid=None,
        data_ext=MappingProxyType({}),
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_stripe_line_is_appended_and_the_bookkeepers_notes_stay_as_typed():
    notes = notes_with_stripe_id("Prefers email.\nNet 30.", "cus_ABC123")
    assert notes == "Prefers email.\nNet 30.\nStripe customer: cus_ABC123"


def test_an_old_stripe_line_is_replaced_not_repeated():
    notes = notes_with_stripe_id("Net 30.\nStripe customer: cus_OLD0001\n", "cus_NEW0001")
    assert notes == "Net 30.\nStripe customer: cus_NEW0001"
    assert stripe_id_on(customer(notes=notes), NOTES) == "cus_NEW0001"


def test_full_notes_are_never_cut_to_make_room():
    with pytest.raises(NotesFull):
        notes_with_stripe_id("x" * 4090, "cus_ABC123")


def test_the_custom_field_is_read_only_when_it_holds_a_stripe_customer_id():
    assert stripe_id_on(customer(data_ext=MappingProxyType({"StripeCustomerId": "cus_ABC123"})), DATAEXT) == (
        "cus_ABC123"
    )
    assert stripe_id_on(customer(data_ext=MappingProxyType({"StripeCustomerId": "n/a"})), DATAEXT) is None


def test_nothing_is_written_when_quickbooks_already_holds_the_id():
    held = customer(data_ext=MappingProxyType({"StripeCustomerId": "cus_ABC123"}))
    assert write_back_request(held, "cus_ABC123", DATAEXT) is None


def test_the_custom_field_is_added_the_first_time_and_modified_afterwards():
    assert "<DataExtAddRq>" in (write_back_request(customer(), "cus_ABC123", DATAEXT) or "")
    present = customer(data_ext=MappingProxyType({"StripeCustomerId": ""}))
    assert "<DataExtModRq>" in (write_back_request(present, "cus_ABC123", DATAEXT) or "")


def test_a_notes_write_carries_the_edit_sequence_and_only_the_notes():
    mod = write_back_from_snapshot(
        "80000001-1700000000", "1700000123", "cus_ABC123", NOTES, notes="Net 30.", has_field=False
    )
    assert "<EditSequence>1700000123</EditSequence>" in mod
    assert "<Notes>Net 30.\nStripe customer: cus_ABC123</Notes>" in mod
    assert "<Name>" not in mod and "<Phone>" not in mod, "nothing else is re-sent"
