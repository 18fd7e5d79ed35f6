"""The status page shows each company's sync watermark, as the customer sync workflow itself reports it.

Every test uses its own company id: the Temporal dev server is shared by the whole run and other tests leave
``customer-sync/acme`` behind.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from lxml import html as lxml_html
from temporalio.client import Client, WorkflowHandle

from tests.conftest import free_port
from tests.harness import LiveSystem, live_system
from workflows.customer_sync import (
    CustomerSyncInput,
    CustomerSyncWorkflow,
    PollSummary,
    workflow_id,
)


def company_id() -> str:
    return f"status-{uuid.uuid4().hex[:8]}"


async def sync_row(system: LiveSystem, company: str) -> str:
    """The text of the company's row in the page's Sync table, as served over HTTP."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=15) as http:
        page = await http.get("/")
    assert page.status_code == 200
    found = lxml_html.fromstring(page.text).xpath(f'//table[@id="sync"]//tr[@data-company="{company}"]')
    rows = [r for r in found if isinstance(r, lxml_html.HtmlElement)] if isinstance(found, list) else []
    assert len(rows) == 1, page.text
    return " ".join(" ".join(rows[0].itertext()).split())


async def answering(handle: WorkflowHandle[CustomerSyncWorkflow, None]) -> None:
    """Wait until the workflow's first task ran, so the page's query meets a workflow that can answer."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            await handle.query(CustomerSyncWorkflow.status, rpc_timeout=timedelta(seconds=2))
            return
        except Exception:  # noqa: BLE001 - not started yet
            await asyncio.sleep(0.1)
    raise AssertionError("the sync workflow never answered its status query")


async def test_a_running_sync_shows_its_customer_and_invoice_watermarks_and_its_polls(
    temporal_client, tmp_path
):
    company = company_id()
    last_poll = datetime.now(UTC) - timedelta(minutes=10)
    async with live_system(
        f"sqlite:///{tmp_path / 'w.db'}", temporal_client, MLC_COMPANY_ID=company
    ) as system:
        handle = await temporal_client.start_workflow(
            CustomerSyncWorkflow.run,
            CustomerSyncInput(
                company,
                poll_seconds=3600,
                customer_watermark="2024-03-05T14:07:31",
                invoice_watermark="2024-03-05T13:59:02",
                last_poll_at=last_poll.isoformat(),
                polls=7,
                last_summary=PollSummary(started_at=last_poll.isoformat()),
            ),
            id=workflow_id(company),
            task_queue=system.task_queue,
        )
        try:
            await answering(handle)
            row = await sync_row(system, company)
        finally:
            await handle.terminate("test over")

    assert "2024-03-05T14:07:31" in row, "the customer watermark"
    assert "2024-03-05T13:59:02" in row, "the invoice watermark"
    assert "10 min ago" in row, "the last poll"
    assert "in 50 min" in row or "in 49 min" in row, f"the next poll: {row}"
    assert (last_poll + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M") in row


async def test_a_company_whose_sync_never_started_reads_no_sync_yet(temporal_client, tmp_path):
    company = company_id()
    async with live_system(
        f"sqlite:///{tmp_path / 'n.db'}", temporal_client, MLC_COMPANY_ID=company
    ) as system:
        row = await sync_row(system, company)
    assert row == f"{company} 0 0 never no sync yet"


async def test_with_temporal_unreachable_the_page_still_renders_and_says_so(temporal_client, tmp_path):
    company = company_id()
    dead = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)  # nothing listens there
    async with live_system(
        f"sqlite:///{tmp_path / 'u.db'}", temporal_client, MLC_COMPANY_ID=company
    ) as system:
        await system.stop_gateway()
        system.gateway_client = dead
        await system.start_gateway()
        started = time.monotonic()
        row = await sync_row(system, company)
        elapsed = time.monotonic() - started
    assert "Temporal unreachable" in row
    assert elapsed < 10, "a dead Temporal costs the page a short timeout, not the browser's patience"


async def test_a_sync_workflow_without_a_worker_is_reported_without_holding_up_the_page(
    temporal_client, tmp_path
):
    company = company_id()
    async with live_system(
        f"sqlite:///{tmp_path / 's.db'}", temporal_client, MLC_COMPANY_ID=company
    ) as system:
        handle = await temporal_client.start_workflow(
            CustomerSyncWorkflow.run,
            CustomerSyncInput(company),
            id=workflow_id(company),
            task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
        )
        try:
            started = time.monotonic()
            row = await sync_row(system, company)
            elapsed = time.monotonic() - started
        finally:
            await handle.terminate("test over")
    assert "did not answer" in row
    assert elapsed < 10
