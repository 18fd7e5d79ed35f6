"""Rebuilding the link table from the two systems alone: ``links-rebuild/{company}``.

Started by ``ml-connector links rebuild``. First every Stripe customer and invoice whose metadata names the
company file (``qb_list_id`` / ``qb_txn_id`` with ``qb_company``), then every QuickBooks customer's own Stripe
id (custom field or Notes), read through the Web Connector like any poll. Where the two disagree, QuickBooks
wins (it is what a bookkeeper sees and fixes); disagreements are counted, never guessed away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.links import LinkActivities, RebuildSummary
    from activities.qb_queue import QbActivities
    from activities.sync_pages import PageInput
    from ml_connector.qbxml.customers import customer_query
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT, STRIPE_RETRY
    from workflows.write_back import sync_config

STRIPE_LISTING_TIMEOUT = timedelta(hours=1)
PAGE_TIMEOUT = timedelta(minutes=10)


def workflow_id(company_id: str) -> str:
    return f"links-rebuild/{company_id}"


@dataclass
class LinksRebuildInput:
    company_id: str
    page_size: int = 100


@dataclass
class LinksRebuildResult:
    stripe: dict[str, int] = field(default_factory=dict)
    quickbooks: dict[str, int] = field(default_factory=dict)


@workflow.defn(name="LinksRebuildWorkflow")
class LinksRebuildWorkflow:
    @workflow.run
    async def run(self, inp: LinksRebuildInput) -> LinksRebuildResult:
        link_field = (await sync_config(inp.company_id)).link
        from_stripe: RebuildSummary = await workflow.execute_activity_method(
            LinkActivities.rebuild_links_from_stripe,
            inp.company_id,
            start_to_close_timeout=STRIPE_LISTING_TIMEOUT,
            retry_policy=STRIPE_RETRY,
        )
        result = await qb.run(
            inp.company_id,
            customer_query(
                iterator=True, max_returned=inp.page_size, active_status="All", owner_ids=link_field.owner_ids
            ),
        )
        from_qb: dict[str, int] = {}
        pages = max(result.pages, 1 if result.response else 0)
        for page_no in range(pages):
            summary: RebuildSummary = await workflow.execute_activity_method(
                LinkActivities.rebuild_links_from_qb_page,
                PageInput(inp.company_id, result.request_id, page_no),
                start_to_close_timeout=PAGE_TIMEOUT,
            )
            for name, count in summary.counts.items():
                from_qb[name] = from_qb.get(name, 0) + count
        await workflow.execute_activity_method(
            QbActivities.qb_forget_pages,
            result.request_id,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        return LinksRebuildResult(stripe=from_stripe.counts, quickbooks=from_qb)
