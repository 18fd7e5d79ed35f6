"""PaymentBackfillWorkflow: post the Stripe payments of a period that are not in QuickBooks yet.

It walks Stripe page by page (PaymentIntents created in the period, then charges made without one) and
signals, for each successful payment, the *same* workflow id a webhook would: ``payment/{company}/{id}``.
That is the whole trick against double posting: a payment already booked finds itself in the audit trail and
stops; one a webhook is working on right now just receives another signal; the rest are booked. Backfill
signals also make the payment workflow search QuickBooks (by ExternalGUID) before its first post, since a
payment from before ml-connector's time may have been entered by hand.

Start it from the CLI (``ml-connector backfill payments --since 2026-01-01``) or with the Temporal CLI — see
README "Backfill". Long periods continue-as-new every few pages with the cursor in the input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.payment_routing import RoutePayments, RoutingActivities
    from activities.stripe_side import ListPayments, StripeActivities
    from ml_connector.payments.model import PaymentSignal
    from workflows.policies import STRIPE_CALL, STRIPE_RETRY_BOUNDED

PAGES_PER_RUN = 20
PHASES = ("payment_intents", "charges")


@dataclass(frozen=True)
class BackfillInput:
    """``since``/``until`` are epoch seconds (until exclusive; None = up to now)."""

    since: int
    until: int | None = None
    company_id: str | None = None  # only this company's payments; None: every company
    phase: str = "payment_intents"
    cursor: str | None = None
    routed: int = 0


@workflow.defn(name="PaymentBackfillWorkflow")
class PaymentBackfillWorkflow:
    @workflow.run
    async def run(self, inp: BackfillInput) -> int:
        state = inp
        for _ in range(PAGES_PER_RUN):
            page = await workflow.execute_activity_method(
                StripeActivities.list_payments,
                ListPayments(state.since, state.until, state.phase, state.cursor),
                start_to_close_timeout=STRIPE_CALL,
                retry_policy=STRIPE_RETRY_BOUNDED,
            )
            targets = [
                found
                for found in page.payments
                if state.company_id is None or found.company_id in (state.company_id, "unresolved")
            ]
            if targets:
                await workflow.execute_activity_method(
                    RoutingActivities.route_payments,
                    RoutePayments(targets, PaymentSignal("", "", "backfill")),
                    start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                )
            state = replace(state, cursor=page.next_cursor, routed=state.routed + len(targets))
            if page.next_cursor is None:
                following = PHASES.index(state.phase) + 1
                if following >= len(PHASES):
                    return state.routed
                state = replace(state, phase=PHASES[following], cursor=None)
        workflow.continue_as_new(state)
