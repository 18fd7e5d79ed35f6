"""LedgerWorkflow's branches, proven in seconds: the real workflow on a real worker, every activity stood in.

Each test is one rule of workflows/ledger.py's docstring. The workflow runs unchanged against the dev server;
Stripe's plan, the database and QuickBooks are stand-ins registered under the production activity names
(``ledger_plan_pass``, ``ledger_record``, ``ledger_failed``, ``qb_run``, ``qb_lists_*``). A test scripts the
passes (what ``ledger_plan_pass`` answers, one :class:`PassResult` a pass) and QuickBooks' answers per request
element, and asserts what the stand-ins were asked — above all how many Adds were sent. After each scripted
pass but the last, the plan stand-in wakes the workflow (a ``retry`` signal, as an operator or a webhook would);
the pass after the script answers "clearing mode off", which ends the workflow. The whole system (gateway,
queue, Web Connector simulator, fake Stripe) is covered by tests/integration/test_ledger_end_to_end.py and
test_ledger_month.py; these tests pin the workflow's decisions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.ledger import PassResult, PostingFailed, PostingRecorded
    from activities.qb_lists import ListCheck, ListForget, ListRemember
    from ml_connector.ledger import ids
    from ml_connector.ledger.jobs import PostingJob, job_for
    from ml_connector.ledger.postings import Posting, RefundEntry
    from ml_connector.ledger.setup import ListNeed
    from ml_connector.ledger.signals import (
        LEDGER_RESCAN_SIGNAL,
        LEDGER_RETRY_SIGNAL,
        LEDGER_SIGNAL,
        LedgerInput,
        LedgerSignal,
    )
    from ml_connector.qbwc_server.requests import UNCERTAIN_KIND, QbRunInput, QbRunResult
    from ml_connector.qbxml.credits import CreditMemoAdd
    from ml_connector.qbxml.journal import JournalEntryAdd, JournalLine
    from workflows.ledger import LedgerWorkflow

pytestmark = pytest.mark.fast

COMPANY = "acme"
CLEARING = "Stripe Clearing"
FEES = "Stripe Fees"
OFF = "clearing-account mode is off"
JE_QUERY, JE_ADD = "JournalEntryQueryRq", "JournalEntryAddRq"
CM_QUERY, CM_ADD = "CreditMemoQueryRq", "CreditMemoAddRq"
RF_QUERY, RF_ADD = "ARRefundCreditCardQueryRq", "ARRefundCreditCardAddRq"

Answer = Callable[[], QbRunResult]


# ---- postings, as the planner would hand them over -------------------------------------------------------------


def _fee(source: str = "txn_fee1", amount: str = "1.46") -> PostingJob:
    """A Stripe fee: a journal entry moving ``amount`` out of the clearing account into the fees account."""
    key = f"fee:{source}"
    money = Decimal(amount)
    posting = Posting(
        key=key,
        kind="fee",
        balance_txn_ids=(source,),
        source_id=source,
        txn_date=date(2025, 12, 4),
        clearing_amount=-money,
        entry=JournalEntryAdd(
            debits=(JournalLine(account_name=FEES, amount=money),),
            credits=(JournalLine(account_name=CLEARING, amount=money),),
            txn_date=date(2025, 12, 4),
            ref_number=ids.ref_number(key),
            memo=f"Stripe fee {source}",
            external_guid=ids.external_guid(key),
        ),
    )
    return job_for(posting, CLEARING)


def _refund(refund_id: str = "re_1") -> PostingJob:
    """A refund: a credit memo, then a card refund paying it out of the clearing account."""
    key = f"refund:{refund_id}"
    posting = Posting(
        key=key,
        kind="refund",
        balance_txn_ids=(f"txn_{refund_id}",),
        source_id=refund_id,
        txn_date=date(2025, 12, 5),
        clearing_amount=Decimal("-40.00"),
        entry=RefundEntry(
            credit_memo=CreditMemoAdd(
                customer_list_id="80000001-1",
                item_name="Refunds",
                amount=Decimal("40.00"),
                txn_date=date(2025, 12, 5),
                ref_number=ids.ref_number(key),
                memo=refund_id,
                external_guid=ids.external_guid(key),
            ),
            refund_from_account_name=CLEARING,
            payment_method_name="Stripe",
        ),
    )
    return job_for(posting, CLEARING)


# ---- QuickBooks' answers ---------------------------------------------------------------------------------------


def _answer(name: str, xml: str = "", code: int = 0, message: str = "Status OK") -> Answer:
    severity = "Info" if code < 1000 else "Error"
    return lambda: QbRunResult(1, name, code, severity, message, response=xml)


def _none_found(rq: str) -> Answer:
    """A query answered 1 (no match): the empty response element, as QuickBooks sends it."""
    rs = rq[:-2] + "Rs"
    message = "A query request did not find a matching object in QuickBooks"
    return _answer(
        rq,
        f'<{rs} requestID="1" statusCode="1" statusSeverity="Info" statusMessage="{message}"/>',
        1,
        message,
    )


def _uncertain() -> QbRunResult:
    """The queue's verdict on a write whose answer was lost and whose fate QuickBooks could not tell."""
    raise ApplicationError("the answer to its document was lost", type=UNCERTAIN_KIND, non_retryable=True)


