"""Reading the audit trail for people: what `ml-connector audit` lists and `ml-connector replay` looks up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from ml_connector.payments.model import PaymentInput
from ml_connector.storage.models import AuditEntry, StripeEvent

FAILED_OUTCOMES = ("failed", "held", "refused")


@dataclass(frozen=True)
class AuditFilter:
    failed: bool = False
    customer: str | None = None  # Stripe customer id or QuickBooks ListID
    since: date | None = None
    company_id: str | None = None
    payment: str | None = None  # Stripe payment id (pi_/ch_) or event id
    limit: int = 500


def list_entries(engine: Engine, flt: AuditFilter) -> list[AuditEntry]:
    """Newest first. ``failed`` keeps entries that need a person: failed, held or refused."""
    query = select(AuditEntry)
    if flt.failed:
        query = query.where(col(AuditEntry.outcome).in_(FAILED_OUTCOMES))
    if flt.customer:
        query = query.where(
            or_(AuditEntry.stripe_customer_id == flt.customer, AuditEntry.qb_list_id == flt.customer)
        )
    if flt.since is not None:
        query = query.where(col(AuditEntry.at) >= datetime.combine(flt.since, time.min, tzinfo=UTC))
    if flt.company_id:
        query = query.where(AuditEntry.company_id == flt.company_id)
    if flt.payment:
        query = query.where(
            or_(AuditEntry.stripe_object_id == flt.payment, AuditEntry.stripe_event_id == flt.payment)
        )
    query = query.order_by(col(AuditEntry.id).desc()).limit(flt.limit)
    with Session(engine) as db:
        return list(db.exec(query).all())


def entry_dict(entry: AuditEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        # SQLite hands back naive datetimes; they were written in UTC.
        "at": (entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)).isoformat()
        if entry.at
        else None,
        "company_id": entry.company_id,
        "action": entry.action,
        "outcome": entry.outcome,
        "stripe_event_id": entry.stripe_event_id,
        "stripe_object_id": entry.stripe_object_id,
        "stripe_customer_id": entry.stripe_customer_id,
        "qb_list_id": entry.qb_list_id,
        "qb_txn_id": entry.qb_txn_id,
        "amount": entry.amount,
        "currency": entry.currency,
        "workflow_id": entry.workflow_id,
        "error": entry.error,
        "detail": entry.detail,
    }


def to_json(entries: Sequence[AuditEntry]) -> str:
    return json.dumps([entry_dict(e) for e in entries], indent=2, ensure_ascii=False)


def to_table(entries: Sequence[AuditEntry]) -> str:
    if not entries:
        return "no audit entries match\n"
    lines = [
        f"{'AT (UTC)':<19}  {'COMPANY':<10} {'ACTION':<28} {'OUTCOME':<8} {'STRIPE':<30} {'QB TXN':<20} AMOUNT"
    ]
    for e in entries:
        at = (
            (e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            if e.at
            else ""
        )
        amount = f"{e.amount} {e.currency.upper()}".strip()
        lines.append(
            f"{at:<19}  {e.company_id[:10]:<10} {e.action[:28]:<28} {e.outcome[:8]:<8} "
            f"{e.stripe_object_id[:30]:<30} {e.qb_txn_id[:20]:<20} {amount}"
        )
        note = e.error or e.detail
        if note:
            lines.append(f"{'':<21}{note}")
    return "\n".join(lines) + "\n"


def replay_targets(engine: Engine, stripe_id: str, companies: Sequence[str]) -> list[PaymentInput]:
    """Which payment workflows a replay of ``stripe_id`` (event, PaymentIntent or charge) must poke: each as the
    input that starts (or signals) it."""
    with Session(engine) as db:
        if stripe_id.startswith("evt_"):
            event = db.get(StripeEvent, stripe_id)
            if event is None or not event.workflow_id.startswith("payment/"):
                return []  # unknown, or not a payment's event (customer events replay elsewhere)
            _, company, key = event.workflow_id.split("/", 2)
            kind = (
                "payment_intent"
                if key.startswith("pi_")
                else "invoice"
                if key.startswith("in_")
                else "charge"
            )
            return [PaymentInput(company, key, kind)]
        rows = db.exec(
            select(AuditEntry.company_id, AuditEntry.stripe_customer_id).where(
                AuditEntry.stripe_object_id == stripe_id
            )
        ).all()
    kind = "payment_intent" if stripe_id.startswith("pi_") else "charge"
    known = {company: customer or None for company, customer in rows if company in companies}
    if not known and len(companies) == 1:
        known = {companies[0]: None}
    return [PaymentInput(company, stripe_id, kind, customer) for company, customer in sorted(known.items())]
