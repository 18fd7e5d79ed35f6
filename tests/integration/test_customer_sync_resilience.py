"""The customer sync when things go wrong: Stripe failing, a sync too big for one workflow history, and a lost
link table rebuilt from QuickBooks and Stripe alone."""

from __future__ import annotations

import asyncio

import pytest
import stripe
from sqlmodel import Session, delete, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.seed import seed_company
from ml_connector.storage.models import CustomerLink
from ml_connector.sync.link_field import stripe_id_on
from tests.harness import live_system
from tests.integration.test_customer_sync_end_to_end import (
    DATAEXT,
    first_sync_done,
    forget_earlier_sync,
    polls_done,
    qb_customers,
    sessions_until,
    stripe_customers,
)
from workflows.customer_sync import CustomerSyncInput, CustomerSyncWorkflow, workflow_id
from workflows.links_rebuild import LinksRebuildInput, LinksRebuildWorkflow
from workflows.links_rebuild import workflow_id as rebuild_id

pytestmark = pytest.mark.slow

API_KEY = "sk_test_customer_sync_resilience"


def _links(system) -> dict[str, str]:
    with Session(system.engine) as db:
        return {r.qb_list_id: r.stripe_customer_id for r in db.exec(select(CustomerLink)).all()}


async def test_a_large_sync_through_stripe_errors_and_continue_as_new_links_everyone_once_and_survives_losing_the_links(
    temporal_client, database_url
):
    await forget_earlier_sync(temporal_client)
    company = CompanyFile()
    seed_company(company, customers=400, open_invoices=0)
    with FakeStripeServer(api_keys={API_KEY}) as fake:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": fake.url})
        fake.fake.inject_faults(500, 6, "/v1/customers")  # Stripe stumbles at the start of the sync
        async with live_system(
            database_url,
            temporal_client,
            company=company,
            MLC_STRIPE_API_KEY=API_KEY,
            MLC_STRIPE_API_BASE=fake.url,
            MLC_STRIPE_RATE_LIMIT="400",
            MLC_LINGER_SECONDS="2",
        ) as system:
            # A tiny history budget forces continue-as-new in the middle of the first poll.
            await temporal_client.start_workflow(
                CustomerSyncWorkflow.run,
                CustomerSyncInput("acme", poll_seconds=3600, history_limit=30),
                id=workflow_id("acme"),
                task_queue=system.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
            )
            # Over with its write-backs: on a busy machine some wait beyond the in-flight cap for the drain.
            await sessions_until(system, first_sync_done(system))

            async def runs() -> int:
                listing = temporal_client.list_workflows(f'WorkflowId = "{workflow_id("acme")}"')
                return len([r async for r in listing])

            for _ in range(50):  # the visibility store may lag a moment behind
                if await runs() >= 3:
                    break
                await asyncio.sleep(0.1)
            assert await runs() >= 3, "the poll continued as new part-way and again at its end"

            active = [c.list_id for c in company.customers.values() if c.sublevel == 0 and c.is_active]
            links = _links(system)
            in_stripe = stripe_customers(client)
            assert set(links) == set(active)
            assert len(in_stripe) == len(active), "retried requests created no duplicate"
            read = qb_customers(system, active, DATAEXT)
            assert all(stripe_id_on(read[i], DATAEXT) == links[i] for i in active), "custom field written"

            # The link table is lost; the rebuild restores it from the two systems alone.
            with Session(system.engine) as db:
                db.exec(delete(CustomerLink))  # type: ignore[call-overload]
                db.commit()
            rebuild = await temporal_client.start_workflow(
                LinksRebuildWorkflow.run,
                LinksRebuildInput("acme"),
                id=rebuild_id("acme"),
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
                task_queue=system.task_queue,
            )

            async def rebuilt() -> bool:
                # Done means the whole rebuild, not "the links are back": the Stripe half restores every link
                # before the QuickBooks half has even been queued, and that half needs more sessions.
                described = await rebuild.describe()
                return described.status == WorkflowExecutionStatus.COMPLETED

            await sessions_until(system, rebuilt)
            result = await rebuild.result()
            assert _links(system) == links
            assert result.stripe.get("customers_restored") == len(active)
            assert result.quickbooks.get("customers_confirmed") == len(active)

            # A full poll afterwards changes nothing that is already right.
            company.edit_customer(active[0], Phone="555-0199")
            before = sum(fake.fake.request_counts().values())
            creates_before = fake.fake.request_counts().get("POST /v1/customers", 0)
            await temporal_client.get_workflow_handle(workflow_id("acme")).signal(
                CustomerSyncWorkflow.poll_now
            )
            await sessions_until(system, polls_done(system, 2))
            assert len(stripe_customers(client)) == len(active)
            posts = {k: v for k, v in fake.fake.request_counts().items() if k.startswith("POST")}
            assert sum(fake.fake.request_counts().values()) - before <= 5 + len(active) // 100 + 2
            assert posts.get("POST /v1/customers", 0) == creates_before, "no create after the rebuild"
            assert posts.get("POST /v1/customers/{id}", 0) == 1, "only the customer edited is updated"