def _silent() -> QbRunResult:
    """QuickBooks never answered (the activity failed for good)."""
    raise ApplicationError("QuickBooks is closed", non_retryable=True)


def _rs(rs: str, body: str) -> str:
    return f'<{rs} requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">{body}</{rs}>'


def _journal(rs: str, job: PostingJob, txn_id: str, amount: str = "1.46") -> Answer:
    ret = (
        f"<JournalEntryRet><TxnID>{txn_id}</TxnID><EditSequence>1</EditSequence><TxnDate>{job.txn_date}</TxnDate>"
        f"<RefNumber>{job.ref_number}</RefNumber><ExternalGUID>{job.external_guid}</ExternalGUID>"
        f"<JournalDebitLine><AccountRef><FullName>{FEES}</FullName></AccountRef><Amount>{amount}</Amount>"
        f"</JournalDebitLine><JournalCreditLine><AccountRef><FullName>{CLEARING}</FullName></AccountRef>"
        f"<Amount>{amount}</Amount></JournalCreditLine></JournalEntryRet>"
    )
    return _answer(rs[:-2] + "Rq", _rs(rs, ret))


def _credit_memo_added(job: PostingJob, txn_id: str) -> Answer:
    ret = (
        f"<CreditMemoRet><TxnID>{txn_id}</TxnID><EditSequence>1</EditSequence>"
        f"<CustomerRef><ListID>80000001-1</ListID></CustomerRef><RefNumber>{job.ref_number}</RefNumber>"
        f"<TotalAmount>40.00</TotalAmount><ExternalGUID>{job.external_guid}</ExternalGUID></CreditMemoRet>"
    )
    return _answer(CM_ADD, _rs("CreditMemoAddRs", ret))


def _refund_added(job: PostingJob, txn_id: str) -> Answer:
    ret = (
        f"<ARRefundCreditCardRet><TxnID>{txn_id}</TxnID><EditSequence>1</EditSequence>"
        f"<CustomerRef><ListID>80000001-1</ListID></CustomerRef>"
        f"<RefundFromAccountRef><FullName>{CLEARING}</FullName></RefundFromAccountRef>"
        f"<RefNumber>{job.ref_number}</RefNumber><TotalAmount>40.00</TotalAmount>"
        f"<ExternalGUID>{job.external_guid}</ExternalGUID></ARRefundCreditCardRet>"
    )
    return _answer(RF_ADD, _rs("ARRefundCreditCardAddRs", ret))


# ---- the stand-ins ---------------------------------------------------------------------------------------------


