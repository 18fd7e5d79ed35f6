"""A posting as the ledger workflow carries it: plain strings only, so it crosses Temporal's JSON boundary.

The planner's :class:`~ml_connector.ledger.postings.Posting` holds Decimals, dates and a union of entry
types; the workflow only needs the qbXML to send and how to recognise the answer. :func:`job_for` turns one
into the other in the activity that plans, and the pure functions here read QuickBooks' answers in the
workflow (deterministic: no I/O, no clock).

A refund is two QuickBooks transactions (credit memo, then the card refund that pays it out of the
clearing account) and the second needs the first's TxnID, which exists only once QuickBooks answered. The
card refund's request is therefore prepared with a placeholder TxnID that :func:`refund_add` fills in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ml_connector.ledger import requests
from ml_connector.ledger.postings import PaymentDeposit, Posting, RefundEntry
from ml_connector.qbxml.credits import (
    ar_refund_credit_card_add,
    ar_refund_credit_card_query,
    credit_memo_query,
    parse_ar_refunds_credit_card,
    parse_credit_memos,
)
from ml_connector.qbxml.deposits import DepositAdd, deposit_query, parse_deposits
from ml_connector.qbxml.journal import journal_entry_query, parse_journal_entries

_PLACEHOLDER = "MLC-CREDIT-MEMO-TXNID"
LOOKUP_CHUNK = 100
_TXN_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


@dataclass
class PostingJob:
    key: str
    kind: str
    source_id: str
    txn_date: str
    clearing_amount: str  # signed Decimal text: what the plan expects the clearing account to move by
    txn_type: str  # JournalEntry | Deposit | ARRefundCreditCard (the transaction the report shows)
    external_guid: str
    add_rq: str
    clearing_account: str
    description: str
    lookup_kind: str  # journal | credit_memo | deposit: which batched lookup finds it (see batch_lookups)
    ref_number: str = ""
    deposit_account: str = ""  # deposits: the bank account (deposits have no RefNumber to look up by)
    balance_txn_ids: list[str] = field(default_factory=list)
    refund_add_rq: str = ""  # with the placeholder for the credit memo's TxnID


@dataclass(frozen=True)
class Found:
    txn_id: str
    clearing_amount: Decimal | None  # None when the answer does not show it (a credit memo alone)


def job_for(posting: Posting, clearing_account: str) -> PostingJob:
    if isinstance(posting.entry, PaymentDeposit):
        raise ValueError(f"{posting.key}: payments are posted by the payment workflow")
    refund_add = ""
    lookup_kind, deposit_account = "journal", ""
    if isinstance(posting.entry, RefundEntry):
        refund_add = ar_refund_credit_card_add(posting.entry.refund(_PLACEHOLDER))
        lookup_kind = "credit_memo"
    elif isinstance(posting.entry, DepositAdd):
        lookup_kind, deposit_account = "deposit", posting.entry.deposit_to_account_name
    return PostingJob(
        key=posting.key,
        kind=posting.kind,
        source_id=posting.source_id,
        txn_date=posting.txn_date.isoformat(),
        clearing_amount=str(posting.clearing_amount),
        txn_type=requests.qb_txn_type(posting),
        external_guid=posting.external_guid,
        add_rq=requests.add_request(posting),
        clearing_account=clearing_account,
        description=_describe(posting),
        lookup_kind=lookup_kind,
        ref_number=posting.ref_number,
        deposit_account=deposit_account,
        balance_txn_ids=list(posting.balance_txn_ids),
        refund_add_rq=refund_add,
    )


def batch_lookups(jobs: Sequence[PostingJob], chunk: int = LOOKUP_CHUNK) -> list[str]:
    """The few queries that find every job already in QuickBooks: by RefNumber lists, deposits by date.

    One query per kind (per ``chunk`` RefNumbers) instead of one per posting keeps a pass of 300 fees at
    ~1 qbXML request per posting; the ExternalGUID then decides, so a RefNumber collision is harmless.
    """
    found: list[str] = []
    journal = sorted({j.ref_number for j in jobs if j.lookup_kind == "journal"})
    memos = sorted({j.ref_number for j in jobs if j.lookup_kind == "credit_memo"})
    for start in range(0, len(journal), chunk):
        found.append(journal_entry_query(ref_numbers=journal[start : start + chunk], include_line_items=True))
    for start in range(0, len(memos), chunk):
        refs = memos[start : start + chunk]
        found.append(credit_memo_query(ref_numbers=refs, include_linked_txns=False))
        found.append(ar_refund_credit_card_query(ref_numbers=refs, include_line_items=False))
    deposits: dict[str, list[date]] = {}
    for job in jobs:
        if job.lookup_kind == "deposit":
            deposits.setdefault(job.deposit_account, []).append(date.fromisoformat(job.txn_date))
    for account, days in sorted(deposits.items()):
        found.append(
            deposit_query(
                from_txn_date=min(days),
                to_txn_date=max(days),
                account_names=[account],
                include_line_items=True,
            )
        )
    return found


Finder = Callable[["PostingJob", str], "Found | None"]


def first_found(job: PostingJob, answers: Sequence[str], find: Finder) -> Found | None:
    """The first answer (of a batched lookup) holding the job's transaction."""
    for answer in answers:
        found = find(job, answer)
        if found is not None:
            return found
    return None


