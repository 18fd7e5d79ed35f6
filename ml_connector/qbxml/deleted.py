"""Deleted transactions: TxnDeletedQuery and reading TxnDeletedRet.

Why a query of its own: a transaction deleted in QuickBooks is gone from every other query. An InvoiceQuery
with a ModifiedDateRangeFilter never returns it again, so a sync that only reads modified invoices would
leave the Stripe invoice open and the customer asked to pay for an invoice that no longer exists.
QuickBooks keeps a list of deletions instead (``TxnDeletedQueryRq``: the transaction types wanted and an
optional DeletedDateRangeFilter), answering one ``TxnDeletedRet`` per deletion with the type, the TxnID,
TimeCreated, TimeDeleted and RefNumber.

TxnDeletedQuery has no iterator and no MaxReturned in qbXML 13.0: keep the window short (the sync's
watermark) so the answer stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ml_connector.qbxml import nodes
from ml_connector.qbxml.values import QbDateTime

# qbXML 13.0's TxnDelType enumeration: anything else is refused here rather than by QuickBooks' parser.
TXN_DEL_TYPES = frozenset(
    {
        "ARRefundCreditCard", "Bill", "BillPaymentCheck", "BillPaymentCreditCard", "BuildAssembly", "Charge",
        "Check", "CreditCardCharge", "CreditCardCredit", "CreditMemo", "Deposit", "Estimate",
        "InventoryAdjustment", "Invoice", "ItemReceipt", "JournalEntry", "PurchaseOrder", "ReceivePayment",
        "SalesOrder", "SalesReceipt", "SalesTaxPaymentCheck", "TimeTracking", "TransferInventory",
        "VehicleMileage", "VendorCredit",
    }
)  # fmt: skip

INCLUDE_RET_MAX_LEN = 50


def txn_deleted_query(
    txn_del_types: Sequence[str],
    *,
    from_deleted: datetime | QbDateTime | None = None,
    to_deleted: datetime | QbDateTime | None = None,
    include_ret_elements: Sequence[str] = (),
) -> str:
    """A TxnDeletedQueryRq for the given transaction types deleted in the window (both bounds optional).

    Bounds are QuickBooks-local wall-clock times (a naive ``datetime`` or a :class:`QbDateTime`), exactly as
    in a ModifiedDateRangeFilter.
    """
    if not txn_del_types:
        raise ValueError("a TxnDeletedQuery needs at least one TxnDelType")
    request = nodes.new_request("TxnDeletedQueryRq")
    for txn_type in txn_del_types:
        if txn_type not in TXN_DEL_TYPES:
            raise ValueError(f"not a qbXML TxnDelType: {txn_type!r}")
        nodes.sub(request, "TxnDelType", txn_type)
    if from_deleted is not None or to_deleted is not None:
        window = nodes.sub(request, "DeletedDateRangeFilter")
        nodes.add_datetime(window, "FromDeletedDate", from_deleted)
        nodes.add_datetime(window, "ToDeletedDate", to_deleted)
    for name in include_ret_elements:
        nodes.sub(
            request, "IncludeRetElement", nodes.check_id(name, "IncludeRetElement", INCLUDE_RET_MAX_LEN)
        )
    return nodes.to_text(request)


@dataclass(frozen=True)
class DeletedTxn:
    """One deletion as QuickBooks lists it. ``time_deleted`` is QuickBooks' wall clock, like TimeModified."""

    txn_del_type: str
    txn_id: str
    time_created: QbDateTime | None
    time_deleted: QbDateTime | None
    ref_number: str | None


def read_deleted(ret: nodes.Element) -> DeletedTxn:
    return DeletedTxn(
        txn_del_type=nodes.text_of(ret, "TxnDelType") or "",
        txn_id=nodes.text_of(ret, "TxnID") or "",
        time_created=nodes.datetime_of(ret, "TimeCreated"),
        time_deleted=nodes.datetime_of(ret, "TimeDeleted"),
        ref_number=nodes.text_of(ret, "RefNumber"),
    )


def parse_deleted(rs_xml: str) -> list[DeletedTxn]:
    """Every TxnDeletedRet in a TxnDeletedQueryRs (``ResponseItem.xml``); none when nothing matched."""
    return [read_deleted(ret) for ret in nodes.rets(rs_xml, "TxnDeletedRet") if nodes.text_of(ret, "TxnID")]
