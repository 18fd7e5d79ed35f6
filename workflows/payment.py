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

Anything that cannot be booked (no customer, hold policy, QuickBooks error) raises :class:`Hold` where it is
found; the run audits it and waits, visible in the Web UI through search attributes, for a ``retry`` signal or
``ml-connector replay`` (``workflows/payment_steps.py``). An invoice-keyed run (an invoice event that names no
payment) and an unresolved-company run (several companies, no ``qb_company`` metadata) only find the owning
payment workflow and hand over to it (``workflows/payment_routing.py``). The decisions themselves (which
invoice, how much, what QuickBooks recorded, the words of the audit trail) are pure, in ``ml_connector/payments``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditActivities, HistoryQuery, LinkQuery, NewCustomerLink
    from activities.ledger import ChargeBooked, LedgerActivities
    from activities.payment_routing import NeedInvoices, RoutingActivities
    from activities.stripe_side import CustomerLinkedBack, PaymentPostedBack, StripeActivities
    from ml_connector.config import PostingConfig
    from ml_connector.ledger.setup import needs_named_in, payment_needs
    from ml_connector.payments.customers import new_customer_fields
    from ml_connector.payments.matching import (
        InvoiceChoice,
        choose_invoice,
        invoice_hint,
        invoice_need,
        still_open,
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
        describe,
        duplicate_search,
        find_existing,
        home_amount,
        plan_payment,
        read_posted,
        receive_payment_add_for,
    )
    from ml_connector.payments.trail import Action, Outcome, PaymentStatus
    from ml_connector.qbxml.customers import parse_customers
    from ml_connector.qbxml.errors import StatusClass, classify
    from ml_connector.temporal import STRIPE_CUSTOMER_ID
    from workflows import qb
    from workflows.payment_routing import hand_over, needs_routing
    from workflows.payment_steps import Hold, PaymentSteps, cause
    from workflows.policies import QB_ATTEMPT, STRIPE_CALL
    from workflows.qb_customers import add_customer
    from workflows.qb_setup import ensure_in_quickbooks, forget_in_quickbooks

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


@dataclass
class Attempts:
    """What the run knows about its posting attempts; carried across rounds (retries) of the same run."""

    attempts: int  # ReceivePaymentAdds sent for this payment so far, by any run (numbers the idempotency key)
    uncertain: bool  # an attempt's fate is unknown: search QuickBooks before posting again
    lists_ensured: bool = False  # the payment method and deposit account were checked after a 3140


@dataclass(frozen=True)
class Run:
    """One round of booking: whose payment, under which settings, as Stripe shows it now."""

    inp: PaymentInput
    config: PostingConfig
    payment: StripePayment
    attempt: Attempts


