"""The link table (QuickBooks customer/invoice ↔ Stripe customer/invoice): reads, writes and its rebuild.

The table is a cache of links that also live in both systems (the Stripe id on the QuickBooks customer, the
ListID/TxnID in Stripe metadata), so ``rebuild_*`` can reconstruct it from QuickBooks pages and Stripe
listings alone. Rebuilding reconciles rather than wipes: a sync running at the same time never sees an empty
table (which would make it create customers again).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities.stripe_customer import StripeCustomerInput
from activities.sync_pages import PageInput, link_field_of, read_page
from ml_connector.config import Settings
from ml_connector.qbxml.customers import parse_customers
from ml_connector.storage.models import CustomerLink, InvoiceLink, utcnow
from ml_connector.stripe.client import StripeGateway
from ml_connector.stripe.idempotency import params_fingerprint
from ml_connector.sync.customers import stripe_state
from ml_connector.sync.link_field import LinkField, LinkFieldKind, stripe_id_on

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncConfig:
    """What a company's sync workflow reads at the start of each run (so configuration changes apply)."""

    poll_seconds: int
    link_field: str
    dataext_name: str

    @property
    def link(self) -> LinkField:
        """Where the Stripe id lives on a QuickBooks customer (``link_field`` is its kind, a plain str in the
        recorded histories)."""
        return LinkField(cast(LinkFieldKind, self.link_field), self.dataext_name)


@dataclass(frozen=True)
class PendingInput:
    company_id: str
    after_id: int = 0
    limit: int = 100


@dataclass(frozen=True)
class PendingWriteBack:
    link_id: int
    list_id: str
    stripe_customer_id: str


@dataclass(frozen=True)
class MarkInput:
    company_id: str
    list_ids: list[str]


@dataclass(frozen=True)
class LinkInfo:
    qb_list_id: str
    stripe_customer_id: str
    origin: str
    stripe_fingerprint: str
    written_back: bool


@dataclass(frozen=True)
class RecordLinkInput:
    company_id: str
    qb_list_id: str
    stripe_customer_id: str
    qb_edit_sequence: str
    qb_full_name: str
    stripe_fingerprint: str
    written_back: bool
    origin: str = "stripe"


@dataclass(frozen=True)
class RebuildSummary:
    counts: dict[str, int] = field(default_factory=dict)


