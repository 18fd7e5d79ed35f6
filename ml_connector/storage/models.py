"""Database tables. The same models run on SQLite (embedded default) and PostgreSQL.

Every table that the Web Connector path touches is keyed so that any gateway instance can serve any call:
tickets, leases and responses live here, never in process memory.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Date, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(*, nullable: bool = True, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class _CompanyRow(SQLModel):
    """The head of most tables: a database-numbered row that belongs to one company file. Not a table itself;
    its columns come first in each table that inherits it, as they always stood."""

    id: int | None = Field(default=None, primary_key=True)
    company_id: str = Field(index=True, max_length=40)


def _link_constraints(table: str, qb_column: str, stripe_column: str) -> tuple[UniqueConstraint, ...]:
    """A link table pairs one QuickBooks record with one Stripe object per company, in both directions, so
    either id finds at most one row; the constraint names (``uq_<table>_qb``/``_stripe``) are the schema's."""
    return (
        UniqueConstraint("company_id", qb_column, name=f"uq_{table}_qb"),
        UniqueConstraint("company_id", stripe_column, name=f"uq_{table}_stripe"),
    )


class Company(SQLModel, table=True):
    """A QuickBooks company file and what we learnt about it from the Web Connector."""

    __tablename__ = "company"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(default="", max_length=200)
    qbwc_username: str = Field(index=True, unique=True, max_length=200)
    password_hash: str = Field(max_length=300)
    owner_id: str = Field(max_length=40)
    file_id: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    last_contact_at: datetime | None = Field(default=None, sa_column=_ts())
    last_session_status: str = Field(default="", max_length=500)
    qb_product: str = Field(default="", max_length=200)
    qbxml_version: str = Field(default="", max_length=20)
    country: str = Field(default="", max_length=10)
    company_file: str = Field(default="", max_length=500)
    host_info: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class AuthFailure(SQLModel, table=True):
    """One checked, failed authenticate call; recent rows delay further attempts from that address for that name."""

    __tablename__ = "auth_failure"

    id: int | None = Field(default=None, primary_key=True)
    # sha256 of the user name as sent (ml_connector/qbwc/throttle.py): bounded, and never the name itself.
    username: str = Field(index=True, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    # The source the attempt came from (an address, an IPv6 /64): the throttle is per (address, user name).
    address: str = Field(default="", max_length=64)


class QbwcSession(SQLModel, table=True):
    """One Web Connector session, from authenticate to closeConnection, addressed by its ticket."""

    __tablename__ = "qbwc_session"

    ticket: str = Field(primary_key=True, max_length=64)
    company_id: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    qbxml_version: str = Field(default="", max_length=20)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    noop_pending: bool = False
    linger_until: datetime | None = Field(default=None, sa_column=_ts())
    round_trips: int = 0
    requests_sent: int = 0
    responses_received: int = 0
    hresult_errors: int = 0
    # Documents QuickBooks refused as a whole (messageSetStatusCode) in this session; bounded per session.
    refusals: int = 0


class QbBatch(SQLModel, table=True):
    """One qbXML message set handed to the Web Connector.

    A batch that contains writes carries a newMessageSetID; if its response never comes back, the next
    sendRequestXML for that company asks QuickBooks for the stored outcome (oldMessageSetID) before anything
    else is sent, so a write is never run twice.
    """

    __tablename__ = "qb_batch"

    id: str = Field(primary_key=True, max_length=40)
    company_id: str = Field(index=True, max_length=40)
    ticket: str = Field(index=True, max_length=64)
    message_set_id: str | None = Field(default=None, max_length=40)
    # sent → answered | lost → recovering → recovered
    status: str = Field(default="sent", index=True, max_length=20)
    recovers: str | None = Field(default=None, max_length=40)
    has_writes: bool = False
    on_error: str = Field(default="continueOnError", max_length=20)
    request_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    answered_at: datetime | None = Field(default=None, sa_column=_ts())
    # QuickBooks' messageSetStatusCode for this document, when it sent one.
    status_code: int | None = None


class QbRequest(_CompanyRow, table=True):
    """One qbXML request a workflow wants run in one company file, and, once known, its response."""

    __tablename__ = "qb_request"
    __table_args__ = (UniqueConstraint("company_id", "idem_key", name="uq_qb_request_idem"),)

    idem_key: str = Field(max_length=300)
    name: str = Field(max_length=60)
    body: str = Field(sa_column=Column(Text, nullable=False))
    is_write: bool = False
    iterate: bool = False
    # pending → sent → (iterating →) done | failed
    status: str = Field(default="pending", index=True, max_length=20)
    batch_id: str | None = Field(default=None, index=True, max_length=40)
    ticket: str | None = Field(default=None, max_length=64)
    iterator_id: str | None = Field(default=None, max_length=64)
    solo: bool = False
    defer_ticket: str | None = Field(default=None, max_length=64)
    # Not leased again before this time (back-off after QuickBooks refused the document carrying it).
    not_before: datetime | None = Field(default=None, sa_column=_ts())
    attempts: int = 0
    # How often QuickBooks refused a document carrying this request without running it (bounded).
    refusals: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    completed_at: datetime | None = Field(default=None, sa_column=_ts())
    workflow_id: str = Field(default="", max_length=300)
    run_id: str = Field(default="", max_length=64)
    activity_id: str = Field(default="", max_length=100)
    task_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status_code: int | None = None
    status_severity: str = Field(default="", max_length=10)
    status_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    pages: int = 0
    ret_count: int = 0
    error_kind: str = Field(default="", max_length=40)
    error_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    last_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    delivered: bool = Field(default=True, index=True)
    deliver_attempts: int = 0


class QbResponsePage(SQLModel, table=True):
    """One page of an iterator query; pages are read back one at a time so no company is held in memory."""

    __tablename__ = "qb_response_page"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(index=True)
    page_no: int
    ret_count: int = 0
    xml: str = Field(sa_column=Column(Text, nullable=False))


class CustomerLink(_CompanyRow, table=True):
    """QuickBooks customer ↔ Stripe customer. A cache of links that also live in both systems.

    The authoritative copies are the Stripe id on the QuickBooks customer (custom field or Notes) and the
    ListID in the Stripe customer's metadata, so this table can be rebuilt from the two systems alone.
    """

    __tablename__ = "customer_link"
    __table_args__ = _link_constraints("customer_link", "qb_list_id", "stripe_customer_id")

    qb_list_id: str = Field(max_length=40)
    stripe_customer_id: str = Field(index=True, max_length=80)
    qb_edit_sequence: str = Field(default="", max_length=20)
    qb_full_name: str = Field(default="", max_length=250)
    origin: str = Field(default="quickbooks", max_length=20)  # quickbooks | stripe
    written_back: bool = False  # the Stripe id is stored on the QuickBooks customer
    # What we last made the other side hold (see ml_connector/sync): a changed EditSequence whose
    # mapped fields are unchanged (our own write-back, an edit of an unmapped field) costs no Stripe call.
    stripe_fingerprint: str = Field(default="", max_length=40)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class InvoiceLink(_CompanyRow, table=True):
    """QuickBooks invoice ↔ Stripe invoice, so a Stripe payment is tied back to the exact QuickBooks invoice."""

    __tablename__ = "invoice_link"
    __table_args__ = _link_constraints("invoice_link", "qb_txn_id", "stripe_invoice_id")

    qb_txn_id: str = Field(max_length=40)
    qb_ref_number: str = Field(default="", max_length=20)
    stripe_invoice_id: str = Field(index=True, max_length=80)
    qb_edit_sequence: str = Field(default="", max_length=20)
    state: str = Field(default="open", max_length=20)  # open | paid | voided | deleted
    content_fingerprint: str = Field(default="", max_length=40)  # the QuickBooks content the Stripe invoice shows
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class StripeWriteIntent(SQLModel, table=True):
    """A Stripe create we are about to send, with its exact parameters, until its result is linked.

    Idempotency keys only replay a request whose parameters are identical. If an activity dies after Stripe
    created an object but before the link was stored, and the QuickBooks record changes before the retry,
    the retry must still send the *original* parameters (replayed by Stripe: the same object comes back)
    and apply the change as an update afterwards. Deleted in the transaction that stores the link.
    """

    __tablename__ = "stripe_write_intent"

    key: str = Field(primary_key=True, max_length=255)
    company_id: str = Field(index=True, max_length=40)
    params: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class StripeEvent(SQLModel, table=True):
    """Every verified Stripe webhook, once (unique by event id), before any work starts."""

    __tablename__ = "stripe_event"

    id: str = Field(primary_key=True, max_length=80)
    type: str = Field(index=True, max_length=80)
    company_id: str = Field(default="", index=True, max_length=40)
    object_id: str = Field(default="", max_length=80)
    workflow_id: str = Field(default="", max_length=300)
    livemode: bool = False
    created: datetime = Field(sa_column=_ts(nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    deliveries: int = 1
    payload: str = Field(sa_column=Column(Text, nullable=False))
    # NULL until signal-with-start of its workflow succeeded: the webhook acks after the insert, and the
    # gateway's sweeper (gateway/event_signals.py) re-signals every event still NULL, so a crash loses nothing.
    signalled_at: datetime | None = Field(default=None, sa_column=_ts(index=True))


class AuditEntry(SQLModel, table=True):
    """One action ml-connector took (or refused to take), with the ids needed to find it in both systems."""

    __tablename__ = "audit_entry"
    # The latest settled row per payment (ml_connector/metrics.py) is found through this index.
    __table_args__ = (Index("ix_audit_entry_payment_latest", "company_id", "stripe_object_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    company_id: str = Field(index=True, max_length=40)
    action: str = Field(max_length=60)  # e.g. payment.posted, payment.held, customer.created
    outcome: str = Field(index=True, max_length=20)  # ok | failed | held | skipped
    stripe_event_id: str = Field(default="", index=True, max_length=80)
    stripe_object_id: str = Field(default="", index=True, max_length=80)
    stripe_customer_id: str = Field(default="", index=True, max_length=80)
    qb_list_id: str = Field(default="", max_length=40)
    qb_txn_id: str = Field(default="", index=True, max_length=40)
    amount: str = Field(default="", max_length=30)  # Decimal as text: exact on every database
    currency: str = Field(default="", max_length=3)
    workflow_id: str = Field(default="", max_length=300)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ChargeLink(_CompanyRow, table=True):
    """A Stripe charge and the QuickBooks side of it, recorded by the payment workflow when it books the charge.

    Refunds and disputes arrive days later naming only the charge; this is how they find the customer and
    the invoice to post against without asking anyone.
    """

    __tablename__ = "charge_link"
    __table_args__ = (UniqueConstraint("company_id", "charge_id", name="uq_charge_link"),)

    charge_id: str = Field(index=True, max_length=80)
    payment_key: str = Field(default="", max_length=80)  # the payment workflow's key (pi_… or ch_…)
    qb_customer_list_id: str = Field(max_length=40)
    qb_invoice_txn_id: str = Field(default="", max_length=40)
    qb_invoice_ref_number: str = Field(default="", max_length=20)
    qb_payment_txn_id: str = Field(default="", max_length=40)
    deposit_account: str = Field(default="", max_length=200)  # where the ReceivePayment put the money
    amount: str = Field(default="", max_length=30)  # Decimal as text
    currency: str = Field(default="", max_length=3)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class LedgerPosting(_CompanyRow, table=True):
    """One QuickBooks transaction that Stripe money became in clearing-account mode, by its posting key.

    The key (``fee:txn_…``, ``refund:re_…``, ``payout:po_…``, ``payment:ch_…``; see ml_connector/ledger/ids.py)
    is unique per company: a key present here is never posted again, and the reconciliation report reads
    ``qb_amount`` — the clearing-account effect as QuickBooks answered it — against Stripe's numbers.
    """

    __tablename__ = "ledger_posting"
    __table_args__ = (UniqueConstraint("company_id", "posting_key", name="uq_ledger_posting"),)

    posting_key: str = Field(max_length=120)
    kind: str = Field(max_length=20)
    source_id: str = Field(default="", index=True, max_length=80)
    balance_txn_ids: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # space-separated
    txn_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    qb_txn_id: str = Field(default="", max_length=40)
    qb_txn_type: str = Field(default="", max_length=40)
    qb_amount: str = Field(default="", max_length=30)  # signed Decimal as text
    found_existing: bool = False  # an earlier, unrecorded attempt had posted it (found by ExternalGUID)
    workflow_id: str = Field(default="", max_length=300)
    posted_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class QbListEntry(_CompanyRow, table=True):
    """An account, payment method or item we made sure exists in the company file (found or created).

    Checked once per name, so posting never costs a lookup; forgotten when QuickBooks says the reference is
    gone (3140), so the next posting creates it again.
    """

    __tablename__ = "qb_list_entry"
    __table_args__ = (UniqueConstraint("company_id", "kind", "name", name="uq_qb_list_entry"),)

    kind: str = Field(max_length=20)  # account | payment_method | item
    name: str = Field(max_length=200)
    list_id: str = Field(default="", max_length=40)
    created_by_us: bool = False
    checked_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
