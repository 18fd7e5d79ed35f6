"""Workflow branches for a write whose fate is unknown, proven fast: a real Temporal worker, `qb_run` stood in.

The queue hands a workflow `QuickBooksUncertain` (non-retryable) when QuickBooks' error-recovery answer does
not say whether a write ran (CONFORMANCE.md U1). The rule: never write again blind — read first. These tests
script QuickBooks' side of each branch and count what would have been written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from ml_connector.qbwc_server.requests import UNCERTAIN_KIND, QbRunInput, QbRunResult
    from ml_connector.qbxml.customers import (
        CustomerFields,
        customer_external_guid,
        customer_mod,
        customer_query,
        parse_customers,
    )
    from workflows import qb
    from workflows.qb_customers import add_customer

GUID = customer_external_guid("cus_Lost")


def _customer_rs(name: str, guid: str | None, edit_sequence: str = "1") -> str:
    guid_xml = f"<ExternalGUID>{guid}</ExternalGUID>" if guid else ""
    return (
        f'<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        f"<CustomerRet><ListID>80000001-1</ListID><EditSequence>{edit_sequence}</EditSequence>"
        f"<Name>{name}</Name><FullName>{name}</FullName>{guid_xml}</CustomerRet></CustomerQueryRs>"
    )


@dataclass
class ScriptedQuickBooks:
    """Answers each request by its element name from a script; records every request it was asked to run."""

    script: dict[str, list[Callable[[], QbRunResult]]]
    seen: list[str] = field(default_factory=list)

    @activity.defn(name="qb_run")
    def qb_run(self, run: QbRunInput) -> QbRunResult:
        name = run.body.split(">", 1)[0].lstrip("<").split()[0]
        self.seen.append(name)
        return self.script[name].pop(0)()


def _uncertain() -> QbRunResult:
    raise ApplicationError("the answer to its document was lost", type=UNCERTAIN_KIND, non_retryable=True)


def _answer(name: str, xml: str, code: int = 0) -> Callable[[], QbRunResult]:
    return lambda: QbRunResult(1, name, code, "Info" if code < 1000 else "Error", "", response=xml)


@workflow.defn(name="AddOneCustomer")
class AddOneCustomer:
    @workflow.run
    async def run(self, name: str) -> tuple[int, str]:
        result = await add_customer("acme", CustomerFields(name=name, external_guid=GUID))
        customers = parse_customers(result.response or "")
        return result.status_code, customers[0].list_id if customers else ""


@workflow.defn(name="ModifyOneCustomer")
class ModifyOneCustomer:
    @workflow.run
    async def run(self, phone: str) -> int:
        def build(current: QbRunResult) -> str | None:
            found = parse_customers(current.response or "")
            if not found or found[0].phone == phone:
                return None  # our change is there already
            return customer_mod(found[0].list_id, found[0].edit_sequence, CustomerFields(phone=phone))

        result = await qb.modify("acme", customer_query(list_ids=["80000001-1"], owner_ids=()), build)
        return result.status_code


async def _run(client, quickbooks: ScriptedQuickBooks, wf, arg):  # type: ignore[no-untyped-def]
    queue = f"uncertain-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=queue, workflows=[wf], activities=[quickbooks.qb_run], activity_executor=_executor()
    ):
        return await client.execute_workflow(wf.run, arg, id=f"{queue}-wf", task_queue=queue)


def _executor():  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=2)


async def test_a_lost_customer_add_that_landed_is_found_by_its_guid_and_not_added_again(temporal_client):
    quickbooks = ScriptedQuickBooks(
        {
            "CustomerAddRq": [_uncertain],
            "CustomerQueryRq": [_answer("CustomerQueryRq", _customer_rs("Lost Ltd", GUID))],
        }
    )
    code, list_id = await _run(temporal_client, quickbooks, AddOneCustomer, "Lost Ltd")
    assert (code, list_id) == (0, "80000001-1")
    assert quickbooks.seen == ["CustomerAddRq", "CustomerQueryRq"], "verified by a read, written once"


async def test_a_lost_customer_add_that_did_not_land_is_sent_once_more(temporal_client):
    added = _customer_rs("Gone Ltd", GUID).replace("CustomerQueryRs", "CustomerAddRs")
    quickbooks = ScriptedQuickBooks(
        {
            "CustomerAddRq": [_uncertain, _answer("CustomerAddRq", added)],
            "CustomerQueryRq": [_answer("CustomerQueryRq", "<CustomerQueryRs statusCode='1'/>", code=1)],
        }
    )
    code, _ = await _run(temporal_client, quickbooks, AddOneCustomer, "Gone Ltd")
    assert code == 0
    assert quickbooks.seen == ["CustomerAddRq", "CustomerQueryRq", "CustomerAddRq"]


async def test_a_name_held_by_someone_else_after_a_lost_add_is_answered_as_name_in_use(temporal_client):
    quickbooks = ScriptedQuickBooks(
        {
            "CustomerAddRq": [_uncertain],
            "CustomerQueryRq": [_answer("CustomerQueryRq", _customer_rs("Taken Ltd", None))],
        }
    )
    code, _ = await _run(temporal_client, quickbooks, AddOneCustomer, "Taken Ltd")
    assert code == 3100, "the caller tries its next name, as after a real 3100"
    assert quickbooks.seen == ["CustomerAddRq", "CustomerQueryRq"]


async def test_a_lost_mod_is_re_read_and_not_sent_again_once_the_change_is_there(temporal_client):
    with_phone = _customer_rs("Mod Ltd", None, edit_sequence="2").replace(
        "</FullName>", "</FullName><Phone>555-0100</Phone>"
    )
    quickbooks = ScriptedQuickBooks(
        {
            "CustomerQueryRq": [
                _answer("CustomerQueryRq", _customer_rs("Mod Ltd", None)),
                _answer("CustomerQueryRq", with_phone),
            ],
            "CustomerModRq": [_uncertain],
        }
    )
    assert await _run(temporal_client, quickbooks, ModifyOneCustomer, "555-0100") == 0
    assert quickbooks.seen == ["CustomerQueryRq", "CustomerModRq", "CustomerQueryRq"]
