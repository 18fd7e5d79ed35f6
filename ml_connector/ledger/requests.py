"""A posting as qbXML: the duplicate check to run first, the request(s) that post it, and how to read
back the TxnID it became. Pure; the workflow sends these through ``qb.run``.

Exactly-once, step by step (the same for every kind):

1. ``lookup_request(posting)`` — journal entries and credit memos by their RefNumber, deposits by the
   payout's date and bank account (DepositQuery has no RefNumber filter);
2. ``find_posted(posting, rs_xml)`` — the TxnID of the transaction carrying this posting's
   ExternalGUID, or ``None``;
3. if none: ``add_request(posting)``; for a refund, then ``refund_request(posting, credit_memo_txn_id)``
   (looked up the same way with ``refund_lookup_request``, because the refund may be the half that was
   lost).

Payments (``PaymentDeposit``) are made by the payment workflow with its own ReceivePaymentAdd and have
no request here.
"""

from __future__ import annotations

from ml_connector.ledger.postings import PaymentDeposit, Posting, RefundEntry
from ml_connector.qbxml.credits import (
    ar_refund_credit_card_add,
    ar_refund_credit_card_query,
    credit_memo_add,
    credit_memo_query,
    parse_ar_refunds_credit_card,
    parse_credit_memos,
)
from ml_connector.qbxml.deposits import DepositAdd, deposit_add, deposit_query, parse_deposits
from ml_connector.qbxml.journal import (
    JournalEntryAdd,
    journal_entry_add,
    journal_entry_query,
    parse_journal_entries,
)


def _not_payment(posting: Posting) -> None:
    if isinstance(posting.entry, PaymentDeposit):
        raise ValueError(f"{posting.key} is a payment: the payment workflow records it with ReceivePaymentAdd")


def lookup_request(posting: Posting) -> str:
    _not_payment(posting)
    entry = posting.entry
    if isinstance(entry, DepositAdd):
        return deposit_query(
            from_txn_date=posting.txn_date, to_txn_date=posting.txn_date,
            account_names=[entry.deposit_to_account_name], include_line_items=True,
        )
    if isinstance(entry, RefundEntry):
        return credit_memo_query(ref_numbers=[posting.ref_number], include_linked_txns=False)
    return journal_entry_query(ref_numbers=[posting.ref_number], include_line_items=True)


def refund_lookup_request(posting: Posting) -> str:
    if not isinstance(posting.entry, RefundEntry):
        raise ValueError(f"{posting.key} is not a refund")
    return ar_refund_credit_card_query(ref_numbers=[posting.ref_number], include_line_items=False)


def find_posted(posting: Posting, rs_xml: str) -> str | None:
    """The TxnID in a lookup (or Add) response that carries this posting's ExternalGUID."""
    entry = posting.entry
    guid = posting.external_guid.upper()
    candidates: list[tuple[str, str | None]]
    if isinstance(entry, DepositAdd):
        candidates = [(d.txn_id, d.external_guid) for d in parse_deposits(rs_xml)]
    elif isinstance(entry, RefundEntry):
        candidates = [(m.txn_id, m.external_guid) for m in parse_credit_memos(rs_xml)]
    else:
        candidates = [(j.txn_id, j.external_guid) for j in parse_journal_entries(rs_xml)]
    return next((txn_id for txn_id, found in candidates if (found or "").upper() == guid), None)


def find_refund_posted(posting: Posting, rs_xml: str) -> str | None:
    guid = posting.external_guid.upper()
    return next(
        (r.txn_id for r in parse_ar_refunds_credit_card(rs_xml) if (r.external_guid or "").upper() == guid), None
    )


def add_request(posting: Posting) -> str:
    """The JournalEntryAddRq, DepositAddRq or (for a refund) CreditMemoAddRq that posts it."""
    _not_payment(posting)
    entry = posting.entry
    if isinstance(entry, JournalEntryAdd):
        return journal_entry_add(entry)
    if isinstance(entry, DepositAdd):
        return deposit_add(entry)
    if isinstance(entry, RefundEntry):
        return credit_memo_add(entry.credit_memo)
    raise TypeError(f"unexpected entry {type(entry).__name__}")  # pragma: no cover - the union is closed


def refund_request(posting: Posting, credit_memo_txn_id: str) -> str:
    if not isinstance(posting.entry, RefundEntry):
        raise ValueError(f"{posting.key} is not a refund")
    return ar_refund_credit_card_add(posting.entry.refund(credit_memo_txn_id))


def qb_txn_type(posting: Posting) -> str:
    """The QuickBooks transaction type a posting becomes (for the report)."""
    entry = posting.entry
    if isinstance(entry, PaymentDeposit):
        return "ReceivePayment"
    if isinstance(entry, DepositAdd):
        return "Deposit"
    if isinstance(entry, RefundEntry):
        return "ARRefundCreditCard"
    return "JournalEntry"
