"""Runs of PaymentWorkflow that book nothing: they find the payment's owning workflow and hand over to it.

Two kinds of event start a payment workflow under a key that is not the payment's own: an invoice event that
names no payment (keyed by the invoice: its PaymentIntents are looked up in Stripe) and, with several
companies, a payment whose company neither ``qb_company`` metadata nor anything on the request path could tell
(company :data:`~ml_connector.payments.companies.UNRESOLVED`: the customer link decides, once a person has
linked the customer). Either way the payment is signalled under ``payment/{company}/{pi_…}``, where the
booking story runs, so whichever event arrives first, each payment is booked by exactly one workflow.

Plain functions over the workflow's :class:`~workflows.payment_steps.PaymentSteps`: they run inside the
PaymentWorkflow and issue the very commands they always did, so recorded histories replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities
    from activities.payment_routing import RoutePayments, RoutingActivities
    from activities.stripe_side import StripeActivities
    from ml_connector.payments.companies import UNRESOLVED
    from ml_connector.payments.model import PaymentInput, PaymentSignal
    from ml_connector.payments.trail import Action, Outcome, PaymentStatus
    from workflows.payment_steps import Hold, PaymentSteps
    from workflows.policies import DB_RETRY

ROUTE_TIMEOUT = timedelta(minutes=1)


def needs_routing(inp: PaymentInput) -> bool:
    """Keyed by an invoice, or by a payment whose company is not known yet."""
    return inp.key_kind == "invoice" or inp.company_id == UNRESOLVED


async def hand_over(wf: PaymentSteps, inp: PaymentInput) -> PaymentStatus:
    """Route the payment(s) to the workflow(s) that own them; ``handed_over`` (``skipped``: no payment)."""
    keys: list[tuple[str, str]] = [(inp.key, inp.key_kind)]
    if inp.key_kind == "invoice":
        pis: list[str] = await wf.stripe(StripeActivities.invoice_payments, inp.key)
        keys = [(pi, "payment_intent") for pi in pis]
        if not keys:
            await wf.audit(
                Action.IGNORED,
                Outcome.SKIPPED,
                detail=f"invoice {inp.key} was not paid through a Stripe PaymentIntent",
            )
            return PaymentStatus.SKIPPED
    company = inp.company_id
    while company == UNRESOLVED:
        try:
            company = await _company_of(wf, inp, keys[0])
        except Hold as hold:
            await wf.wait_out(hold)  # a person links the customer, then replays: look again
    targets = [
        PaymentInput(company, key, kind, inp.customer_id, inp.invoice_id if kind != "invoice" else inp.key)
        for key, kind in keys
    ]
    await workflow.execute_activity_method(
        RoutingActivities.route_payments,
        RoutePayments(targets, PaymentSignal(wf.latest_event, "", "handover")),
        start_to_close_timeout=ROUTE_TIMEOUT,
        retry_policy=DB_RETRY,
    )
    wf.set_status(PaymentStatus.HANDED_OVER)
    return PaymentStatus.HANDED_OVER


async def _company_of(wf: PaymentSteps, inp: PaymentInput, key: tuple[str, str]) -> str:
    """The company whose customer link names the payment's Stripe customer; held while there is none."""
    customer = inp.customer_id
    if customer is None:
        payment = await wf.fetch(PaymentInput(inp.company_id, key[0], key[1]))
        customer = payment.customer_id if payment else None
    company: str | None = None
    if customer:
        company = await wf.step(AuditActivities.company_of_customer, customer)
    if company:
        return company
    raise Hold(
        PaymentStatus.HELD,
        Action.HELD,
        "several companies are configured and neither qb_company metadata nor a customer link says "
        "which one this payment belongs to; link the customer, then replay",
        stripe_customer_id=customer or "",
    )