def refund_add(job: PostingJob, credit_memo_txn_id: str) -> str:
    if not job.refund_add_rq:
        raise ValueError(f"{job.key} is not a refund")
    if not _TXN_ID.fullmatch(credit_memo_txn_id):
        raise ValueError(f"not a QuickBooks TxnID: {credit_memo_txn_id!r}")
    return job.refund_add_rq.replace(_PLACEHOLDER, credit_memo_txn_id)


def _same(guid: str | None, wanted: str) -> bool:
    return (guid or "").upper() == wanted.upper()


def find_first(job: PostingJob, rs_xml: str) -> Found | None:
    """The posting's (first) transaction in a lookup or Add answer, by ExternalGUID, with its clearing effect.

    For a refund this is the credit memo, which does not touch the clearing account (its effect is the
    card refund's: see :func:`find_refund`).
    """
    guid = job.external_guid
    if job.refund_add_rq:
        memo = next((m for m in parse_credit_memos(rs_xml) if _same(m.external_guid, guid)), None)
        return Found(memo.txn_id, None) if memo else None
    if job.txn_type == "Deposit":
        deposit = next((d for d in parse_deposits(rs_xml) if _same(d.external_guid, guid)), None)
        if deposit is None:
            return None
        wanted = job.clearing_account.casefold()
        # Money comes *out of* clearing into the bank: each clearing line lowers the clearing balance.
        moved = -sum(
            (
                line.amount or Decimal(0)
                for line in deposit.lines
                if (line.account_name or "").casefold() == wanted
            ),
            Decimal(0),
        )
        return Found(deposit.txn_id, moved if deposit.lines else None)
    entry = next((j for j in parse_journal_entries(rs_xml) if _same(j.external_guid, guid)), None)
    if entry is None:
        return None
    return Found(entry.txn_id, entry.net_for(job.clearing_account) if entry.lines else None)


def find_refund(job: PostingJob, rs_xml: str) -> Found | None:
    refund = next(
        (r for r in parse_ar_refunds_credit_card(rs_xml) if _same(r.external_guid, job.external_guid)), None
    )
    if refund is None:
        return None
    return Found(refund.txn_id, -(refund.total_amount or Decimal(0)))


def _describe(posting: Posting) -> str:
    entry = posting.entry
    if isinstance(entry, DepositAdd):
        return entry.memo or posting.key
    if isinstance(entry, RefundEntry):
        return entry.credit_memo.memo or posting.key
    memo = getattr(entry, "memo", None)
    return str(memo) if memo else posting.key
