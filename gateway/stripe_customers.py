"""Handing a verified ``customer.*`` webhook to its workflow: signal-with-start ``stripe-customer/{company}/{cus}``.

Called by the webhook route (``gateway/stripe_webhook.py``) after the event is stored. The event carries no
work, only a nudge: the workflow re-fetches the customer, so redeliveries and out-of-order events are harmless.

Which company file receives a customer born in Stripe: the one its metadata names (``qb_company``), else the
first configured company — with several company files, set ``qb_company`` on customers created elsewhere
to send them to another file.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from ml_connector.config import Settings
from ml_connector.stripe.events import Route
from ml_connector.temporal import COMPANY_ID, STRIPE_CUSTOMER_ID
from workflows.stripe_customer import StripeCustomerWorkflow, StripeCustomerWorkflowInput, workflow_id


def customer_company(settings: Settings, suggested: str | None) -> str:
    configured = [c.id for c in settings.companies]
    if suggested in configured:
        return str(suggested)
    if not configured:
        raise ValueError("no company file is configured")
    return configured[0]


async def start_customer_workflow(
    client: Client, settings: Settings, route: Route, event_id: str, *, company_id: str | None = None
) -> str:
    """Signal (starting it if needed) the customer's workflow; returns its workflow id."""
    company = customer_company(settings, company_id)
    customer_id = route.customer_id or route.object_id
    wid = workflow_id(company, customer_id)
    await client.start_workflow(
        StripeCustomerWorkflow.run,
        StripeCustomerWorkflowInput(company, customer_id),
        id=wid,
        task_queue=settings.task_queue,
        start_signal="stripe_event",
        start_signal_args=[event_id],
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(COMPANY_ID, company), SearchAttributePair(STRIPE_CUSTOMER_ID, customer_id)]
        ),
    )
    return wid
