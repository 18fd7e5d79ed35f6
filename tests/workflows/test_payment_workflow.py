"""PaymentWorkflow's branches, proven in seconds: the real workflow on a real worker, every activity stood in.

Each test is one rule of the payment story (workflows/payment.py's docstring). The workflow runs unchanged
against the dev server; the database, Stripe and QuickBooks are stand-ins registered under the production
activity names (``payment_config``, ``stripe_fetch_payment``, ``qb_run`` …), so the same calls reach them as
local activities or as activities. QuickBooks' side is a script of answers per request element; every test
asserts the workflow's result *and* what the stand-ins were asked — above all how many ReceivePaymentAdds
were sent. The whole system (gateway, queue, Web Connector simulator) is covered by
tests/integration/test_payments_end_to_end.py; these tests pin the workflow's decisions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.audit import AuditRecord, HistoryQuery, LinkQuery, NewCustomerLink
    from activities.ledger import ChargeBooked
    from activities.payment_routing import NeedInvoices, RoutePayments
    from activities.qb_lists import ListCheck, ListForget, ListRemember
    from activities.stripe_side import (
        CustomerLinkedBack,
        FetchPayment,
        PaymentPostedBack,
        StripeCustomerInfo,
    )
    from ml_connector.config import PostingConfig
    from ml_connector.ledger.setup import ListNeed
    from ml_connector.payments.companies import UNRESOLVED
    from ml_connector.payments.model import (
        ANSWER_SIGNAL,
        RETRY_SIGNAL,
        InvoiceAnswer,
        InvoiceSnapshot,
        PaymentHistory,
        PaymentInput,
        StripePayment,
    )
    from ml_connector.qbwc_server.requests import UNCERTAIN_KIND, QbRunInput, QbRunResult
    from ml_connector.qbxml.payments import external_guid_for
    from ml_connector.temporal import PAYMENT_STATUS
    from workflows.payment import PaymentWorkflow

pytestmark = pytest.mark.fast

COMPANY = "acme"
CUSTOMER = "cus_Ada"
CUSTOMER_LIST_ID = "80000001-1"
ADD = "ReceivePaymentAddRq"
QUERY = "ReceivePaymentQueryRq"
# No invoice fallback and no customer creation: each test names the invoice or customer link its path needs.
CONFIG = PostingConfig(invoice_fallback=False, create_missing_customers=False)

Answer = Callable[[], QbRunResult]


def _payment(payment_id: str, *, status: str = "succeeded", invoice_id: str | None = None) -> StripePayment:
    return StripePayment(
        payment_id=payment_id,
        status=status,
        amount=4000,
        currency="usd",
        created=1764806400,
        local_date="2025-12-04",
        payment_intent_id=payment_id,
        customer_id=CUSTOMER,
        invoice_id=invoice_id,
    )


def _answer(name: str, xml: str = "", code: int = 0, message: str = "Status OK") -> Answer:
    severity = "Info" if code < 1000 else "Error"
    return lambda: QbRunResult(1, name, code, severity, message, response=xml)


def _uncertain() -> QbRunResult:
    """The queue's verdict on a write whose answer was lost and whose fate QuickBooks could not tell."""
    raise ApplicationError("the answer to its document was lost", type=UNCERTAIN_KIND, non_retryable=True)


def _receive_payment_rs(
    rs: str, payment_id: str, txn_id: str, *, applied_to: str | None = None, balance_after: str = "0.00"
) -> str:
    applied = (
        f"<AppliedToTxnRet><TxnID>{applied_to}</TxnID><TxnType>Invoice</TxnType>"
        f"<BalanceRemaining>{balance_after}</BalanceRemaining><Amount>40.00</Amount></AppliedToTxnRet>"
        if applied_to
        else ""
    )
    return (
        f'<{rs} requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        f"<ReceivePaymentRet><TxnID>{txn_id}</TxnID><EditSequence>1</EditSequence>"
        f"<CustomerRef><ListID>{CUSTOMER_LIST_ID}</ListID></CustomerRef><TxnDate>2025-12-04</TxnDate>"
        f"<TotalAmount>40.00</TotalAmount><ExternalGUID>{external_guid_for(payment_id)}</ExternalGUID>"
        f"{applied}</ReceivePaymentRet></{rs}>"
    )


