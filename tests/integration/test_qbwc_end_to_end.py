"""The Web Connector path end to end: simulated QBWC → live gateway → durable queue → Temporal workflows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from ml_connector.simulator.processor import RecoveryAnswer
from ml_connector.storage.models import QbRequest
from tests.harness import live_system
from tests.qb_workflows import (
    AddCustomersInput,
    AddCustomersWorkflow,
    ListCustomersInput,
    ListCustomersWorkflow,
    PageReader,
    SetAccountNumberInput,
    SetAccountNumberWorkflow,
)

pytestmark = pytest.mark.slow

WORKFLOWS = [ListCustomersWorkflow, SetAccountNumberWorkflow, AddCustomersWorkflow]


def _wid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _wait_for_pending(system, count: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        with Session(system.engine) as db:
            n = len(db.exec(select(QbRequest).where(QbRequest.status == "pending")).all())
        if n >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} queued requests, found {n}")


async def _sessions_until(system, handle, timeout: float = 90.0):  # type: ignore[no-untyped-def]
    """Play Web Connector runs until the workflow ends: verification reads are queued by workflows that
    hear of an uncertain write only after the worker is back, so one run of sessions may come too early."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await system.run_sessions(system.web_connector())
        try:
            return await asyncio.wait_for(asyncio.shield(handle.result()), timeout=2)
        except TimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                raise


async def test_a_workflow_receives_each_of_1050_customers_exactly_once_through_an_iterator(
    temporal_client, database_url
):
    from ml_connector.simulator.company import CompanyFile
    from ml_connector.simulator.seed import seed_company

    company = CompanyFile()
    seed_company(company, customers=1050, open_invoices=0)
    async with live_system(
        database_url,
        temporal_client,
        workflows=WORKFLOWS,
        activities=lambda s: [PageReader(s.queue).collect_list_ids],
        company=company,
    ) as system:
        handle = await temporal_client.start_workflow(
            ListCustomersWorkflow.run,
            ListCustomersInput("acme", page_size=100),
            id=_wid("list"),
            task_queue=system.task_queue,
        )
        await _wait_for_pending(system, 1)
        reports = await system.run_sessions(system.web_connector())
        listed = await asyncio.wait_for(handle.result(), timeout=60)

    expected = {c.list_id for c in company.customers.values()}
    assert listed.status_code == 0
    assert len(listed.list_ids) == 1050
    assert set(listed.list_ids) == expected
    assert listed.pages == 11
    assert sum(r.round_trips for r in reports) == 11, "every page is fetched inside the session"


async def test_a_customer_mod_that_meets_a_concurrent_edit_succeeds_after_the_retry(
    temporal_client, database_url
):
    from ml_connector.simulator.company import CompanyFile
    from ml_connector.simulator.seed import seed_company

    company = CompanyFile()
    seed_company(company, customers=5, open_invoices=0)
    target = sorted(company.customers.values(), key=lambda c: c.list_id)[0]
    async with live_system(database_url, temporal_client, workflows=WORKFLOWS, company=company) as system:

        def bookkeeper_edits_phone(c: CompanyFile) -> None:
            c.edit_customer(target.list_id, Phone="555-0199")

        system.processor.on_next_mod(target.list_id, bookkeeper_edits_phone)
        handle = await temporal_client.start_workflow(
            SetAccountNumberWorkflow.run,
            SetAccountNumberInput("acme", target.list_id, "cus_Test123"),
            id=_wid("mod"),
            task_queue=system.task_queue,
        )
        await _wait_for_pending(system, 1)
        await system.run_sessions(system.web_connector())
        status = await asyncio.wait_for(handle.result(), timeout=60)

    after = company.customers[target.list_id]
    assert status == 0
    assert after.fields["AccountNumber"] == "cus_Test123"
    assert after.fields["Phone"] == "555-0199", "the bookkeeper's concurrent edit is kept"


@pytest.mark.parametrize("reading", list(RecoveryAnswer))
@pytest.mark.parametrize("how", ["web connector dies", "request processor error"])
async def test_killing_the_worker_and_losing_a_response_loses_no_request_and_duplicates_none(
    temporal_client, database_url, how, reading
):
    """40 CustomerAdds in one document whose answer is lost, under every reading of QuickBooks' error-recovery
    answer: each add is settled by QuickBooks' own *Rs or verified by a read (workflows/qb_customers.py)."""
    from ml_connector.simulator.company import CompanyFile

    company = CompanyFile()
    names = [f"Customer {i:03d}" for i in range(40)]
    async with live_system(database_url, temporal_client, workflows=WORKFLOWS, company=company) as system:
        system.processor.recovery_answer = reading
        handle = await temporal_client.start_workflow(
            AddCustomersWorkflow.run,
            AddCustomersInput("acme", names),
            id=_wid("add"),
            task_queue=system.task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        await _wait_for_pending(system, 40)
        await system.stop_worker()  # the worker dies with 40 requests waiting

        wc = system.web_connector()
        wc.faults.lose_response_after = 1  # QuickBooks runs the batch; the response never reaches us
        wc.faults.lose_response_mode = "die" if how == "web connector dies" else "hresult"
        lost = await asyncio.to_thread(wc.run_session)
        # after a request-processor error the session goes on and asks QuickBooks what happened right away
        assert lost.round_trips == (1 if how == "web connector dies" else 2)
        assert len(company.customers) == 40, "QuickBooks ran the batch once"

        await system.start_worker()
        list_ids = await _sessions_until(system, handle)

    assert sorted(c.name for c in company.customers.values()) == names, "no duplicates, nothing lost"
    assert sorted(list_ids) == sorted(c.list_id for c in company.customers.values())


async def test_restarting_the_gateway_in_the_middle_of_a_session_loses_nothing(temporal_client, database_url):
    from ml_connector.simulator.company import CompanyFile

    company = CompanyFile()
    names = [f"Restart {i:02d}" for i in range(10)]
    async with live_system(database_url, temporal_client, workflows=WORKFLOWS, company=company) as system:
        handle = await temporal_client.start_workflow(
            AddCustomersWorkflow.run,
            AddCustomersInput("acme", names),
            id=_wid("restart"),
            task_queue=system.task_queue,
            execution_timeout=timedelta(minutes=5),
        )
        await _wait_for_pending(system, 10)
        system.processor.latency_seconds = (
            0.5  # QuickBooks is busy with the batch while the gateway goes down
        )
        wc = system.web_connector()
        session = asyncio.create_task(asyncio.to_thread(wc.run_session))
        await asyncio.sleep(0.3)
        await system.stop_gateway()
        interrupted = await session
        assert interrupted.outcome == "failed", "the Web Connector could not deliver the response"
        system.processor.latency_seconds = 0.0

        await system.start_gateway()  # a new gateway process, same database
        await system.run_sessions(system.web_connector())
        list_ids = await asyncio.wait_for(handle.result(), timeout=60)

    assert sorted(c.name for c in company.customers.values()) == names
    assert len(set(list_ids)) == 10
