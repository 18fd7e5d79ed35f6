"""Small workflows the end-to-end tests use to exercise the QuickBooks path as product workflows do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from ml_connector.qbwc_server.queue import RequestQueue
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.customers import (
        CustomerFields,
        customer_external_guid,
        customer_mod,
        customer_query,
        parse_customers,
    )
    from workflows import qb
    from workflows.qb_customers import add_customer


@dataclass(frozen=True)
class ListCustomersInput:
    company_id: str
    page_size: int = 100


@dataclass(frozen=True)
class ListedCustomers:
    list_ids: list[str]
    pages: int
    status_code: int


class PageReader:
    """Reads an iterator's stored pages one at a time, as the customer sync does."""

    def __init__(self, queue: RequestQueue) -> None:
        self.queue = queue

    @activity.defn(name="test_collect_list_ids")
    def collect_list_ids(self, request_id: int) -> list[str]:
        out: list[str] = []
        for page in self.queue.pages(request_id):
            out.extend(c.list_id for c in parse_customers(page))
        return out


@workflow.defn
class ListCustomersWorkflow:
    @workflow.run
    async def run(self, inp: ListCustomersInput) -> ListedCustomers:
        result = await qb.run(
            inp.company_id,
            customer_query(iterator=True, max_returned=inp.page_size, active_status="All", owner_ids=()),
        )
        ids = await workflow.execute_activity_method(
            PageReader.collect_list_ids, result.request_id, start_to_close_timeout=qb.timedelta(minutes=5)
        )
        return ListedCustomers(ids, result.pages, result.status_code)


@dataclass(frozen=True)
class SetAccountNumberInput:
    company_id: str
    list_id: str
    account_number: str


@workflow.defn
class SetAccountNumberWorkflow:
    @workflow.run
    async def run(self, inp: SetAccountNumberInput) -> int:
        def build(current: QbRunResult) -> str | None:
            customer = parse_customers(current.response or "")[0]
            if customer.account_number == inp.account_number:
                return None
            return customer_mod(
                customer.list_id, customer.edit_sequence, CustomerFields(account_number=inp.account_number)
            )

        result = await qb.modify(inp.company_id, customer_query(list_ids=[inp.list_id]), build)
        return result.status_code


@dataclass(frozen=True)
class AddCustomersInput:
    company_id: str
    names: list[str]


@workflow.defn
class AddCustomersWorkflow:
    @workflow.run
    async def run(self, inp: AddCustomersInput) -> list[str]:
        # Verified adds (workflows/qb_customers.py): an add whose answer is lost is looked up, never re-sent blind.
        results = await asyncio.gather(
            *(
                add_customer(inp.company_id, CustomerFields(name=name, external_guid=customer_external_guid(name)))
                for name in inp.names
            )
        )
        out = []
        for result in results:
            customers = parse_customers(result.response or "")
            out.append(customers[0].list_id if customers else f"error {result.status_code}")
        return out