def _added(payment_id: str, txn_id: str, **kw: str) -> Answer:
    return _answer(ADD, _receive_payment_rs("ReceivePaymentAddRs", payment_id, txn_id, **kw))


def _found(payment_id: str, txn_id: str) -> Answer:
    return _answer(QUERY, _receive_payment_rs("ReceivePaymentQueryRs", payment_id, txn_id))


def _none_found(rq: str) -> Answer:
    """A query answered 1 (no match): the queue hands back the empty response element, as QuickBooks sent it."""
    rs = rq[:-2] + "Rs"
    message = "A query request did not find a matching object in QuickBooks"
    xml = f'<{rs} requestID="1" statusCode="1" statusSeverity="Info" statusMessage="{message}"/>'
    return _answer(rq, xml, code=1, message=message)


@dataclass
class StandIns:
    """The database, Stripe and QuickBooks as one payment sees them; records everything it is asked."""

    client: Client
    payment: StripePayment | None
    config: PostingConfig = CONFIG
    history: PaymentHistory = field(default_factory=PaymentHistory)
    customer_links: dict[str, str] = field(default_factory=lambda: {CUSTOMER: CUSTOMER_LIST_ID})
    invoice_links: dict[str, str] = field(default_factory=dict)
    invoices: list[InvoiceSnapshot] = field(default_factory=list)
    quickbooks: dict[str, list[Answer]] = field(default_factory=dict)
    stripe_error: str = ""  # non-empty: Stripe cannot be read, with these words
    reader_error: str = ""  # non-empty: the invoice reader answers with this error
    owning_company: str | None = COMPANY  # the company whose customer link names the Stripe customer
    hands_over: bool = False  # the run is a routing run (invoice-keyed, or its company unresolved)
    # What was asked
    qb_requests: list[str] = field(default_factory=list)
    qb_idem_keys: list[str | None] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)
    fetches: int = 0
    invoice_requests: list[NeedInvoices] = field(default_factory=list)
    marked_posted: list[str] = field(default_factory=list)
    routed: list[RoutePayments] = field(default_factory=list)
    forgotten: list[tuple[str, str]] = field(default_factory=list)
    remembered: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def actions(self) -> list[str]:
        return [rec.action for rec in self.audit]

    # ---- the database (local activities) ---------------------------------------------------------------

    @activity.defn(name="payment_config")
    async def payment_config(self, company_id: str = "") -> PostingConfig:
        return self.config

    @activity.defn(name="audit_payment_history")
    async def payment_history(self, query: HistoryQuery) -> PaymentHistory:
        return self.history

    @activity.defn(name="audit_record")
    async def record(self, rec: AuditRecord) -> int:
        self.audit.append(rec)
        return len(self.audit)

    @activity.defn(name="link_customer_lookup")
    async def customer_link(self, query: LinkQuery) -> str | None:
        return self.customer_links.get(query.stripe_id)

    @activity.defn(name="link_customer_save")
    async def save_customer_link(self, link: NewCustomerLink) -> None:
        self.customer_links[link.stripe_customer_id] = link.qb_list_id

    @activity.defn(name="link_invoice_lookup")
    async def invoice_link(self, query: LinkQuery) -> str | None:
        return self.invoice_links.get(query.stripe_id)

    @activity.defn(name="link_company_of_customer")
    async def company_of_customer(self, stripe_customer_id: str) -> str | None:
        return self.owning_company

    @activity.defn(name="invoices_request")
    async def request_invoices(self, inp: NeedInvoices) -> None:
        """The company's invoice reader, answering at once with the invoices it was given."""
        self.invoice_requests.append(inp)
        wanted = set(inp.need.txn_ids)
        answer = InvoiceAnswer(
            inp.need.token, [i for i in self.invoices if i.txn_id in wanted], error=self.reader_error
        )
        await self.client.get_workflow_handle(inp.need.requester).signal(ANSWER_SIGNAL, answer)

    @activity.defn(name="payments_route")
    async def route_payments(self, inp: RoutePayments) -> list[str]:
        if not self.hands_over:
            raise AssertionError("a payment-keyed run never hands over")
        self.routed.append(inp)
        return [f"payment/{p.company_id}/{p.key}" for p in inp.payments]

    @activity.defn(name="ledger_record_charge")
    async def record_charge(self, inp: ChargeBooked) -> None:
        return None

    # ---- Stripe ----------------------------------------------------------------------------------------------

    @activity.defn(name="stripe_fetch_payment")
    async def fetch_payment(self, inp: FetchPayment) -> StripePayment | None:
        self.fetches += 1
        if self.stripe_error:
            raise ApplicationError(self.stripe_error, non_retryable=True)
        return self.payment

    @activity.defn(name="stripe_invoice_payments")
    async def invoice_payments(self, invoice_id: str) -> list[str]:
        raise AssertionError("a payment-keyed run never looks up an invoice's payments")

    @activity.defn(name="stripe_customer")
    async def customer(self, customer_id: str) -> StripeCustomerInfo:
        raise AssertionError("customer creation is off in these tests")

    @activity.defn(name="stripe_link_customer_back")
    async def link_customer_back(self, inp: CustomerLinkedBack) -> None:
        return None

    @activity.defn(name="stripe_mark_payment_posted")
    async def mark_payment_posted(self, inp: PaymentPostedBack) -> None:
        self.marked_posted.append(inp.qb_txn_id)

    # ---- QuickBooks (through the queue) and its list memory ------------------------------------------------

    @activity.defn(name="qb_run")
    async def qb_run(self, run: QbRunInput) -> QbRunResult:
        name = run.body.lstrip().split(">", 1)[0].lstrip("<").split()[0]
        self.qb_requests.append(name)
        self.qb_idem_keys.append(run.idem_key)
        script = self.quickbooks.get(name)
        if not script:
            raise ApplicationError(f"QuickBooks stand-in has no answer for {name}", non_retryable=True)
        return script.pop(0)()

    @activity.defn(name="qb_lists_missing")
    async def lists_missing(self, check: ListCheck) -> list[ListNeed]:
        return list(check.needs)  # nothing is remembered: every need is checked in QuickBooks

    @activity.defn(name="qb_lists_remember")
    async def lists_remember(self, request: ListRemember) -> int:
        self.remembered += [(e.kind, e.name, e.list_id) for e in request.entries]
        return len(request.entries)

    @activity.defn(name="qb_lists_forget")
    async def lists_forget(self, request: ListForget) -> int:
        self.forgotten.append((request.kind, request.name))
        return 1

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.payment_config,
            self.payment_history,
            self.record,
            self.customer_link,
            self.save_customer_link,
            self.invoice_link,
            self.company_of_customer,
            self.request_invoices,
            self.route_payments,
            self.record_charge,
            self.fetch_payment,
            self.invoice_payments,
            self.customer,
            self.link_customer_back,
            self.mark_payment_posted,
            self.qb_run,
            self.lists_missing,
            self.lists_remember,
            self.lists_forget,
        ]


