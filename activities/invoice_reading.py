"""Reading InvoiceQuery answers out of the queue's storage, reduced to what payment matching needs.

An answer for a hundred invoices is too big to carry through workflow history as XML, so the reader
workflow passes request ids and this activity returns compact :class:`InvoiceSnapshot` values, then drops the
stored pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from ml_connector.payments.model import InvoiceSnapshot
from ml_connector.payments.posting import snapshot
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbxml.invoices import parse_invoices


@dataclass(frozen=True)
class ReadInvoices:
    request_ids: list[int]
    currency: str


class InvoiceReadingActivities:
    def __init__(self, queue: RequestQueue) -> None:
        self.queue = queue

    @activity.defn(name="invoices_read")
    def read_invoices(self, inp: ReadInvoices) -> list[InvoiceSnapshot]:
        seen: dict[str, InvoiceSnapshot] = {}
        for request_id in inp.request_ids:
            for page in self.queue.pages(request_id):
                for invoice in parse_invoices(page):
                    seen[invoice.txn_id] = snapshot(invoice, inp.currency)
            self.queue.forget_pages(request_id)
        return list(seen.values())
