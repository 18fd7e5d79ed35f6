"""The company's invoice reader: one read in flight, and the next read queued as soon as the previous returns.

QuickBooks is stood in for by the two activities the reader calls (``qb_run`` and ``invoices_read``), so the
test controls when a read "comes back" and can see what the reader does while the answers of one read are
still being handed out: the payments waiting for the next read must not wait for that.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.invoice_reading import ReadInvoices
from ml_connector.payments.model import (
    ANSWER_SIGNAL,
    NEED_SIGNAL,
    InvoiceAnswer,
    InvoiceNeed,
    InvoiceSnapshot,
    ReaderInput,
)
from ml_connector.qbwc_server.requests import QbRunInput, QbRunResult
from ml_connector.qbxml.invoices import invoice_query
from workflows.invoice_reader import InvoiceReaderWorkflow


@workflow.defn(sandboxed=False)
class WaitingPayment:
    """Stands in for a payment workflow: waits for its invoice answer and returns the invoices it got."""

    def __init__(self) -> None:
        self.answer: InvoiceAnswer | None = None

    @workflow.signal(name=ANSWER_SIGNAL)
    def invoices(self, answer: InvoiceAnswer) -> None:
        self.answer = answer

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.answer is not None)
        assert self.answer is not None
        return [i.txn_id for i in self.answer.invoices]


@dataclass
class FakeQuickBooks:
    """The reader's two activities; records the order of what happened."""

    log: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    first_read_may_return: asyncio.Event = field(default_factory=asyncio.Event)
    second_read_queued: asyncio.Event = field(default_factory=asyncio.Event)
    read_queued: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name="qb_run")
    async def qb_run(self, run: QbRunInput) -> QbRunResult:
        self.reads.append(run.body)
        number = len(self.reads)
        self.log.append(f"read {number} queued")
        self.read_queued.set()
        if number == 1:
            await self.first_read_may_return.wait()
        else:
            self.second_read_queued.set()
        return QbRunResult(number, "InvoiceQueryRq", 0, "Info", "Status OK")

    @activity.defn(name="invoices_read")
    async def read_invoices(self, inp: ReadInvoices) -> list[InvoiceSnapshot]:
        (number,) = inp.request_ids
        if number == 1:
            # Handing out the first answers takes a while; see whether the next read waits for it.
            try:
                await asyncio.wait_for(self.second_read_queued.wait(), timeout=5)
            except TimeoutError:
                pass
        self.log.append(f"answers of read {number} ready")
        txn = "TXN-A" if number == 1 else "TXN-B"
        return [InvoiceSnapshot(txn, "CUST-1", txn, "2024-05-01", 10_000, "1", False)]


async def test_the_next_invoice_read_is_queued_before_the_previous_reads_answers_are_handed_out(
    temporal_client: Client,
) -> None:
    task_queue = f"reader-{uuid.uuid4().hex[:8]}"
    company = f"co-{uuid.uuid4().hex[:8]}"
    quickbooks = FakeQuickBooks()
    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=[InvoiceReaderWorkflow, WaitingPayment],
        activities=[quickbooks.qb_run, quickbooks.read_invoices],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        first = await temporal_client.start_workflow(
            WaitingPayment.run, id=f"pay-a-{company}", task_queue=task_queue
        )
        second = await temporal_client.start_workflow(
            WaitingPayment.run, id=f"pay-b-{company}", task_queue=task_queue
        )
        reader_id = f"invoice-reader/{company}/{task_queue}"
        await temporal_client.start_workflow(
            "InvoiceReaderWorkflow",
            ReaderInput(company),
            id=reader_id,
            task_queue=task_queue,
            start_signal=NEED_SIGNAL,
            start_signal_args=[InvoiceNeed(first.id, "token-a", ["TXN-A"])],
        )
        await asyncio.wait_for(quickbooks.read_queued.wait(), timeout=30)
        # Payment B asks while A's read is with QuickBooks: it travels in the next read.
        await temporal_client.get_workflow_handle(reader_id).signal(
            NEED_SIGNAL, InvoiceNeed(second.id, "token-b", ["TXN-B"])
        )
        quickbooks.first_read_may_return.set()

        assert await first.result(rpc_timeout=timedelta(seconds=30)) == ["TXN-A"]
        assert await second.result(rpc_timeout=timedelta(seconds=30)) == ["TXN-B"]

    assert quickbooks.reads == [invoice_query(txn_ids=["TXN-A"]), invoice_query(txn_ids=["TXN-B"])], (
        "one read per wave, each carrying the invoices of the payments that waited for it"
    )
    assert quickbooks.log[:3] == ["read 1 queued", "read 2 queued", "answers of read 1 ready"], (
        "B's read went to QuickBooks' queue before A's answers were handed out, so A's post and B's read "
        f"can share the next Web Connector document: {quickbooks.log}"
    )