async def _book(
    stand_ins: StandIns,
    key: str,
    *,
    while_waiting: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
    company: str = COMPANY,
) -> str:
    """Run one payment's workflow on a fresh task queue against the stand-ins; its result."""
    queue = f"payment-wf-{uuid.uuid4().hex[:8]}"
    client = stand_ins.client
    async with Worker(
        client, task_queue=queue, workflows=[PaymentWorkflow], activities=stand_ins.activities()
    ):
        handle = await client.start_workflow(
            PaymentWorkflow.run,
            PaymentInput(company, key, "payment_intent"),
            id=f"payment/{company}/{key}/{queue}",
            task_queue=queue,
        )
        if while_waiting is not None:
            await while_waiting(handle)
        return await asyncio.wait_for(handle.result(), timeout=20)


async def _status_becomes(handle: WorkflowHandle[Any, Any], status: str) -> None:
    for _ in range(200):
        if await handle.query(PaymentWorkflow.status) == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the workflow never reached status {status!r}")


async def _held(stand_ins: StandIns, key: str, status: str) -> str:
    """Run the payment until it waits for a person with ``status``; end it there. Its PaymentStatus attribute."""
    shown: list[str] = []

    async def look_then_end(handle: WorkflowHandle[Any, Any]) -> None:
        await _status_becomes(handle, status)
        shown.append((await handle.describe()).typed_search_attributes.get(PAYMENT_STATUS) or "")
        await handle.terminate("the test has seen the payment wait")

    with pytest.raises(WorkflowFailureError):
        await _book(stand_ins, key, while_waiting=look_then_end)
    return shown[0]


