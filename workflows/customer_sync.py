"""The per-company sync: QuickBooks customers and open invoices into Stripe, linked both ways.

One long-running workflow per company file, id ``customer-sync/{company}``. Each run waits until a poll is
due (every ``MLC_POLL_MINUTES``, or at once on ``poll_now``; a ``web_connector_arrived`` signal while a poll is
due starts it), polls once, and continues as new carrying only watermarks, so its history stays small for
months. A poll:

1. queues an iterator CustomerQuery for customers modified since the watermark minus an overlap (the first
   run reads everything); the gateway fetches every page inside the Web Connector session;
2. syncs the stored pages one activity per page (``sync_customer_page``, ``PAGES_IN_FLIGHT`` at once, a page
   that finishes early starting the next at once):
   Stripe creates/updates with deterministic idempotency keys, links stored, only small summaries come back,
   folded into one ``PageTotals`` (counts, newest TimeModified, oldest failure to read again);
3. writes the Stripe id of newly linked customers back into QuickBooks (custom field or Notes) while later
   pages are still being pushed to Stripe;
4. does the same for invoices (``sync_invoice_page``, pipelined alike), after customers, so every invoice
   finds its customer's link; invoices are part of this workflow rather than a second one because they
   depend on exactly that ordering and share the poll's Web Connector session. Invoices *deleted* in
   QuickBooks never appear in that InvoiceQuery, so a TxnDeletedQuery over the same window travels with it
   and their Stripe invoices are withdrawn (``sync_deleted_invoices``);
5. continues as new with the new watermarks. A huge first sync may continue as new between pages too
   (``PollProgress``): the iterator's pages are in the database, so the next run simply carries on.

Write-backs beyond ``MAX_WRITE_BACKS_IN_FLIGHT`` (QuickBooks slower than Stripe) stay marked in the link table
and are drained at the start of the next run, read-and-re-apply style. Near a mid-poll continue-as-new the
pages' write-backs are carried to the next run instead of started (``PollProgress.deferred_write_backs``),
so the hand-over waits only for write-backs that are almost done and Stripe is not left idle while the
Web Connector works through hundreds of them (measured: the 10,000-customer first sync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.customer_pages import CustomerPageActivities
    from activities.invoice_pages import InvoicePageActivities
    from activities.links import LinkActivities, MarkInput, PendingInput
    from activities.qb_queue import QbActivities
    from activities.sync_pages import PageInput, PageSummary, WriteBackItem
    from ml_connector.qbxml.customers import customer_query
    from ml_connector.qbxml.deleted import txn_deleted_query
    from ml_connector.qbxml.invoices import invoice_query
    from ml_connector.sync.link_field import LinkField
    from ml_connector.sync.totals import PageTotals
    from ml_connector.sync.watermark import next_watermark, query_from
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT, STRIPE_RETRY
    from workflows.write_back import ensure_custom_field, sync_config, write_stripe_id

PAGE_TIMEOUT = timedelta(minutes=30)
# A page is mostly Stripe calls. Without Stripe settings no retry can succeed: the run fails with that message.
PAGE_RETRY = replace(STRIPE_RETRY, non_retryable_error_types=["StripeNotConfigured"])
# Each in-flight write-back is a pending activity the workflow task must account for; a few hundred keep the
# Web Connector's batches full (100 requests) without making every workflow task heavy.
MAX_WRITE_BACKS_IN_FLIGHT = 300
# Short histories replay fast when a worker restarts or evicts the run from its cache.
HISTORY_LIMIT = 4_000
TASK_TIMEOUT = timedelta(minutes=1)
PAGES_IN_FLIGHT = 6  # pages in flight at once: while some wait for the database, the others keep Stripe busy
# Invoice pages were pushed one at a time before this patch; runs that started then replay that way.
INVOICE_PAGES_PIPELINED = "invoice-pages-pipelined"
# Runs that started before this patch started every page's write-backs at once, also just before continuing
# as new; they replay that way.
WRITE_BACKS_CARRIED = "write-backs-carried-across-continue-as-new"
PAGES_REFILLED = "pages-refilled-as-they-finish"  # a page that finishes early starts the next (``_Pipeline``)
# Past this share of ``history_limit`` a run that will continue as new mid-poll stops starting write-backs.
CARRY_WRITE_BACKS_AFTER = 0.75


def workflow_id(company_id: str) -> str:
    return f"customer-sync/{company_id}"


@dataclass
class PollProgress:
    """A poll interrupted by continue-as-new (very large companies): where to carry on."""

    started_at: str  # ISO 8601, UTC (plain text keeps the payload converter out of the sandbox's datetime)
    customer_request_id: int | None = None
    customer_pages: int = 0
    next_customer_page: int = 0
    customers_newest: str | None = None
    customers_hold: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # Write-backs of pages synced near the end of the previous run, started by this one (WRITE_BACKS_CARRIED).
    deferred_write_backs: list[WriteBackItem] = field(default_factory=list)

    def customer_totals(self) -> PageTotals:
        """The customer pages synced so far (``counts`` carries their Stripe requests as "stripe_requests")."""
        counts = dict(self.counts)
        requests = counts.pop("stripe_requests", 0)
        return PageTotals(counts, self.customers_newest, self.customers_hold, requests)

    def keep(self, totals: PageTotals) -> None:
        """Store ``totals`` in the fields continue-as-new carries (their shape is in recorded histories)."""
        self.counts = {**totals.counts, "stripe_requests": totals.stripe_requests}
        self.customers_newest = totals.newest
        self.customers_hold = totals.hold


class _Pipeline:
    """The pages of one stored iterator answer, up to ``width`` in flight: the page awaited and the next ones,
    so while one page waits for the database the others keep Stripe's rate limiter busy.

    Pages are taken (folded, their write-backs started) in order. With ``refill`` a page that finishes before
    the one awaited starts the next page at once, so ``width`` pages keep working while a slow page holds up
    the fold; without it (histories recorded before ``PAGES_REFILLED``) new pages start only as pages are
    taken, and a slow first page left the others finished and Stripe idle (measured: bench/RESULTS.md).
    ``hold`` stops refilling, for a run about to continue as new."""

    def __init__(
        self, start: Callable[[int], Awaitable[PageSummary]], pages: int, width: int, *, refill: bool = False
    ) -> None:
        self._start = start
        self._pages = pages
        self._width = width
        self._refill = refill
        self._running: dict[int, asyncio.Task[PageSummary]] = {}
        self._working = 0  # pages started and not finished
        self._highest = -1  # the highest page started
        self.hold = False

    def top_up(self, first: int) -> None:
        for page_no in range(first, min(first + self._width, self._pages)):
            if page_no not in self._running:
                self._launch(page_no)

    def _launch(self, page_no: int) -> None:
        self._working += 1
        self._highest = max(self._highest, page_no)
        self._running[page_no] = asyncio.create_task(self._run(page_no))

    async def _run(self, page_no: int) -> PageSummary:
        try:
            return await self._start(page_no)
        finally:
            self._working -= 1
            if self._refill and not self.hold:
                while self._working < self._width and self._highest + 1 < self._pages:
                    self._launch(self._highest + 1)

    async def take(self, page_no: int) -> PageSummary:
        """Page ``page_no``'s summary (starting it if it is not in flight yet)."""
        task = self._running.pop(page_no, None)
        if task is None:
            self._launch(page_no)
            task = self._running.pop(page_no)
        return await task

    @property
    def idle(self) -> bool:
        return not self._running