@dataclass
class StandIns:
    """Stripe's plan, the database and QuickBooks as one company's ledger sees them; records what it is asked."""

    client: Client
    passes: list[PassResult]
    quickbooks: dict[str, list[Answer]] = field(default_factory=dict)
    wakes: list[tuple[str, list[Any]]] = field(default_factory=list)  # after each scripted pass; else retry
    # What was asked
    planned: list[LedgerInput] = field(default_factory=list)
    qb_requests: list[str] = field(default_factory=list)
    qb_bodies: list[str] = field(default_factory=list)
    qb_idem_keys: list[str | None] = field(default_factory=list)
    recorded: list[PostingRecorded] = field(default_factory=list)
    failed: list[PostingFailed] = field(default_factory=list)
    lists_checked: list[ListNeed] = field(default_factory=list)

    @activity.defn(name="ledger_plan_pass")
    async def plan_pass(self, inp: LedgerInput) -> PassResult:
        self.planned.append(inp)
        if not self.passes:
            return PassResult(clearing_mode=False)
        # Wake the workflow for its next pass, as a webhook or an operator would.
        signal, args = self.wakes.pop(0) if self.wakes else (LEDGER_RETRY_SIGNAL, [])
        await self.client.get_workflow_handle(activity.info().workflow_id).signal(signal, args=args)
        return self.passes.pop(0)

    @activity.defn(name="ledger_record")
    async def record(self, inp: PostingRecorded) -> bool:
        self.recorded.append(inp)
        return True

    @activity.defn(name="ledger_failed")
    async def record_failed(self, inp: PostingFailed) -> None:
        self.failed.append(inp)

    @activity.defn(name="qb_run")
    async def qb_run(self, run: QbRunInput) -> QbRunResult:
        name = run.body.lstrip().split(">", 1)[0].lstrip("<").split()[0]
        self.qb_requests.append(name)
        self.qb_bodies.append(run.body)
        self.qb_idem_keys.append(run.idem_key)
        # A key "Name|text" answers only requests holding that text (concurrent Adds arrive in any order).
        keys = [k for k in self.quickbooks if k.partition("|")[0] == name and k.partition("|")[2] in run.body]
        script = next(
            (self.quickbooks[k] for k in sorted(keys, key=len, reverse=True) if self.quickbooks[k]), None
        )
        if not script:
            raise ApplicationError(f"QuickBooks stand-in has no answer for {name}", non_retryable=True)
        return script.pop(0)()

    @activity.defn(name="qb_lists_missing")
    async def lists_missing(self, check: ListCheck) -> list[ListNeed]:
        self.lists_checked += check.needs
        return []  # every account and item is known to exist

    @activity.defn(name="qb_lists_remember")
    async def lists_remember(self, request: ListRemember) -> int:
        raise AssertionError("nothing is missing, so nothing is created or remembered")

    @activity.defn(name="qb_lists_forget")
    async def lists_forget(self, request: ListForget) -> int:
        raise AssertionError("nothing is forgotten in these tests")

    def activities(self) -> list[Callable[..., object]]:
        return [
            self.plan_pass,
            self.record,
            self.record_failed,
            self.qb_run,
            self.lists_missing,
            self.lists_remember,
            self.lists_forget,
        ]


async def _run(
    stand_ins: StandIns, inp: LedgerInput | None = None, signal: LedgerSignal | None = None
) -> str:
    """Run the company's ledger workflow on a fresh task queue through the scripted passes; its result."""
    queue = f"ledger-wf-{uuid.uuid4().hex[:8]}"
    client = stand_ins.client
    async with Worker(
        client, task_queue=queue, workflows=[LedgerWorkflow], activities=stand_ins.activities()
    ):
        handle = await client.start_workflow(
            LedgerWorkflow.run,
            inp or LedgerInput(COMPANY, since=1000),
            id=f"ledger/{COMPANY}/{queue}",
            task_queue=queue,
            start_signal=LEDGER_SIGNAL if signal else None,
            start_signal_args=[signal] if signal else [],
        )
        result = await asyncio.wait_for(handle.result(), timeout=30)
        assert await handle.query(LedgerWorkflow.passes) == len(stand_ins.planned) - 1
        return result


def _pass(*jobs: PostingJob, since: int = 2000, **kw: Any) -> PassResult:
    return PassResult(clearing_mode=True, jobs=list(jobs), since=since, clearing_account=CLEARING, **kw)


# ---- the tests -------------------------------------------------------------------------------------------------


async def test_a_company_not_in_clearing_mode_ends_the_workflow_without_any_qbxml(temporal_client):
    """Step 1: the plan says clearing-account mode is off → the workflow ends at once, nothing sent."""
    stand_ins = StandIns(temporal_client, passes=[])
    assert await _run(stand_ins) == OFF
    assert [p.since for p in stand_ins.planned] == [1000]
    assert stand_ins.qb_requests == []
    assert stand_ins.recorded == stand_ins.failed == []


async def test_a_posting_not_in_quickbooks_is_looked_up_added_once_and_recorded_with_quickbooks_amount(
    temporal_client,
):
    """Steps 2 and 3: one batched lookup by RefNumber, one Add under a deterministic idempotency key, then the
    posting is recorded with the clearing effect QuickBooks answered; the watermark moves to the plan's."""
    fee = _fee()
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(fee, since=2000)],
        quickbooks={JE_QUERY: [_none_found(JE_QUERY)], JE_ADD: [_journal("JournalEntryAddRs", fee, "JE-1")]},
    )
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == [JE_QUERY, JE_ADD], "exactly one Add"
    assert stand_ins.qb_idem_keys[1] == f"ledger/{COMPANY}/{fee.key}/0/add"
    assert fee.ref_number in stand_ins.qb_bodies[0]
    [recorded] = stand_ins.recorded
    assert (recorded.qb_txn_id, recorded.qb_amount, recorded.found_existing) == ("JE-1", "-1.46", False)
    assert recorded.job.key == fee.key
    assert stand_ins.failed == []
    assert [p.since for p in stand_ins.planned] == [1000, 2000], "the next pass plans from the new watermark"