@workflow.defn(name="PaymentWorkflow")
class PaymentWorkflow(PaymentSteps):
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
        """Already posted? Then done. Otherwise book it, round after round, each Hold waiting for a retry."""
        self._inp = inp
        self._local_steps = workflow.patched(LOCAL_STEPS)
        if needs_routing(inp):
            return await hand_over(self, inp)
        config: PostingConfig = await self.step(AuditActivities.payment_config, inp.company_id)
        history = await self.step(AuditActivities.payment_history, HistoryQuery(inp.company_id, inp.key))
        if history.posted_txn_id:
            self.set_status(PaymentStatus.POSTED, history.posted_txn_id)
            return PaymentStatus.POSTED
        attempt = Attempts(history.attempts, history.uncertain or self._verify_first)
        while True:
            try:
                status = await self._book(inp, config, attempt)
            except Hold as hold:
                await self.wait_out(hold)
                self._status = PaymentStatus.RETRYING
                if workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(inp)
                continue
            self.set_status(status)
            return status

    async def _book(self, inp: PaymentInput, config: PostingConfig, attempt: Attempts) -> PaymentStatus:
        """One round: fetch → plan → verify if uncertain → post → record. Raises Hold to wait for a person."""
        payment = await self._bookable(inp, config)
        if isinstance(payment, PaymentStatus):
            return payment
        if payment.customer_id:
            workflow.upsert_search_attributes([STRIPE_CUSTOMER_ID.value_set(payment.customer_id)])
        run = Run(inp, config, payment, attempt)
        for _ in range(MAX_AUTO_REPLANS + 1):
            plan, choice = await self._plan(run)
            posted = await self._find_in_quickbooks(run, plan) if attempt.uncertain else None
            if posted is None:
                posted = await self._post(run, plan, choice)
            if posted is not None:
                await self._record(run, posted, plan, choice)
                return PaymentStatus.POSTED
        raise Hold(PaymentStatus.FAILED, None, "QuickBooks kept refusing the payment")

    # ---- 2. what Stripe says now ----------------------------------------------------------------------------

    async def _bookable(self, inp: PaymentInput, config: PostingConfig) -> StripePayment | PaymentStatus:
        """The payment to book, in the home currency or carrying Stripe's rate into it; else why not."""
        payment = await self.fetch(inp)
        if payment is None:
            return await self._skip(None, "the payment does not exist in Stripe")
        if payment.status != "succeeded":
            return await self._skip(payment, f"Stripe status is {payment.status!r}")
        if payment.currency != config.home_currency:
            foreign = await self._with_exchange_rate(config, payment)
            if foreign is None:
                return PaymentStatus.REFUSED
            payment = foreign
        if payment.amount <= 0:
            return await self._skip(payment, "nothing was received")
        return payment

    async def _skip(self, payment: StripePayment | None, why: str) -> PaymentStatus:
        await self.audit(Action.IGNORED, Outcome.SKIPPED, payment, detail=why)
        return PaymentStatus.SKIPPED

    async def _with_exchange_rate(self, config: PostingConfig, payment: StripePayment) -> StripePayment | None:
        """A payment in another currency, carrying Stripe's exchange rate into the home currency; None: refused
        (audited with what to do). Multicurrency off, or settled by Stripe in a third currency: refused. Not
        settled yet (no balance transaction, so no rate): re-fetched after a growing pause; never guessed."""
        checks = 0
        while True:
            refusal = currency_refusal(payment, config.home_currency, multicurrency=config.multicurrency)
            if refusal:
                await self.audit(Action.REFUSED, Outcome.REFUSED, payment, error=refusal)
                return None
            if payment.exchange_rate:
                return payment
            theirs = payment.currency.upper()
            if checks >= RATE_CHECKS:
                error = f"Stripe still shows no exchange rate for this {theirs} payment; replay it once it does"
                raise Hold(PaymentStatus.FAILED, Action.EXCHANGE_RATE_MISSING, error, payment)
            if checks == 0:
                await self.audit(
                    Action.AWAITING_EXCHANGE_RATE,
                    Outcome.PENDING,
                    payment,
                    detail=f"Stripe has not settled this {theirs} payment yet, so it has no exchange rate; "
                    "checking again shortly",
                )
            self._status = PaymentStatus.AWAITING_EXCHANGE_RATE
            await workflow.sleep(min(RATE_WAIT_FIRST * 2**checks, RATE_WAIT_MAX))
            checks += 1
            fresh = await self.fetch(self._inp)
            if fresh is None or fresh.status != payment.status or fresh.currency != payment.currency:
                error = "the payment changed in Stripe while waiting for its exchange rate; replay it"
                raise Hold(PaymentStatus.FAILED, Action.EXCHANGE_RATE_MISSING, error, payment)
            payment = fresh

    # ---- 3. customer and invoice ------------------------------------------------------------------------------

    async def _plan(self, run: Run) -> tuple[Plan, InvoiceChoice]:
        """The ReceivePaymentAdd to send: the customer, the invoice as QuickBooks shows it now, the amounts."""
        config, payment = run.config, run.payment
        linked_txn = None
        if payment.invoice_id:
            linked_txn = await self.step(
                AuditActivities.invoice_link, LinkQuery(run.inp.company_id, payment.invoice_id)
            )
        hint = invoice_hint(payment, linked_txn)
        customer = await self._customer(run, required=hint is None or hint.txn_id is None)
        txn_ids, refs, customers = invoice_need(hint, customer, fallback=config.invoice_fallback)
        invoices: list[InvoiceSnapshot] = []
        if txn_ids or refs or customers:
            invoices = await self._read_invoices(run, txn_ids, refs, customers)
        choice = choose_invoice(payment, hint, customer, invoices, fallback=config.invoice_fallback)
        choice, customer = still_open(choice, customer)
        if choice.invoice is None:
            if config.unmatched_policy == "hold":
                error = f"no invoice to apply it to: {choice.reason}; held for a person (policy hold)"
                raise Hold(PaymentStatus.HELD, Action.HELD, error, payment, qb_list_id=customer or "")
            if customer is None:
                customer = await self._customer(run, required=True)
        assert customer is not None
        return plan_payment(payment, customer, choice.invoice), choice

    async def _customer(self, run: Run, *, required: bool) -> str | None:
        """The QuickBooks ListID of the payment's customer (created when missing and allowed)."""
        payment = run.payment
        if payment.customer_id:
            found: str | None = await self.step(
                AuditActivities.customer_link, LinkQuery(run.inp.company_id, payment.customer_id)
            )
            if found or not required:
                return found
            if run.config.create_missing_customers:
                return await self._create_customer(run, payment.customer_id)
        if not required:
            return None
        reason = (
            "the payment has no Stripe customer"
            if not payment.customer_id
            else f"Stripe customer {payment.customer_id} is not linked to a QuickBooks customer "
            "(and MLC_CREATE_MISSING_CUSTOMERS is off)"
        )
        raise Hold(PaymentStatus.HELD, Action.HELD, reason + "; link it, then replay", payment)

    async def _create_customer(self, run: Run, customer_id: str) -> str:
        company, payment = run.inp.company_id, run.payment
        info = await self.stripe(StripeActivities.customer, customer_id)
        last = ""
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            fields = new_customer_fields(customer_id, info.name, info.email, attempt)
            result = await add_customer(
                company,
                fields,
                idem_key=f"customer-add/{company}/{customer_id}/{attempt}",
                attempt=QB_ATTEMPT,
            )
            status = classify(result.status_code)
            if status is StatusClass.NAME_IN_USE:
                last = result.status_message
                continue
            created = parse_customers(result.response or "") if not status.is_error else []
            if not created:
                error = f"CustomerAdd failed: {result.status_code} {result.status_message}"
                raise Hold(PaymentStatus.FAILED, Action.CUSTOMER_CREATE_FAILED, error, payment)
            customer = created[0]
            await self.step(
                AuditActivities.save_customer_link,
                NewCustomerLink(
                    company, customer.list_id, customer_id, customer.full_name or "", customer.edit_sequence
                ),
            )
            await self.stripe(
                StripeActivities.link_customer_back, CustomerLinkedBack(customer_id, company, customer.list_id)
            )
            await self.audit(
                Action.CUSTOMER_CREATED,
                Outcome.OK,
                payment,
                qb_list_id=customer.list_id,
                detail=f"QuickBooks customer {customer.full_name!r} created for Stripe customer {customer_id}",
            )
            return customer.list_id
        error = f"every name tried is in use in QuickBooks: {last}"
        raise Hold(PaymentStatus.FAILED, Action.CUSTOMER_CREATE_FAILED, error, payment)

    async def _read_invoices(
        self, run: Run, txn_ids: list[str], refs: list[str], customers: list[str]
    ) -> list[InvoiceSnapshot]:
        """Fresh invoices through the company's reader (batched with every other waiting payment)."""
        while True:
            token = str(workflow.uuid4())
            need = InvoiceNeed(workflow.info().workflow_id, token, txn_ids, refs, customers)
            await self.step(RoutingActivities.request_invoices, NeedInvoices(run.inp.company_id, need))
            self._status = PaymentStatus.READING_INVOICE
            try:
                await workflow.wait_condition(_has(self._answers, token), timeout=ANSWER_WAIT)
            except TimeoutError:
                continue  # ask again; a late answer to the old token is ignored
            answer = self._answers.pop(token)
            if answer.error:
                raise Hold(PaymentStatus.FAILED, Action.INVOICE_READ_FAILED, answer.error, run.payment)
            return answer.invoices

    # ---- 4. verify, 5. post --------------------------------------------------------------------------------------

    async def _find_in_quickbooks(self, run: Run, plan: Plan) -> Posted | None:
        """After an uncertain attempt: is the payment in QuickBooks already? Compared on ExternalGUID."""
        result = await qb.run(run.inp.company_id, duplicate_search(plan), attempt=QB_ATTEMPT)
        if classify(result.status_code).is_error:
            error = f"ReceivePaymentQuery failed: {result.status_code} {result.status_message}"
            raise Hold(PaymentStatus.FAILED, Action.DUPLICATE_CHECK_FAILED, error, run.payment)
        existing = find_existing(result.response or "", plan.external_guid, run.config.home_currency)
        run.attempt.uncertain = False
        if existing is not None:
            await self.audit(
                Action.FOUND,
                Outcome.OK,
                run.payment,
                qb_list_id=plan.customer_list_id,
                qb_txn_id=existing.txn_id,
                detail="an earlier attempt had posted it (found by ExternalGUID); not posted again",
            )
        return existing

    async def _post(self, run: Run, plan: Plan, choice: InvoiceChoice) -> Posted | None:
        """Send the ReceivePaymentAdd: the payment as QuickBooks recorded it, or None to plan again."""
        company, config, payment, attempt = run.inp.company_id, run.config, run.payment, run.attempt
        attempt.attempts += 1
        described = describe(plan, choice, payment.currency)
        await self.audit(
            Action.POSTING,
            Outcome.PENDING,
            payment,
            qb_list_id=plan.customer_list_id,
            detail=f"attempt {attempt.attempts}: {described}",
        )
        self._status = PaymentStatus.POSTING
        body = receive_payment_add_for(
            plan,
            payment.currency,
            payment_method=config.payment_method,
            deposit_account=config.deposit_account,
            exchange_rate=payment.exchange_rate if payment.currency != config.home_currency else "",
        )
        try:
            result = await qb.run(
                company,
                body,
                idem_key=f"receive-payment/{company}/{run.inp.key}/{attempt.attempts}",
                attempt=QB_ATTEMPT,
            )
        except ActivityError as exc:
            attempt.uncertain = True
            if not qb.is_uncertain(exc):
                raise Hold(PaymentStatus.FAILED, Action.FAILED, cause(exc), payment) from exc
            # The answer was lost and QuickBooks could not tell what ran: never post blind. The next
            # round searches QuickBooks by ExternalGUID first and posts only if the payment is not there.
            await self.audit(
                Action.UNCERTAIN,
                Outcome.PENDING,
                payment,
                error=cause(exc),
                detail=f"attempt {attempt.attempts}: checking QuickBooks before posting again",
            )
            return None
        status = classify(result.status_code)
        if status.is_error:
            error = f"ReceivePaymentAdd refused: {result.status_code} {result.status_message}"
            await self.audit(
                Action.POST_FAILED,
                Outcome.FAILED,
                payment,
                qb_list_id=plan.customer_list_id,
                error=error,
                detail=f"attempt {attempt.attempts}",
            )
            if status in (StatusClass.INVALID_VALUE, StatusClass.NOT_FOUND):
                return None  # the invoice changed under us: read it again and re-plan
            if status is StatusClass.BAD_REFERENCE and not attempt.lists_ensured:
                await self._ensure_lists(run, result.status_message)
                return None  # the payment method / deposit account exists now: post again
            raise Hold(PaymentStatus.FAILED, None, error)
        posted = read_posted(result.response or "", payment.currency)
        if posted is None:
            attempt.uncertain = True
            raise Hold(PaymentStatus.FAILED, Action.FAILED, "QuickBooks returned no payment", payment)
        await self.audit(
            Action.POSTED if plan.invoice_txn_id else Action.UNAPPLIED,
            Outcome.OK,
            payment,
            qb_list_id=plan.customer_list_id,
            qb_txn_id=posted.txn_id,
            detail=described,
        )
        problems = check_posted(plan, posted)
        if problems:
            await self.audit(
                Action.BALANCE_CHECK,
                Outcome.FAILED,
                payment,
                qb_txn_id=posted.txn_id,
                error="posted, but QuickBooks disagrees with the plan: " + "; ".join(problems),
            )
        return posted

    async def _ensure_lists(self, run: Run, message: str) -> None:
        """QuickBooks lacks the payment method or deposit account we name (3140): create ours, once.

        Checked only after such a refusal, so the happy path costs nothing; the names are then remembered
        for every later payment (``qb_list_entry``)."""
        run.attempt.lists_ensured = True
        config, company = run.config, run.inp.company_id
        needs = payment_needs(
            config.payment_method, config.deposit_account, clearing=bool(config.clearing_account)
        )
        await forget_in_quickbooks(company, needs_named_in(message, needs) or needs)
        problems = await ensure_in_quickbooks(company, needs)
        if problems:
            raise Hold(PaymentStatus.FAILED, Action.SETUP_FAILED, "; ".join(problems), run.payment)

    # ---- 6. record ------------------------------------------------------------------------------------------------

    async def _record(self, run: Run, posted: Posted, plan: Plan, choice: InvoiceChoice) -> None:
        """The payment is in QuickBooks: show it, tell the ledger (refunds, disputes, the clearing fee) and
        write the TxnID back to Stripe."""
        config, payment, txn_id = run.config, run.payment, posted.txn_id
        self.set_status(PaymentStatus.POSTED, txn_id)
        if payment.charge_id:
            # Refunds and disputes of this charge post against what it became; in clearing mode the
            # ledger workflow is woken to post its fee.
            await self.step(
                LedgerActivities.record_charge,
                ChargeBooked(
                    company_id=run.inp.company_id,
                    charge_id=payment.charge_id,
                    payment_key=run.inp.key,
                    customer_list_id=plan.customer_list_id,
                    invoice_txn_id=plan.invoice_txn_id or "",
                    invoice_ref_number=choice.invoice.ref_number if choice.invoice else "",
                    payment_txn_id=txn_id,
                    deposit_account=config.deposit_account,
                    amount=str(home_amount(posted.total, payment, config.home_currency)),
                    currency=config.home_currency if payment.exchange_rate else payment.currency,
                    txn_date=plan.txn_date,
                    workflow_id=workflow.info().workflow_id,
                    clearing=bool(config.clearing_account),
                ),
            )
        try:
            await workflow.execute_activity_method(
                StripeActivities.mark_payment_posted,
                PaymentPostedBack(run.inp.company_id, payment, txn_id),
                start_to_close_timeout=STRIPE_CALL,
                retry_policy=WRITE_BACK_RETRY,
            )
        except ActivityError as exc:
            await self.audit(
                Action.WRITEBACK_FAILED,
                Outcome.FAILED,
                payment,
                qb_txn_id=txn_id,
                error=f"posted in QuickBooks; the TxnID could not be written to Stripe: {cause(exc)}",
            )


def _has(answers: dict[str, InvoiceAnswer], token: str) -> Callable[[], bool]:
    return lambda: token in answers
