"""The ledger's rows: charge links (the QuickBooks side of each Stripe charge) and the postings made.

Read by the ledger activities (what is already posted, which charge belongs to which customer) and by
``ml-connector reconcile`` (what QuickBooks holds). Every function opens and commits its own short
session, never inside another's, so SQLite's single writer is never held across a network call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from ml_connector.ledger.model import ChargeContext
from ml_connector.ledger.reconcile import QbTxn
from ml_connector.storage.insert import insert_once
from ml_connector.storage.models import ChargeLink, LedgerPosting, StripeEvent


def record_charge(engine: Engine, link: ChargeLink) -> bool:
    """Store a charge's QuickBooks side once (first writer wins); True when this call stored it."""
    with Session(engine) as db:
        existing = db.exec(
            select(ChargeLink).where(
                ChargeLink.company_id == link.company_id, ChargeLink.charge_id == link.charge_id
            )
        ).first()
        if existing is not None:
            if not existing.qb_payment_txn_id and link.qb_payment_txn_id:
                existing.qb_payment_txn_id = link.qb_payment_txn_id
                db.add(existing)
                db.commit()
            return False
        return insert_once(db, link)


def charges(
    engine: Engine, company_id: str, charge_ids: Iterable[str] | None = None
) -> dict[str, ChargeContext]:
    """The recorded charges of a company (all, or those named), as the planner reads them."""
    query = select(ChargeLink).where(ChargeLink.company_id == company_id)
    wanted = sorted(set(charge_ids)) if charge_ids is not None else None
    found: dict[str, ChargeContext] = {}
    with Session(engine) as db:
        if wanted is None:
            rows = list(db.exec(query))
        else:
            rows = []
            for start in range(0, len(wanted), 500):
                rows.extend(db.exec(query.where(col(ChargeLink.charge_id).in_(wanted[start : start + 500]))))
    for row in rows:
        found[row.charge_id] = ChargeContext(
            charge_id=row.charge_id,
            customer_list_id=row.qb_customer_list_id,
            invoice_txn_id=row.qb_invoice_txn_id or None,
            invoice_ref_number=row.qb_invoice_ref_number or None,
            payment_txn_id=row.qb_payment_txn_id or None,
        )
    return found


def posted(engine: Engine, company_id: str) -> dict[str, QbTxn]:
    """Every posting key of the company with the QuickBooks transaction it became."""
    with Session(engine) as db:
        rows = list(db.exec(select(LedgerPosting).where(LedgerPosting.company_id == company_id)))
    return {
        row.posting_key: QbTxn(
            posting_key=row.posting_key,
            txn_id=row.qb_txn_id,
            txn_type=row.qb_txn_type,
            clearing_amount=Decimal(row.qb_amount or "0"),
        )
        for row in rows
    }


def posted_keys(engine: Engine, company_id: str, keys: Iterable[str]) -> set[str]:
    wanted = sorted(set(keys))
    found: set[str] = set()
    with Session(engine) as db:
        for start in range(0, len(wanted), 500):
            found.update(
                db.exec(
                    select(LedgerPosting.posting_key).where(
                        LedgerPosting.company_id == company_id,
                        col(LedgerPosting.posting_key).in_(wanted[start : start + 500]),
                    )
                )
            )
    return found


def record_posting(engine: Engine, row: LedgerPosting) -> bool:
    """Store a posting once; True when stored now, False when the key was already there."""
    with Session(engine) as db:
        exists = db.exec(
            select(LedgerPosting.id).where(
                LedgerPosting.company_id == row.company_id, LedgerPosting.posting_key == row.posting_key
            )
        ).first()
        if exists is not None:
            return False
        return insert_once(db, row)


def first_payment_date(engine: Engine, company_id: str) -> date | None:
    """The date of the first payment booked into the clearing account: where the ledger starts by default."""
    with Session(engine) as db:
        row = db.exec(
            select(LedgerPosting)
            .where(
                LedgerPosting.company_id == company_id,
                LedgerPosting.kind == "payment",
                col(LedgerPosting.txn_date).is_not(None),
            )
            .order_by(col(LedgerPosting.txn_date))
            .limit(1)
        ).first()
        return row.txn_date if row is not None else None


def payouts(engine: Engine, company_id: str, limit: int = 20) -> list[LedgerPosting]:
    """The newest payout deposits posted, for the status page."""
    with Session(engine) as db:
        return list(
            db.exec(
                select(LedgerPosting)
                .where(LedgerPosting.company_id == company_id, LedgerPosting.kind == "payout")
                .order_by(col(LedgerPosting.txn_date).desc(), col(LedgerPosting.id).desc())
                .limit(limit)
            )
        )


def event_seen(engine: Engine, event_type: str, object_ids: Iterable[str]) -> dict[str, datetime]:
    """For each object id, when Stripe raised ``event_type`` for it (from the stored webhooks), if it did.

    Stripe's objects do not say "this payout was paid before it failed" or "this dispute closed on";
    the verified events we stored do.
    """
    wanted = sorted(set(object_ids))
    seen: dict[str, datetime] = {}
    with Session(engine) as db:
        for start in range(0, len(wanted), 500):
            rows = db.exec(
                select(StripeEvent.object_id, StripeEvent.created).where(
                    StripeEvent.type == event_type,
                    col(StripeEvent.object_id).in_(wanted[start : start + 500]),
                )
            )
            for object_id, created in rows:
                at = created if created.tzinfo else created.replace(tzinfo=UTC)
                if object_id not in seen or at < seen[object_id]:
                    seen[object_id] = at
    return seen


def closed_on(engine: Engine, dispute_ids: Iterable[str]) -> dict[str, date]:
    return {
        k: v.astimezone(UTC).date()
        for k, v in event_seen(engine, "charge.dispute.closed", dispute_ids).items()
    }
