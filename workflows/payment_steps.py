"""What every part of a PaymentWorkflow run shares: its state, its short calls to the world, and :class:`Hold`.

The booking story (``workflows/payment.py``) and the hand-over of misrouted runs (``workflows/payment_routing.py``)
both read Stripe, write the audit trail, show a status and wait for a person; they do it through
:class:`PaymentSteps`, the workflow's base class, so each call is spelled once with its timeout and retry policy.

A payment that cannot be booked now raises :class:`Hold` wherever the run finds out. The run catches it in one
place (:meth:`PaymentSteps.wait_out`): the hold is audited there, its status shown in the Web UI, and the
workflow waits for a ``retry`` signal. The audit rows, status strings and search attributes are those the
workflow always wrote; only where they are written moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities, AuditRecord
    from activities.stripe_side import FetchPayment, StripeActivities
    from ml_connector.payments.model import InvoiceAnswer, PaymentInput, StripePayment
    from ml_connector.payments.trail import Action, Outcome, PaymentStatus
    from ml_connector.stripe.money import to_decimal
    from ml_connector.temporal import PAYMENT_STATUS, QB_TXN_ID
    from workflows.policies import DB_RETRY, DB_TIMEOUT, STRIPE_CALL, STRIPE_RETRY_BOUNDED


class Hold(Exception):
    """The payment cannot be booked now: audit ``action`` with ``reason`` (unless ``action`` is None: the
    trail says why already), show ``status`` (held: a person must act; failed: something broke) and wait."""

    def __init__(
        self,
        status: PaymentStatus,
        action: Action | None,
        reason: str,
        payment: StripePayment | None = None,
        *,
        qb_list_id: str = "",
        stripe_customer_id: str = "",
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.action = action
        self.reason = reason
        self.payment = payment  # the payment the audit row describes (amount, customer, ids)
        self.qb_list_id = qb_list_id
        self.stripe_customer_id = stripe_customer_id

    @property
    def outcome(self) -> Outcome:
        return Outcome.HELD if self.status is PaymentStatus.HELD else Outcome.FAILED


class PaymentSteps:
    """The payment workflow's state (filled by its signals) and the calls every part of a run makes."""

    def __init__(self) -> None:
        self._events: list[str] = []  # Stripe event ids seen, latest last (audited with each row)
        self._retry = False
        self._verify_first = False
        self._answers: dict[str, InvoiceAnswer] = {}
        self._status: str = PaymentStatus.RECEIVED
        self._inp = PaymentInput("", "", "")
        self._local_steps = True

    @property
    def latest_event(self) -> str:
        """The id of the last Stripe event that reached this run ("" for none)."""
        return self._events[-1] if self._events else ""

    async def step(self, step: Callable[..., Any], arg: Any) -> Any:
        """A short database step: config, history, links, audit rows, the reader's doorbell.

        Run as a local activity: the worker runs it inside the current workflow task, so these steps cost no
        activity task, no server round trip and no workflow task each. That is what lets one worker keep up
        with webhooks arriving by the dozen per second (bench/payments_throughput.py). Stripe and QuickBooks
        calls stay ordinary activities: they wait on the outside world, and a workflow task held open for
        seconds by a slow call risks timing out under load and being thrown away (measured: with the Stripe
        calls local, hundreds of workflow tasks stayed open over 5 s). Runs that started before this change
        replay the ordinary activities their history holds (``LOCAL_STEPS`` in workflows/payment.py).
        """
        if self._local_steps:
            return await workflow.execute_local_activity(
                step, arg, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
            )
        return await workflow.execute_activity(
            step, arg, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
        )

    async def stripe(self, call: Callable[..., Any], arg: Any) -> Any:
        """A Stripe read or write, retried through Stripe's bad minutes (20 attempts, backing off to 5 min)."""
        return await workflow.execute_activity_method(
            call, arg, start_to_close_timeout=STRIPE_CALL, retry_policy=STRIPE_RETRY_BOUNDED
        )

    async def fetch(self, inp: PaymentInput) -> StripePayment | None:
        """The payment as Stripe shows it now (None: Stripe has no such payment)."""
        try:
            payment: StripePayment | None = await self.stripe(
                StripeActivities.fetch_payment, FetchPayment(inp.company_id, inp.key, inp.key_kind)
            )
        except ActivityError as exc:
            raise Hold(PaymentStatus.FAILED, Action.STRIPE_UNREACHABLE, cause(exc)) from exc
        return payment

    def set_status(self, status: PaymentStatus, txn_id: str | None = None) -> None:
        self._status = status
        updates: list[Any] = [PAYMENT_STATUS.value_set(status)]
        if txn_id:
            updates.append(QB_TXN_ID.value_set(txn_id))
        workflow.upsert_search_attributes(updates)

    async def wait_out(self, hold: Hold) -> None:
        """The one place a hold is audited and shown; returns once a person (or a replay) asks for a retry."""
        if hold.action is not None:
            await self.audit(
                hold.action,
                hold.outcome,
                hold.payment,
                qb_list_id=hold.qb_list_id,
                stripe_customer_id=hold.stripe_customer_id,
                error=hold.reason,
            )
        self.set_status(hold.status)
        self._retry = False
        await workflow.wait_condition(lambda: self._retry)

    async def audit(
        self,
        action: Action,
        outcome: Outcome,
        payment: StripePayment | None = None,
        *,
        qb_list_id: str = "",
        qb_txn_id: str = "",
        stripe_customer_id: str = "",
        error: str = "",
        detail: str = "",
    ) -> None:
        amount = ""
        currency = ""
        if payment is not None and payment.currency:
            currency = payment.currency
            amount = str(to_decimal(payment.amount, payment.currency))
        await self.step(
            AuditActivities.record,
            AuditRecord(
                company_id=self._inp.company_id,
                action=action,
                outcome=outcome,
                stripe_event_id=self.latest_event,
                stripe_object_id=self._inp.key,
                stripe_customer_id=stripe_customer_id or (payment.customer_id if payment else None) or "",
                qb_list_id=qb_list_id,
                qb_txn_id=qb_txn_id,
                amount=amount,
                currency=currency,
                workflow_id=workflow.info().workflow_id,
                error=error,
                detail=_with_ids(detail, payment),
            ),
        )


def cause(exc: BaseException) -> str:
    """The innermost reason an activity failed, in its own words."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__


def _with_ids(detail: str, payment: StripePayment | None) -> str:
    if payment is None:
        return detail
    ids = [i for i in (payment.charge_id, payment.invoice_id) if i and i != payment.payment_id]
    return f"{detail} [{', '.join(ids)}]" if ids else detail
