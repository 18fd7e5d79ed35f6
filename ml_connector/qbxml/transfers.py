"""Funds transfers between balance-sheet accounts: TransferAdd, TransferQuery, reading TransferRet.

qbXML 13.0 has TransferAdd (QuickBooks' "Transfer Funds"). The connector posts payouts as deposits
(see :mod:`ml_connector.qbxml.deposits`) because a transfer has neither ExternalGUID nor RefNumber;
this module exists for bookkeepers who prefer transfers and for reading transfers a bookkeeper made by
hand between the same accounts (the reconciliation shows them). A transfer can only be found again by
the Stripe id in its Memo; TransferQuery filters only by TxnID or date range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.journal import MEMO_MAX_LEN, check_positive
from ml_connector.qbxml.txn_query import ByIdsOrDates, TxnFilter, txn_query


@dataclass(frozen=True, kw_only=True)
class TransferAdd:
    """Money moved between two of the company's accounts, by FullName (a payout: clearing account to bank).
    A non-positive amount or one account on both sides is refused here, before QuickBooks sees it."""

    from_account_name: str
    to_account_name: str
    amount: Decimal
    txn_date: date | None = None
    memo: str | None = None

    def __post_init__(self) -> None:
        check_positive(self.amount, "a transfer")
        if self.from_account_name.casefold() == self.to_account_name.casefold():
            raise ValueError("a transfer needs two different accounts")


def transfer_add(transfer: TransferAdd) -> str:
    request = nodes.new_request("TransferAddRq")
    add = nodes.sub(request, "TransferAdd")
    nodes.add_date(add, "TxnDate", transfer.txn_date)
    nodes.add_account_ref(add, "TransferFromAccountRef", transfer.from_account_name)
    nodes.add_account_ref(add, "TransferToAccountRef", transfer.to_account_name)
    nodes.add_amount(add, "Amount", transfer.amount)
    nodes.add_text(add, "Memo", transfer.memo, MEMO_MAX_LEN, multiline=True)
    return nodes.to_text(request)


def transfer_query(**where: Unpack[ByIdsOrDates]) -> str:
    """A TransferQueryRq by TxnIDs, or by a transaction-date range."""
    return txn_query("TransferQueryRq", TxnFilter(**where))


@dataclass(frozen=True)
class Transfer(nodes.TxnRet):
    from_account_name: str | None
    to_account_name: str | None
    amount: Decimal | None
    memo: str | None


def read_transfer(ret: nodes.Element) -> Transfer:
    return Transfer(
        **nodes.txn_header(ret),
        from_account_name=nodes.ref_of(ret, "TransferFromAccountRef")[1],
        to_account_name=nodes.ref_of(ret, "TransferToAccountRef")[1],
        amount=nodes.amount_of(ret, "Amount"),
        memo=nodes.text_of(ret, "Memo"),
    )


def parse_transfers(rs_xml: str) -> list[Transfer]:
    """Every TransferRet in a TransferQueryRs/AddRs."""
    return [read_transfer(ret) for ret in nodes.rets(rs_xml, "TransferRet")]