@dataclass
class PollSummary:
    """The last finished poll, for the ``status`` query and the Temporal Web UI."""

    started_at: str
    customers: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)
    write_backs: int = 0
    write_back_failures: int = 0
    stripe_requests: int = 0


@dataclass
class CustomerSyncInput:
    company_id: str
    poll_seconds: int | None = None  # None: the company's poll_minutes, read at the start of every run
    page_size: int = 100
    overlap_seconds: int = 120
    customer_watermark: str | None = None  # QuickBooks-local wall clock of the newest customer synced
    invoice_watermark: str | None = None
    last_poll_at: str | None = None  # ISO 8601, UTC
    poll_requested: bool = False
    dataext_ready: bool = False
    polls: int = 0
    progress: PollProgress | None = None
    last_summary: PollSummary | None = None
    history_limit: int = HISTORY_LIMIT  # events before continuing as new, even in the middle of a poll


@dataclass
class SyncStatus:
    polling: bool
    due: bool
    next_poll_at: datetime | None
    polls: int
    customer_watermark: str | None
    invoice_watermark: str | None
    last_summary: PollSummary | None


@workflow.defn(name="CustomerSyncWorkflow")
class CustomerSyncWorkflow:
    def __init__(self) -> None:
        self._state = CustomerSyncInput(company_id="")
        self._interval = timedelta(minutes=5)
        self._polling = False
        self._arrived = False
        self._in_flight = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._write_backs = 0
        self._write_back_failures = 0

    # ---- messages ------------------------------------------------------------------------------------

    @workflow.signal
    def web_connector_arrived(self) -> None:
        """The Web Connector opened a session: if a poll is due, start it now, while QuickBooks is here."""
        self._arrived = True

    @workflow.signal
    def poll_now(self) -> None:
        """Operator (or test) asks for a poll without waiting for the interval."""
        self._state.poll_requested = True

    @workflow.query
    def status(self) -> SyncStatus:
        return SyncStatus(
            polling=self._polling,
            due=self._due(),
            next_poll_at=self._next_poll_at(),
            polls=self._state.polls,
            customer_watermark=self._state.customer_watermark,
            invoice_watermark=self._state.invoice_watermark,
            last_summary=self._state.last_summary,
        )

    def _next_poll_at(self) -> datetime | None:
        last = self._state.last_poll_at
        return None if last is None else datetime.fromisoformat(last) + self._interval

    def _due(self) -> bool:
        next_at = self._next_poll_at()
        return self._state.poll_requested or next_at is None or workflow.now() >= next_at

    # ---- the run -------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CustomerSyncInput) -> None:
        self._state = inp
        config = await sync_config(inp.company_id)
        self._interval = timedelta(seconds=inp.poll_seconds or config.poll_seconds)
        link_field = config.link
        progress = inp.progress
        if progress is None:
            await self._drain_pending_write_backs(link_field)
            await self._wait_until_due()
            progress = PollProgress(started_at=workflow.now().isoformat())
        self._polling = True
        self._state.poll_requested = False
        if not self._state.dataext_ready:
            self._state.dataext_ready = await ensure_custom_field(inp.company_id, link_field)
        await self._sync_customers(progress, link_field)
        invoices = await self._sync_invoices()
        await self._settle_write_backs()
        customers = progress.customer_totals()
        summary = PollSummary(
            started_at=progress.started_at,
            customers=progress.counts,
            invoices=dict(invoices.counts),
            write_backs=self._write_backs,
            write_back_failures=self._write_back_failures,
            stripe_requests=customers.stripe_requests + invoices.stripe_requests,
        )
        workflow.logger.info("poll of %s done: %s", inp.company_id, summary)
        next_customer_wm = next_watermark(self._state.customer_watermark, customers.newest, customers.hold)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            replace(
                self._state,
                customer_watermark=next_customer_wm,
                last_poll_at=progress.started_at,
                polls=self._state.polls + 1,
                progress=None,
                last_summary=summary,
            ),
            task_timeout=TASK_TIMEOUT,
        )

    async def _wait_until_due(self) -> None:
        while not self._due():
            next_at = self._next_poll_at()
            assert next_at is not None
            try:
                await workflow.wait_condition(
                    lambda: self._state.poll_requested or self._arrived,
                    timeout=max(next_at - workflow.now(), timedelta(seconds=1)),
                )
            except TimeoutError:
                continue
            self._arrived = False  # arrived before the poll was due: nothing to do for it yet

    # ---- customers -----------------------------------------------------------------------------------

    async def _sync_customers(self, progress: PollProgress, link_field: LinkField) -> None:
        company = self._state.company_id
        if progress.customer_request_id is None:
            result = await qb.run(
                company,
                customer_query(
                    iterator=True,
                    max_returned=self._state.page_size,
                    active_status="All",
                    from_modified=query_from(
                        self._state.customer_watermark, timedelta(seconds=self._state.overlap_seconds)
                    ),
                    owner_ids=link_field.owner_ids,
                ),
            )
            if not result.ok:
                workflow.logger.error(
                    "customer query failed: %s %s", result.status_code, result.status_message
                )
                progress.customers_hold = self._state.customer_watermark
                return
            progress.customer_request_id = result.request_id
            progress.customer_pages = max(result.pages, 1 if result.response else 0)
        request_id = progress.customer_request_id
        pipeline = _Pipeline(
            lambda page_no: self._page(CustomerPageActivities.sync_customer_page, request_id, page_no),
            progress.customer_pages,
            PAGES_IN_FLIGHT,
            refill=workflow.patched(PAGES_REFILLED),
        )
        totals = progress.customer_totals()
        self._start_carried_write_backs(progress, link_field)
        while progress.next_customer_page < progress.customer_pages:
            page_no = progress.next_customer_page
            wrap_up = self._history_is_long()  # continue as new after this page: start no more
            pipeline.hold = wrap_up
            if not wrap_up:
                pipeline.top_up(page_no)
            summary = await pipeline.take(page_no)
            if not wrap_up:  # before this page's write-backs are scheduled, so it is not queued behind them
                pipeline.top_up(page_no + 1)
            totals = totals.combine(summary.totals)
            progress.keep(totals)
            progress.next_customer_page += 1
            more = progress.next_customer_page < progress.customer_pages
            if more and self._carry_write_backs():
                progress.deferred_write_backs.extend(summary.write_backs)
            else:
                self._start_write_backs(summary.write_backs, link_field)
            if wrap_up and pipeline.idle and more:
                await self._settle_write_backs()
                workflow.continue_as_new(replace(self._state, progress=progress), task_timeout=TASK_TIMEOUT)
        self._start_carried_write_backs(progress, link_field)  # the poll ends here: nothing left to carry
        await workflow.execute_activity_method(
            QbActivities.qb_forget_pages,
            progress.customer_request_id,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    async def _page(
        self, activity: Callable[[Any, PageInput], PageSummary], request_id: int, page_no: int
    ) -> PageSummary:
        """One stored page through a page activity (customers, invoices, or the deletions' one answer)."""
        return await workflow.execute_activity_method(
            activity,
            PageInput(self._state.company_id, request_id, page_no),
            start_to_close_timeout=PAGE_TIMEOUT,
            retry_policy=PAGE_RETRY,
        )

    def _start_write_backs(self, items: list[WriteBackItem], link_field: LinkField) -> None:
        """Start the page's write-backs if fewer than MAX_WRITE_BACKS_IN_FLIGHT are running. The rest stay
        marked in the link table and are drained at the start of the next run: when QuickBooks is slower
        than Stripe, the Stripe side keeps its pace and the worker's memory stays flat."""
        room = MAX_WRITE_BACKS_IN_FLIGHT - self._in_flight
        if room <= 0 or not items:
            return
        batch = items[:room]
        self._in_flight += len(batch)
        self._tasks.append(asyncio.create_task(self._write_back_batch(batch, link_field)))

    def _carry_write_backs(self) -> bool:
        """Near the end of this run's history: leave this page's write-backs to the next run, so that the
        continue-as-new ahead waits only for those already under way (recorded once, as a patch marker)."""
        return self._history_past(CARRY_WRITE_BACKS_AFTER) and workflow.patched(WRITE_BACKS_CARRIED)

    def _start_carried_write_backs(self, progress: PollProgress, link_field: LinkField) -> None:
        if progress.deferred_write_backs:
            carried, progress.deferred_write_backs = progress.deferred_write_backs, []
            self._start_write_backs(carried, link_field)

    async def _write_back_batch(self, items: list[WriteBackItem], link_field: LinkField) -> None:
        try:
            results = await self._write_and_mark(items, link_field)
            self._write_backs += sum(results)
            self._write_back_failures += len(results) - sum(results)
        finally:
            self._in_flight -= len(items)

    async def _drain_pending_write_backs(self, link_field: LinkField) -> None:
        after = 0
        while True:
            pending = await workflow.execute_activity_method(
                LinkActivities.pending_write_backs,
                PendingInput(self._state.company_id, after_id=after, limit=100),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            if not pending:
                return
            # Nothing read this run: each customer is re-read and only our field re-applied.
            await self._write_and_mark(
                [WriteBackItem(p.list_id, p.stripe_customer_id) for p in pending], link_field
            )
            after = pending[-1].link_id
            if self._history_is_long():
                workflow.continue_as_new(self._state, task_timeout=TASK_TIMEOUT)

    async def _write_and_mark(self, targets: list[WriteBackItem], link_field: LinkField) -> list[bool]:
        """Write each Stripe id into QuickBooks, all at once, and mark those that landed; whether each did.
        A target carries what the poll read (EditSequence, Notes, whether the custom field exists), or no
        EditSequence when there is nothing fresh to build the first attempt from."""
        results = await asyncio.gather(
            *(write_stripe_id(self._state.company_id, target, link_field) for target in targets)
        )
        await self._mark([target.list_id for target, ok in zip(targets, results, strict=True) if ok])
        return list(results)

    async def _mark(self, list_ids: list[str]) -> None:
        if list_ids:
            await workflow.execute_activity_method(
                LinkActivities.mark_written_back,
                MarkInput(self._state.company_id, list_ids),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )

    async def _settle_write_backs(self) -> None:
        while self._tasks:
            tasks, self._tasks = self._tasks, []
            await asyncio.gather(*tasks)

    # ---- invoices ------------------------------------------------------------------------------------

    async def _sync_invoices(self) -> PageTotals:
        """Invoices modified since the invoice watermark, then those deleted in the same window; moves the
        invoice watermark (unless the InvoiceQuery failed) and returns what the poll did."""
        company = self._state.company_id
        first = self._state.invoice_watermark is None
        since = query_from(self._state.invoice_watermark, timedelta(seconds=self._state.overlap_seconds))
        # Queued together, so both ride the same Web Connector document: the deletions of the same window
        # (the first poll reads them all, in case links survived from an earlier installation).
        deletions = asyncio.create_task(qb.run(company, txn_deleted_query(["Invoice"], from_deleted=since)))
        result = await qb.run(
            company,
            invoice_query(
                iterator=True,
                max_returned=self._state.page_size,
                from_modified=since,
                paid_status="NotPaidOnly" if first else None,
                include_line_items=True,
            ),
        )
        totals = PageTotals()
        if result.ok:
            pages = max(result.pages, 1 if result.response else 0)
            totals = await self._sync_invoice_pages(result.request_id, pages)
        else:
            workflow.logger.error("invoice query failed: %s %s", result.status_code, result.status_message)
        gone = await deletions
        if gone.ok:
            # a withdrawal that failed holds the watermark: it is read again next poll
            deleted = await self._page(InvoicePageActivities.sync_deleted_invoices, gone.request_id, 0)
            totals = totals.combine(deleted.totals)
        else:
            workflow.logger.error(
                "deleted-invoice query failed: %s %s", gone.status_code, gone.status_message
            )
            # read this window's deletions again
            totals = totals.combine(PageTotals(hold=self._state.invoice_watermark))
        if result.ok:  # else the same window is read again next poll, deletions included
            self._state.invoice_watermark = next_watermark(
                self._state.invoice_watermark, totals.newest, totals.hold
            )
        return totals

    async def _sync_invoice_pages(self, request_id: int, pages: int) -> PageTotals:
        """Push every stored page of the InvoiceQuery, pipelined like the customers' pages."""
        width = PAGES_IN_FLIGHT if pages > 1 and workflow.patched(INVOICE_PAGES_PIPELINED) else 1
        pipeline = _Pipeline(
            lambda page_no: self._page(InvoicePageActivities.sync_invoice_page, request_id, page_no),
            pages,
            width,
            refill=width > 1 and workflow.patched(PAGES_REFILLED),
        )
        totals = PageTotals()
        for page_no in range(pages):
            pipeline.top_up(page_no)
            summary = await pipeline.take(page_no)
            pipeline.top_up(page_no + 1)
            totals = totals.combine(summary.totals)
        await workflow.execute_activity_method(
            QbActivities.qb_forget_pages, request_id, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
        )
        return totals

    def _history_is_long(self) -> bool:
        return self._history_past(1.0)

    def _history_past(self, share: float) -> bool:
        """Temporal suggests continuing as new, or the history is past ``share`` of ``history_limit``."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._state.history_limit * share
        )

