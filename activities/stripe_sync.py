"""Syncing QuickBooks pages into Stripe: one stored iterator page per activity, Stripe calls in parallel.

Why one page per activity: a page (≤ 100 customers or invoices) is read from the database, decided on by the
pure rules in ``ml_connector.sync``, pushed to Stripe, and its links stored in one transaction. The activity
returns counts and the page's write-backs (small), never customer data, so a company of any size keeps a flat
memory profile and a small workflow history; a retried activity redoes one page, and every write it repeats
carries the same deterministic idempotency key (and, for creates, the exact parameters it first sent: see
``StripeWriteIntent``).

Why threads: the rate limiter, not latency, should bound throughput. A page's Stripe requests run on a small
thread pool and all pass through the process-wide limiter, so Stripe sees requests at close to the configured
rate however slow each round trip is.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import stripe
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ml_connector.config import Settings
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbxml.customers import Customer, parse_customers
from ml_connector.qbxml.deleted import DeletedTxn, parse_deleted
from ml_connector.qbxml.invoices import Invoice, parse_invoices
from ml_connector.storage.models import (
    AuditEntry,
    CustomerLink,
    InvoiceLink,
    QbRequest,
    QbResponsePage,
    StripeWriteIntent,
    utcnow,
)
from ml_connector.stripe.client import StripeGateway
from ml_connector.stripe.idempotency import key
from ml_connector.sync import customers as customer_rules
from ml_connector.sync import invoices as invoice_rules
from ml_connector.sync.customers import CustomerAction, CustomerDecision, LinkState
from ml_connector.sync.invoices import BillTo, InvoiceAction, InvoiceContent, InvoiceLinkState
from ml_connector.sync.link_field import LinkField, stripe_id_on
from ml_connector.sync.stripe_customers import StripeCustomer
from ml_connector.sync.watermark import advance, earliest

log = logging.getLogger(__name__)
T = TypeVar("T")


class StripeNotConfigured(ApplicationError):
    pass


@dataclass(frozen=True)
class PageInput:
    """One stored page of an iterator query (``QbRunResult.request_id``, page ``page_no`` from 0)."""

    company_id: str
    request_id: int
    page_no: int


@dataclass(frozen=True)
class WriteBackItem:
    """A customer whose Stripe id must be stored in QuickBooks, with what we read of it (a first attempt
    needs no re-read; a conflict falls back to read-and-re-apply)."""

    list_id: str
    stripe_customer_id: str
    edit_sequence: str
    notes: str | None = None
    has_field: bool = False


@dataclass(frozen=True)
class PageSummary:
    """What one page did. ``newest`` is the newest TimeModified read; ``hold`` the oldest one that must be
    read again (a Stripe failure), so the workflow never moves its watermark past unfinished work."""

    counts: dict[str, int] = field(default_factory=dict)
    newest: str | None = None
    hold: str | None = None
    write_backs: list[WriteBackItem] = field(default_factory=list)
    stripe_requests: int = 0


@dataclass(frozen=True)
class StripeCustomerInput:
    company_id: str
    stripe_customer_id: str


@dataclass(frozen=True)
class TagCustomerInput:
    company_id: str
    stripe_customer_id: str
    qb_list_id: str


def link_field_of(settings: Settings) -> LinkField:
    return LinkField(settings.posting.customer_link_field, settings.posting.customer_link_dataext_name)  # type: ignore[arg-type]


def read_page(engine: Engine, request_id: int, page_no: int) -> str | None:
    """A stored page; page 0 of a request whose one answer was small enough to be kept inline."""
    with Session(engine) as db:
        return read_page_in(db, request_id, page_no)


def read_page_in(db: Session, request_id: int, page_no: int) -> str | None:
    page = db.exec(
        select(QbResponsePage).where(
            QbResponsePage.request_id == request_id, QbResponsePage.page_no == page_no
        )
    ).first()
    if page is not None:
        return page.xml
    if page_no == 0:
        row = db.get(QbRequest, request_id)
        return row.response if row is not None else None
    return None


class _Counter:
    """Counts this page's Stripe requests (attempts, as the limiter sees them) for the benchmark."""

    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway
        self.start = gateway.stats().limiter.acquired

    @property
    def used(self) -> int:
        return self.gateway.stats().limiter.acquired - self.start