def _key() -> str:
    return f"pi_{uuid.uuid4().hex[:14]}"


# ---- 1. the audit trail first -------------------------------------------------------------------------------


async def test_a_payment_already_posted_per_the_audit_trail_is_done_without_any_qbxml(temporal_client):
    """Rule 1: a run whose audit trail shows the payment in QuickBooks stops at once — no Stripe read, no
    qbXML, no new audit row (a webhook redelivered a week later costs nothing)."""
    key = _key()
    stand_ins = StandIns(temporal_client, _payment(key), history=PaymentHistory(posted_txn_id="TXN-OLD"))
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == []
    assert stand_ins.fetches == 0
    assert stand_ins.audit == []


# ---- 2. what Stripe says now ---------------------------------------------------------------------------------


async def test_a_payment_stripe_does_not_call_succeeded_is_skipped(temporal_client):
    """Rule 2: only what is true in Stripe *now* is booked; a payment that has not succeeded is audited as
    ignored and skipped, with nothing sent to QuickBooks."""
    key = _key()
    stand_ins = StandIns(temporal_client, _payment(key, status="requires_payment_method"))
    assert await _book(stand_ins, key) == "skipped"
    assert stand_ins.qb_requests == []
    assert stand_ins.actions == ["payment.ignored"]
    assert stand_ins.audit[0].outcome == "skipped"
    assert "requires_payment_method" in stand_ins.audit[0].detail


# ---- 3. customer and invoice ------------------------------------------------------------------------------------


async def test_a_payment_of_an_unlinked_customer_is_held_until_linked_and_then_posted_on_retry(
    temporal_client,
):
    """Rule 3: with customer creation off, a Stripe customer without a QuickBooks link holds the payment
    (audited, status ``held``, nothing posted); after a person links it, a ``retry`` signal posts it once."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        customer_links={},
        quickbooks={ADD: [_added(key, "TXN-1")]},
    )

    async def link_then_retry(handle: WorkflowHandle[Any, Any]) -> None:
        await _status_becomes(handle, "held")
        assert stand_ins.qb_requests == [], "nothing is posted while held"
        assert stand_ins.actions == ["payment.held"]
        assert CUSTOMER in stand_ins.audit[0].error
        stand_ins.customer_links[CUSTOMER] = CUSTOMER_LIST_ID
        await handle.signal(RETRY_SIGNAL)

    assert await _book(stand_ins, key, while_waiting=link_then_retry) == "posted"
    assert stand_ins.qb_requests == [ADD]
    assert stand_ins.actions == ["payment.held", "payment.posting", "payment.unapplied"]
    assert stand_ins.marked_posted == ["TXN-1"]


# ---- 5./6. posting and recording --------------------------------------------------------------------------------


async def test_a_payment_for_a_linked_invoice_is_posted_once_applied_to_it_and_audited(temporal_client):
    """Rules 3, 5 and 6: the invoice named by the invoice link is read fresh through the company's reader,
    one ReceivePaymentAdd applies the payment to it, ``payment.posting`` is written before and
    ``payment.posted`` (with QuickBooks' TxnID) after, and the TxnID is written back to Stripe."""
    key = _key()
    invoice = InvoiceSnapshot("TXN-INV-7", CUSTOMER_LIST_ID, "1007", "2025-12-01", 4000, "3", False)
    stand_ins = StandIns(
        temporal_client,
        _payment(key, invoice_id="in_7"),
        invoice_links={"in_7": "TXN-INV-7"},
        invoices=[invoice],
        quickbooks={ADD: [_added(key, "TXN-2", applied_to="TXN-INV-7")]},
    )
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == [ADD], "exactly one ReceivePaymentAdd"
    assert stand_ins.qb_idem_keys == [f"receive-payment/{COMPANY}/{key}/1"]
    assert [r.need.txn_ids for r in stand_ins.invoice_requests] == [["TXN-INV-7"]]
    assert stand_ins.actions == ["payment.posting", "payment.posted"]
    posting, posted = stand_ins.audit
    assert (posting.outcome, posted.outcome) == ("pending", "ok")
    assert posted.qb_txn_id == "TXN-2"
    assert posted.qb_list_id == CUSTOMER_LIST_ID
    assert posted.amount == "40.00"
    assert "applied to invoice TXN-INV-7" in posted.detail
    assert stand_ins.marked_posted == ["TXN-2"]


# ---- 4. a write whose fate is unknown ------------------------------------------------------------------------------


async def test_an_uncertain_add_that_landed_is_found_by_its_guid_and_not_posted_again(temporal_client):
    """Rule 4: when the queue reports the ReceivePaymentAdd uncertain (``QuickBooksUncertain``), the run
    never posts blind: a ReceivePaymentQuery finds the payment by ExternalGUID, it is audited
    ``payment.found_in_quickbooks`` and not posted a second time."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        quickbooks={ADD: [_uncertain], QUERY: [_found(key, "TXN-3")]},
    )
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == [ADD, QUERY], "one write, verified by a read"
    assert stand_ins.actions == ["payment.posting", "payment.uncertain", "payment.found_in_quickbooks"]
    assert stand_ins.audit[-1].qb_txn_id == "TXN-3"
    assert stand_ins.marked_posted == ["TXN-3"]


async def test_an_uncertain_add_that_did_not_land_is_posted_exactly_once_more(temporal_client):
    """Rule 4: uncertain, and the ReceivePaymentQuery does not find it → posted once more, under the next
    attempt's idempotency key (so the queue takes it as a new request, not the lost one)."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        quickbooks={ADD: [_uncertain, _added(key, "TXN-4")], QUERY: [_none_found(QUERY)]},
    )
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == [ADD, QUERY, ADD]
    assert stand_ins.qb_idem_keys[0] == f"receive-payment/{COMPANY}/{key}/1"
    assert stand_ins.qb_idem_keys[2] == f"receive-payment/{COMPANY}/{key}/2"
    assert stand_ins.actions == [
        "payment.posting",
        "payment.uncertain",
        "payment.posting",
        "payment.unapplied",
    ]
    assert stand_ins.marked_posted == ["TXN-4"]


