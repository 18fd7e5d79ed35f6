"""PaymentWorkflow: one workflow per Stripe payment, which books it into QuickBooks exactly once.

Every webhook about the payment (``payment_intent.succeeded``, ``charge.succeeded``, ``invoice.paid`` …, each
possibly delivered several times and in any order), a backfill that finds it, and a person replaying it all
signal-with-start the same workflow id ``payment/{company}/{pi_… or ch_…}``. The story of a run:

1. Read the audit trail: already in QuickBooks → done, without a single qbXML request. A posting attempt
   whose outcome was never recorded (or a backfill) makes the run *uncertain*.
2. Re-fetch the payment from Stripe and act only on what is true now: ``succeeded``, in the home currency
   (another currency only with QuickBooks multicurrency on, posted at Stripe's exchange rate).
3. Find the QuickBooks customer (stored link; created in QuickBooks when missing and allowed) and the
   invoice (Stripe invoice metadata → invoice link → payment metadata → configurable fallback), reading
   the invoice fresh through the company's invoice reader, which batches reads of all waiting payments.
4. Uncertain → a bounded ReceivePaymentQuery compared on ExternalGUID; found → done, nothing posted.
5. Write ``payment.posting``, then ReceivePaymentAdd under an idempotency key per attempt, so a retried
   activity finds its queued request instead of queueing it twice. A response lost on the way back is
   asked about with oldMessageSetID by the queue; when QuickBooks' answer does not settle it, the queue
   hands back *uncertain* (never re-sending the write itself) and the run goes back to step 4.
6. Check QuickBooks' answer against the plan (applied amount, invoice balance after) and audit it.

Anything that cannot be booked (no customer, hold policy, QuickBooks error) is audited and waits, visible in
the Web UI through search attributes, for a ``retry`` signal or ``ml-connector replay``. An invoice-keyed
run (an invoice event that names no payment) and an unresolved-company run (several companies, no
``qb_company`` metadata) only find the owning payment workflow and hand over to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.audit import (
        FOUND,
        POST_FAILED,
        POSTED,
        POSTING,
        UNAPPLIED,
        UNCERTAIN,
        AuditActivities,
        AuditRecord,
        HistoryQuery,
        LinkQuery,
        NewCustomerLink,
    )
    from activities.ledger import ChargeBooked, LedgerActivities
    from activities.payment_routing import NeedInvoices, RoutePayments, RoutingActivities
    from activities.stripe_side import (
        CustomerLinkedBack,
        FetchPayment,
        PaymentPostedBack,
        StripeActivities,
    )
    from ml_connector.config import PostingConfig
    from ml_connector.ledger.setup import needs_named_in, payment_needs
    from ml_connector.payments.companies import UNRESOLVED
    from ml_connector.payments.customers import new_customer_fields
    from ml_connector.payments.matching import (
        InvoiceChoice,
        InvoiceSource,
        choose_invoice,
        invoice_hint,
        invoice_need,
    )
    from ml_connector.payments.model import (
        ANSWER_SIGNAL,
        EVENT_SIGNAL,
        RETRY_SIGNAL,
        InvoiceAnswer,
        InvoiceNeed,
        InvoiceSnapshot,
        PaymentInput,
        PaymentSignal,
        StripePayment,
    )
    from ml_connector.payments.posting import (
        Plan,
        Posted,
        check_posted,
        currency_refusal,
        duplicate_search,
        find_existing,
        plan_payment,
        read_posted,
        receive_payment_add_for,
    )
    from ml_connector.qbxml.customers import parse_customers
    from ml_connector.qbxml.errors import StatusClass, classify
    from ml_connector.stripe.money import to_decimal
    from ml_connector.temporal import PAYMENT_STATUS, QB_TXN_ID, STRIPE_CUSTOMER_ID
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT, QB_ATTEMPT
    from workflows.qb_customers import add_customer
    from workflows.qb_setup import ensure_in_quickbooks, forget_in_quickbooks

DB = DB_TIMEOUT
STRIPE_TIMEOUT = timedelta(minutes=2)
STRIPE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5), maximum_attempts=20
)
WRITE_BACK_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)
ANSWER_WAIT = timedelta(hours=6)
# Patch marker: runs recorded before the database steps became local activities replay them as activities.
LOCAL_STEPS = "payment-db-steps-local"
MAX_AUTO_REPLANS = 2
MAX_NAME_ATTEMPTS = 3
# A foreign payment Stripe has not settled yet (no exchange rate) is looked at again after 10 s, 20 s, 40 s …
# up to hourly, for about a day; then it waits for a replay.
RATE_WAIT_FIRST = timedelta(seconds=10)
RATE_WAIT_MAX = timedelta(hours=1)
RATE_CHECKS = 32


class Status:
    POSTED = "posted"
    HELD = "held"
    FAILED = "failed"
    SKIPPED = "skipped"
    REFUSED = "refused"
    HANDED_OVER = "handed_over"


@dataclass
class _Attempt:
    """Where the current run stands; carried across retries of the same run."""

    attempts: int
    uncertain: bool
    done: bool = False
    status: str = ""
    lists_ensured: bool = False  # the payment method and deposit account were checked after a 3140


class _Wait(Exception):
    """The payment cannot be booked now; audited already; wait for a retry."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflow:
    def __init__(self) -> None:
        self._events: list[str] = []
        self._retry = False
        self._verify_first = False
        self._answers: dict[str, InvoiceAnswer] = {}
        self._status = "received"
        self._inp: PaymentInput | None = None
        self._local_steps = True

    # ---- messages ---------------------------------------------------------------------------------------

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, signal: PaymentSignal) -> None:
        if signal.event_id and signal.event_id in self._events:
            return
        if signal.event_id:
            self._events.append(signal.event_id)
        if signal.source == "backfill":
            self._verify_first = True
        if signal.source == "replay":
            self._retry = True

    @workflow.signal(name=RETRY_SIGNAL)
    def retry(self) -> None:
        self._retry = True

    @workflow.signal(name=ANSWER_SIGNAL)
    def invoices(self, answer: InvoiceAnswer) -> None:
        self._answers[answer.token] = answer

    @workflow.query(name="status")
    def status(self) -> str:
        return self._status

    # ---- the story --------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PaymentInput) -> str:
        self._inp = inp
        self._local_steps = workflow.patched(LOCAL_STEPS)
        if inp.key_kind == "invoice" or inp.company_id == UNRESOLVED:
            return await self._hand_over(inp)
        config: PostingConfig = await self._step(AuditActivities.payment_config, inp.company_id)
        history = await self._step(AuditActivities.payment_history, HistoryQuery(inp.company_id, inp.key))
        if history.posted_txn_id:
            self._set_status(Status.POSTED, history.posted_txn_id)
            return Status.POSTED
        state = _Attempt(history.attempts, history.uncertain or self._verify_first)
        while True:
            try:
                await self._book(inp, config, state)
            except _Wait as wait:
                self._set_status(wait.status)
                self._retry = False
                await workflow.wait_condition(lambda: self._retry)
                self._status = "retrying"
                if workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(inp)
                continue
            self._set_status(state.status)
            return state.status

    async def _book(self, inp: PaymentInput, config: PostingConfig, state: _Attempt) -> None:
        payment = await self._fetch(inp)
        if payment is None:
            await self._audit(
                inp, "payment.ignored", "skipped", detail="the payment does not exist in Stripe"
            )
            state.status = Status.SKIPPED
            return
        if payment.status != "succeeded":
            await self._audit(
                inp, "payment.ignored", "skipped", payment, detail=f"Stripe status is {payment.status!r}"
            )
            state.status = Status.SKIPPED
            return
        if payment.currency != config.home_currency:
            foreign = await self._with_exchange_rate(inp, config, payment)
            if foreign is None:
                state.status = Status.REFUSED
                return
            payment = foreign
        if payment.amount <= 0:
            await self._audit(inp, "payment.ignored", "skipped", payment, detail="nothing was received")
            state.status = Status.SKIPPED
            return
        if payment.customer_id:
            workflow.upsert_search_attributes([STRIPE_CUSTOMER_ID.value_set(payment.customer_id)])

        replans = 0
        while True:
            plan, choice = await self._plan(inp, config, payment)
            if state.uncertain and await self._already_in_quickbooks(
                inp, payment, plan, choice, config, state
            ):
                return
            settled = await self._post(inp, config, payment, plan, choice, state)
            if settled or replans >= MAX_AUTO_REPLANS:
                if not settled:
                    raise _Wait(Status.FAILED, "QuickBooks kept refusing the payment")
                return
            replans += 1

    async def _with_exchange_rate(
        self, inp: PaymentInput, config: PostingConfig, payment: StripePayment
    ) -> StripePayment | None:
        """A payment in another currency, carrying Stripe's exchange rate into the home currency; None: refused
        (audited with what to do). Multicurrency off, or settled by Stripe in a third currency: refused. Not
        settled yet (no balance transaction, so no rate): re-fetched after a growing pause; never guessed."""
        checks = 0
        while True:
            refusal = currency_refusal(payment, config.home_currency, multicurrency=config.multicurrency)
            if refusal:
                await self._audit(inp, "payment.refused", "refused", payment, error=refusal)
                return None
            if payment.exchange_rate:
                return payment
            theirs = payment.currency.upper()
            if checks >= RATE_CHECKS:
                error = (
                    f"Stripe still shows no exchange rate for this {theirs} payment; replay it once it does"
                )
                await self._audit(inp, "payment.exchange_rate_missing", "failed", payment, error=error)
                raise _Wait(Status.FAILED, error)
            if checks == 0:
                await self._audit(
                    inp,
                    "payment.awaiting_exchange_rate",
                    "pending",
                    payment,
                    detail=f"Stripe has not settled this {theirs} payment yet, so it has no exchange rate; "
                    "checking again shortly",
                )
            self._status = "awaiting exchange rate"
            await workflow.sleep(min(RATE_WAIT_FIRST * 2**checks, RATE_WAIT_MAX))
            checks += 1
            fresh = await self._fetch(inp)
            if fresh is None or fresh.status != payment.status or fresh.currency != payment.currency:
                error = "the payment changed in Stripe while waiting for its exchange rate; replay it"
                await self._audit(inp, "payment.exchange_rate_missing", "failed", payment, error=error)
                raise _Wait(Status.FAILED, error)
            payment = fresh

    # ---- steps --------------------------------------------------------------------------------------------

    async def _fetch(self, inp: PaymentInput) -> StripePayment | None:
        try:
            payment: StripePayment | None = await workflow.execute_activity_method(
                StripeActivities.fetch_payment,
                FetchPayment(inp.company_id, inp.key, inp.key_kind),
                start_to_close_timeout=STRIPE_TIMEOUT,
                retry_policy=STRIPE_RETRY,
            )
        except ActivityError as exc:
            await self._audit(inp, "payment.stripe_unreachable", "failed", error=_cause(exc))
            raise _Wait(Status.FAILED, "Stripe could not be read") from exc
        return payment

    async def _plan(
        self, inp: PaymentInput, config: PostingConfig, payment: StripePayment
    ) -> tuple[Plan, InvoiceChoice]:
        linked_txn = None
        if payment.invoice_id:
            linked_txn = await self._step(
                AuditActivities.invoice_link, LinkQuery(inp.company_id, payment.invoice_id)
            )
        hint = invoice_hint(payment, linked_txn)
        customer = await self._customer(inp, config, payment, required=hint is None or hint.txn_id is None)
        txn_ids, refs, customers = invoice_need(hint, customer, fallback=config.invoice_fallback)
        invoices: list[InvoiceSnapshot] = []
        if txn_ids or refs or customers:
            invoices = await self._read_invoices(inp, txn_ids, refs, customers, payment)
        choice = choose_invoice(payment, hint, customer, invoices, fallback=config.invoice_fallback)
        invoice = choice.invoice
        if invoice is not None and invoice.balance <= 0:
            choice = InvoiceChoice(None, InvoiceSource.NONE, f"invoice #{invoice.ref_number} is already paid")
            customer = customer or invoice.customer_list_id
            invoice = None
        if invoice is not None:
            customer = invoice.customer_list_id
        if invoice is None:
            if config.unmatched_policy == "hold":
                await self._audit(
                    inp,
                    "payment.held",
                    "held",
                    payment,
                    qb_list_id=customer or "",
                    error=f"no invoice to apply it to: {choice.reason}; held for a person (policy hold)",
                )
                raise _Wait(Status.HELD, choice.reason)
            if customer is None:
                customer = await self._customer(inp, config, payment, required=True)
        assert customer is not None
        return plan_payment(payment, customer, invoice), choice

    async def _customer(
        self, inp: PaymentInput, config: PostingConfig, payment: StripePayment, *, required: bool
    ) -> str | None:
        """The QuickBooks ListID of the payment's customer (created when missing and allowed)."""
        if payment.customer_id:
            found: str | None = await self._step(
                AuditActivities.customer_link, LinkQuery(inp.company_id, payment.customer_id)
            )
            if found or not required:
                return found
            if config.create_missing_customers:
                return await self._create_customer(inp, payment, payment.customer_id)
        if not required:
            return None
        reason = (
            "the payment has no Stripe customer"
            if not payment.customer_id
            else f"Stripe customer {payment.customer_id} is not linked to a QuickBooks customer "
            "(and MLC_CREATE_MISSING_CUSTOMERS is off)"
        )
        await self._audit(inp, "payment.held", "held", payment, error=reason + "; link it, then replay")
        raise _Wait(Status.HELD, reason)

    async def _create_customer(self, inp: PaymentInput, payment: StripePayment, customer_id: str) -> str:
        info = await workflow.execute_activity_method(
            StripeActivities.customer,
            customer_id,
            start_to_close_timeout=STRIPE_TIMEOUT,
            retry_policy=STRIPE_RETRY,
        )
        last = ""
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            fields = new_customer_fields(customer_id, info.name, info.email, attempt)
            result = await add_customer(
                inp.company_id,
                fields,
                idem_key=f"customer-add/{inp.company_id}/{customer_id}/{attempt}",
                attempt=QB_ATTEMPT,
            )
            status = classify(result.status_code)
            if status is StatusClass.NAME_IN_USE:
                last = result.status_message
                continue
            created = parse_customers(result.response or "") if not status.is_error else []
            if not created:
                await self._audit(
                    inp,
                    "customer.create_failed",
                    "failed",
                    payment,
                    error=f"CustomerAdd failed: {result.status_code} {result.status_message}",
                )
                raise _Wait(Status.FAILED, "the QuickBooks customer could not be created")
            customer = created[0]
            await self._step(
                AuditActivities.save_customer_link,
                NewCustomerLink(
                    inp.company_id,
                    customer.list_id,
                    customer_id,
                    customer.full_name or "",
                    customer.edit_sequence,
                ),
            )
            await workflow.execute_activity_method(
                StripeActivities.link_customer_back,
                CustomerLinkedBack(customer_id, inp.company_id, customer.list_id),
                start_to_close_timeout=STRIPE_TIMEOUT,
                retry_policy=STRIPE_RETRY,
            )
            await self._audit(
                inp,
                "customer.created",
                "ok",
                payment,
                qb_list_id=customer.list_id,
                detail=f"QuickBooks customer {customer.full_name!r} created for Stripe customer {customer_id}",
            )
            return customer.list_id
        await self._audit(
            inp,
            "customer.create_failed",
            "failed",
            payment,
            error=f"every name tried is in use in QuickBooks: {last}",
        )
        raise _Wait(Status.FAILED, "the QuickBooks customer name is in use")

    async def _read_invoices(
        self,
        inp: PaymentInput,
        txn_ids: list[str],
        refs: list[str],
        customers: list[str],
        payment: StripePayment,
    ) -> list[InvoiceSnapshot]:
        """Fresh invoices through the company's reader (batched with every other waiting payment)."""
        while True:
            token = str(workflow.uuid4())
            need = InvoiceNeed(workflow.info().workflow_id, token, txn_ids, refs, customers)
            await self._step(RoutingActivities.request_invoices, NeedInvoices(inp.company_id, need))
            self._status = "reading invoice"
            try:
                await workflow.wait_condition(_has(self._answers, token), timeout=ANSWER_WAIT)
            except TimeoutError:
                continue  # ask again; a late answer to the old token is ignored
            answer = self._answers.pop(token)
            if answer.error:
                await self._audit(inp, "payment.invoice_read_failed", "failed", payment, error=answer.error)
                raise _Wait(Status.FAILED, answer.error)
            return answer.invoices

    async def _already_in_quickbooks(
        self,
        inp: PaymentInput,
        payment: StripePayment,
        plan: Plan,
        choice: InvoiceChoice,
        config: PostingConfig,
        state: _Attempt,
    ) -> bool:
        """After an uncertain attempt: is the payment in QuickBooks already? Compared on ExternalGUID."""
        result = await qb.run(inp.company_id, duplicate_search(plan), attempt=QB_ATTEMPT)
        if classify(result.status_code).is_error:
            await self._audit(
                inp,
                "payment.duplicate_check_failed",
                "failed",
                payment,
                error=f"ReceivePaymentQuery failed: {result.status_code} {result.status_message}",
            )
            raise _Wait(Status.FAILED, "could not check QuickBooks for an earlier posting")
        existing = find_existing(result.response or "", plan.external_guid, config.home_currency)
        state.uncertain = False
        if existing is None:
            return False
        await self._audit(
            inp,
            FOUND,
            "ok",
            payment,
            qb_list_id=plan.customer_list_id,
            qb_txn_id=existing.txn_id,
            detail="an earlier attempt had posted it (found by ExternalGUID); not posted again",
        )
        await self._posted(inp, payment, existing, plan, choice, config)
        state.done, state.status = True, Status.POSTED
        return True

    async def _post(
        self,
        inp: PaymentInput,
        config: PostingConfig,
        payment: StripePayment,
        plan: Plan,
        choice: InvoiceChoice,
        state: _Attempt,
    ) -> bool:
        """Send the ReceivePaymentAdd. True when the payment's fate is settled (posted or waiting)."""
        state.attempts += 1
        described = _describe(plan, choice, payment.currency)
        await self._audit(
            inp,
            POSTING,
            "pending",
            payment,
            qb_list_id=plan.customer_list_id,
            detail=f"attempt {state.attempts}: {described}",
        )
        self._status = "posting"
        body = receive_payment_add_for(
            plan,
            payment.currency,
            payment_method=config.payment_method,
            deposit_account=config.deposit_account,
            exchange_rate=payment.exchange_rate if payment.currency != config.home_currency else "",
        )
        try:
            result = await qb.run(
                inp.company_id,
                body,
                idem_key=f"receive-payment/{inp.company_id}/{inp.key}/{state.attempts}",
                attempt=QB_ATTEMPT,
            )
        except ActivityError as exc:
            state.uncertain = True
            if qb.is_uncertain(exc):
                # The answer was lost and QuickBooks could not tell what ran: never post blind. The next
                # round searches QuickBooks by ExternalGUID first and posts only if the payment is not there.
                await self._audit(
                    inp,
                    UNCERTAIN,
                    "pending",
                    payment,
                    error=_cause(exc),
                    detail=f"attempt {state.attempts}: checking QuickBooks before posting again",
                )
                return False
            await self._audit(inp, "payment.failed", "failed", payment, error=_cause(exc))
            raise _Wait(Status.FAILED, "QuickBooks did not take the payment") from exc
        status = classify(result.status_code)
        if status.is_error:
            error = f"ReceivePaymentAdd refused: {result.status_code} {result.status_message}"
            await self._audit(
                inp,
                POST_FAILED,
                "failed",
                payment,
                qb_list_id=plan.customer_list_id,
                error=error,
                detail=f"attempt {state.attempts}",
            )
            if status in (StatusClass.INVALID_VALUE, StatusClass.NOT_FOUND):
                return False  # the invoice changed under us: read it again and re-plan
            if status is StatusClass.BAD_REFERENCE and not state.lists_ensured:
                await self._ensure_lists(inp, config, payment, result.status_message, state)
                return False  # the payment method / deposit account exists now: post again
            raise _Wait(Status.FAILED, error)
        posted = read_posted(result.response or "", payment.currency)
        if posted is None:
            state.uncertain = True
            await self._audit(
                inp, "payment.failed", "failed", payment, error="QuickBooks returned no payment"
            )
            raise _Wait(Status.FAILED, "QuickBooks returned no payment")
        action = POSTED if plan.invoice_txn_id else UNAPPLIED
        await self._audit(
            inp,
            action,
            "ok",
            payment,
            qb_list_id=plan.customer_list_id,
            qb_txn_id=posted.txn_id,
            detail=described,
        )
        problems = check_posted(plan, posted)
        if problems:
            await self._audit(
                inp,
                "payment.balance_check",
                "failed",
                payment,
                qb_txn_id=posted.txn_id,
                error="posted, but QuickBooks disagrees with the plan: " + "; ".join(problems),
            )
        await self._posted(inp, payment, posted, plan, choice, config)
        state.done, state.status = True, Status.POSTED
        return True

    async def _ensure_lists(
        self, inp: PaymentInput, config: PostingConfig, payment: StripePayment, message: str, state: _Attempt
    ) -> None:
        """QuickBooks lacks the payment method or deposit account we name (3140): create ours, once.

        Checked only after such a refusal, so the happy path costs nothing; the names are then remembered
        for every later payment (``qb_list_entry``)."""
        state.lists_ensured = True
        needs = payment_needs(
            config.payment_method, config.deposit_account, clearing=bool(config.clearing_account)
        )
        await forget_in_quickbooks(inp.company_id, needs_named_in(message, needs) or needs)
        problems = await ensure_in_quickbooks(inp.company_id, needs)
        if problems:
            await self._audit(inp, "payment.setup_failed", "failed", payment, error="; ".join(problems))
            raise _Wait(Status.FAILED, "; ".join(problems))

    async def _posted(
        self,
        inp: PaymentInput,
        payment: StripePayment,
        posted: Posted,
        plan: Plan,
        choice: InvoiceChoice,
        config: PostingConfig,
    ) -> None:
        txn_id = posted.txn_id
        self._set_status(Status.POSTED, txn_id)
        if payment.charge_id:
            # Refunds and disputes of this charge post against what it became; in clearing mode the
            # ledger workflow is woken to post its fee.
            await self._step(
                LedgerActivities.record_charge,
                ChargeBooked(
                    company_id=inp.company_id,
                    charge_id=payment.charge_id,
                    payment_key=inp.key,
                    customer_list_id=plan.customer_list_id,
                    invoice_txn_id=plan.invoice_txn_id or "",
                    invoice_ref_number=choice.invoice.ref_number if choice.invoice else "",
                    payment_txn_id=txn_id,
                    deposit_account=config.deposit_account,
                    amount=str(_home_amount(posted.total, payment, config.home_currency)),
                    currency=config.home_currency if payment.exchange_rate else payment.currency,
                    txn_date=plan.txn_date,
                    workflow_id=workflow.info().workflow_id,
                    clearing=bool(config.clearing_account),
                ),
            )
        try:
            await workflow.execute_activity_method(
                StripeActivities.mark_payment_posted,
                PaymentPostedBack(inp.company_id, payment, txn_id),
                start_to_close_timeout=STRIPE_TIMEOUT,
                retry_policy=WRITE_BACK_RETRY,
            )
        except ActivityError as exc:
            await self._audit(
                inp,
                "payment.writeback_failed",
                "failed",
                payment,
                qb_txn_id=txn_id,
                error=f"posted in QuickBooks; the TxnID could not be written to Stripe: {_cause(exc)}",
            )

    async def _hand_over(self, inp: PaymentInput) -> str:
        """An invoice-keyed or unresolved-company run: route the payment to the workflow that owns it."""
        keys: list[tuple[str, str]] = [(inp.key, inp.key_kind)]
        if inp.key_kind == "invoice":
            pis: list[str] = await workflow.execute_activity_method(
                StripeActivities.invoice_payments,
                inp.key,
                start_to_close_timeout=STRIPE_TIMEOUT,
                retry_policy=STRIPE_RETRY,
            )
            keys = [(pi, "payment_intent") for pi in pis]
            if not keys:
                await self._audit(
                    inp,
                    "payment.ignored",
                    "skipped",
                    detail=f"invoice {inp.key} was not paid through a Stripe PaymentIntent",
                )
                return Status.SKIPPED
        company = inp.company_id
        while company == UNRESOLVED:
            company = await self._resolve_company(inp, keys[0])
        targets = [
            PaymentInput(
                company, key, kind, inp.customer_id, inp.invoice_id if kind != "invoice" else inp.key
            )
            for key, kind in keys
        ]
        event = self._events[-1] if self._events else ""
        await workflow.execute_activity_method(
            RoutingActivities.route_payments,
            RoutePayments(targets, PaymentSignal(event, "", "handover")),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=DB_RETRY,
        )
        self._set_status(Status.HANDED_OVER)
        return Status.HANDED_OVER

    async def _resolve_company(self, inp: PaymentInput, key: tuple[str, str]) -> str:
        customer = inp.customer_id
        if customer is None:
            payment = await self._fetch(PaymentInput(inp.company_id, key[0], key[1]))
            customer = payment.customer_id if payment else None
        company: str | None = None
        if customer:
            company = await self._step(AuditActivities.company_of_customer, customer)
        if company:
            return company
        await self._audit(
            inp,
            "payment.held",
            "held",
            stripe_customer_id=customer or "",
            error="several companies are configured and neither qb_company metadata nor a customer link says "
            "which one this payment belongs to; link the customer, then replay",
        )
        self._set_status(Status.HELD)
        self._retry = False
        await workflow.wait_condition(lambda: self._retry)
        return UNRESOLVED

    # ---- helpers ------------------------------------------------------------------------------------------

    async def _step(self, step: Callable[..., Any], arg: Any) -> Any:
        """A short database step: config, history, links, audit rows, the reader's doorbell.

        Run as a local activity: the worker runs it inside the current workflow task, so these steps cost no
        activity task, no server round trip and no workflow task each. That is what lets one worker keep up
        with webhooks arriving by the dozen per second (bench/payments_throughput.py). Stripe and QuickBooks
        calls stay ordinary activities: they wait on the outside world, and a workflow task held open for
        seconds by a slow call risks timing out under load and being thrown away (measured: with the Stripe
        calls local, hundreds of workflow tasks stayed open over 5 s). Runs that started before this change
        replay the ordinary activities their history holds (``LOCAL_STEPS``).
        """
        if self._local_steps:
            return await workflow.execute_local_activity(
                step, arg, start_to_close_timeout=DB, retry_policy=DB_RETRY
            )
        return await workflow.execute_activity(step, arg, start_to_close_timeout=DB, retry_policy=DB_RETRY)

    def _set_status(self, status: str, txn_id: str | None = None) -> None:
        self._status = status
        updates: list[Any] = [PAYMENT_STATUS.value_set(status)]
        if txn_id:
            updates.append(QB_TXN_ID.value_set(txn_id))
        workflow.upsert_search_attributes(updates)

    async def _audit(
        self,
        inp: PaymentInput,
        action: str,
        outcome: str,
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
        events = self._events
        await self._step(
            AuditActivities.record,
            AuditRecord(
                company_id=inp.company_id,
                action=action,
                outcome=outcome,
                stripe_event_id=events[-1] if events else "",
                stripe_object_id=inp.key,
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


def _home_amount(total: int, payment: StripePayment, home_currency: str) -> Decimal:
    """What the payment put into the deposit account in the home currency: a foreign payment at Stripe's
    exchange rate, rounded to the cent as QuickBooks rounds the home-currency value."""
    amount = to_decimal(total, payment.currency)
    if not payment.exchange_rate:
        return amount
    home = to_decimal(0, home_currency)
    return (amount * Decimal(payment.exchange_rate)).quantize(
        home if home.as_tuple().exponent else Decimal(1)
    )


def _has(answers: dict[str, InvoiceAnswer], token: str) -> Callable[[], bool]:
    return lambda: token in answers


def _describe(plan: Plan, choice: InvoiceChoice, currency: str) -> str:
    total = to_decimal(plan.total, currency)
    if plan.invoice_txn_id is None:
        return f"{total} left unapplied as a credit ({choice.reason})"
    text = f"{to_decimal(plan.applied, currency)} of {total} applied to invoice {plan.invoice_txn_id} ({choice.reason})"
    if plan.credit:
        text += f"; {to_decimal(plan.credit, currency)} left as credit"
    return text


def _with_ids(detail: str, payment: StripePayment | None) -> str:
    if payment is None:
        return detail
    ids = [i for i in (payment.charge_id, payment.invoice_id) if i and i != payment.payment_id]
    return f"{detail} [{', '.join(ids)}]" if ids else detail


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
