"""The database side of booking a payment: the audit trail, and the customer/invoice links.

The audit trail is also the payment's memory across workflow runs. A webhook redelivered a week after the
payment was posted starts a fresh run of the same workflow id; that run reads :meth:`payment_history` first and
stops without asking QuickBooks anything. A ``payment.posting`` row is written before every ReceivePaymentAdd,
so a run that finds one without an outcome after it knows the earlier attempt's fate is uncertain and searches
QuickBooks before posting again.

Writes are idempotent: a re-run activity that finds its own row (same workflow, action, object, outcome and
detail) adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select
from temporalio import activity

from ml_connector.config import PostingConfig
from ml_connector.payments.model import PaymentHistory
from ml_connector.payments.trail import IN_QUICKBOOKS, SETTLING, Action
from ml_connector.storage.models import AuditEntry, CustomerLink, InvoiceLink, utcnow

# The posting actions by their short names, as the end-to-end tests and the bench import them.
POSTING, POSTED, UNAPPLIED = Action.POSTING, Action.POSTED, Action.UNAPPLIED
FOUND, POST_FAILED, UNCERTAIN = Action.FOUND, Action.POST_FAILED, Action.UNCERTAIN


@dataclass(frozen=True)
class AuditRecord:
    company_id: str
    action: str
    outcome: str  # an Outcome: ok | failed | held | skipped | refused | pending
    stripe_event_id: str = ""
    stripe_object_id: str = ""
    stripe_customer_id: str = ""
    qb_list_id: str = ""
    qb_txn_id: str = ""
    amount: str = ""  # Decimal text
    currency: str = ""
    workflow_id: str = ""
    error: str = ""
    detail: str = ""


@dataclass(frozen=True)
class HistoryQuery:
    company_id: str
    payment_id: str


@dataclass(frozen=True)
class LinkQuery:
    company_id: str
    stripe_id: str


@dataclass(frozen=True)
class NewCustomerLink:
    """A QuickBooks customer the payment workflow has just created for a Stripe customer: linked with origin
    ``stripe``, so the customer sync never overwrites that Stripe customer (Stripe stays its master)."""

    company_id: str
    qb_list_id: str
    stripe_customer_id: str
    qb_full_name: str = ""
    qb_edit_sequence: str = ""


class AuditActivities:
    def __init__(
        self,
        engine: Engine,
        posting: PostingConfig | None = None,
        clearing: dict[str, str] | None = None,
        multicurrency: dict[str, bool] | None = None,
    ) -> None:
        self.engine = engine
        self.posting = posting or PostingConfig()
        self.clearing = clearing or {}  # company id -> clearing account, for companies in clearing-account mode
        # company id -> its own multicurrency setting (clearing-account mode's TOML); others: MLC_MULTICURRENCY
        self.multicurrency = multicurrency or {}

    @activity.defn(name="payment_config")
    def payment_config(self, company_id: str = "") -> PostingConfig:
        """The posting settings, read by the workflow through history so a config change applies to new runs.

        In clearing-account mode the company's payments are deposited to its clearing account. Multicurrency is
        the company's own setting when it has one, else MLC_MULTICURRENCY.
        """
        config = self.posting
        multicurrency = self.multicurrency.get(company_id, config.multicurrency)
        if multicurrency != config.multicurrency:
            config = replace(config, multicurrency=multicurrency)
        account = self.clearing.get(company_id)
        if account:
            return replace(config, deposit_account=account, clearing_account=account)
        return config

    @activity.defn(name="audit_record")
    def record(self, rec: AuditRecord) -> int:
        with Session(self.engine) as db:
            existing = db.exec(
                select(AuditEntry).where(
                    AuditEntry.company_id == rec.company_id,
                    AuditEntry.workflow_id == rec.workflow_id,
                    AuditEntry.action == rec.action,
                    AuditEntry.stripe_object_id == rec.stripe_object_id,
                    AuditEntry.outcome == rec.outcome,
                    AuditEntry.qb_txn_id == rec.qb_txn_id,
                    AuditEntry.detail == rec.detail,
                )
            ).first()
            if existing is not None and rec.workflow_id:
                return existing.id or 0
            entry = AuditEntry(
                company_id=rec.company_id,
                action=rec.action,
                outcome=rec.outcome,
                stripe_event_id=rec.stripe_event_id[:80],
                stripe_object_id=rec.stripe_object_id[:80],
                stripe_customer_id=rec.stripe_customer_id[:80],
                qb_list_id=rec.qb_list_id[:40],
                qb_txn_id=rec.qb_txn_id[:40],
                amount=rec.amount[:30],
                currency=rec.currency[:3],
                workflow_id=rec.workflow_id[:300],
                error=rec.error,
                detail=rec.detail,
            )
            db.add(entry)
            db.commit()
            return entry.id or 0

    @activity.defn(name="audit_payment_history")
    def payment_history(self, query: HistoryQuery) -> PaymentHistory:
        with Session(self.engine) as db:
            rows = db.exec(
                select(AuditEntry)
                .where(
                    AuditEntry.company_id == query.company_id,
                    AuditEntry.stripe_object_id == query.payment_id,
                    col(AuditEntry.action).in_((Action.POSTING, *SETTLING)),
                )
                .order_by(col(AuditEntry.id))
            ).all()
        posted = next((r.qb_txn_id for r in rows if r.action in IN_QUICKBOOKS and r.qb_txn_id), "")
        attempts = sum(1 for r in rows if r.action == Action.POSTING)
        uncertain = bool(rows) and rows[-1].action == Action.POSTING
        return PaymentHistory(posted_txn_id=posted, attempts=attempts, uncertain=uncertain)

    @activity.defn(name="link_customer_lookup")
    def customer_link(self, query: LinkQuery) -> str | None:
        return self._qb_id(
            query, col(CustomerLink.qb_list_id), col(CustomerLink.company_id), col(CustomerLink.stripe_customer_id)
        )

    @activity.defn(name="link_customer_save")
    def save_customer_link(self, link: NewCustomerLink) -> None:
        with Session(self.engine) as db:
            db.add(
                CustomerLink(
                    company_id=link.company_id,
                    qb_list_id=link.qb_list_id,
                    stripe_customer_id=link.stripe_customer_id,
                    qb_full_name=link.qb_full_name[:250],
                    qb_edit_sequence=link.qb_edit_sequence[:20],
                    origin="stripe",
                    updated_at=utcnow(),
                )
            )
            try:
                db.commit()
            except IntegrityError:
                db.rollback()  # written by an earlier attempt (or the customer sync): the link stands

    @activity.defn(name="link_invoice_lookup")
    def invoice_link(self, query: LinkQuery) -> str | None:
        return self._qb_id(
            query, col(InvoiceLink.qb_txn_id), col(InvoiceLink.company_id), col(InvoiceLink.stripe_invoice_id)
        )

    def _qb_id(
        self, query: LinkQuery, qb_id: Mapped[str], company_id: Mapped[str], stripe_id: Mapped[str]
    ) -> str | None:
        """The QuickBooks id a link table pairs with the query's Stripe id: one lookup for every kind of link."""
        with Session(self.engine) as db:
            return db.exec(
                select(qb_id).where(company_id == query.company_id, stripe_id == query.stripe_id)
            ).first()

    @activity.defn(name="link_company_of_customer")
    def company_of_customer(self, stripe_customer_id: str) -> str | None:
        """With several companies, the one whose customer link names this Stripe customer (None if unknown)."""
        with Session(self.engine) as db:
            links = db.exec(
                select(CustomerLink).where(CustomerLink.stripe_customer_id == stripe_customer_id)
            ).all()
        companies = {link.company_id for link in links}
        return companies.pop() if len(companies) == 1 else None