async def test_a_posting_already_in_quickbooks_is_recorded_as_found_and_not_added_again(temporal_client):
    """Step 2: the lookup finds the posting by its ExternalGUID (its answer was lost, or its record never
    written) → recorded as found, no Add."""
    fee = _fee()
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(fee)],
        quickbooks={JE_QUERY: [_journal("JournalEntryQueryRs", fee, "JE-OLD")]},
    )
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == [JE_QUERY]
    [recorded] = stand_ins.recorded
    assert (recorded.qb_txn_id, recorded.qb_amount, recorded.found_existing) == ("JE-OLD", "-1.46", True)


async def test_a_refund_adds_its_credit_memo_then_the_card_refund_of_that_memo(temporal_client):
    """Step 2 for a refund: both halves are looked up; the credit memo is added, then the card refund naming
    the memo's TxnID; the record carries the card refund (the transaction that moves the clearing account)."""
    refund = _refund()
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(refund)],
        quickbooks={
            CM_QUERY: [_none_found(CM_QUERY)],
            RF_QUERY: [_none_found(RF_QUERY)],
            CM_ADD: [_credit_memo_added(refund, "CM-1")],
            RF_ADD: [_refund_added(refund, "RF-1")],
        },
    )
    assert await _run(stand_ins) == OFF
    assert sorted(stand_ins.qb_requests[:2]) == sorted([CM_QUERY, RF_QUERY])
    assert stand_ins.qb_requests[2:] == [CM_ADD, RF_ADD]
    assert "<TxnID>CM-1</TxnID>" in stand_ins.qb_bodies[3], "the card refund pays out the new credit memo"
    assert stand_ins.qb_idem_keys[3] == f"ledger/{COMPANY}/{refund.key}/0/refund"
    [recorded] = stand_ins.recorded
    assert (recorded.qb_txn_id, recorded.qb_amount, recorded.found_existing) == ("RF-1", "-40.00", False)


async def test_an_uncertain_add_that_landed_is_found_by_its_guid_and_not_added_again(temporal_client):
    """The queue reports the Add uncertain → the same lookup a pass starts with settles it: found by
    ExternalGUID, recorded, never sent twice."""
    fee = _fee()
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(fee)],
        quickbooks={
            JE_QUERY: [_none_found(JE_QUERY), _journal("JournalEntryQueryRs", fee, "JE-2")],
            JE_ADD: [_uncertain],
        },
    )
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == [JE_QUERY, JE_ADD, JE_QUERY]
    assert [r.qb_txn_id for r in stand_ins.recorded] == ["JE-2"]


async def test_an_uncertain_add_that_did_not_land_is_added_once_more_under_a_new_key(temporal_client):
    """Uncertain, and the lookup does not find it → added again, under a key the queue takes as a new
    request (``…/again-1``), not the lost one."""
    fee = _fee()
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(fee)],
        quickbooks={
            JE_QUERY: [_none_found(JE_QUERY), _none_found(JE_QUERY)],
            JE_ADD: [_uncertain, _journal("JournalEntryAddRs", fee, "JE-3")],
        },
    )
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == [JE_QUERY, JE_ADD, JE_QUERY, JE_ADD]
    key = f"ledger/{COMPANY}/{fee.key}/0/add"
    assert [stand_ins.qb_idem_keys[1], stand_ins.qb_idem_keys[3]] == [key, f"{key}/again-1"]
    assert [r.qb_txn_id for r in stand_ins.recorded] == ["JE-3"]