async def test_an_uncertain_attempt_from_an_earlier_run_is_verified_before_posting(temporal_client):
    """Rule 1 → 4: an audit trail with a ``payment.posting`` and no outcome makes the new run uncertain from
    the start; it reads QuickBooks first and, finding the payment, sends no ReceivePaymentAdd at all."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        history=PaymentHistory(attempts=1, uncertain=True),
        quickbooks={QUERY: [_found(key, "TXN-5")]},
    )
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == [QUERY]
    assert stand_ins.actions == ["payment.found_in_quickbooks"]


# ---- 5. QuickBooks refuses a reference --------------------------------------------------------------------------


async def test_a_3140_refusal_ensures_the_payment_method_and_posts_again(temporal_client):
    """Rule 5: QuickBooks refusing the ReceivePaymentAdd with 3140 (invalid reference to our payment
    method) makes the run forget that name, find or create it in QuickBooks, and post again — once."""
    key = _key()
    refused = _answer(
        ADD,
        code=3140,
        message='There is an invalid reference to QuickBooks Payment Method "Stripe" in the ReceivePayment.',
    )
    method_added = (
        '<PaymentMethodAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<PaymentMethodRet><ListID>8000000A-1</ListID><EditSequence>1</EditSequence><Name>Stripe</Name>"
        "<IsActive>true</IsActive><PaymentMethodType>OtherCreditCard</PaymentMethodType></PaymentMethodRet>"
        "</PaymentMethodAddRs>"
    )
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        quickbooks={
            ADD: [refused, _added(key, "TXN-6")],
            "PaymentMethodQueryRq": [_none_found("PaymentMethodQueryRq")],
            "PaymentMethodAddRq": [_answer("PaymentMethodAddRq", method_added)],
        },
    )
    assert await _book(stand_ins, key) == "posted"
    assert stand_ins.qb_requests == [ADD, "PaymentMethodQueryRq", "PaymentMethodAddRq", ADD]
    assert stand_ins.forgotten == [("payment_method", "Stripe")]
    assert stand_ins.remembered == [("payment_method", "Stripe", "8000000A-1")]
    assert stand_ins.actions == [
        "payment.posting",
        "payment.post_failed",
        "payment.posting",
        "payment.unapplied",
    ]
    assert "3140" in stand_ins.audit[1].error


# ---- waiting for a person: every hold is audited once, where the run waits ----------------------------------------


async def test_stripe_unreachable_fails_the_payment_with_stripes_words_and_nothing_else(temporal_client):
    """Rule 2: a Stripe read that keeps failing is audited ``payment.stripe_unreachable`` with the cause, and
    the payment waits as ``failed``: no amount is invented, nothing reaches QuickBooks."""
    key = _key()
    stand_ins = StandIns(temporal_client, _payment(key), stripe_error="Stripe answered 500 five times")
    assert await _held(stand_ins, key, "failed") == "failed"
    assert stand_ins.actions == ["payment.stripe_unreachable"]
    (row,) = stand_ins.audit
    assert (row.outcome, row.error, row.amount, row.stripe_object_id) == (
        "failed",
        "Stripe answered 500 five times",
        "",
        key,
    )
    assert stand_ins.qb_requests == []


async def test_no_invoice_under_the_hold_policy_holds_the_payment_for_a_person(temporal_client):
    """Rule 3: with ``unmatched_policy = hold`` a payment no invoice is found for is not left as a credit: it
    is audited ``payment.held`` (with the customer it would go to and why), shown ``held`` in the Web UI and
    nothing is posted."""
    key = _key()
    config = PostingConfig(invoice_fallback=False, create_missing_customers=False, unmatched_policy="hold")
    stand_ins = StandIns(temporal_client, _payment(key), config=config)
    assert await _held(stand_ins, key, "held") == "held"
    assert stand_ins.actions == ["payment.held"]
    (row,) = stand_ins.audit
    assert row.outcome == "held"
    assert row.qb_list_id == CUSTOMER_LIST_ID
    assert row.amount == "40.00"
    assert row.error == (
        "no invoice to apply it to: Stripe names no invoice and the fallback is off; held for a person "
        "(policy hold)"
    )
    assert stand_ins.qb_requests == []


async def test_an_invoice_read_that_fails_holds_the_payment_with_the_readers_words(temporal_client):
    """Rule 3: the company's invoice reader answering with an error is audited
    ``payment.invoice_read_failed`` and the payment waits as ``failed``, nothing posted."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key, invoice_id="in_8"),
        invoice_links={"in_8": "TXN-INV-8"},
        reader_error="QuickBooks is not running",
    )
    assert await _held(stand_ins, key, "failed") == "failed"
    assert stand_ins.actions == ["payment.invoice_read_failed"]
    assert stand_ins.audit[0].error == "QuickBooks is not running"
    assert stand_ins.audit[0].detail == " [in_8]", "the audit names the Stripe invoice"
    assert stand_ins.qb_requests == []


