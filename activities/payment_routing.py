"""Starting or signalling payment workflows from other workflows (a workflow cannot signal-with-start).

Used by the invoice-keyed and unresolved-company runs of PaymentWorkflow to hand a payment over to the
workflow that owns it, by the backfill to feed payments through the very same workflow ids the webhooks use
(so nothing is posted twice), and by payment workflows to reach their company's invoice reader, which is
started on first use. All of it is signal-with-start, which is idempotent enough to retry: a second signal is
deduplicated by the receiving workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from ml_connector.payments.model import (
    EVENT_SIGNAL,
    INVOICE_READER_WORKFLOW,
    NEED_SIGNAL,
    PAYMENT_WORKFLOW,
    InvoiceNeed,
    PaymentInput,
    PaymentSignal,
    ReaderInput,
    reader_workflow_id,
)
from ml_connector.stripe.events import payment_workflow_id
from ml_connector.temporal import COMPANY_ID, STRIPE_CUSTOMER_ID, STRIPE_PAYMENT_ID


@dataclass(frozen=True)
class RoutePayments:
    payments: list[PaymentInput]
    signal: PaymentSignal = field(default_factory=PaymentSignal)


@dataclass(frozen=True)
class NeedInvoices:
    company_id: str
    need: InvoiceNeed


def payment_search_attributes(inp: PaymentInput) -> TypedSearchAttributes:
    pairs = [SearchAttributePair(COMPANY_ID, inp.company_id), SearchAttributePair(STRIPE_PAYMENT_ID, inp.key)]
    if inp.customer_id:
        pairs.append(SearchAttributePair(STRIPE_CUSTOMER_ID, inp.customer_id))
    return TypedSearchAttributes(pairs)


async def signal_payment(client: Client, task_queue: str, inp: PaymentInput, signal: PaymentSignal) -> str:
    """Signal the payment's workflow, starting it (again) if it is not running. Returns its id."""
    workflow_id = payment_workflow_id(inp.company_id, inp.key)
    await client.start_workflow(
        PAYMENT_WORKFLOW,
        inp,
        id=workflow_id,
        task_queue=task_queue,
        start_signal=EVENT_SIGNAL,
        start_signal_args=[signal],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=payment_search_attributes(inp),
    )
    return workflow_id


READER_TASK_TIMEOUT = timedelta(minutes=1)


class RoutingActivities:
    def __init__(self, client: Client, home_currency: str = "usd") -> None:
        self.client = client
        self.home_currency = home_currency

    @activity.defn(name="payments_route")
    async def route_payments(self, inp: RoutePayments) -> list[str]:
        task_queue = activity.info().task_queue
        return [await signal_payment(self.client, task_queue, p, inp.signal) for p in inp.payments]

    @activity.defn(name="invoices_request")
    async def request_invoices(self, inp: NeedInvoices) -> None:
        task_queue = activity.info().task_queue
        await self.client.start_workflow(
            INVOICE_READER_WORKFLOW,
            ReaderInput(inp.company_id, self.home_currency),
            id=reader_workflow_id(inp.company_id, task_queue),
            task_queue=task_queue,
            start_signal=NEED_SIGNAL,
            start_signal_args=[inp.need],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, inp.company_id)]),
            # Every waiting payment of the company depends on this one workflow. Under a burst its task may
            # wait for a free slot on a busy worker; the default 10 s would time it out, throw its work away
            # and stall every payment behind it for another round.
            task_timeout=READER_TASK_TIMEOUT,
        )
