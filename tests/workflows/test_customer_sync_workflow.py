"""CustomerSyncWorkflow's branches, proven in seconds: the real workflow on a real worker, every activity stood in.

Each test is one step of the sync's story (workflows/customer_sync.py's docstring): the wait for a due poll,
customer pages pushed through the page pipeline, the watermark moved forward or held, continue-as-new in the
middle of a huge poll, a page retried after an error, write-backs to QuickBooks (and those drained from an
earlier run), invoice pages pipelined, deletions, failed queries. The database, Stripe and QuickBooks are
stand-ins registered under the production activity names (``customer_sync_config``, ``sync_customer_page``,
``qb_run`` …); QuickBooks answers by request element. The workflow continues as new after every poll and
then waits for the next one; a test reads the new run's ``status`` query and terminates it. The whole system
is covered by tests/integration/test_customer_sync_end_to_end.py and test_customer_sync_resilience.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

with workflow.unsafe.imports_passed_through():
    from activities.links import MarkInput, PendingInput, PendingWriteBack, SyncConfig
    from activities.sync_pages import PageInput, PageSummary, WriteBackItem
    from ml_connector.qbwc_server.requests import QbRunInput, QbRunResult
    from workflows.customer_sync import CustomerSyncInput, CustomerSyncWorkflow, SyncStatus

pytestmark = pytest.mark.fast

COMPANY = "acme"
CUSTOMER_REQUEST = 100
INVOICE_REQUEST = 200
DELETED_REQUEST = 300
HOUR = 3600

Answer = Callable[[str], QbRunResult]


def _ok(name: str, request_id: int = 1, *, pages: int = 0, response: str | None = "<ok/>") -> QbRunResult:
    return QbRunResult(request_id, name, 0, "Info", "Status OK", response=response, pages=pages)


def _failed(name: str) -> QbRunResult:
    return QbRunResult(1, name, 3250, "Error", "This feature is not enabled or not available")


def _customer_ret(list_id: str, notes: str = "") -> str:
    return (
        '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        f"<CustomerRet><ListID>{list_id}</ListID><EditSequence>7</EditSequence><Name>Ada</Name>"
        f"<FullName>Ada</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel><Notes>{notes}</Notes>"
        "</CustomerRet></CustomerQueryRs>"
    )


def _name(body: str) -> str:
    return body.lstrip().split(">", 1)[0].lstrip("<").split()[0]


@dataclass
class StandIns:
    """The database, Stripe and QuickBooks as one company's sync sees them; records what it is asked."""

    customer_pages: list[PageSummary] = field(default_factory=list)
    invoice_pages: list[PageSummary] = field(default_factory=list)
    deleted: PageSummary = field(default_factory=PageSummary)
    pending: list[PendingWriteBack] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    customer_page_errors: int = 0  # the first N customer page attempts fail (then Temporal retries)
    invoice_page_gate: asyncio.Event | None = None  # invoice page 0 waits for it (pipelining test)
    customer_page_gate: asyncio.Event | None = None  # customer page 0 waits for it (refill test)
    # What was asked
    qb_requests: list[str] = field(default_factory=list)
    qb_bodies: list[str] = field(default_factory=list)
    customer_page_calls: list[int] = field(default_factory=list)
    invoice_page_calls: list[int] = field(default_factory=list)
    deleted_calls: list[PageInput] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    invoice_page_0_saw: list[int] = field(default_factory=list)
    customer_page_0_saw: list[int] = field(default_factory=list)
    runs_of_pages: dict[int, str] = field(default_factory=dict)  # customer page → run id that synced it
    runs_of_mods: dict[str, str] = field(default_factory=dict)  # ListID written back → run id that wrote it

    def __post_init__(self) -> None:
        defaults: dict[str, Answer] = {
            "CustomerQueryRq": self._customer_query,
            "InvoiceQueryRq": lambda name: _ok(
                name, INVOICE_REQUEST, pages=len(self.invoice_pages), response=None
            ),
            "TxnDeletedQueryRq": lambda name: _ok(name, DELETED_REQUEST),
            "CustomerModRq": _ok,
        }
        self.answers = {**defaults, **self.answers}

    def _customer_query(self, name: str) -> QbRunResult:
        if 'iterator="Start"' in self.qb_bodies[-1]:
            return _ok(name, CUSTOMER_REQUEST, pages=len(self.customer_pages), response=None)
        list_id = self.qb_bodies[-1].split("<ListID>", 1)[1].split("<", 1)[0]  # a write-back's re-read
        return _ok(name, response=_customer_ret(list_id))

    # ---- the database ------------------------------------------------------------------------------------

    @activity.defn(name="customer_sync_config")
    async def config(self, company_id: str) -> SyncConfig:
        return SyncConfig(poll_seconds=HOUR, link_field="notes", dataext_name="StripeCustomerId")

    @activity.defn(name="pending_write_backs")
    async def pending_write_backs(self, inp: PendingInput) -> list[PendingWriteBack]:
        return [p for p in self.pending if p.link_id > inp.after_id][: inp.limit]

    @activity.defn(name="mark_written_back")
    async def mark_written_back(self, inp: MarkInput) -> None:
        self.marked += inp.list_ids
        self.pending = [p for p in self.pending if p.list_id not in inp.list_ids]

    # ---- Stripe (the page activities) ---------------------------------------------------------------------

    @activity.defn(name="sync_customer_page")
    async def customer_page(self, inp: PageInput) -> PageSummary:
        assert inp.request_id == CUSTOMER_REQUEST
        self.customer_page_calls.append(inp.page_no)
        self.runs_of_pages[inp.page_no] = activity.info().workflow_run_id
        if self.customer_page_gate is not None:
            if inp.page_no == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.customer_page_gate.wait(), timeout=5)
                self.customer_page_0_saw = list(self.customer_page_calls)
            elif inp.page_no == len(self.customer_pages) - 1:
                self.customer_page_gate.set()
        if self.customer_page_errors > 0:
            self.customer_page_errors -= 1
            raise ApplicationError("Stripe answered 500")
        return self.customer_pages[inp.page_no]

    @activity.defn(name="sync_invoice_page")
    async def invoice_page(self, inp: PageInput) -> PageSummary:
        assert inp.request_id == INVOICE_REQUEST
        self.invoice_page_calls.append(inp.page_no)
        if inp.page_no == 0 and self.invoice_page_gate is not None:
            try:
                await asyncio.wait_for(self.invoice_page_gate.wait(), timeout=5)
            except TimeoutError:
                pass
            self.invoice_page_0_saw = list(self.invoice_page_calls)
        elif self.invoice_page_gate is not None and len(self.invoice_page_calls) == len(self.invoice_pages):
            self.invoice_page_gate.set()
        return self.invoice_pages[inp.page_no]

    @activity.defn(name="sync_deleted_invoices")
    async def deleted_invoices(self, inp: PageInput) -> PageSummary:
        self.deleted_calls.append(inp)
        return self.deleted

    # ---- QuickBooks (through the queue) ----------------------------------------------------------------

    @activity.defn(name="qb_run")
    async def qb_run(self, run: QbRunInput) -> QbRunResult:
        name = _name(run.body)
        self.qb_requests.append(name)
        self.qb_bodies.append(run.body)
        if name == "CustomerModRq":
            self.runs_of_mods[run.body.split("<ListID>", 1)[1].split("<", 1)[0]] = (
                activity.info().workflow_run_id
            )
        answer = self.answers.get(name)
        if answer is None:
            raise ApplicationError(f"QuickBooks stand-in has no answer for {name}", non_retryable=True)
        return answer(name)

    @activity.defn(name="qb_forget_pages")
    async def qb_forget_pages(self, request_id: int) -> None:
        self.forgotten.append(request_id)

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.config,
            self.pending_write_backs,
            self.mark_written_back,
            self.customer_page,
            self.invoice_page,
            self.deleted_invoices,
            self.qb_run,
            self.qb_forget_pages,
        ]