async def test_a_duplicate_check_quickbooks_refuses_fails_the_payment_without_posting(temporal_client):
    """Rule 4: an uncertain payment is never posted blind; when the ReceivePaymentQuery itself is refused the
    run audits ``payment.duplicate_check_failed`` and waits, sending no ReceivePaymentAdd."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        history=PaymentHistory(attempts=1, uncertain=True),
        quickbooks={QUERY: [_answer(QUERY, code=3260, message="Insufficient permission")]},
    )
    assert await _held(stand_ins, key, "failed") == "failed"
    assert stand_ins.qb_requests == [QUERY]
    assert stand_ins.actions == ["payment.duplicate_check_failed"]
    assert stand_ins.audit[0].error == "ReceivePaymentQuery failed: 3260 Insufficient permission"


async def test_a_refused_add_waits_audited_once_and_a_retry_posts_it_under_the_next_attempt(temporal_client):
    """Rules 5 and 6: a refusal re-planning cannot cure (here 3260) is audited ``payment.post_failed`` once —
    the wait adds no second row — and the payment waits as ``failed``; a ``retry`` signal posts it under the
    next attempt's idempotency key."""
    key = _key()
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        quickbooks={ADD: [_answer(ADD, code=3260, message="Insufficient permission"), _added(key, "TXN-9")]},
    )

    async def retry_once_failed(handle: WorkflowHandle[Any, Any]) -> None:
        await _status_becomes(handle, "failed")
        assert stand_ins.actions == ["payment.posting", "payment.post_failed"]
        await handle.signal(RETRY_SIGNAL)

    assert await _book(stand_ins, key, while_waiting=retry_once_failed) == "posted"
    assert stand_ins.qb_idem_keys == [f"receive-payment/{COMPANY}/{key}/1", f"receive-payment/{COMPANY}/{key}/2"]
    assert stand_ins.actions == ["payment.posting", "payment.post_failed", "payment.posting", "payment.unapplied"]
    assert stand_ins.audit[1].error == "ReceivePaymentAdd refused: 3260 Insufficient permission"


