"""How a decided invoice gets there in Stripe: the steps per action given Stripe's status now, the create plan
fixed once, who pays, and the operator's sentence for an invoice QuickBooks deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ml_connector.qbxml.deleted import DeletedTxn
from ml_connector.qbxml.values import parse_qb_datetime
from ml_connector.stripe.idempotency import key
from ml_connector.sync.invoice_steps import (
    InvoiceSteps,
    Withdrawal,
    bill_to_of,
    create_key,
    create_plan,
    deletion_report,
    job_of,
    replayed_older_create,
    steps_for,
    top_level_names,
    withdrawal,
)
from ml_connector.sync.invoices import BillTo, InvoiceAction, content_of
from tests.unit.test_sync_invoices import BILL_TO, invoice

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_draft_is_deleted_an_open_invoice_voided_and_anything_else_left_alone():
    assert withdrawal("draft") is Withdrawal.DELETE
    assert withdrawal("open") is Withdrawal.VOID
    assert withdrawal("uncollectible") is Withdrawal.VOID
    for status in ("paid", "void", "deleted"):
        assert withdrawal(status) is None


def test_marking_paid_pays_out_of_band_only_while_stripe_still_asks_for_money():
    assert steps_for(InvoiceAction.MARK_PAID, "open", "open") == InvoiceSteps(pay_out_of_band=True, state="paid")
    assert steps_for(InvoiceAction.MARK_PAID, "open", "paid") == InvoiceSteps(state="paid")
    assert steps_for(InvoiceAction.MARK_PAID, "open", "void") == InvoiceSteps(state="voided")


def test_voiding_withdraws_unless_stripe_already_collected_the_money():
    assert steps_for(InvoiceAction.VOID, "open", "open") == InvoiceSteps(withdraw=True, state="voided")
    assert steps_for(InvoiceAction.VOID, "open", "paid").state == "paid"


def test_revising_replaces_an_open_invoice_and_never_touches_one_paid_in_stripe():
    assert steps_for(InvoiceAction.REVISE, "open", "open") == InvoiceSteps(withdraw=True, create=True)
    paid = steps_for(InvoiceAction.REVISE, "open", "paid")
    assert paid.paid_in_stripe_first and not paid.create and not paid.withdraw and paid.state == "paid"
    # open again in QuickBooks after being paid or voided here: a new invoice, nothing to withdraw
    assert steps_for(InvoiceAction.REVISE, "voided", "void") == InvoiceSteps(create=True)
    assert steps_for(InvoiceAction.REVISE, "open", "deleted") == InvoiceSteps(create=True)


def test_actions_without_stripe_steps_on_a_link_are_refused():
    with pytest.raises(ValueError):
        steps_for(InvoiceAction.CREATE, "open", "open")


def test_the_create_plan_fixes_params_lines_fingerprint_and_what_it_replaces():
    inv = invoice()
    content = content_of(inv, BILL_TO, "usd")
    plan = create_plan(inv, content, replaces=None, company_id="acme", zone=ZONE, now=NOW, mode="finalize")
    assert plan["replaces"] == "new"
    assert plan["mode"] == "finalize"
    assert plan["fingerprint"] == content.fingerprint()
    assert plan["lines"] == [[line.description, line.amount] for line in content.lines]
    assert plan["params"]["customer"] == BILL_TO.stripe_customer_id
    assert "qb_job" not in plan["params"]["metadata"]
    revised = create_plan(inv, content, replaces="in_OLD", company_id="acme", zone=ZONE, now=NOW, mode="draft")
    assert revised["replaces"] == "in_OLD"
    assert create_key("acme", inv.txn_id) == key("invoice.create", "acme", inv.txn_id)


def test_a_jobs_invoice_bills_the_top_level_customer_and_names_the_job():
    job_invoice = invoice(customer_full_name="Acme Corp:Kitchen", customer_list_id="80000002-1")
    assert job_of(job_invoice) == "Acme Corp:Kitchen"
    assert job_of(invoice()) is None
    assert top_level_names([job_invoice, invoice()]) == {"Acme Corp"}
    by_list_id = {"80000001-1700000000": "cus_DIRECT"}
    by_top_name = {"acme corp": "cus_TOP"}
    assert bill_to_of(job_invoice, by_list_id, by_top_name) == BillTo("cus_TOP")
    assert bill_to_of(invoice(), by_list_id, by_top_name) == BillTo("cus_DIRECT")
    assert bill_to_of(invoice(customer_list_id="80000009-1"), by_list_id, by_top_name) is None
    content = content_of(job_invoice, BillTo("cus_TOP"), "usd")
    plan = create_plan(job_invoice, content, replaces=None, company_id="acme", zone=ZONE, now=NOW, mode="draft")
    assert plan["params"]["metadata"]["qb_job"] == "Acme Corp:Kitchen"


def test_a_replayed_older_create_is_noticed_by_its_content_fingerprint():
    content = content_of(invoice(), BILL_TO, "usd")
    assert not replayed_older_create(content.fingerprint(), content)
    assert replayed_older_create("older", content)
    assert not replayed_older_create(None, content)  # mark paid / void: no content sent
    assert not replayed_older_create("older", None)


def test_the_deletion_report_says_what_happened_in_stripe_and_when():
    gone = DeletedTxn("Invoice", "1A2-1", None, parse_qb_datetime("2026-03-01T10:00:00"), "1042")
    outcome, detail = deletion_report(gone, "in_1", "open")
    assert outcome == "ok"
    assert detail == (
        "QuickBooks invoice 1042 (1A2-1) was deleted at 2026-03-01T10:00:00; "
        "Stripe invoice in_1 was voided: nobody is asked to pay it"
    )
    outcome, detail = deletion_report(DeletedTxn("Invoice", "1A2-2", None, None, None), "in_2", "paid")
    assert outcome == "skipped"
    assert detail.startswith("QuickBooks invoice 1A2-2 was deleted, but Stripe invoice in_2 is paid")
    assert deletion_report(gone, "in_3", "draft")[1].endswith("its Stripe draft in_3 was deleted")
