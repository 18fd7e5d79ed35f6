"""LedgerWorkflow: one per company in clearing-account mode; posts refunds, disputes, fees and payouts.

Webhooks (``charge.refunded``, ``refund.*``, ``charge.dispute.*``, ``payout.*``) and every payment booked
into the clearing account signal ``ledger/{company}``; a pass also runs every :data:`PERIOD` so a missed
webhook only delays a posting. A pass:

1. plans from Stripe as it is now (activity ``ledger_plan_pass``): only postings whose key is not recorded;
2. for each, in date order, looks the posting up in QuickBooks by its RefNumber/date and ExternalGUID and
   adds it only when absent — so a posting whose answer was lost, or whose record the worker never wrote,
   is found and recorded, never doubled; a refund's second half (the card refund of its credit memo) is
   looked up and added the same way;
3. records each in ``ledger_posting`` with the amount QuickBooks answered, and audits it.

A posting QuickBooks refuses is audited and retried on the next pass; the watermark does not move past
it. Everything is serialised in this one workflow per company, so two events about one refund never race.
Continue-as-new keeps the history small for months of passes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities, PassResult, PostingFailed, PostingRecorded
    from ml_connector.ledger.jobs import (
        Finder,
        Found,
        PostingJob,
        batch_lookups,
        find_first,
        find_refund,
        first_found,
        refund_add,
    )
    from ml_connector.ledger.signals import (
        LEDGER_RESCAN_SIGNAL,
        LEDGER_RETRY_SIGNAL,
        LEDGER_SIGNAL,
        LedgerInput,
        LedgerSignal,
    )
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.errors import classify
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT, QB_ATTEMPT, STRIPE_RETRY
    from workflows.qb_setup import ensure_in_quickbooks

PERIOD = timedelta(minutes=15)
DEBOUNCE = timedelta(seconds=2)
RETRY_AFTER_FAILURE = timedelta(minutes=5)
PASSES_PER_RUN = 200
# Planning a pass reads every balance transaction since the watermark, page after page: many Stripe calls.
PLAN_TIMEOUT = timedelta(minutes=10)
# A posting whose answer was lost is looked up and, if absent, added again at most this often in one pass.
MAX_UNCERTAIN_ADDS = 2


class _Refused(Exception):
    """QuickBooks would not take (or did not show) a posting; audited, retried next pass."""


@workflow.defn(name="LedgerWorkflow")
class LedgerWorkflow:
    def __init__(self) -> None:
        self._dirty = False
        self._payouts: set[str] = set()
        self._disputes: set[str] = set()
        self._last_event = ""
        self._status = "starting"
        self._posted = 0
        self._passes = 0
        self._rescan_from: int | None = None

    @workflow.signal(name=LEDGER_SIGNAL)
    def event(self, signal: LedgerSignal) -> None:
        if signal.object_id.startswith("po_"):
            self._payouts.add(signal.object_id)
        elif signal.object_id.startswith(("dp_", "du_")):
            self._disputes.add(signal.object_id)
        if signal.event_id:
            self._last_event = signal.event_id
        self._dirty = True

    @workflow.signal(name=LEDGER_RETRY_SIGNAL)
    def retry(self) -> None:
        self._dirty = True

    @workflow.signal(name=LEDGER_RESCAN_SIGNAL)
    def rescan(self, since: int = 0) -> None:
        """Plan again from ``since`` (Unix seconds; 0: from the ledger's start), e.g. after restoring an old
        database: every posting already in QuickBooks is found by its ExternalGUID and recorded, none added."""
        self._rescan_from = max(0, since)
        self._dirty = True

    @workflow.query(name="status")
    def status(self) -> str:
        return self._status

    @workflow.query(name="passes")
    def passes(self) -> int:
        """Passes finished since the workflow (not this run) started: lets an operator see a retry done."""
        return self._passes

    @workflow.run
    async def run(self, inp: LedgerInput) -> str:
        since = inp.since
        self._payouts.update(inp.payout_ids)
        self._disputes.update(inp.dispute_ids)
        passes = 0
        self._passes = inp.passes
        wait = PERIOD
        first = True
        while True:
            if not first and not self._dirty:
                self._status = "idle"
                try:
                    await workflow.wait_condition(lambda: self._dirty, timeout=wait)
                except TimeoutError:
                    pass
            first = False
            await workflow.sleep(DEBOUNCE)  # one pass for a burst of events
            self._dirty = False
            if self._rescan_from is not None:
                since, self._rescan_from = self._rescan_from, None
            disputes, self._disputes = self._disputes, set()
            asked = set(self._payouts)
            self._status = "reading Stripe"
            result: PassResult = await workflow.execute_activity_method(
                LedgerActivities.plan_pass,
                LedgerInput(inp.company_id, since, sorted(asked), sorted(disputes)),
                start_to_close_timeout=PLAN_TIMEOUT,
                retry_policy=STRIPE_RETRY,
            )
            if not result.clearing_mode:
                self._status = "clearing-account mode is off"
                return self._status
            self._status = f"posting {len(result.jobs)} transaction(s)"
            problems = await ensure_in_quickbooks(inp.company_id, result.needs) if result.jobs else []
            if problems:  # an account or item is missing and cannot be created: say so on every job
                for job in result.jobs:
                    await self._failed(inp.company_id, job, "; ".join(problems))
                failures = len(result.jobs)
            else:
                failures = await self._post_all(inp.company_id, result.jobs, inp.passes + passes)
            passes += 1
            self._passes = inp.passes + passes
            if failures:
                self._disputes |= disputes  # a lost dispute's write-off needs its dispute again
                wait = RETRY_AFTER_FAILURE
            else:
                since = result.since
                # still in transit, plus any signalled while the pass ran
                self._payouts = set(result.payout_ids) | (self._payouts - asked)
                wait = PERIOD
            self._status = (
                f"{len(result.jobs) - failures} posted, {failures} failed, {len(result.waiting)} waiting"
            )
            if passes >= PASSES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    LedgerInput(
                        inp.company_id,
                        since,
                        sorted(self._payouts),
                        sorted(self._disputes),
                        inp.passes + passes,
                    )
                )

    async def _post_all(self, company_id: str, jobs: list[PostingJob], attempt: int) -> int:
        """Post every job; returns how many failed. One batched lookup, then all adds at once, so a pass
        of hundreds of postings travels in a few Web Connector round trips."""
        if not jobs:
            return 0
        try:
            answers = await asyncio.gather(
                *(qb.run(company_id, rq, attempt=QB_ATTEMPT) for rq in batch_lookups(jobs))
            )
            for answer in answers:
                _check(answer, "looking up earlier postings")
        except (_Refused, ActivityError) as exc:
            error = str(exc) if isinstance(exc, _Refused) else f"QuickBooks did not answer: {_cause(exc)}"
            for job in jobs:
                await self._failed(company_id, job, error)
            return len(jobs)
        existing = [a.response or "" for a in answers]
        posted = await asyncio.gather(*(self._post(company_id, job, existing, attempt) for job in jobs))
        return sum(1 for ok in posted if not ok)

    async def _post(self, company_id: str, job: PostingJob, existing: list[str], attempt: int) -> bool:
        try:
            found = first_found(job, existing, find_first)
            existed = found is not None
            if found is None:
                found = await self._add(company_id, job, job.add_rq, find_first, f"{attempt}/add")
            if job.refund_add_rq:
                refund = first_found(job, existing, find_refund)
                if refund is None:
                    existed = False
                    refund = await self._add(
                        company_id, job, refund_add(job, found.txn_id), find_refund, f"{attempt}/refund"
                    )
                found = refund
        except _Refused as refused:
            await self._failed(company_id, job, str(refused))
            return False
        except ActivityError as exc:
            await self._failed(company_id, job, f"QuickBooks did not answer: {_cause(exc)}")
            return False
        amount = "" if found.clearing_amount is None else str(found.clearing_amount)
        await workflow.execute_activity_method(
            LedgerActivities.record,
            PostingRecorded(
                company_id, job, found.txn_id, amount, existed, workflow.info().workflow_id, self._last_event
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        self._posted += 1
        return True

    async def _add(self, company_id: str, job: PostingJob, add: str, find: Finder, attempt: str) -> Found:
        """Add the transaction. An answer that was lost (the queue reports the write *uncertain*) is settled
        by the same lookup a pass starts with, by ExternalGUID; only if the transaction is not there is it
        added again (bounded), so a lost answer never costs a pass, nor posts twice."""
        key = f"ledger/{company_id}/{job.key}/{attempt}"
        for round_no in range(MAX_UNCERTAIN_ADDS + 1):
            try:
                added = await qb.run(
                    company_id, add, idem_key=key if round_no == 0 else f"{key}/again-{round_no}", attempt=QB_ATTEMPT
                )
                break
            except ActivityError as exc:
                if not qb.is_uncertain(exc) or round_no == MAX_UNCERTAIN_ADDS:
                    raise
            answers = await asyncio.gather(*(qb.run(company_id, rq, attempt=QB_ATTEMPT) for rq in batch_lookups([job])))
            for answer in answers:
                _check(answer, f"looking up {job.key} after its answer was lost")
            found = first_found(job, [a.response or "" for a in answers], find)
            if found is not None:
                return found
        _check(added, f"posting {job.key}")
        found = find(job, added.response or "")
        if found is None:
            raise _Refused(f"QuickBooks answered {job.key} without the transaction")
        return found

    async def _failed(self, company_id: str, job: PostingJob, error: str) -> None:
        await workflow.execute_activity_method(
            LedgerActivities.failed,
            PostingFailed(company_id, job, error, workflow.info().workflow_id),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )


def _check(result: QbRunResult, what: str) -> None:
    if classify(result.status_code).is_error:
        raise _Refused(f"QuickBooks refused {what}: {result.status_code} {result.status_message}")


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
