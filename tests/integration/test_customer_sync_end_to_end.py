"""Customers and invoices, QuickBooks ⇄ Stripe, end to end: the simulated Web Connector drives the live gateway,
the worker syncs into the fake Stripe server, and Stripe's webhooks come back through the gateway."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import stripe
from sqlmodel import Session, col, select
from temporalio.client import Client

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.qbxml.customers import Customer, customer_query, parse_customers
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.seed import VENDOR_NAME_CLASH, seed_company
from ml_connector.storage.models import AuditEntry, CustomerLink, InvoiceLink, QbRequest
from ml_connector.stripe.money import to_minor
from ml_connector.sync.link_field import LinkField, stripe_id_on
from tests.conftest import free_port
from tests.harness import LiveSystem, live_system
from workflows.customer_sync import CustomerSyncWorkflow, SyncStatus, workflow_id

pytestmark = pytest.mark.slow

API_KEY = "sk_test_customer_sync_e2e"
NOTES = LinkField("notes")
DATAEXT = LinkField("dataext")


# ---- helpers ---------------------------------------------------------------------------------------------


def qb_customers(system: LiveSystem, list_ids: list[str], field: LinkField) -> dict[str, Customer]:
    """Customers as QuickBooks answers a CustomerQuery (what the connector itself would read)."""
    doc = build_message_set(
        [RequestItem("1", customer_query(list_ids=list_ids, owner_ids=field.owner_ids))],
        on_error="stopOnError",
    )
    items = parse_response(system.processor.process(doc)).items
    return {c.list_id: c for c in parse_customers(items[0].xml)}


def stripe_customers(client: stripe.StripeClient) -> list[dict[str, Any]]:
    return [c.to_dict() for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]


def stripe_invoices(client: stripe.StripeClient) -> list[dict[str, Any]]:
    return [i.to_dict() for i in client.v1.invoices.list({"limit": 100}).auto_paging_iter()]


async def sync_status(client: Client, company_id: str) -> SyncStatus | None:
    try:
        return await client.get_workflow_handle(workflow_id(company_id)).query(CustomerSyncWorkflow.status)
    except Exception:  # the workflow may not exist yet, or be between runs
        return None


async def sessions_until(
    system: LiveSystem, done: Callable[[], Awaitable[bool]], *, timeout: float = 900
) -> int:
    """Play Web Connector sessions until ``done()`` holds (it comes back as its scheduler would)."""
    deadline = time.monotonic() + timeout
    wc = system.web_connector()
    sessions = 0
    while time.monotonic() < deadline:
        await asyncio.to_thread(wc.run_session)
        sessions += 1
        if await done():
            return sessions
        await asyncio.sleep(0.1)
    raise AssertionError("the sync did not finish in time")


def polls_done(system: LiveSystem, polls: int, company_id: str = "acme") -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        status = await sync_status(system.client, company_id)
        return status is not None and status.polls >= polls and not status.polling

    return check


def first_sync_done(system: LiveSystem, company_id: str = "acme") -> Callable[[], Awaitable[bool]]:
    """The first poll is over and so are its write-backs: those beyond the in-flight cap are drained right
    after the poll, at the start of the next run (workflows/customer_sync.py)."""
    poll_over = polls_done(system, 1, company_id)

    def written_back() -> bool:
        with Session(system.engine) as db:
            return (
                db.exec(
                    select(CustomerLink).where(
                        CustomerLink.company_id == company_id, col(CustomerLink.written_back).is_(False)
                    )
                ).first()
                is None
            )

    async def check() -> bool:
        return await poll_over() and await asyncio.to_thread(written_back)

    return check


async def forget_earlier_sync(client: Client, company_id: str = "acme") -> None:
    """Tests share one Temporal server: an earlier test's sync workflow (its worker gone) must not answer."""
    try:
        await client.get_workflow_handle(workflow_id(company_id)).terminate("a new test starts")
    except Exception:  # none running
        pass


