"""Value objects exchanged by the payment activities and workflows.

Every field is a plain JSON type so Temporal's default converter carries them unchanged. Money stays in
integer minor units of its currency (Stripe's representation) until the qbXML is built: no float ever
appears, and no Decimal has to survive a JSON round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StripePayment:
    """A Stripe payment as it is *now* (re-fetched), reduced to what booking it needs."""

    payment_id: str  # the PaymentIntent id, or the charge id of a charge without one
    status: str  # the PaymentIntent/charge status; only "succeeded" is booked
    amount: int  # received, in minor units of `currency`
    currency: str
    created: int  # epoch seconds
    local_date: str  # ISO date of `created` in the company's time zone (QuickBooks' TxnDate)
    livemode: bool = False
    payment_intent_id: str | None = None
    charge_id: str | None = None
    customer_id: str | None = None
    invoice_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # PaymentIntent metadata
    charge_metadata: dict[str, str] = field(default_factory=dict)
    invoice_metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    # The charge's balance transaction: the currency Stripe settled it in ("" while there is none yet) and,
    # when that differs from `currency`, Stripe's `exchange_rate` as Decimal text: units of the settlement
    # currency per unit of `currency` (amount × rate = settled amount). With settlement in the home currency
    # that is exactly QuickBooks' ExchangeRate (home units per foreign unit).
    settlement_currency: str = ""
    exchange_rate: str = ""

    @property
    def ref_source(self) -> str:
        """What goes into RefNumber: the charge id when there is one (it is what the bank line shows)."""
        return self.charge_id or self.payment_id


@dataclass(frozen=True)
class InvoiceSnapshot:
    """A QuickBooks invoice as read just now, with its balance in minor units of the home currency."""

    txn_id: str
    customer_list_id: str
    ref_number: str
    txn_date: str  # ISO date
    balance: int
    edit_sequence: str
    is_paid: bool


@dataclass(frozen=True)
class InvoiceNeed:
    """A payment workflow asks the company's invoice reader for fresh invoices; `token` pairs the answer."""

    requester: str  # workflow id to signal back
    token: str
    txn_ids: list[str] = field(default_factory=list)
    ref_numbers: list[str] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)  # their open invoices


@dataclass(frozen=True)
class InvoiceAnswer:
    token: str
    invoices: list[InvoiceSnapshot] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class PaymentHistory:
    """What the audit trail already says about one payment, read when a workflow run starts."""

    posted_txn_id: str = ""  # non-empty: the payment is in QuickBooks already
    attempts: int = 0  # ReceivePaymentAdd attempts made so far (by any run)
    uncertain: bool = False  # the last attempt's outcome was never recorded


# Workflow types and signal names, by string, so the gateway, the CLI and activities can start and signal the
# workflows without importing workflow code.
PAYMENT_WORKFLOW = "PaymentWorkflow"
INVOICE_READER_WORKFLOW = "InvoiceReaderWorkflow"
BACKFILL_WORKFLOW = "PaymentBackfillWorkflow"
EVENT_SIGNAL = "stripe_event"
RETRY_SIGNAL = "retry"
NEED_SIGNAL = "need_invoices"
ANSWER_SIGNAL = "invoices"


@dataclass(frozen=True)
class PaymentInput:
    """Start of one payment's workflow (id ``payment/{company}/{key}``)."""

    company_id: str
    key: str
    key_kind: str  # payment_intent | charge | invoice (the workflow looks the payment up)
    customer_id: str | None = None
    invoice_id: str | None = None


@dataclass(frozen=True)
class PaymentSignal:
    """Something happened to the payment: a webhook, a backfill finding it, a person asking for a replay."""

    event_id: str = ""
    event_type: str = ""
    source: str = "webhook"  # webhook | backfill | replay | handover


def reader_workflow_id(company_id: str, task_queue: str) -> str:
    """One reader per company *and task queue*: a reader must be served by the workers its requesters use."""
    return f"invoice-reader/{company_id}/{task_queue}"


@dataclass(frozen=True)
class ReaderInput:
    """Start (or continue-as-new) of a company's invoice reader."""

    company_id: str
    home_currency: str = "usd"
    carried: list[InvoiceNeed] = field(default_factory=list)
