"""What a QuickBooks customer becomes in Stripe, and when nothing needs to be sent."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from ml_connector.qbxml.customers import Address, Customer
from ml_connector.stripe.idempotency import params_fingerprint
from ml_connector.sync.customers import (
    CustomerAction,
    LinkState,
    create_params,
    decide,
    desired_state,
    first_email,
    top_level_name,
    update_params,
)
from ml_connector.sync.link_field import LinkField

DATAEXT = LinkField("dataext")


def customer(**changes: object) -> Customer:
    base = Customer(
        list_id="80000001-1700000000",
        edit_sequence="1700000000",
        time_modified=None,
        name="Acme Corp",
        full_name="Acme Corp",
        parent_list_id=None,
        sublevel=0,
        is_active=True,
        company_name="Acme Corporation",
        first_name=None,
        last_name=None,
        email="billing@acme.example.com; cc@acme.example.com",
        phone="(555) 123-4567",
        bill_address=Address(
            addr1="1 Main St",
            addr2="Suite 4",
            city="Springfield",
            state="IL",
            postal_code="62701",
            country="USA",
        ),  # fmt: skip
        notes=None,
        account_number=None,
        balance=None,
        total_balance=None,
        external_guid=None,
        data_ext=MappingProxyType({}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_new_active_customer_is_created_with_its_contact_details_and_the_link_in_metadata():
    decision = decide(customer(), None, "acme", DATAEXT)
    assert decision.action is CustomerAction.CREATE
    params = create_params(decision.state or {})
    assert params["name"] == "Acme Corp"
    assert params["email"] == "billing@acme.example.com", "Stripe takes one address: the first"
    assert params["phone"] == "(555) 123-4567"
    assert params["address"] == {
        "line1": "1 Main St", "line2": "Suite 4", "city": "Springfield", "state": "IL",
        "postal_code": "62701", "country": "US",
    }  # fmt: skip
    assert params["metadata"] == {
        "qb_list_id": "80000001-1700000000", "qb_company": "acme", "qb_active": "true",
        "qb_company_name": "Acme Corporation",
    }  # fmt: skip


def test_an_update_clears_in_stripe_what_was_cleared_in_quickbooks():
    state = desired_state(customer(email=None, phone=None, company_name=None), "acme")
    params = update_params(state)
    assert params["email"] == "" and params["phone"] == ""
    assert params["metadata"]["qb_company_name"] == "", "an empty value deletes the metadata key"


def test_jobs_are_not_stripe_customers():
    job = customer(sublevel=1, parent_list_id="80000002-1", full_name="Acme Corp:Project 1", name="Project 1")
    assert decide(job, None, "acme", DATAEXT).action is CustomerAction.SKIP


def test_an_inactive_customer_never_linked_is_not_created_but_a_linked_one_is_marked_inactive():
    inactive = customer(is_active=False)
    assert decide(inactive, None, "acme", DATAEXT).action is CustomerAction.SKIP
    link = LinkState("cus_ABC123", "1690000000", "old")
    decision = decide(inactive, link, "acme", DATAEXT)
    assert decision.action is CustomerAction.UPDATE
    assert update_params(decision.state or {})["metadata"]["qb_active"] == "false"


def test_an_unchanged_edit_sequence_costs_nothing():
    link = LinkState("cus_ABC123", "1700000000", "whatever")
    assert decide(customer(), link, "acme", DATAEXT).action is CustomerAction.UNCHANGED


def test_a_new_edit_sequence_with_the_same_mapped_fields_sends_nothing_to_stripe():
    """Our own write-back (or an edit of a field Stripe does not show) changes the EditSequence only."""
    fingerprint = params_fingerprint(desired_state(customer(), "acme"))
    link = LinkState("cus_ABC123", "1600000000", fingerprint)
    changed_elsewhere = customer(edit_sequence="1700000999", account_number="A-17", notes="call first")
    assert decide(changed_elsewhere, link, "acme", DATAEXT).action is CustomerAction.UNCHANGED


def test_a_customer_that_names_its_stripe_customer_is_adopted_not_created_again():
    held = customer(data_ext=MappingProxyType({"StripeCustomerId": "cus_Held0001"}))
    decision = decide(held, None, "acme", DATAEXT)
    assert decision.action is CustomerAction.ADOPT
    assert decision.stripe_customer_id == "cus_Held0001"


def test_stripe_born_customers_keep_stripe_as_their_master():
    link = LinkState("cus_ABC123", "1600000000", "", origin="stripe")
    assert decide(customer(), link, "acme", DATAEXT).action is CustomerAction.UNCHANGED


def test_a_phone_too_long_for_stripe_is_kept_in_metadata_rather_than_cut():
    state = desired_state(customer(phone="+1 (555) 123-4567 ext. 890"), "acme")
    assert state["phone"] is None
    assert state["metadata"]["qb_phone"] == "+1 (555) 123-4567 ext. 890"


def test_helpers_read_what_bookkeepers_type():
    assert first_email("not an email, a@b.example") == "a@b.example"
    assert first_email("") is None
    assert top_level_name("Acme:Project 1:Phase 2") == "Acme"


def test_a_stripe_customer_already_showing_the_quickbooks_state_needs_no_update_after_a_rebuild():
    from ml_connector.sync.customers import stripe_state

    state = desired_state(customer(), "acme")
    sent = create_params(state)
    in_stripe = {
        **sent,
        "id": "cus_ABC123",
        "description": None,
        "address": {"line1": "1 Main St", "line2": "Suite 4", "city": "Springfield", "state": "IL",
                    "postal_code": "62701", "country": "US"},
    }  # fmt: skip
    assert params_fingerprint(stripe_state(in_stripe)) == params_fingerprint(state)
    in_stripe["email"] = "someone-else@example.com"
    assert params_fingerprint(stripe_state(in_stripe)) != params_fingerprint(state)