async def eventually(probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("condition never held")


def assert_everything_linked(
    system: LiveSystem, company: CompanyFile, client: stripe.StripeClient, field: LinkField
) -> None:
    active = [c.list_id for c in company.customers.values() if c.sublevel == 0 and c.is_active]
    with Session(system.engine) as db:
        links = {r.qb_list_id: r for r in db.exec(select(CustomerLink)).all()}
        invoice_links = {r.qb_txn_id: r for r in db.exec(select(InvoiceLink)).all()}
    in_stripe = {c["id"]: c for c in stripe_customers(client)}
    read = qb_customers(system, active, field)
    assert set(active) <= set(links), "every active customer is linked"
    assert len(in_stripe) == len(links), "one Stripe customer per link, no duplicate"
    for list_id in active:
        link = links[list_id]
        assert in_stripe[link.stripe_customer_id]["metadata"]["qb_list_id"] == list_id, "Stripe → QuickBooks"
        assert in_stripe[link.stripe_customer_id]["metadata"]["qb_company"] == "acme"
        assert stripe_id_on(read[list_id], field) == link.stripe_customer_id, "QuickBooks → Stripe"
    assert not any(c.sublevel > 0 for c in company.customers.values() if c.list_id in links), (
        "jobs are no customers"
    )

    invoices = {i["id"]: i for i in stripe_invoices(client)}
    open_qb = [i for i in company.invoices.values() if i.balance_remaining > 0]
    assert len(open_qb) >= 290
    for invoice in open_qb:
        owner = company.customers[invoice.customer_id]
        while owner.parent_id:
            owner = company.customers[owner.parent_id]
        if owner.list_id not in links:
            continue
        link = invoice_links[invoice.txn_id]
        mirrored = invoices[link.stripe_invoice_id]
        assert mirrored["metadata"]["qb_txn_id"] == invoice.txn_id
        assert mirrored["metadata"]["qb_ref_number"] == invoice.ref_number
        assert mirrored["customer"] == links[owner.list_id].stripe_customer_id, (
            "a job's invoice bills its parent"
        )
        assert mirrored["status"] == "open"
        assert mirrored["amount_due"] == to_minor(invoice.balance_remaining, "usd"), "asks for what is due"


def edit_twenty(company: CompanyFile) -> list[str]:
    chosen = sorted(c.list_id for c in company.customers.values() if c.sublevel == 0 and c.is_active)[5:25]
    for n, list_id in enumerate(chosen):
        company.edit_customer(list_id, Email=f"accounts-{n}@edited.example.com")
    return chosen


async def wait_for_queued(system: LiveSystem, name: str, timeout: float = 60) -> None:
    def queued() -> bool:
        with Session(system.engine) as db:
            return (
                db.exec(
                    select(QbRequest).where(QbRequest.name == name, QbRequest.status == "pending")
                ).first()
                is not None
            )

    await eventually(queued, timeout)


async def restart_gateway_with_webhook_secret(system: LiveSystem, secret: str) -> None:
    await system.stop_gateway()
    system.settings = replace(
        system.settings, stripe=replace(system.settings.stripe, webhook_secrets=(secret,))
    )
    await system.start_gateway()


# ---- the scenario of issue 4 -----------------------------------------------------------------------------


async def test_a_company_syncs_into_stripe_and_back_with_every_link_in_place(temporal_client, database_url):
    await forget_earlier_sync(temporal_client)
    company = CompanyFile()
    seed_company(company, customers=1000, jobs=20, open_invoices=300)
    port = free_port()
    with FakeStripeServer(api_keys={API_KEY}) as fake:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})
        async with live_system(
            database_url,
            temporal_client,
            company=company,
            MLC_PORT=str(port),
            MLC_STRIPE_API_KEY=API_KEY,
            MLC_STRIPE_API_BASE=fake.url,
            MLC_STRIPE_RATE_LIMIT="400",
            MLC_CUSTOMER_LINK_FIELD="notes",
            MLC_LINGER_SECONDS="2",
        ) as system:
            # 1. The first Web Connector session finds the first poll due: a full sync.
            await sessions_until(system, first_sync_done(system))
            assert_everything_linked(system, company, client, NOTES)
            customers_in_stripe = len(stripe_customers(client))

            # 2. A bookkeeper edits 20 customers. One of them also retypes its Notes (dropping our line) and
            #    edits again exactly while ml-connector writes the Stripe id back (a 3200 conflict).
            edited = edit_twenty(company)
            retyped = edited[0]
            company.edit_customer(retyped, Notes="Call before noon. Prefers paper statements.")
            system.processor.on_next_mod(retyped, lambda c: c.edit_customer(retyped, Phone="555-0142"))
            handle = temporal_client.get_workflow_handle(workflow_id("acme"))
            await handle.signal(CustomerSyncWorkflow.poll_now)
            await sessions_until(system, polls_done(system, 2))
            await handle.signal(CustomerSyncWorkflow.poll_now)  # the edit made during the write-back
            await sessions_until(system, polls_done(system, 3))

            assert len(stripe_customers(client)) == customers_in_stripe, "no duplicate"
            by_list_id = {c["metadata"]["qb_list_id"]: c for c in stripe_customers(client)}
            for n, list_id in enumerate(edited):
                assert by_list_id[list_id]["email"] == f"accounts-{n}@edited.example.com"
            after = qb_customers(system, [retyped], NOTES)[retyped]
            assert after.phone == "555-0142", "the bookkeeper's concurrent edit is kept in QuickBooks"
            assert (after.notes or "").startswith("Call before noon."), "and so are the Notes they typed"
            assert stripe_id_on(after, NOTES) == by_list_id[retyped]["id"], "our line was re-applied"
            assert by_list_id[retyped]["phone"] == "555-0142", "no lost edit"
            assert_everything_linked(system, company, client, NOTES)

            # 3. A customer created in Stripe arrives by webhook and appears in QuickBooks next session.
            endpoint = client.v1.webhook_endpoints.create(
                {"url": f"http://127.0.0.1:{port}/stripe/webhook", "enabled_events": ["customer.created"]}
            )
            await restart_gateway_with_webhook_secret(system, str(endpoint.secret))
            created = client.v1.customers.create(
                {"name": VENDOR_NAME_CLASH, "email": "ap@northwind.example.com", "phone": "555-0100"}
            )
            await wait_for_queued(system, "CustomerAddRq")
            await sessions_until(system, lambda: _added(company))
            new = next(c for c in company.customers.values() if c.name.startswith(VENDOR_NAME_CLASH))
            assert new.name == f"{VENDOR_NAME_CLASH} (2)", "the clash with the vendor (3100) gets a counter"
            assert new.fields.get("Email") == "ap@northwind.example.com"
            read = qb_customers(system, [new.list_id], NOTES)[new.list_id]
            assert stripe_id_on(read, NOTES) == created.id, "QuickBooks → Stripe"
            tagged = await eventually(
                lambda: client.v1.customers.retrieve(created.id).to_dict()["metadata"].get("qb_list_id")
            )
            assert tagged == new.list_id, "Stripe → QuickBooks"
            assert len(stripe_customers(client)) == customers_in_stripe + 1, "and nothing echoed back"


