"""QuickBooks invoices into Stripe: one stored InvoiceQuery page per activity (``sync_invoice_page``), and the
invoices QuickBooks deleted (``sync_deleted_invoices``, one stored TxnDeletedQuery answer).

Which transition each invoice needs is ``ml_connector.sync.invoices``; how Stripe gets there, given the status
Stripe reports now, is ``ml_connector.sync.invoice_steps``. This module reads, calls Stripe and stores links.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import stripe
from sqlmodel import Session, col, select
from temporalio import activity

from activities import sync_pages as pages
from ml_connector.qbxml.deleted import parse_deleted
from ml_connector.qbxml.invoices import Invoice, parse_invoices
from ml_connector.storage.models import AuditEntry, CustomerLink, InvoiceLink, utcnow
from ml_connector.stripe.idempotency import key
from ml_connector.sync import invoice_steps as steps_rules
from ml_connector.sync import invoices as rules
from ml_connector.sync.invoice_steps import Withdrawal
from ml_connector.sync.invoices import BillTo, InvoiceAction, InvoiceLinkState
from ml_connector.sync.totals import PageTotals

log = logging.getLogger(__name__)


class InvoicePageActivities(pages.SyncActivityBase):
    @activity.defn(name="sync_invoice_page")
    def sync_invoice_page(self, inp: pages.PageInput) -> pages.PageSummary:
        xml = pages.read_page(self.engine, inp.request_id, inp.page_no)
        invoices = parse_invoices(xml) if xml else []
        if not invoices:
            return pages.PageSummary()
        gateway = self.gateway
        counter = pages.RequestCounter(gateway)
        company = inp.company_id
        currency, zone = self._company_money(company)
        links, bill_to = self._invoice_context(company, invoices)
        decisions = {
            inv.txn_id: rules.decide(
                inv, _link_state(links.get(inv.txn_id)), bill_to.get(inv.txn_id), currency
            )
            for inv in invoices
        }
        acting = [
            inv
            for inv in invoices
            if decisions[inv.txn_id].action not in (InvoiceAction.UNCHANGED, InvoiceAction.SKIP)
        ]
        now = datetime.now(UTC)
        plans: dict[str, dict[str, Any]] = {}
        for inv in acting:
            content = decisions[inv.txn_id].content
            if content is not None:
                link = links.get(inv.txn_id)
                plans[steps_rules.create_key(company, inv.txn_id)] = steps_rules.create_plan(
                    inv,
                    content,
                    replaces=link.stripe_invoice_id if link is not None else None,
                    company_id=company,
                    zone=zone,
                    now=now,
                    mode=self.settings.posting.invoice_mode,
                )
        plans = self._intents(company, plans)
        outcomes = self._parallel(
            [
                partial(
                    self._apply_invoice,
                    company,
                    inv,
                    decisions[inv.txn_id].action,
                    links.get(inv.txn_id),
                    plans.get(steps_rules.create_key(company, inv.txn_id)),
                )
                for inv in acting
            ]
        )
        results = dict(zip((inv.txn_id for inv in acting), outcomes, strict=True))

        tally = pages.PageTally("invoice", log)
        stamp = utcnow()
        created: list[str] = []
        with Session(self.engine) as db:
            for inv, decision, link, outcome in tally.settled(
                invoices, lambda i: i.txn_id, decisions, links, results
            ):
                stale = False
                if isinstance(outcome, _InvoiceOutcome):
                    if link is None:
                        link = InvoiceLink(company_id=company, qb_txn_id=inv.txn_id, stripe_invoice_id="")
                    link.stripe_invoice_id = outcome.stripe_invoice_id
                    link.state = outcome.state
                    if outcome.content_fingerprint is not None:
                        link.content_fingerprint = outcome.content_fingerprint
                    created.append(steps_rules.create_key(company, inv.txn_id))
                    stale = steps_rules.replayed_older_create(outcome.content_fingerprint, decision.content)
                if stale:
                    # An earlier attempt's create was replayed; this read's content goes out next poll.
                    modified = inv.time_modified.wall_clock if inv.time_modified else None
                    tally.totals = tally.totals.combine(PageTotals(hold=modified))
                if link is not None:
                    link.qb_edit_sequence = "" if stale else inv.edit_sequence
                    link.qb_ref_number = (inv.ref_number or "")[:20]
                    link.updated_at = stamp
                    db.add(link)
            self._forget_intents(db, created)
            db.commit()
        seen = (inv.time_modified for inv in invoices)
        return pages.finish_page(outcomes, tally.totals, seen, counter.used)

    @activity.defn(name="sync_deleted_invoices")
    def sync_deleted_invoices(self, inp: pages.PageInput) -> pages.PageSummary:
        """Invoices deleted in QuickBooks (a stored TxnDeletedQuery answer) leave Stripe's circulation.

        A deleted invoice never shows up in a modified-since InvoiceQuery again, so this is the only place its
        Stripe invoice is withdrawn: voided if finalized, deleted if a draft. The link stays, with state
        ``deleted`` and an audit row, so a re-read of the same deletion (the window overlaps) sends nothing.
        A Stripe failure holds the watermark at that deletion, so the next poll tries again.
        """
        xml = pages.read_page(self.engine, inp.request_id, inp.page_no)
        deleted = [d for d in (parse_deleted(xml) if xml else []) if d.txn_del_type == "Invoice"]
        if not deleted:
            return pages.PageSummary()
        company = inp.company_id
        with Session(self.engine) as db:
            links = _invoice_links(db, company, [d.txn_id for d in deleted])
        decisions = {d.txn_id: rules.decide_deleted(_link_state(links.get(d.txn_id))) for d in deleted}
        acting = [d for d in deleted if decisions[d.txn_id].action is InvoiceAction.WITHDRAW]
        counter = pages.RequestCounter(self.gateway) if acting else None
        outcomes = self._parallel(
            [partial(self._withdraw_deleted, links[d.txn_id].stripe_invoice_id) for d in acting]
        )
        found_status: dict[str, str | BaseException] = dict(
            zip((d.txn_id for d in acting), outcomes, strict=True)
        )

        totals = PageTotals()
        stamp = utcnow()
        workflow_id = (activity.info().workflow_id or "") if activity.in_activity() else ""
        with Session(self.engine) as db:
            for gone in deleted:
                decision = decisions[gone.txn_id]
                link = links.get(gone.txn_id)
                outcome = found_status.get(gone.txn_id)
                totals = totals.add(
                    f"deleted.{decision.action.value}",
                    failed=isinstance(outcome, BaseException),
                    wall_clock=gone.time_deleted.wall_clock if gone.time_deleted else None,
                    failed_as="deleted.failed",
                )
                if isinstance(outcome, BaseException):
                    log.warning(
                        "invoice %s deleted in QuickBooks: withdrawing Stripe invoice %s failed: %s",
                        gone.txn_id,
                        link.stripe_invoice_id if link else "?",
                        pages.describe(outcome),
                    )
                    continue
                if link is None or link.state == "deleted":
                    continue
                status = outcome if isinstance(outcome, str) else link.state
                audit_outcome, detail = steps_rules.deletion_report(gone, link.stripe_invoice_id, status)
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
        requests = counter.used if counter else 0
        return pages.PageSummary.of(PageTotals(totals.counts, None, totals.hold, requests))

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
        top_names = steps_rules.top_level_names(list(invoices))
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
                        col(CustomerLink.qb_full_name).in_(list(top_names)),
                    )
                ).all()
            }
        bill_to = {inv.txn_id: steps_rules.bill_to_of(inv, by_id, by_name) for inv in invoices}
        return links, {txn_id: who for txn_id, who in bill_to.items() if who is not None}

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
        steps = steps_rules.steps_for(action, link.state, status)
        if steps.paid_in_stripe_first:
            log.warning(
                "invoice %s changed in QuickBooks after it was paid in Stripe (%s); left as it is",
                inv.txn_id,
                link.stripe_invoice_id,
            )
        if steps.pay_out_of_band:
            self.gateway.call(
                lambda c: c.v1.invoices.pay(
                    link.stripe_invoice_id,
                    {"paid_out_of_band": True},
                    options={"idempotency_key": key("invoice.pay_out_of_band", link.stripe_invoice_id)},
                )
            )
        if steps.withdraw:
            self._withdraw(link.stripe_invoice_id, status)
        if steps.create:
            assert plan is not None
            return self._create_invoice(company, inv.txn_id, plan)
        return _InvoiceOutcome(link.stripe_invoice_id, steps.state)

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
        how = steps_rules.withdrawal(status)
        if how is Withdrawal.DELETE:
            try:
                self.gateway.call(lambda c: c.v1.invoices.delete(stripe_invoice_id))
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
        elif how is Withdrawal.VOID:
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
            self._create_item(item, key("invoiceitem.create", invoice_id, index))
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


@dataclass(frozen=True)
class _InvoiceOutcome:
    """What a Stripe invoice ended as (``content_fingerprint`` when a create sent content)."""

    stripe_invoice_id: str
    state: str
    content_fingerprint: str | None = None


def _link_state(link: InvoiceLink | None) -> InvoiceLinkState | None:
    if link is None:
        return None
    return InvoiceLinkState(
        link.stripe_invoice_id, link.qb_edit_sequence, link.content_fingerprint, link.state
    )


def _invoice_links(db: Session, company_id: str, txn_ids: list[str]) -> dict[str, InvoiceLink]:
    """The company's invoice links for these QuickBooks TxnIDs, by TxnID."""
    rows = db.exec(
        select(InvoiceLink).where(
            InvoiceLink.company_id == company_id, col(InvoiceLink.qb_txn_id).in_(txn_ids)
        )
    ).all()
    return {row.qb_txn_id: row for row in rows}