async def test_an_invoice_that_keeps_changing_is_planned_three_times_then_the_payment_waits(temporal_client):
    """Rule 5: QuickBooks refusing the amounts (3120: the invoice changed) makes the run read and plan again,
    at most twice more; the third refusal leaves the payment ``failed``, each attempt audited once."""
    key = _key()
    changed = _answer(ADD, code=3120, message="Object specified in the request cannot be found")
    stand_ins = StandIns(temporal_client, _payment(key), quickbooks={ADD: [changed, changed, changed]})
    assert await _held(stand_ins, key, "failed") == "failed"
    assert stand_ins.qb_requests == [ADD, ADD, ADD]
    assert stand_ins.actions == ["payment.posting", "payment.post_failed"] * 3


async def test_an_add_answered_without_a_payment_fails_and_is_verified_before_posting_again(temporal_client):
    """Rule 6: a ReceivePaymentAdd answered OK but without the payment is audited ``payment.failed``; on retry
    the run does not trust it never landed: it searches QuickBooks first and finds it."""
    key = _key()
    empty = '<ReceivePaymentAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK"/>'
    stand_ins = StandIns(
        temporal_client,
        _payment(key),
        quickbooks={ADD: [_answer(ADD, empty)], QUERY: [_found(key, "TXN-10")]},
    )

    async def retry_once_failed(handle: WorkflowHandle[Any, Any]) -> None:
        await _status_becomes(handle, "failed")
        assert stand_ins.actions == ["payment.posting", "payment.failed"]
        assert stand_ins.audit[1].error == "QuickBooks returned no payment"
        await handle.signal(RETRY_SIGNAL)

    assert await _book(stand_ins, key, while_waiting=retry_once_failed) == "posted"
    assert stand_ins.qb_requests == [ADD, QUERY]
    assert stand_ins.actions[-1] == "payment.found_in_quickbooks"


# ---- routing: runs that only hand over ------------------------------------------------------------------------------


async def test_an_unresolved_company_run_waits_for_the_customer_link_then_hands_over(temporal_client):
    """With several companies and no ``qb_company`` metadata the run only finds the owning company: while no
    customer link names the Stripe customer it is held (audited once, with the customer), and after a person
    links it a ``retry`` hands the payment over to ``payment/{company}/{pi}``; nothing is booked here."""
    key = _key()
    stand_ins = StandIns(temporal_client, _payment(key), owning_company=None, hands_over=True)

    async def link_then_retry(handle: WorkflowHandle[Any, Any]) -> None:
        await _status_becomes(handle, "held")
        assert stand_ins.actions == ["payment.held"]
        held = stand_ins.audit[0]
        assert (held.company_id, held.outcome, held.stripe_customer_id) == (UNRESOLVED, "held", CUSTOMER)
        assert held.error.startswith("several companies are configured")
        stand_ins.owning_company = COMPANY
        await handle.signal(RETRY_SIGNAL)

    assert await _book(stand_ins, key, company=UNRESOLVED, while_waiting=link_then_retry) == "handed_over"
    (route,) = stand_ins.routed
    assert [(p.company_id, p.key, p.key_kind) for p in route.payments] == [(COMPANY, key, "payment_intent")]
    assert route.signal.source == "handover"
    assert stand_ins.qb_requests == []
    assert stand_ins.actions == ["payment.held"]
