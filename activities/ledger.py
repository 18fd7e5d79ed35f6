"""The I/O of clearing-account mode: read Stripe, plan, and record what QuickBooks became.

:meth:`LedgerActivities.plan_pass` reads the balance transactions created since the workflow's watermark
(with an overlap, so a transaction Stripe made visible late is still seen), completes them with payouts,
disputes and our charge links (:mod:`ml_connector.ledger.io.inputs`), plans them
(:func:`ml_connector.ledger.postings.plan`), and returns only the postings whose key is not yet recorded,
as plain :class:`~ml_connector.ledger.jobs.PostingJob` values. The workflow sends those through the
qbXML queue with a lookup before each add, and :meth:`record` stores the answer. A key in
``ledger_posting`` is never posted again; a key posted but not recorded (the worker died in between) is
found by its ExternalGUID by the next pass's lookup.

Payments are the payment workflow's: :meth:`record_charge` is how it tells the ledger which QuickBooks
customer, invoice and ReceivePayment a charge became (refunds and disputes post against those), and in
clearing mode it records the payment's own posting key, so the reconciliation report finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from activities.stripe_side import StripeGatewayHolder
from ml_connector.config import Settings
from ml_connector.ledger import ids
from ml_connector.ledger.io import store
from ml_connector.ledger.io.inputs import gather
from ml_connector.ledger.io.stripe_reader import StripeLedgerReader
from ml_connector.ledger.jobs import PostingJob, job_for
from ml_connector.ledger.model import LedgerPolicy
from ml_connector.ledger.setup import ListNeed, ledger_needs
from ml_connector.ledger.signals import (
    LEDGER_SIGNAL,
    LEDGER_WORKFLOW,
    LedgerInput,
    LedgerSignal,
    ledger_workflow_id,
)
from ml_connector.storage.models import AuditEntry, ChargeLink, LedgerPosting
from ml_connector.stripe.client import StripeGateway
from ml_connector.temporal import COMPANY_ID

# Stripe lists are eventually consistent: read an hour behind the newest transaction already seen.
OVERLAP_SECONDS = 3600


@dataclass
class PassResult:
    clearing_mode: bool
    jobs: list[PostingJob] = field(default_factory=list)
    since: int = 0
    payout_ids: list[str] = field(default_factory=list)  # still in transit: look again next pass
    waiting: list[str] = field(default_factory=list)  # why some money is not posted yet
    clearing_account: str = ""
    needs: list[ListNeed] = field(default_factory=list)  # accounts and items the jobs refer to


@dataclass
class PostingRecorded:
    company_id: str
    job: PostingJob
    qb_txn_id: str
    qb_amount: str  # signed clearing effect as QuickBooks answered it ("" when it did not say)
    found_existing: bool
    workflow_id: str
    event_id: str = ""


@dataclass
class PostingFailed:
    company_id: str
    job: PostingJob
    error: str
    workflow_id: str


@dataclass
class ChargeBooked:
    """A charge the payment workflow booked into QuickBooks (ReceivePayment ``payment_txn_id``)."""

    company_id: str
    charge_id: str
    payment_key: str
    customer_list_id: str
    invoice_txn_id: str
    invoice_ref_number: str
    payment_txn_id: str
    deposit_account: str
    amount: str  # Decimal text, the payment's currency
    currency: str
    txn_date: str  # ISO date
    workflow_id: str
    clearing: bool  # deposited to the clearing account: record the payment's posting, wake the ledger


def _start_of(day: date | None) -> int:
    if day is None:
        return 0
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


class LedgerActivities(StripeGatewayHolder):
    def __init__(
        self, settings: Settings, engine: Engine, client: Client, gateway: StripeGateway | None
    ) -> None:
        super().__init__(settings, gateway)
        self.engine = engine
        self.client = client

    @property
    def reader(self) -> StripeLedgerReader:
        return StripeLedgerReader(self.gateway)

    def _policy(self, company_id: str) -> tuple[LedgerPolicy, int, list[ListNeed]] | None:
        try:
            company = self.settings.company(company_id)
        except KeyError:
            return None
        if company.ledger is None:
            return None
        posting = self.settings.posting
        policy = company.ledger.policy(
            home_currency=posting.home_currency, payment_method=posting.payment_method
        )
        needs = ledger_needs(company.ledger, posting.payment_method)
        return policy, _start_of(company.ledger.ledger_start), needs

    @activity.defn(name="ledger_plan_pass")
    def plan_pass(self, inp: LedgerInput) -> PassResult:
        configured = self._policy(inp.company_id)
        if configured is None:
            return PassResult(clearing_mode=False)
        policy, start, needs = configured
        if not start:
            first = store.first_payment_date(self.engine, inp.company_id)
            if first is None:
                return PassResult(clearing_mode=True, clearing_account=policy.clearing_account)
            start = _start_of(
                first - timedelta(days=1)
            )  # the booked date is company-local; UTC may be a day off
        floor = max(start, inp.since)  # never before the configured start, nor the first run's start
        reader = self.reader
        listed = reader.balance_txns(created_gte=max(floor - OVERLAP_SECONDS, start) if floor else None)
        inputs = gather(
            reader,
            self.engine,
            inp.company_id,
            listed,
            payout_ids=inp.payout_ids,
            dispute_ids=inp.dispute_ids,
        )
        kept = tuple(t for t in inputs.txns if int(t.created.timestamp()) >= floor)
        inputs = type(inputs)(
            txns=kept, charges=inputs.charges, payouts=inputs.payouts, disputes=inputs.disputes
        )
        plan = inputs.plan(policy)
        done = store.posted_keys(self.engine, inp.company_id, (p.key for p in plan.postings))
        jobs = [
            job_for(p, policy.clearing_account)
            for p in plan.postings
            if p.kind != "payment" and p.key not in done
        ]
        self._audit_refusals(
            inp.company_id, [(s.balance_txn_id, s.message) for s in plan.skipped if s.reason == "refused"]
        )
        waiting = [s for s in plan.skipped if s.reason == "waiting"]
        by_id = {t.id: t for t in kept}
        newest = max((int(t.created.timestamp()) for t in kept), default=inp.since)
        held_back = [
            int(by_id[s.balance_txn_id].created.timestamp()) for s in waiting if s.balance_txn_id in by_id
        ]
        since = min([newest, *held_back]) if held_back else newest
        in_transit = sorted(p.id for p in inputs.payouts.values() if p.status in ("pending", "in_transit"))
        activity.logger.info(
            "ledger pass %s: %d balance transactions, %d to post, %d waiting",
            inp.company_id,
            len(kept),
            len(jobs),
            len(waiting),
        )
        return PassResult(
            clearing_mode=True,
            jobs=jobs,
            since=max(since, floor),
            payout_ids=in_transit,
            waiting=[s.message for s in waiting][:50],
            clearing_account=policy.clearing_account,
            needs=needs if jobs else [],
        )

    def _audit_refusals(self, company_id: str, refusals: list[tuple[str, str]]) -> None:
        """Money the clearing account cannot hold is refused with an audit entry, once per transaction."""
        if not refusals:
            return
        with Session(self.engine) as db:
            for txn_id, message in refusals:
                exists = db.exec(
                    select(AuditEntry.id).where(
                        AuditEntry.company_id == company_id,
                        AuditEntry.action == "ledger.refused",
                        AuditEntry.stripe_object_id == txn_id,
                    )
                ).first()
                if exists is None:
                    db.add(
                        AuditEntry(
                            company_id=company_id,
                            action="ledger.refused",
                            outcome="refused",
                            stripe_object_id=txn_id,
                            error=message,
                            detail="not posted: book it by hand, or turn on QuickBooks multicurrency",
                        )
                    )
            db.commit()

    @activity.defn(name="ledger_record")
    def record(self, inp: PostingRecorded) -> bool:
        job = inp.job
        stored = store.record_posting(
            self.engine,
            LedgerPosting(
                company_id=inp.company_id,
                posting_key=job.key,
                kind=job.kind,
                source_id=job.source_id,
                balance_txn_ids=" ".join(job.balance_txn_ids),
                txn_date=date.fromisoformat(job.txn_date),
                qb_txn_id=inp.qb_txn_id,
                qb_txn_type=job.txn_type,
                qb_amount=inp.qb_amount,
                found_existing=inp.found_existing,
                workflow_id=inp.workflow_id,
            ),
        )
        if not stored:
            return False
        expected = Decimal(job.clearing_amount)
        matches = inp.qb_amount == "" or Decimal(inp.qb_amount) == expected
        how = "found in QuickBooks (an earlier attempt posted it)" if inp.found_existing else "posted"
        entry = self._audit_entry(
            inp.company_id,
            job,
            inp.workflow_id,
            outcome="ok" if matches else "failed",
            stripe_event_id=inp.event_id[:80],
            qb_txn_id=inp.qb_txn_id,
            amount=inp.qb_amount or job.clearing_amount,
            error=""
            if matches
            else f"QuickBooks moved the clearing account by {inp.qb_amount}, Stripe by {job.clearing_amount}",
            detail=f"{job.txn_type} {how}: {job.description} [{job.key}]",
        )
        with Session(self.engine) as db:
            db.add(entry)
            db.commit()
        return True

    def _audit_entry(
        self,
        company_id: str,
        job: PostingJob,
        workflow_id: str,
        *,
        outcome: str,
        amount: str,
        error: str,
        detail: str,
        stripe_event_id: str = "",
        qb_txn_id: str = "",
    ) -> AuditEntry:
        """The audit row of one posting (``ledger.{kind}``, its Stripe object, the home currency)."""
        return AuditEntry(
            company_id=company_id,
            action=f"ledger.{job.kind}",
            outcome=outcome,
            stripe_event_id=stripe_event_id,
            stripe_object_id=job.source_id,
            qb_txn_id=qb_txn_id,
            amount=amount,
            currency=self.settings.posting.home_currency,
            workflow_id=workflow_id,
            error=error,
            detail=detail,
        )

    @activity.defn(name="ledger_failed")
    def failed(self, inp: PostingFailed) -> None:
        with Session(self.engine) as db:
            exists = db.exec(
                select(AuditEntry.id).where(
                    AuditEntry.company_id == inp.company_id,
                    AuditEntry.action == f"ledger.{inp.job.kind}",
                    AuditEntry.stripe_object_id == inp.job.source_id,
                    AuditEntry.outcome == "failed",
                    AuditEntry.error == inp.error,
                )
            ).first()
            if exists is None:
                job = inp.job
                db.add(
                    self._audit_entry(
                        inp.company_id,
                        job,
                        inp.workflow_id,
                        outcome="failed",
                        amount=job.clearing_amount,
                        error=inp.error,
                        detail=f"{job.txn_type}: {job.description} [{job.key}]; retried on the next pass",
                    )
                )
                db.commit()

    @activity.defn(name="ledger_record_charge")
    async def record_charge(self, inp: ChargeBooked) -> None:
        """Remember the charge's QuickBooks side; in clearing mode also its posting, then wake the ledger."""
        import asyncio

        await asyncio.to_thread(self._store_charge, inp)
        if inp.clearing:
            await signal_ledger(
                self.client,
                activity.info().task_queue,
                inp.company_id,
                LedgerSignal(event_type="payment.posted", object_id=inp.charge_id),
            )

    def _store_charge(self, inp: ChargeBooked) -> None:
        store.record_charge(
            self.engine,
            ChargeLink(
                company_id=inp.company_id,
                charge_id=inp.charge_id,
                payment_key=inp.payment_key,
                qb_customer_list_id=inp.customer_list_id,
                qb_invoice_txn_id=inp.invoice_txn_id,
                qb_invoice_ref_number=inp.invoice_ref_number,
                qb_payment_txn_id=inp.payment_txn_id,
                deposit_account=inp.deposit_account,
                amount=inp.amount,
                currency=inp.currency,
            ),
        )
        if not inp.clearing:
            return
        key = ids.posting_key("payment", inp.charge_id)
        store.record_posting(
            self.engine,
            LedgerPosting(
                company_id=inp.company_id,
                posting_key=key,
                kind="payment",
                source_id=inp.charge_id,
                txn_date=date.fromisoformat(inp.txn_date) if inp.txn_date else None,
                qb_txn_id=inp.payment_txn_id,
                qb_txn_type="ReceivePayment",
                qb_amount=inp.amount,
                workflow_id=inp.workflow_id,
            ),
        )


async def signal_ledger(client: Client, task_queue: str, company_id: str, signal: LedgerSignal) -> str:
    """Signal the company's ledger workflow, starting it if it is not running. Returns its id."""
    workflow_id = ledger_workflow_id(company_id)
    await client.start_workflow(
        LEDGER_WORKFLOW,
        LedgerInput(company_id),
        id=workflow_id,
        task_queue=task_queue,
        start_signal=LEDGER_SIGNAL,
        start_signal_args=[signal],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company_id)]),
    )
    return workflow_id