async def _status_when(
    handle: WorkflowHandle[Any, Any], ready: Callable[[SyncStatus], bool], timeout: float = 20
) -> SyncStatus:
    for _ in range(int(timeout / 0.05)):
        try:
            status: SyncStatus = await handle.query(CustomerSyncWorkflow.status)
        except Exception:  # noqa: BLE001 - a run between continue-as-new and its first task answers nothing
            status = None  # type: ignore[assignment]
        if status is not None and ready(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the sync never reached the expected state")


async def _sync(
    client: Client,
    stand_ins: StandIns,
    inp: CustomerSyncInput | None = None,
    *,
    polls: int = 1,
    while_running: Callable[[WorkflowHandle[Any, Any]], Any] | None = None,
) -> SyncStatus:
    """Run the company's sync on a fresh task queue until ``polls`` polls are done; the status then."""
    queue = f"customer-sync-wf-{uuid.uuid4().hex[:8]}"
    inp = inp or CustomerSyncInput(company_id=COMPANY)
    async with Worker(
        client, task_queue=queue, workflows=[CustomerSyncWorkflow], activities=stand_ins.activities()
    ):
        handle = await client.start_workflow(
            CustomerSyncWorkflow.run, inp, id=f"customer-sync/{COMPANY}/{queue}", task_queue=queue
        )
        try:
            if while_running is not None:
                await while_running(handle)
            status = await _status_when(handle, lambda s: s.polls >= inp.polls + polls and not s.polling)
            # The first run, as recorded, replays on today's code (the pipelined invoice pages included).
            first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
            await Replayer(workflows=[CustomerSyncWorkflow]).replay_workflow(await first.fetch_history())
            return status
        finally:
            await handle.terminate("test done")


def _page(newest: str | None, *, hold: str | None = None, requests: int = 2, **counts: int) -> PageSummary:
    return PageSummary(counts=dict(counts), newest=newest, hold=hold, stripe_requests=requests)


# ---- 1. customer pages ---------------------------------------------------------------------------------------


async def test_every_customer_page_is_synced_once_and_the_poll_adds_them_up(temporal_client):
    """Steps 1-2: one CustomerQuery, every stored page through ``sync_customer_page`` exactly once, the
    iterator's pages forgotten, counts and Stripe requests summed; the first poll reads everything."""
    stand_ins = StandIns(
        customer_pages=[
            _page("2026-03-01T10:00:00", create=3, requests=3),
            _page("2026-03-01T12:00:00", create=1, unchanged=2, requests=1),
            _page("2026-03-01T11:00:00", update=1, requests=1),
        ]
    )
    status = await _sync(temporal_client, stand_ins)
    assert sorted(stand_ins.customer_page_calls) == [0, 1, 2]
    assert stand_ins.qb_requests.count("CustomerQueryRq") == 1
    assert "FromModifiedDate" not in stand_ins.qb_bodies[stand_ins.qb_requests.index("CustomerQueryRq")]
    assert CUSTOMER_REQUEST in stand_ins.forgotten
    assert status.customer_watermark == "2026-03-01T12:00:00"
    assert status.last_summary is not None
    assert status.last_summary.customers == {"create": 4, "unchanged": 2, "update": 1, "stripe_requests": 5}
    assert status.last_summary.stripe_requests == 5


async def test_pages_that_finish_early_start_the_next_ones_while_a_slow_page_is_still_running(temporal_client):
    """Step 2, the pipeline: six pages in flight; while page 0 is still running, pages 1-5 finish and pages
    6-8 start at once (before, a page started only when the one before it was folded, and Stripe sat idle
    behind a slow page). Pages are still folded in order."""
    stand_ins = StandIns(
        customer_pages=[_page(f"2026-03-01T1{n}:00:00", create=1, requests=1) for n in range(9)],
        customer_page_gate=asyncio.Event(),
    )
    status = await _sync(temporal_client, stand_ins)
    assert sorted(stand_ins.customer_page_0_saw) == list(range(9)), "every page started before page 0 ended"
    assert sorted(stand_ins.customer_page_calls) == list(range(9)), "each page once"
    assert status.customer_watermark == "2026-03-01T18:00:00"
    assert status.last_summary is not None
    assert status.last_summary.customers == {"create": 9, "stripe_requests": 9}


async def test_a_poll_reads_from_the_watermark_minus_the_overlap(temporal_client):
    """Step 1 and the watermark rule: FromModifiedDate is the watermark minus ``overlap_seconds``, in
    QuickBooks' own wall clock; with nothing newer read, the watermark stays."""
    stand_ins = StandIns(customer_pages=[_page(None, unchanged=0, requests=0)])
    inp = CustomerSyncInput(COMPANY, customer_watermark="2026-03-01T10:00:00", overlap_seconds=120)
    status = await _sync(temporal_client, stand_ins, inp)
    query = stand_ins.qb_bodies[stand_ins.qb_requests.index("CustomerQueryRq")]
    assert "<FromModifiedDate>2026-03-01T09:58:00</FromModifiedDate>" in query
    assert status.customer_watermark == "2026-03-01T10:00:00"


async def test_a_failed_customer_holds_the_watermark_at_it(temporal_client):
    """A page reporting a hold (a Stripe failure) keeps the watermark at the oldest held TimeModified, so
    the next poll reads that customer again, even though newer customers were read."""
    stand_ins = StandIns(
        customer_pages=[
            _page("2026-03-01T12:00:00", create=2),
            _page("2026-03-01T13:00:00", hold="2026-03-01T11:30:00", create=1, failed=1),
        ]
    )
    inp = CustomerSyncInput(COMPANY, customer_watermark="2026-03-01T10:00:00")
    status = await _sync(temporal_client, stand_ins, inp)
    assert status.customer_watermark == "2026-03-01T11:30:00"
    assert status.last_summary is not None and status.last_summary.customers["failed"] == 1


async def test_a_page_that_failed_is_retried_and_counted_once(temporal_client):
    """A page activity that fails (Stripe down for a moment) is retried by Temporal; its totals are counted
    once, from the attempt that succeeded."""
    stand_ins = StandIns(customer_pages=[_page("2026-03-01T10:00:00", create=2)], customer_page_errors=1)
    status = await _sync(temporal_client, stand_ins)
    assert stand_ins.customer_page_calls == [0, 0]
    assert status.last_summary is not None and status.last_summary.customers["create"] == 2


async def test_a_poll_too_long_for_one_history_continues_as_new_between_pages(temporal_client):
    """Step 5: past ``history_limit`` events the run continues as new between pages, carrying the iterator's
    request and the totals so far; the next run carries on at the next page, none is synced twice, and the
    poll's summary adds up every run's pages."""
    stand_ins = StandIns(
        customer_pages=[
            _page("2026-03-01T10:00:00", create=1, requests=1),
            _page("2026-03-01T11:00:00", create=1, requests=1),
            _page("2026-03-01T12:00:00", hold="2026-03-01T09:00:00", failed=1, requests=1),
        ]
    )
    inp = CustomerSyncInput(COMPANY, customer_watermark="2026-03-01T08:00:00", history_limit=1)
    status = await _sync(temporal_client, stand_ins, inp)
    assert stand_ins.customer_page_calls == [0, 1, 2]
    assert stand_ins.qb_requests.count("CustomerQueryRq") == 1  # the iterator is read once, across runs
    assert status.last_summary is not None
    assert status.last_summary.customers == {"create": 2, "failed": 1, "stripe_requests": 3}
    assert status.customer_watermark == "2026-03-01T09:00:00"


async def test_near_a_mid_poll_continue_as_new_write_backs_are_carried_to_the_next_run(temporal_client):
    """Step 5 with step 3: a run about to continue as new starts no more write-backs; they travel in the
    poll's progress and the next run starts them beside its own pages, so the hand-over never waits for the
    Web Connector to work through hundreds of them while Stripe idles. Each is still written exactly once;
    the last page's are written before the poll ends."""
    ids = [f"8000000{n}-1" for n in range(3)]
    stand_ins = StandIns(
        customer_pages=[
            PageSummary(
                {"create": 1}, f"2026-03-01T1{n}:00:00", None, [WriteBackItem(ids[n], f"cus_{n}", "5")], 1
            )
            for n in range(3)
        ]
    )
    inp = CustomerSyncInput(COMPANY, customer_watermark="2026-03-01T08:00:00", history_limit=1)
    await _sync(temporal_client, stand_ins, inp)
    assert sorted(stand_ins.marked) == ids
    assert sorted(stand_ins.qb_requests).count("CustomerModRq") == 3
    runs = stand_ins.runs_of_pages
    assert len(set(runs.values())) == 3  # one page a run (history_limit=1)
    assert stand_ins.runs_of_mods[ids[0]] == runs[1]  # page 0's write-back ran beside page 1
    assert stand_ins.runs_of_mods[ids[1]] == runs[2]
    assert stand_ins.runs_of_mods[ids[2]] == runs[2]  # the last page's: in the poll's last run


# ---- 2. when to poll -------------------------------------------------------------------------------------------


async def test_a_poll_waits_until_due_and_poll_now_starts_it(temporal_client):
    """The run waits for the interval; the Web Connector arriving before the poll is due starts nothing, an
    operator's ``poll_now`` starts it at once."""
    stand_ins = StandIns(customer_pages=[_page("2026-03-01T10:00:00", create=1)])
    inp = CustomerSyncInput(COMPANY, last_poll_at=datetime.now(UTC).isoformat(), polls=4)

    async def nudge(handle: WorkflowHandle[Any, Any]) -> None:
        status = await _status_when(handle, lambda s: not s.due)
        assert status.next_poll_at is not None
        await handle.signal(CustomerSyncWorkflow.web_connector_arrived)
        await asyncio.sleep(0.5)
        assert stand_ins.qb_requests == []
        await handle.signal(CustomerSyncWorkflow.poll_now)

    status = await _sync(temporal_client, stand_ins, inp, while_running=nudge)
    assert status.polls == 5
    assert stand_ins.customer_page_calls == [0]


# ---- 3. write-backs ----------------------------------------------------------------------------------------


async def test_new_links_are_written_back_to_quickbooks_and_marked(temporal_client):
    """Step 3: a page's write-backs become CustomerMods (Notes mode) built from what the page read; those
    QuickBooks accepted are marked written back, a refused one is counted as a failure and stays unmarked
    (drained next run)."""
    items = [
        WriteBackItem("80000001-1", "cus_A", "11"),
        WriteBackItem("80000002-1", "cus_B", "12"),
    ]
    refused = QbRunResult(1, "CustomerModRq", 3170, "Error", "There was an error when modifying a customer")
    answers: dict[str, Answer] = {}
    stand_ins = StandIns(customer_pages=[PageSummary({"create": 2}, "2026-03-01T10:00:00", None, items, 2)])

    def customer_mod(name: str) -> QbRunResult:
        return refused if "80000002-1" in stand_ins.qb_bodies[-1] else _ok(name)

    answers["CustomerModRq"] = customer_mod
    stand_ins.answers.update(answers)
    status = await _sync(temporal_client, stand_ins)
    mods = [
        b for n, b in zip(stand_ins.qb_requests, stand_ins.qb_bodies, strict=True) if n == "CustomerModRq"
    ]
    assert len(mods) == 2
    assert all("<EditSequence>1" in mod and "Stripe customer: cus_" in mod for mod in mods)
    assert stand_ins.marked == ["80000001-1"]
    assert status.last_summary is not None
    assert (status.last_summary.write_backs, status.last_summary.write_back_failures) == (1, 1)


async def test_write_backs_left_by_an_earlier_run_are_drained_before_the_poll(temporal_client):
    """Write-backs beyond the in-flight limit stay marked in the link table; the next run re-reads each
    customer and re-applies only our field before it polls."""
    stand_ins = StandIns(
        pending=[PendingWriteBack(1, "80000007-1", "cus_G"), PendingWriteBack(2, "80000008-1", "cus_H")],
        customer_pages=[_page(None, unchanged=1, requests=0)],
    )
    await _sync(temporal_client, stand_ins)
    assert sorted(stand_ins.marked) == ["80000007-1", "80000008-1"]
    first_poll = next(i for i, b in enumerate(stand_ins.qb_bodies) if 'iterator="Start"' in b)
    drained = stand_ins.qb_requests[:first_poll]
    assert drained.count("CustomerQueryRq") == 2 and drained.count("CustomerModRq") == 2


# ---- 4. invoices ----------------------------------------------------------------------------------------------


async def test_invoice_pages_are_pipelined_and_move_the_invoice_watermark(temporal_client):
    """Step 4: the InvoiceQuery's pages run like the customers' (several in flight: page 0 is still running
    when the later pages start), after the customer pages; the invoice watermark moves to the newest read."""
    stand_ins = StandIns(
        customer_pages=[_page("2026-03-01T10:00:00", create=1)],
        invoice_pages=[
            _page("2026-03-01T09:00:00", create=1),
            _page("2026-03-01T09:30:00", create=2),
            _page("2026-03-01T08:00:00", unchanged=1),
        ],
        invoice_page_gate=asyncio.Event(),
    )
    status = await _sync(temporal_client, stand_ins)
    assert sorted(stand_ins.invoice_page_0_saw) == [0, 1, 2]  # pages 1 and 2 started before page 0 ended
    assert stand_ins.qb_requests.index("InvoiceQueryRq") > stand_ins.qb_requests.index("CustomerQueryRq")
    assert INVOICE_REQUEST in stand_ins.forgotten
    assert status.invoice_watermark == "2026-03-01T09:30:00"
    assert status.last_summary is not None
    assert status.last_summary.invoices == {"create": 3, "unchanged": 1}
    assert "NotPaidOnly" in stand_ins.qb_bodies[stand_ins.qb_requests.index("InvoiceQueryRq")]  # first poll


async def test_deleted_invoices_are_withdrawn_and_a_failed_withdrawal_holds_the_invoice_watermark(
    temporal_client,
):
    """Step 4, deletions: the TxnDeletedQuery of the same window goes to ``sync_deleted_invoices``; a
    withdrawal that failed holds the invoice watermark at that deletion."""
    stand_ins = StandIns(
        invoice_pages=[_page("2026-03-01T12:00:00", update=1)],
        deleted=PageSummary({"deleted.withdraw": 1, "deleted.failed": 1}, None, "2026-03-01T11:00:00", [], 3),
    )
    inp = CustomerSyncInput(COMPANY, invoice_watermark="2026-03-01T10:00:00")
    status = await _sync(temporal_client, stand_ins, inp)
    assert stand_ins.deleted_calls == [PageInput(COMPANY, DELETED_REQUEST, 0)]
    deleted_query = stand_ins.qb_bodies[stand_ins.qb_requests.index("TxnDeletedQueryRq")]
    assert "2026-03-01T09:58:00" in deleted_query
    assert status.invoice_watermark == "2026-03-01T11:00:00"
    assert status.last_summary is not None
    assert status.last_summary.invoices == {"update": 1, "deleted.withdraw": 1, "deleted.failed": 1}


@pytest.mark.parametrize(
    ("refused", "held"),
    [
        ("CustomerQueryRq", "customer_watermark"),
        ("InvoiceQueryRq", "invoice_watermark"),
        ("TxnDeletedQueryRq", "invoice_watermark"),
    ],
)
async def test_a_query_quickbooks_refuses_keeps_its_watermark_and_the_rest_of_the_poll_runs(
    temporal_client, refused, held
):
    """A CustomerQuery, InvoiceQuery or TxnDeletedQuery answered with an error syncs none of its pages and
    leaves its watermark where it was, so the next poll reads the same window again (re-reading costs
    nothing: unchanged EditSequences); the poll's other queries still run."""
    stand_ins = StandIns(
        answers={refused: _failed},
        customer_pages=[_page("2026-03-01T12:00:00", create=1)],
        invoice_pages=[_page("2026-03-01T12:00:00", update=1)],
    )
    inp = CustomerSyncInput(
        COMPANY, customer_watermark="2026-03-01T10:00:00", invoice_watermark="2026-03-01T10:00:00"
    )
    status = await _sync(temporal_client, stand_ins, inp)
    synced: dict[str, list[Any]] = {
        "CustomerQueryRq": list(stand_ins.customer_page_calls),
        "InvoiceQueryRq": list(stand_ins.invoice_page_calls),
        "TxnDeletedQueryRq": list(stand_ins.deleted_calls),
    }
    assert synced.pop(refused) == []
    assert all(synced.values())
    assert getattr(status, held) == "2026-03-01T10:00:00"
