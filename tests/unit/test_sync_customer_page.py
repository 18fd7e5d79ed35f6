"""What a page of customer decisions costs in Stripe: create intents, ADOPT checked against Stripe, and where
the Stripe id stands in QuickBooks once a customer is linked."""

from __future__ import annotations

from ml_connector.qbxml.customers import Customer
from ml_connector.stripe.idempotency import key
from ml_connector.sync.customers import (
    PUSHED,
    CustomerAction,
    CustomerDecision,
    LinkCheck,
    adoption_verdict,
    create_intents,
    create_key,
    create_params,
    decide,
    link_check,
)
from ml_connector.sync.link_field import LinkField
from tests.unit.test_sync_customers import customer

COMPANY = "acme"
NOTES = LinkField("notes")


def _adopting(**changes: object) -> tuple[Customer, CustomerDecision]:
    base = customer(notes="Stripe customer: cus_HELD123", **changes)
    decision = decide(base, None, COMPANY, NOTES)
    assert decision.action is CustomerAction.ADOPT and decision.stripe_customer_id == "cus_HELD123"
    return base, decision


def test_create_intents_hold_the_create_parameters_of_creates_only_by_their_idempotency_key():
    new = customer()
    job = customer(list_id="80000002-1", sublevel=1)
    decisions = {new.list_id: decide(new, None, COMPANY, NOTES), job.list_id: decide(job, None, COMPANY, NOTES)}
    intents = create_intents(COMPANY, decisions)
    assert list(intents) == [create_key(COMPANY, new.list_id)]
    assert create_key(COMPANY, new.list_id) == key("customer.create", COMPANY, new.list_id)
    assert intents[create_key(COMPANY, new.list_id)] == create_params(decisions[new.list_id].state or {})


def test_only_create_update_and_adopt_reach_stripe():
    assert {CustomerAction.CREATE, CustomerAction.UPDATE, CustomerAction.ADOPT} == PUSHED
    assert CustomerAction.UNCHANGED not in PUSHED and CustomerAction.SKIP not in PUSHED


def test_an_adoption_stands_when_stripe_has_the_customer_unclaimed():
    held, decision = _adopting()
    found = {"id": "cus_HELD123", "metadata": {"qb_list_id": held.list_id, "qb_company": COMPANY}}
    assert adoption_verdict(held, decision, found, COMPANY, taken=False) is None
    assert adoption_verdict(held, decision, {"id": "cus_HELD123", "metadata": {}}, COMPANY, taken=False) is None


def test_a_stale_or_copied_stripe_id_creates_instead_of_adopting():
    held, decision = _adopting()
    cases = {
        "missing in Stripe": (None, False),
        "deleted in Stripe": ({"id": "cus_HELD123", "deleted": True}, False),
        "names another customer": ({"id": "cus_HELD123", "metadata": {"qb_list_id": "80000009-1"}}, False),
        "another company's": ({"id": "cus_HELD123", "metadata": {"qb_company": "other"}}, False),
        "already linked elsewhere": ({"id": "cus_HELD123", "metadata": {}}, True),
    }
    for case, (found, taken) in cases.items():
        verdict = adoption_verdict(held, decision, found, COMPANY, taken=taken)
        assert verdict is not None, case
        assert verdict.action is CustomerAction.CREATE, case
        assert verdict.state == decision.state and verdict.fingerprint == decision.fingerprint, case


def test_an_inactive_customer_with_a_stale_stripe_id_is_skipped_not_created():
    held, decision = _adopting(is_active=False)
    verdict = adoption_verdict(held, decision, None, COMPANY, taken=False)
    assert verdict is not None and verdict.action is CustomerAction.SKIP


def test_link_check_writes_back_only_an_empty_field_and_never_overwrites_another_id():
    assert link_check("cus_A", "cus_A") is LinkCheck.WRITTEN
    assert link_check(None, "cus_A") is LinkCheck.WRITE_BACK
    assert link_check("cus_B", "cus_A") is LinkCheck.CONFLICT