async def test_a_refused_posting_is_audited_and_retried_next_pass_without_moving_the_watermark(
    temporal_client,
):
    """A posting QuickBooks refuses is handed to ``ledger_failed`` with QuickBooks' words; the other postings
    of the pass are recorded; the watermark stays, so the next pass plans the refused one again, and the
    disputes asked about are asked again."""
    refused, fine = _fee("txn_fee1"), _fee("txn_fee2", "2.00")
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(refused, fine, since=2000), _pass(refused, since=2000)],
        quickbooks={
            JE_QUERY: [_none_found(JE_QUERY), _none_found(JE_QUERY)],
            f"{JE_ADD}|{refused.ref_number}": [
                _answer(JE_ADD, code=3140, message="There is an invalid reference to QuickBooks Account"),
                _journal("JournalEntryAddRs", refused, "JE-4"),
            ],
            f"{JE_ADD}|{fine.ref_number}": [_journal("JournalEntryAddRs", fine, "JE-5", "2.00")],
        },
    )
    inp = LedgerInput(COMPANY, since=1000, dispute_ids=["du_1"])
    assert await _run(stand_ins, inp) == OFF
    [failed] = stand_ins.failed
    assert failed.job.key == refused.key
    assert "3140" in failed.error and "invalid reference" in failed.error
    assert sorted(r.qb_txn_id for r in stand_ins.recorded) == ["JE-4", "JE-5"]
    assert [p.since for p in stand_ins.planned] == [1000, 1000, 2000]
    assert [p.dispute_ids for p in stand_ins.planned[:2]] == [["du_1"], ["du_1"]]
    assert stand_ins.qb_idem_keys[-1] == f"ledger/{COMPANY}/{refused.key}/1/add", "the next pass's attempt"


async def test_a_refused_lookup_fails_every_posting_of_the_pass_and_adds_nothing(temporal_client):
    """A lookup QuickBooks refuses means nothing can be known about what exists: no Add is sent, each job is
    failed (audited) with QuickBooks' words."""
    one, two = _fee("txn_fee1"), _fee("txn_fee2")
    stand_ins = StandIns(
        temporal_client,
        passes=[_pass(one, two)],
        quickbooks={JE_QUERY: [_answer(JE_QUERY, code=3100, message="The name is not unique")]},
    )
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == [JE_QUERY]
    assert sorted(f.job.key for f in stand_ins.failed) == sorted([one.key, two.key])
    assert all("looking up earlier postings" in f.error and "3100" in f.error for f in stand_ins.failed)
    assert stand_ins.recorded == []


async def test_a_lookup_quickbooks_never_answers_fails_every_posting_with_the_reason(temporal_client):
    """The lookup's activity fails (QuickBooks closed for good): each job is failed with the cause's words."""
    fee = _fee()
    stand_ins = StandIns(temporal_client, passes=[_pass(fee)], quickbooks={JE_QUERY: [_silent]})
    assert await _run(stand_ins) == OFF
    [failed] = stand_ins.failed
    assert failed.error == "QuickBooks did not answer: QuickBooks is closed"
    assert stand_ins.recorded == []


async def test_a_configured_name_that_cannot_be_checked_fails_every_posting_before_any_qbxml(temporal_client):
    """Before posting, the accounts and items the jobs name must exist; a need that cannot even be checked
    is a problem a person must solve, written on every job, and nothing is sent to QuickBooks."""
    fee = _fee()
    bad = ListNeed("ledger", CLEARING, purpose="the clearing account")
    good = ListNeed("account", FEES, "Expense")
    stand_ins = StandIns(temporal_client, passes=[_pass(fee, needs=[bad, good])])
    assert await _run(stand_ins) == OFF
    assert stand_ins.qb_requests == []
    assert [n.name for n in stand_ins.lists_checked] == [FEES], "the valid needs are still checked"
    [failed] = stand_ins.failed
    assert "Unknown list kind 'ledger'" in failed.error


async def test_signalled_payouts_and_disputes_are_planned_and_payouts_in_transit_are_asked_again(
    temporal_client,
):
    """Signals: a payout (``po_…``) or dispute (``dp_…``) named by a webhook is planned on the next pass; a
    payout the plan says is still in transit is asked about again, a dispute only once when all went well."""
    stand_ins = StandIns(temporal_client, passes=[_pass(payout_ids=["po_1"])])
    signal = LedgerSignal(event_id="evt_1", event_type="charge.dispute.created", object_id="dp_1")
    inp = LedgerInput(COMPANY, since=1000, payout_ids=["po_1"])
    assert await _run(stand_ins, inp, signal=signal) == OFF
    first, second = stand_ins.planned
    assert (first.payout_ids, first.dispute_ids) == (["po_1"], ["dp_1"])
    assert (second.payout_ids, second.dispute_ids) == (["po_1"], [])


async def test_a_rescan_signal_plans_again_from_the_time_it_names(temporal_client):
    """``rescan(since)``: the next pass plans from ``since`` (e.g. after restoring an old database)."""
    stand_ins = StandIns(
        temporal_client, passes=[_pass(since=5000), _pass(since=6000)], wakes=[(LEDGER_RESCAN_SIGNAL, [10])]
    )
    assert await _run(stand_ins) == OFF
    assert [p.since for p in stand_ins.planned] == [1000, 10, 6000]