class StripeSyncActivities:
    """Holds the Stripe gateway (and its process-wide limiter), the database and the request queue."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        queue: RequestQueue,
        gateway: StripeGateway | None,
        *,
        threads: int = 16,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.queue = queue
        self._gateway = gateway
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mlc-stripe")

    @property
    def gateway(self) -> StripeGateway:
        if self._gateway is None:
            raise StripeNotConfigured(
                "Stripe is not configured: set MLC_STRIPE_API_KEY (and MLC_STRIPE_API_BASE for a local server)",
                type="StripeNotConfigured",
                non_retryable=True,
            )
        return self._gateway

    def _parallel(self, work: Sequence[Callable[[], T]]) -> list[T | BaseException]:
        """Run Stripe operations on the pool; each result is its value or the exception it raised."""

        def guarded(fn: Callable[[], T]) -> T | BaseException:
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - reported per object, never lost
                return exc

        return list(self.pool.map(guarded, work))

    # ---- customers -----------------------------------------------------------------------------------

    @activity.defn(name="sync_customer_page")
    def sync_customer_page(self, inp: PageInput) -> PageSummary:
        gateway = self.gateway
        counter = _Counter(gateway)
        field_ = link_field_of(self.settings)
        company = inp.company_id

        def creates(decisions: dict[str, CustomerDecision]) -> dict[str, dict[str, Any]]:
            return {
                key("customer.create", company, lid): customer_rules.create_params(d.state or {})
                for lid, d in decisions.items()
                if d.action is CustomerAction.CREATE
            }

        # Reading the page and its links and storing the creates' intents is one transaction: on SQLite every
        # transaction queues for the single write lock (BEGIN IMMEDIATE) behind the gateway and the
        # write-backs, and each wait here is time the rate limiter may sit idle.
        with Session(self.engine, expire_on_commit=False) as db:
            xml = read_page_in(db, inp.request_id, inp.page_no)
            customers = parse_customers(xml) if xml else []
            if not customers:
                return PageSummary()
            links = self._customer_links_in(db, company, [c.list_id for c in customers])
            decisions = {
                c.list_id: customer_rules.decide(c, _link_state(links.get(c.list_id)), company, field_)
                for c in customers
            }
            adopting = any(d.action is CustomerAction.ADOPT for d in decisions.values())
            if not adopting:
                intents = self._store_intents(db, company, creates(decisions))
                db.commit()
        if adopting:  # asks Stripe, so outside any transaction; rare (a lost database)
            decisions.update(self._resolve_adoptions(customers, decisions, links, company))
            intents = self._intents(company, creates(decisions))

        def push(customer: Customer, decision: CustomerDecision) -> str:
            state = decision.state or {}
            if decision.action is CustomerAction.CREATE:
                create_key = key("customer.create", company, customer.list_id)
                sent = intents[create_key]
                created = gateway.call(
                    lambda c: c.v1.customers.create(sent, options={"idempotency_key": create_key})  # type: ignore[arg-type]
                )
                stripe_id = str(created["id"])
                if sent != customer_rules.create_params(state):
                    self._update_customer(stripe_id, state)  # the intent was older than this read
                return stripe_id
            stripe_id = decision.stripe_customer_id or links[customer.list_id].stripe_customer_id
            self._update_customer(stripe_id, state)
            return stripe_id

        to_push = [
            (c, decisions[c.list_id])
            for c in customers
            if decisions[c.list_id].action
            in (CustomerAction.CREATE, CustomerAction.UPDATE, CustomerAction.ADOPT)
        ]
        outcomes = self._parallel([partial(push, c, d) for c, d in to_push])
        pushed = dict(zip((c.list_id for c, _ in to_push), outcomes, strict=True))

        counts: Counter[str] = Counter()
        hold: str | None = None
        write_backs: list[WriteBackItem] = []
        now = utcnow()
        with Session(self.engine) as db:
            for customer in customers:
                decision = decisions[customer.list_id]
                link = links.get(customer.list_id)
                outcome = pushed.get(customer.list_id)
                if isinstance(outcome, BaseException):
                    counts["failed"] += 1
                    hold = earliest(
                        hold, customer.time_modified.wall_clock if customer.time_modified else None
                    )
                    log.warning(
                        "customer sync: %s %s failed: %s",
                        decision.action,
                        customer.list_id,
                        _describe(outcome),
                    )
                    continue
                counts[decision.action.value] += 1
                if decision.action is CustomerAction.SKIP:
                    continue
                if outcome is not None:
                    link = self._upsert_link(db, link, company, customer, outcome, decision.fingerprint, now)
                    if decision.action is CustomerAction.CREATE:
                        intent = db.get(StripeWriteIntent, key("customer.create", company, customer.list_id))
                        if intent is not None:
                            db.delete(intent)
                elif link is not None:
                    link.qb_edit_sequence = customer.edit_sequence
                    link.qb_full_name = customer.full_name
                    if decision.fingerprint and decision.fingerprint == link.stripe_fingerprint:
                        link.updated_at = now
                    db.add(link)
                if link is None:
                    continue
                held = stripe_id_on(customer, field_)
                link.written_back = held == link.stripe_customer_id
                db.add(link)
                if held is not None and held != link.stripe_customer_id:
                    counts["link_conflict"] += 1
                    log.warning(
                        "customer %s holds Stripe id %s in QuickBooks but is linked to %s; left for review",
                        customer.list_id,
                        held,
                        link.stripe_customer_id,
                    )
                elif not link.written_back:
                    write_backs.append(
                        WriteBackItem(
                            list_id=customer.list_id,
                            stripe_customer_id=link.stripe_customer_id,
                            edit_sequence=customer.edit_sequence,
                            notes=customer.notes if field_.kind == "notes" else None,
                            has_field=field_.dataext_name in customer.data_ext,
                        )
                    )
            db.commit()
        if to_push and counts["failed"] == len(to_push) and len(to_push) >= 3:
            failure = next(o for o in outcomes if isinstance(o, BaseException))
            raise ApplicationError(f"every Stripe request of this page failed: {_describe(failure)}")
        return PageSummary(
            counts=dict(counts),
            newest=advance(None, (c.time_modified for c in customers)),
            hold=hold,
            write_backs=write_backs,
            stripe_requests=counter.used,
        )

    def _retrieve_customer(self, stripe_id: str) -> dict[str, Any]:
        found = self.gateway.call(lambda c: c.v1.customers.retrieve(stripe_id))
        return found.to_dict()

    def _update_customer(self, stripe_id: str, state: dict[str, Any] | Any) -> None:
        params = customer_rules.update_params(state)
        update_key = key("customer.update", stripe_id, params=params)
        self.gateway.call(
            lambda c: c.v1.customers.update(stripe_id, params, options={"idempotency_key": update_key})  # type: ignore[arg-type]
        )

    def _resolve_adoptions(
        self,
        customers: Sequence[Customer],
        decisions: dict[str, CustomerDecision],
        links: dict[str, CustomerLink],
        company: str,
    ) -> dict[str, CustomerDecision]:
        """QuickBooks names a Stripe customer we have no link for: adopt it if Stripe agrees, else create.

        This is what keeps a lost database from duplicating every customer before ``links rebuild`` runs.
        """
        adopt = [c for c in customers if decisions[c.list_id].action is CustomerAction.ADOPT]
        if not adopt:
            return {}
        taken = self._linked_stripe_ids(
            company, [decisions[c.list_id].stripe_customer_id or "" for c in adopt]
        )
        fetched = self._parallel(
            [partial(self._retrieve_customer, decisions[c.list_id].stripe_customer_id or "") for c in adopt]
        )
        out: dict[str, CustomerDecision] = {}
        for customer, found in zip(adopt, fetched, strict=True):
            decision = decisions[customer.list_id]
            ok = not isinstance(found, BaseException) and not found.get("deleted")
            if ok and not isinstance(found, BaseException):
                snapshot = StripeCustomer.from_api(found)
                ok = snapshot.qb_list_id in (None, customer.list_id) and snapshot.qb_company in (
                    None,
                    company,
                )
            if ok and decision.stripe_customer_id not in taken:
                continue
            out[customer.list_id] = CustomerDecision(
                CustomerAction.CREATE if customer.is_active else CustomerAction.SKIP,
                "the Stripe id in QuickBooks does not name this customer in Stripe",
                decision.state,
                decision.fingerprint,
            )
        return out

    @staticmethod
    def _customer_links_in(db: Session, company: str, list_ids: Iterable[str]) -> dict[str, CustomerLink]:
        rows = db.exec(
            select(CustomerLink).where(
                CustomerLink.company_id == company, col(CustomerLink.qb_list_id).in_(list(list_ids))
            )
        ).all()
        return {row.qb_list_id: row for row in rows}

    def _linked_stripe_ids(self, company: str, stripe_ids: Iterable[str]) -> set[str]:
        with Session(self.engine) as db:
            rows = db.exec(
                select(CustomerLink.stripe_customer_id).where(
                    CustomerLink.company_id == company,
                    col(CustomerLink.stripe_customer_id).in_(list(stripe_ids)),
                )
            ).all()
            return set(rows)

    def _intents(self, company: str, wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The parameters each create must send: those of an earlier, unfinished attempt if there was one."""
        if not wanted:
            return {}
        with Session(self.engine) as db:
            stored = self._store_intents(db, company, wanted)
            db.commit()
        return stored

    @staticmethod
    def _store_intents(
        db: Session, company: str, wanted: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Within the caller's transaction (which commits): earlier intents win, new ones are added."""
        if not wanted:
            return {}
        stored = {
            row.key: json.loads(row.params)
            for row in db.exec(
                select(StripeWriteIntent).where(col(StripeWriteIntent.key).in_(list(wanted)))
            ).all()
        }
        for intent_key, params in wanted.items():
            if intent_key not in stored:
                db.add(StripeWriteIntent(key=intent_key, company_id=company, params=json.dumps(params)))
                stored[intent_key] = params
        return stored

    @staticmethod
    def _upsert_link(
        db: Session,
        link: CustomerLink | None,
        company: str,
        customer: Customer,
        stripe_id: str,
        fingerprint: str,
        now: datetime,
    ) -> CustomerLink:
        if link is None:
            link = CustomerLink(company_id=company, qb_list_id=customer.list_id, stripe_customer_id=stripe_id)
        link.stripe_customer_id = stripe_id
        link.qb_edit_sequence = customer.edit_sequence
        link.qb_full_name = customer.full_name
        link.stripe_fingerprint = fingerprint
        link.updated_at = now
        db.add(link)
        return link

    # ---- invoices ------------------------------------------------------------------------------------

    @activity.defn(name="sync_invoice_page")
    def sync_invoice_page(self, inp: PageInput) -> PageSummary:
        xml = read_page(self.engine, inp.request_id, inp.page_no)
        invoices = parse_invoices(xml) if xml else []
        if not invoices:
            return PageSummary()
        gateway = self.gateway
        counter = _Counter(gateway)
        company = inp.company_id
        currency, zone = self._company_money(company)
        inv_links, bill_to = self._invoice_context(company, invoices)
        decisions = {
            inv.txn_id: invoice_rules.decide(
                inv, _invoice_link_state(inv_links.get(inv.txn_id)), bill_to.get(inv.txn_id), currency
            )
            for inv in invoices
        }
        acting = [
            inv
            for inv in invoices
            if decisions[inv.txn_id].action not in (InvoiceAction.UNCHANGED, InvoiceAction.SKIP)
        ]
        now = datetime.now(UTC)
        plans = self._intents(
            company,
            {
                key("invoice.create", company, inv.txn_id): self._plan(
                    inv, decisions[inv.txn_id].content, inv_links.get(inv.txn_id), company, zone, now
                )
                for inv in acting
                if decisions[inv.txn_id].content is not None
            },
        )
        outcomes = self._parallel(
            [
                partial(
                    self._apply_invoice,
                    company,
                    inv,
                    decisions[inv.txn_id].action,
                    inv_links.get(inv.txn_id),
                    plans.get(key("invoice.create", company, inv.txn_id)),
                )
                for inv in acting
            ]
        )
        results = dict(zip((inv.txn_id for inv in acting), outcomes, strict=True))

        counts: Counter[str] = Counter()
        hold: str | None = None
        stamp = utcnow()
        with Session(self.engine) as db:
            for inv in invoices:
                decision = decisions[inv.txn_id]
                link = inv_links.get(inv.txn_id)
                outcome = results.get(inv.txn_id)
                if isinstance(outcome, BaseException):
                    counts["failed"] += 1
                    hold = earliest(hold, inv.time_modified.wall_clock if inv.time_modified else None)
                    log.warning(
                        "invoice sync: %s %s failed: %s", decision.action, inv.txn_id, _describe(outcome)
                    )
                    continue
                counts[decision.action.value] += 1
                if isinstance(outcome, _InvoiceOutcome):
                    if link is None:
                        link = InvoiceLink(company_id=company, qb_txn_id=inv.txn_id, stripe_invoice_id="")
                    link.stripe_invoice_id = outcome.stripe_invoice_id
                    link.state = outcome.state
                    if outcome.content_fingerprint is not None:
                        link.content_fingerprint = outcome.content_fingerprint
                    intent = db.get(StripeWriteIntent, key("invoice.create", company, inv.txn_id))
                    if intent is not None:
                        db.delete(intent)
                stale = (
                    isinstance(outcome, _InvoiceOutcome)
                    and outcome.content_fingerprint is not None
                    and decision.content is not None
                    and outcome.content_fingerprint != decision.content.fingerprint()
                )
                if stale:
                    # An earlier attempt's create was replayed; this read's content goes out next poll.
                    hold = earliest(hold, inv.time_modified.wall_clock if inv.time_modified else None)
                if link is not None:
                    link.qb_edit_sequence = "" if stale else inv.edit_sequence
                    link.qb_ref_number = (inv.ref_number or "")[:20]
                    link.updated_at = stamp
                    db.add(link)
            db.commit()
        if acting and counts["failed"] == len(acting) and len(acting) >= 3:
            failure = next(o for o in outcomes if isinstance(o, BaseException))
            raise ApplicationError(f"every Stripe request of this page failed: {_describe(failure)}")
        return PageSummary(
            counts=dict(counts),
            newest=advance(None, (inv.time_modified for inv in invoices)),
            hold=hold,
            stripe_requests=counter.used,
        )

    @activity.defn(name="sync_deleted_invoices")
    def sync_deleted_invoices(self, inp: PageInput) -> PageSummary:
        """Invoices deleted in QuickBooks (a stored TxnDeletedQuery answer) leave Stripe's circulation.

        A deleted invoice never shows up in a modified-since InvoiceQuery again, so this is the only place its
        Stripe invoice is withdrawn: voided if finalized, deleted if a draft. The link stays, with state
        ``deleted`` and an audit row, so a re-read of the same deletion (the window overlaps) sends nothing.
        A Stripe failure holds the watermark at that deletion, so the next poll tries again.
        """
        xml = read_page(self.engine, inp.request_id, inp.page_no)
        deleted = [d for d in (parse_deleted(xml) if xml else []) if d.txn_del_type == "Invoice"]
        if not deleted:
            return PageSummary()
        company = inp.company_id
        with Session(self.engine) as db:
            links = _invoice_links(db, company, [d.txn_id for d in deleted])
        decisions = {
            d.txn_id: invoice_rules.decide_deleted(_invoice_link_state(links.get(d.txn_id))) for d in deleted
        }
        acting = [d for d in deleted if decisions[d.txn_id].action is InvoiceAction.WITHDRAW]
        counter = _Counter(self.gateway) if acting else None
        outcomes = self._parallel(
            [partial(self._withdraw_deleted, links[d.txn_id].stripe_invoice_id) for d in acting]
        )
        found_status: dict[str, str | BaseException] = dict(
            zip((d.txn_id for d in acting), outcomes, strict=True)
        )

        counts: Counter[str] = Counter()
        hold: str | None = None
        stamp = utcnow()
        workflow_id = (activity.info().workflow_id or "") if activity.in_activity() else ""
        with Session(self.engine) as db:
            for gone in deleted:
                decision = decisions[gone.txn_id]
                link = links.get(gone.txn_id)
                outcome = found_status.get(gone.txn_id)
                if isinstance(outcome, BaseException):
                    counts["deleted.failed"] += 1
                    hold = earliest(hold, gone.time_deleted.wall_clock if gone.time_deleted else None)
                    log.warning(
                        "invoice %s deleted in QuickBooks: withdrawing Stripe invoice %s failed: %s",
                        gone.txn_id,
                        link.stripe_invoice_id if link else "?",
                        _describe(outcome),
                    )
                    continue
                counts[f"deleted.{decision.action.value}"] += 1
                if link is None or link.state == "deleted":
                    continue
                status = outcome if isinstance(outcome, str) else link.state
                audit_outcome, detail = _deletion_report(gone, link.stripe_invoice_id, status)
                log.log(
                    logging.WARNING if audit_outcome != "ok" else logging.INFO,
                    "invoice sync: %s",
                    detail,
                    extra={"company": company, "qb_txn_id": gone.txn_id},
                )
                link.state = "deleted"
                link.updated_at = stamp
                db.add(link)
                db.add(
                    AuditEntry(
                        company_id=company,
                        action="invoice.deleted_in_quickbooks",
                        outcome=audit_outcome,
                        stripe_object_id=link.stripe_invoice_id,
                        qb_txn_id=gone.txn_id,
                        workflow_id=workflow_id,
                        detail=detail,
                    )
                )
            db.commit()
        return PageSummary(counts=dict(counts), hold=hold, stripe_requests=counter.used if counter else 0)

    def _withdraw_deleted(self, stripe_invoice_id: str) -> str:
        """Void (open) or delete (draft) the Stripe invoice; returns the status it had. Safe to repeat: a
        void or deleted invoice is left alone, and the void carries a deterministic idempotency key."""
        status = self._invoice_status(stripe_invoice_id)
        self._withdraw(stripe_invoice_id, status)
        return status

    def _company_money(self, company: str) -> tuple[str, ZoneInfo]:
        """The company files' currency (``MLC_HOME_CURRENCY``) and the company's time zone (due dates)."""
        try:
            zone = ZoneInfo(self.settings.company(company).timezone)
        except KeyError:
            zone = ZoneInfo("America/New_York")
        return self.settings.posting.home_currency.lower(), zone

    def _invoice_context(
        self, company: str, invoices: Sequence[Invoice]
    ) -> tuple[dict[str, InvoiceLink], dict[str, BillTo]]:
        """Existing invoice links, and who pays each invoice (a job's invoices bill its top-level customer)."""
        list_ids = {inv.customer_list_id for inv in invoices if inv.customer_list_id}
        top_names = {
            customer_rules.top_level_name(inv.customer_full_name)
            for inv in invoices
            if inv.customer_full_name and ":" in inv.customer_full_name
        }
        with Session(self.engine) as db:
            links = _invoice_links(db, company, [inv.txn_id for inv in invoices])
            by_id = {
                row.qb_list_id: row.stripe_customer_id
                for row in db.exec(
                    select(CustomerLink).where(
                        CustomerLink.company_id == company, col(CustomerLink.qb_list_id).in_(list(list_ids))
                    )
                ).all()
            }
            by_name = {
                row.qb_full_name.casefold(): row.stripe_customer_id
                for row in db.exec(
                    select(CustomerLink).where(
                        CustomerLink.company_id == company,
                        col(CustomerLink.qb_full_name).in_([n for n in top_names if n]),
                    )
                ).all()
            }
        bill_to: dict[str, BillTo] = {}
        for inv in invoices:
            if inv.customer_full_name and ":" in inv.customer_full_name:
                top = customer_rules.top_level_name(inv.customer_full_name) or ""
                stripe_id = by_name.get(top.casefold())
            else:
                stripe_id = by_id.get(inv.customer_list_id or "")
            if stripe_id:
                bill_to[inv.txn_id] = BillTo(stripe_id)
        return links, bill_to

    def _plan(
        self,
        inv: Invoice,
        content: InvoiceContent | None,
        link: InvoiceLink | None,
        company: str,
        zone: ZoneInfo,
        now: datetime,
    ) -> dict[str, Any]:
        """Everything a create will send, fixed once (see ``StripeWriteIntent``)."""
        assert content is not None
        job = inv.customer_full_name if inv.customer_full_name and ":" in inv.customer_full_name else None
        params = invoice_rules.create_params(
            content, inv, company, job_full_name=job, terms=invoice_rules.due_terms(inv.due_date, zone, now)
        )
        return {
            "params": params,
            "lines": [[line.description, line.amount] for line in content.lines],
            "fingerprint": content.fingerprint(),
            "replaces": link.stripe_invoice_id if link is not None else "new",
            "mode": self.settings.posting.invoice_mode,
        }

    def _apply_invoice(
        self,
        company: str,
        inv: Invoice,
        action: InvoiceAction,
        link: InvoiceLink | None,
        plan: dict[str, Any] | None,
    ) -> _InvoiceOutcome:
        if action is InvoiceAction.CREATE:
            assert plan is not None
            return self._create_invoice(company, inv.txn_id, plan)
        assert link is not None
        status = self._invoice_status(link.stripe_invoice_id)
        if action is InvoiceAction.MARK_PAID:
            if status in ("draft", "open", "uncollectible"):
                self.gateway.call(
                    lambda c: c.v1.invoices.pay(
                        link.stripe_invoice_id,
                        {"paid_out_of_band": True},
                        options={"idempotency_key": key("invoice.pay_out_of_band", link.stripe_invoice_id)},
                    )
                )
            return _InvoiceOutcome(link.stripe_invoice_id, "voided" if status == "void" else "paid")
        if action is InvoiceAction.VOID:
            self._withdraw(link.stripe_invoice_id, status)
            return _InvoiceOutcome(link.stripe_invoice_id, "paid" if status == "paid" else "voided")
        assert action is InvoiceAction.REVISE and plan is not None
        if status == "paid" and link.state == "open":
            log.warning(
                "invoice %s changed in QuickBooks after it was paid in Stripe (%s); left as it is",
                inv.txn_id,
                link.stripe_invoice_id,
            )
            return _InvoiceOutcome(link.stripe_invoice_id, "paid")
        if link.state == "open" and status not in ("paid", "void", "deleted"):
            self._withdraw(link.stripe_invoice_id, status)
        return self._create_invoice(company, inv.txn_id, plan)

    def _invoice_status(self, stripe_invoice_id: str) -> str:
        try:
            found = self.gateway.call(lambda c: c.v1.invoices.retrieve(stripe_invoice_id)).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return "deleted"
            raise
        return str(found.get("status") or "deleted")

    def _withdraw(self, stripe_invoice_id: str, status: str) -> None:
        """Take an invoice out of circulation: a draft is deleted, an open one voided."""
        if status == "draft":
            try:
                self.gateway.call(lambda c: c.v1.invoices.delete(stripe_invoice_id))
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
        elif status in ("open", "uncollectible"):
            self.gateway.call(
                lambda c: c.v1.invoices.void_invoice(
                    stripe_invoice_id, options={"idempotency_key": key("invoice.void", stripe_invoice_id)}
                )
            )

    def _create_invoice(self, company: str, txn_id: str, plan: dict[str, Any]) -> _InvoiceOutcome:
        """Create, add lines, then finalize or send as configured; every step has its own deterministic key."""
        params = plan["params"]
        create_key = key("invoice.create", company, txn_id, plan["fingerprint"], plan["replaces"])
        created = self.gateway.call(
            lambda c: c.v1.invoices.create(params, options={"idempotency_key": create_key})
        )
        invoice_id = str(created["id"])
        for index, (description, amount) in enumerate(plan["lines"]):
            item = {
                "customer": params["customer"],
                "invoice": invoice_id,
                "currency": params["currency"],
                "amount": amount,
                "description": description,
            }
            item_key = key("invoiceitem.create", invoice_id, index)
            self._create_item(item, item_key)
        mode = plan["mode"]
        if mode == "finalize":
            self.gateway.call(
                lambda c: c.v1.invoices.finalize_invoice(
                    invoice_id,
                    {"auto_advance": False},
                    options={"idempotency_key": key("invoice.finalize", invoice_id)},
                )
            )
        elif mode == "send":
            self.gateway.call(
                lambda c: c.v1.invoices.send_invoice(
                    invoice_id, options={"idempotency_key": key("invoice.send", invoice_id)}
                )
            )
        return _InvoiceOutcome(invoice_id, "open", plan["fingerprint"])

    def _create_item(self, item: dict[str, Any], item_key: str) -> None:
        self.gateway.call(lambda c: c.v1.invoice_items.create(item, options={"idempotency_key": item_key}))  # type: ignore[arg-type]

    # ---- Stripe → QuickBooks customers --------------------------------------------------------------

    @activity.defn(name="fetch_stripe_customer")
    def fetch_stripe_customer(self, inp: StripeCustomerInput) -> StripeCustomer:
        """Re-fetch the customer: webhook payloads may be stale or arrive out of order."""
        try:
            found = self.gateway.call(lambda c: c.v1.customers.retrieve(inp.stripe_customer_id)).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return StripeCustomer(id=inp.stripe_customer_id, deleted=True)
            raise
        return StripeCustomer.from_api(found)

    @activity.defn(name="tag_stripe_customer")
    def tag_stripe_customer(self, inp: TagCustomerInput) -> None:
        """Write the QuickBooks ListID into the Stripe customer's metadata (the Stripe half of the link)."""
        params: dict[str, Any] = {"metadata": {"qb_list_id": inp.qb_list_id, "qb_company": inp.company_id}}
        tag_key = key("customer.tag", inp.stripe_customer_id, params=params)
        self.gateway.call(
            lambda c: c.v1.customers.update(
                inp.stripe_customer_id,
                params,  # type: ignore[arg-type]
                options={"idempotency_key": tag_key},
            )
        )


@dataclass(frozen=True)
class _InvoiceOutcome:
    stripe_invoice_id: str
    state: str
    content_fingerprint: str | None = None


def _link_state(link: CustomerLink | None) -> LinkState | None:
    if link is None:
        return None
    return LinkState(link.stripe_customer_id, link.qb_edit_sequence, link.stripe_fingerprint, link.origin)


def _invoice_link_state(link: InvoiceLink | None) -> InvoiceLinkState | None:
    if link is None:
        return None
    return InvoiceLinkState(
        link.stripe_invoice_id, link.qb_edit_sequence, link.content_fingerprint, link.state
    )


def _deletion_report(gone: DeletedTxn, stripe_invoice_id: str, status: str) -> tuple[str, str]:
    """The audit outcome and the sentence an operator reads for one invoice deleted in QuickBooks."""
    what = (
        f"QuickBooks invoice {gone.ref_number} ({gone.txn_id})"
        if gone.ref_number
        else f"QuickBooks invoice {gone.txn_id}"
    )
    when = f" at {gone.time_deleted.wall_clock}" if gone.time_deleted else ""
    done = {
        "draft": f"its Stripe draft {stripe_invoice_id} was deleted",
        "open": f"Stripe invoice {stripe_invoice_id} was voided: nobody is asked to pay it",
        "uncollectible": f"Stripe invoice {stripe_invoice_id} was voided: nobody is asked to pay it",
        "void": f"Stripe invoice {stripe_invoice_id} was already void",
        "voided": f"Stripe invoice {stripe_invoice_id} was already void",
        "deleted": f"Stripe invoice {stripe_invoice_id} no longer exists",
    }
    if status in done:
        return "ok", f"{what} was deleted{when}; {done[status]}"
    return (
        "skipped",
        f"{what} was deleted{when}, but Stripe invoice {stripe_invoice_id} is {status} and was left as it is "
        "(a paid invoice cannot be voided: refund it in Stripe if the money should go back)",
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, stripe.StripeError):
        return f"{type(exc).__name__} ({exc.http_status}): {exc.user_message or exc}"
    return f"{type(exc).__name__}: {exc}"


def _invoice_links(db: Session, company_id: str, txn_ids: list[str]) -> dict[str, InvoiceLink]:
    """The company's invoice links for these QuickBooks TxnIDs, by TxnID."""
    rows = db.exec(
        select(InvoiceLink).where(InvoiceLink.company_id == company_id, col(InvoiceLink.qb_txn_id).in_(txn_ids))
    ).all()
    return {row.qb_txn_id: row for row in rows}
