"""One invoice reader per company: many payment workflows' invoice reads become one InvoiceQuery.

Why a workflow of its own: every payment must re-read its invoice right before posting (current balance and
EditSequence), and a thousand payments each sending their own InvoiceQuery would double the qbXML traffic
and the Web Connector round trips. Payment workflows instead signal their need here (through
signal-with-start, so the reader starts on first use). The reader keeps at most one read in flight: whatever
needs arrive while QuickBooks answers the current read travel together in the next one, so the batch grows
with the load by itself — one request for one waiting payment, one request for five hundred.

The reads are pipelined with the posts they unlock. The moment a read comes back, the next read (for the needs
that arrived meanwhile) is queued, *before* the answers are handed out: the payments just answered take a
moment to queue their ReceivePaymentAdd, and by then the next read already waits in the queue, so the Web
Connector's next document carries both (the adds of one wave and the read of the next) instead of
alternating between a document of reads and a document of the adds they unlock. Answering runs beside the
next read; only the very first read of a burst waits a moment for the burst to gather.

Each answer goes back by signal to the workflow that asked, paired by token. A reader that has been idle for a
while finishes; its history is renewed by continue-as-new (kept short, because a reader evicted from the
worker's cache replays all of it), carrying needs not yet served.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.invoice_reading import InvoiceReadingActivities, ReadInvoices
    from ml_connector.payments.model import (
        ANSWER_SIGNAL,
        NEED_SIGNAL,
        InvoiceAnswer,
        InvoiceNeed,
        InvoiceSnapshot,
        ReaderInput,
    )
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.errors import StatusClass, classify
    from ml_connector.qbxml.invoices import invoice_query
    from workflows import qb
    from workflows.policies import DB_RETRY, QB_ATTEMPT

IDLE_FINISH = timedelta(minutes=10)
GATHER = timedelta(milliseconds=300)  # let a burst of needs arrive before the first read
MAX_IDS_PER_QUERY = 500
HISTORY_LIMIT = 3000


@workflow.defn(name="InvoiceReaderWorkflow")
class InvoiceReaderWorkflow:
    def __init__(self) -> None:
        self._needs: list[InvoiceNeed] = []

    @workflow.signal(name=NEED_SIGNAL)
    def need(self, need: InvoiceNeed) -> None:
        self._needs.append(need)

    @workflow.run
    async def run(self, inp: ReaderInput) -> int:
        self._needs = [*inp.carried, *self._needs]
        served = 0
        answering: list[asyncio.Task[None]] = []
        gathered = False  # needs arrived while the previous read was in flight: the batch has formed already
        while True:
            try:
                await workflow.wait_condition(lambda: bool(self._needs), timeout=IDLE_FINISH)
            except TimeoutError:
                if not self._needs:
                    await asyncio.gather(*answering)
                    return served
            if not gathered:
                await workflow.sleep(GATHER)
            batch, self._needs = self._needs, []
            results = await self._read(inp, batch)
            gathered = bool(self._needs)
            # Queue the next read first (next loop turn, same workflow task); answer this one beside it.
            answering = [t for t in answering if not t.done()]
            answering.append(asyncio.create_task(self._answer(inp, batch, results)))
            served += len(batch)
            if workflow.info().get_current_history_length() > HISTORY_LIMIT:
                await asyncio.gather(*answering)
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(ReaderInput(inp.company_id, inp.home_currency, self._needs))

    async def _read(self, inp: ReaderInput, batch: list[InvoiceNeed]) -> list[QbRunResult]:
        """One InvoiceQuery per 500 ids of each kind: every waiting payment's invoice in one request."""
        txn_ids = sorted({t for n in batch for t in n.txn_ids})
        refs = sorted({r for n in batch for r in n.ref_numbers})
        customers = sorted({c for n in batch for c in n.customer_ids})
        queries: list[str] = []
        for start in range(0, len(txn_ids), MAX_IDS_PER_QUERY):
            queries.append(invoice_query(txn_ids=txn_ids[start : start + MAX_IDS_PER_QUERY]))
        for start in range(0, len(refs), MAX_IDS_PER_QUERY):
            queries.append(invoice_query(ref_numbers=refs[start : start + MAX_IDS_PER_QUERY]))
        for start in range(0, len(customers), MAX_IDS_PER_QUERY):
            queries.append(
                invoice_query(
                    customer_list_ids=customers[start : start + MAX_IDS_PER_QUERY], paid_status="NotPaidOnly"
                )
            )
        return list(await asyncio.gather(*(qb.run(inp.company_id, q, attempt=QB_ATTEMPT) for q in queries)))

    async def _answer(self, inp: ReaderInput, batch: list[InvoiceNeed], results: list[QbRunResult]) -> None:
        """Reduce the answers to snapshots and signal each waiting payment workflow its invoices."""
        errors = [
            f"InvoiceQuery failed: {r.status_code} {r.status_message}"
            for r in results
            if classify(r.status_code).is_error and classify(r.status_code) is not StatusClass.NOT_FOUND
        ]
        invoices: list[InvoiceSnapshot] = []
        readable = [r.request_id for r in results if not classify(r.status_code).is_error]
        if readable:
            invoices = await workflow.execute_activity_method(
                InvoiceReadingActivities.read_invoices,
                ReadInvoices(readable, inp.home_currency),
                # Parsing every stored page of the batch, then forgetting them: longer than one database step.
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=DB_RETRY,
            )
        by_txn = {i.txn_id: i for i in invoices}
        by_ref: dict[str, list[InvoiceSnapshot]] = {}
        by_customer: dict[str, list[InvoiceSnapshot]] = {}
        for invoice in invoices:
            by_ref.setdefault(invoice.ref_number.casefold(), []).append(invoice)
            if not invoice.is_paid:
                by_customer.setdefault(invoice.customer_list_id, []).append(invoice)
        error = "; ".join(errors)

        async def answer(need: InvoiceNeed) -> None:
            found: dict[str, InvoiceSnapshot] = {}
            for txn_id in need.txn_ids:
                if txn_id in by_txn:
                    found[txn_id] = by_txn[txn_id]
            for ref in need.ref_numbers:
                for invoice in by_ref.get(ref.casefold(), []):
                    found[invoice.txn_id] = invoice
            for customer in need.customer_ids:
                for invoice in by_customer.get(customer, []):
                    found[invoice.txn_id] = invoice
            handle = workflow.get_external_workflow_handle(need.requester)
            try:
                await handle.signal(ANSWER_SIGNAL, InvoiceAnswer(need.token, list(found.values()), error))
            except Exception as exc:  # noqa: BLE001 - the requester finished meanwhile; nobody is waiting
                workflow.logger.info("invoice answer for %s not delivered: %s", need.requester, exc)

        await asyncio.gather(*(answer(n) for n in batch))