class LinkActivities:
    def __init__(self, settings: Settings, engine: Engine, gateway: StripeGateway | None) -> None:
        self.settings = settings
        self.engine = engine
        self.gateway = gateway

    @activity.defn(name="customer_sync_config")
    def customer_sync_config(self, company_id: str) -> SyncConfig:
        company = self.settings.company(company_id)
        link_field = link_field_of(self.settings)
        return SyncConfig(company.poll_minutes * 60, link_field.kind, link_field.dataext_name)

    @activity.defn(name="pending_write_backs")
    def pending_write_backs(self, inp: PendingInput) -> list[PendingWriteBack]:
        """Links whose Stripe id is not yet stored in QuickBooks (a poll stopped short, or QuickBooks was away)."""
        with Session(self.engine) as db:
            rows = db.exec(
                select(CustomerLink)
                .where(
                    CustomerLink.company_id == inp.company_id,
                    CustomerLink.written_back == False,  # noqa: E712 - SQL comparison
                    col(CustomerLink.id) > inp.after_id,
                )
                .order_by(col(CustomerLink.id))
                .limit(inp.limit)
            ).all()
            return [PendingWriteBack(r.id or 0, r.qb_list_id, r.stripe_customer_id) for r in rows]

    @activity.defn(name="mark_written_back")
    def mark_written_back(self, inp: MarkInput) -> None:
        if not inp.list_ids:
            return
        with Session(self.engine) as db:
            for row in db.exec(
                select(CustomerLink).where(
                    CustomerLink.company_id == inp.company_id, col(CustomerLink.qb_list_id).in_(inp.list_ids)
                )
            ).all():
                row.written_back = True
                row.updated_at = utcnow()
                db.add(row)
            db.commit()

    @activity.defn(name="find_customer_link")
    def find_customer_link(self, inp: StripeCustomerInput) -> LinkInfo | None:
        with Session(self.engine) as db:
            row = db.exec(
                select(CustomerLink).where(
                    CustomerLink.company_id == inp.company_id,
                    CustomerLink.stripe_customer_id == inp.stripe_customer_id,
                )
            ).first()
            if row is None:
                return None
            return LinkInfo(
                row.qb_list_id, row.stripe_customer_id, row.origin, row.stripe_fingerprint, row.written_back
            )

    @activity.defn(name="record_customer_link")
    def record_customer_link(self, inp: RecordLinkInput) -> None:
        with Session(self.engine) as db:
            row = db.exec(
                select(CustomerLink).where(
                    CustomerLink.company_id == inp.company_id, CustomerLink.qb_list_id == inp.qb_list_id
                )
            ).first()
            if row is None:
                row = CustomerLink(
                    company_id=inp.company_id,
                    qb_list_id=inp.qb_list_id,
                    stripe_customer_id=inp.stripe_customer_id,
                    origin=inp.origin,
                )
            row.stripe_customer_id = inp.stripe_customer_id
            row.qb_edit_sequence = inp.qb_edit_sequence or row.qb_edit_sequence
            row.qb_full_name = inp.qb_full_name or row.qb_full_name
            row.stripe_fingerprint = inp.stripe_fingerprint
            row.written_back = inp.written_back
            row.updated_at = utcnow()
            db.add(row)
            db.commit()

    # ---- rebuild -------------------------------------------------------------------------------------

    @activity.defn(name="rebuild_links_from_stripe")
    def rebuild_links_from_stripe(self, company_id: str) -> RebuildSummary:
        """Every Stripe customer and invoice whose metadata names this company file becomes a link."""
        if self.gateway is None:
            raise RuntimeError("Stripe is not configured: set MLC_STRIPE_API_KEY")
        gateway = self.gateway
        counts: Counter[str] = Counter()
        claims: dict[str, tuple[str, int]] = {}
        fingerprints: dict[str, str] = {}
        for customer in _auto_page(
            lambda after: gateway.call(lambda c: c.v1.customers.list(_page(after))).to_dict()
        ):
            metadata = customer.get("metadata") or {}
            list_id = metadata.get("qb_list_id")
            if not list_id or metadata.get("qb_company") not in (None, "", company_id):
                continue
            created = int(customer.get("created") or 0)
            earlier = claims.get(list_id)
            if earlier is not None:
                counts["stripe_duplicates"] += 1
                log.warning("links rebuild: %s and %s both claim QuickBooks customer %s", earlier[0],
                            customer["id"], list_id)  # fmt: skip
                if earlier[1] <= created:
                    continue
            claims[list_id] = (str(customer["id"]), created)
            fingerprints[str(customer["id"])] = params_fingerprint(stripe_state(customer))
        invoices: dict[str, tuple[str, str, str]] = {}
        for invoice in _auto_page(
            lambda after: gateway.call(lambda c: c.v1.invoices.list(_page(after))).to_dict()
        ):
            metadata = invoice.get("metadata") or {}
            txn_id = metadata.get("qb_txn_id")
            if not txn_id or metadata.get("qb_company") != company_id:
                continue
            state = {"paid": "paid", "void": "voided"}.get(str(invoice.get("status")), "open")
            current = invoices.get(txn_id)
            if current is None or (current[1] == "voided" and state != "voided"):
                invoices[txn_id] = (str(invoice["id"]), state, str(metadata.get("qb_content") or ""))
        with Session(self.engine) as db:
            existing = {
                r.qb_list_id: r
                for r in db.exec(select(CustomerLink).where(CustomerLink.company_id == company_id)).all()
            }
            taken = {r.stripe_customer_id: r.qb_list_id for r in existing.values()}
            for list_id, (stripe_id, _) in claims.items():
                row = existing.get(list_id)
                if row is not None and row.stripe_customer_id == stripe_id:
                    counts["customers_confirmed"] += 1
                    continue
                if taken.get(stripe_id, list_id) != list_id:
                    counts["customer_conflicts"] += 1
                    continue
                if row is None:
                    row = CustomerLink(
                        company_id=company_id, qb_list_id=list_id, stripe_customer_id=stripe_id
                    )
                    counts["customers_restored"] += 1
                else:
                    counts["customers_corrected"] += 1
                row.stripe_customer_id = stripe_id
                row.stripe_fingerprint = fingerprints.get(stripe_id, "")
                row.written_back = False
                row.updated_at = utcnow()
                db.add(row)
            links = {
                r.qb_txn_id: r
                for r in db.exec(select(InvoiceLink).where(InvoiceLink.company_id == company_id)).all()
            }
            for txn_id, (stripe_id, state, content) in invoices.items():
                inv = links.get(txn_id)
                if inv is not None and inv.stripe_invoice_id == stripe_id:
                    counts["invoices_confirmed"] += 1
                    continue
                if inv is None:
                    inv = InvoiceLink(company_id=company_id, qb_txn_id=txn_id, stripe_invoice_id=stripe_id)
                    counts["invoices_restored"] += 1
                inv.stripe_invoice_id = stripe_id
                inv.state = state
                inv.content_fingerprint = content
                inv.qb_edit_sequence = ""
                inv.updated_at = utcnow()
                db.add(inv)
            db.commit()
        return RebuildSummary(dict(counts))

    @activity.defn(name="rebuild_links_from_qb_page")
    def rebuild_links_from_qb_page(self, inp: PageInput) -> RebuildSummary:
        """The Stripe id each QuickBooks customer holds: confirms links, restores missing ones (QuickBooks
        wins over Stripe metadata), and marks links whose id still has to be written back."""
        xml = read_page(self.engine, inp.request_id, inp.page_no)
        customers = [c for c in (parse_customers(xml) if xml else []) if c.sublevel == 0]
        field_ = link_field_of(self.settings)
        counts: Counter[str] = Counter()
        with Session(self.engine) as db:
            rows = {
                r.qb_list_id: r
                for r in db.exec(
                    select(CustomerLink).where(
                        CustomerLink.company_id == inp.company_id,
                        col(CustomerLink.qb_list_id).in_([c.list_id for c in customers]),
                    )
                ).all()
            }
            held_ids = {c.list_id: stripe_id_on(c, field_) for c in customers}
            owners = _owners(db, inp.company_id, (h for h in held_ids.values() if h))
            for customer in customers:
                held = held_ids[customer.list_id]
                row = rows.get(customer.list_id)
                if held is None:
                    if row is not None:
                        row.written_back = False
                        counts["to_write_back"] += 1
                elif row is not None and row.stripe_customer_id == held:
                    row.written_back = True
                    counts["customers_confirmed"] += 1
                elif owners.get(held, customer.list_id) != customer.list_id:
                    counts["customer_conflicts"] += 1
                    continue
                else:
                    if row is None:
                        row = CustomerLink(company_id=inp.company_id, qb_list_id=customer.list_id,
                                           stripe_customer_id=held)  # fmt: skip
                        counts["customers_restored"] += 1
                    else:
                        counts["customers_corrected"] += 1
                    row.stripe_customer_id = held
                    row.stripe_fingerprint = ""
                    row.written_back = True
                if row is None:
                    continue
                row.qb_edit_sequence = row.qb_edit_sequence if row.stripe_fingerprint else ""
                row.qb_full_name = customer.full_name
                row.updated_at = utcnow()
                db.add(row)
            db.commit()
        return RebuildSummary(dict(counts))


def _owners(db: Session, company_id: str, stripe_ids: Iterable[str]) -> dict[str, str]:
    return {
        r.stripe_customer_id: r.qb_list_id
        for r in db.exec(
            select(CustomerLink).where(
                CustomerLink.company_id == company_id,
                col(CustomerLink.stripe_customer_id).in_(list(stripe_ids)),
            )
        ).all()
    }


def _page(after: str | None) -> Any:
    params: dict[str, Any] = {"limit": 100}
    if after:
        params["starting_after"] = after
    return params


def _auto_page(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Walk a Stripe list endpoint page by page (one page in memory at a time)."""
    after: str | None = None
    while True:
        page = fetch(after)
        data = list(page.get("data") or [])
        yield from data
        if not page.get("has_more") or not data:
            return
        after = str(data[-1]["id"])