async def _added(company: CompanyFile) -> bool:
    with company.lock:
        return any(c.name.startswith(VENDOR_NAME_CLASH) for c in company.customers.values())


# ---- an invoice deleted in QuickBooks ---------------------------------------------------------------------


async def test_an_invoice_deleted_in_quickbooks_is_voided_in_stripe_on_the_next_poll(
    temporal_client, database_url
):
    company_id = f"del-{uuid.uuid4().hex[:8]}"  # its own sync workflow on the shared Temporal server
    company = CompanyFile()
    seed_company(company, customers=12, open_invoices=8)
    with FakeStripeServer(api_keys={API_KEY}) as fake:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})
        async with live_system(
            database_url,
            temporal_client,
            company=company,
            MLC_COMPANY_ID=company_id,
            MLC_STRIPE_API_KEY=API_KEY,
            MLC_STRIPE_API_BASE=fake.url,
            MLC_STRIPE_RATE_LIMIT="400",
            MLC_LINGER_SECONDS="2",
        ) as system:
            await sessions_until(system, polls_done(system, 1, company_id))
            with Session(system.engine) as db:
                links = {r.qb_txn_id: r for r in db.exec(select(InvoiceLink)).all()}
            kept, deleted = sorted(links)[:2]
            doomed = links[deleted]
            assert client.v1.invoices.retrieve(doomed.stripe_invoice_id).status == "open"

            # The bookkeeper deletes one invoice in QuickBooks between two polls.
            with company.lock:
                company.delete_transaction(deleted)
            handle = temporal_client.get_workflow_handle(workflow_id(company_id))
            await handle.signal(CustomerSyncWorkflow.poll_now)
            await sessions_until(system, polls_done(system, 2, company_id))

            assert client.v1.invoices.retrieve(doomed.stripe_invoice_id).status == "void", (
                "nobody is asked to pay an invoice that no longer exists"
            )
            assert client.v1.invoices.retrieve(links[kept].stripe_invoice_id).status == "open"
            with Session(system.engine) as db:
                link = db.exec(select(InvoiceLink).where(InvoiceLink.qb_txn_id == deleted)).one()
                audit = db.exec(
                    select(AuditEntry).where(AuditEntry.action == "invoice.deleted_in_quickbooks")
                ).all()
            assert link.state == "deleted", "the link says why the Stripe invoice is void"
            assert [(a.qb_txn_id, a.stripe_object_id, a.outcome) for a in audit] == [
                (deleted, doomed.stripe_invoice_id, "ok")
            ]
            assert "voided" in audit[0].detail
            status = await sync_status(temporal_client, company_id)
            assert status is not None and status.last_summary is not None
            assert status.last_summary.invoices.get("deleted.withdraw") == 1

            # The next poll reads the same deletion again (the window overlaps) and changes nothing.
            voided_at = client.v1.invoices.retrieve(doomed.stripe_invoice_id).to_dict()
            await handle.signal(CustomerSyncWorkflow.poll_now)
            await sessions_until(system, polls_done(system, 3, company_id))
            status = await sync_status(temporal_client, company_id)
            assert status is not None and status.last_summary is not None
            assert status.last_summary.invoices.get("deleted.unchanged") == 1, "the deletion was read again"
            assert "deleted.withdraw" not in status.last_summary.invoices
            assert status.last_summary.stripe_requests == 0, "and cost no Stripe request"
            assert client.v1.invoices.retrieve(doomed.stripe_invoice_id).to_dict() == voided_at
            with Session(system.engine) as db:
                assert (
                    len(
                        db.exec(
                            select(AuditEntry).where(AuditEntry.action == "invoice.deleted_in_quickbooks")
                        ).all()
                    )
                    == 1
                ), "one audit row for one deletion"
