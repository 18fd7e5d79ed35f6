"""Invoices: InvoiceQuery (what a Stripe payment is applied to), InvoiceAdd (tests and seeding) and
reading InvoiceRet.

The connector reads invoices to find the one a payment settles and to check its BalanceRemaining after
the payment; it never edits them. InvoiceAdd exists so tests and the sandbox can create realistic data
through the same code path QuickBooks would see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TypedDict, Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.txn_query import PaidStatus, TxnFilter, txn_query
from ml_connector.qbxml.values import QbDateTime, format_quantity

INVOICE_REF_NUMBER_MAX_LEN = 11


class InvoiceWhere(TypedDict, total=False):
    """InvoiceQuery selects by modified date (the sync's watermark), never by transaction date."""

    txn_ids: Sequence[str]
    ref_numbers: Sequence[str]
    max_returned: int | None
    from_modified: datetime | QbDateTime | None
    to_modified: datetime | QbDateTime | None
    customer_list_ids: Sequence[str]
    paid_status: PaidStatus | None
    iterator: bool


def invoice_query(
    *,
    include_line_items: bool = False,
    include_linked_txns: bool = False,
    owner_ids: Sequence[str] = (),
    **where: Unpack[InvoiceWhere],
) -> str:
    """An InvoiceQueryRq by TxnIDs, by RefNumbers, or by filters (optionally as an iterator).

    ``include_linked_txns`` adds the LinkedTxn list (the payments applied to each invoice);
    the Include* flags are sent only when true, since false is QuickBooks' default.
    """
    return txn_query(
        "InvoiceQueryRq",
        TxnFilter(**where),
        include_line_items=include_line_items,
        include_linked_txns=include_linked_txns,
        owner_ids=owner_ids,
    )


@dataclass(frozen=True)
class InvoiceLineAdd:
    """One item line. Give ``rate`` (with ``quantity``) or ``amount``; QuickBooks computes the other."""

    item_list_id: str | None = None
    item_full_name: str | None = None
    desc: str | None = None
    quantity: Decimal | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.item_list_id is None and self.item_full_name is None:
            raise ValueError("an invoice line needs an item (item_list_id or item_full_name)")
        if self.rate is None and self.amount is None:
            raise ValueError("an invoice line needs a rate or an amount")


def invoice_add(
    *,
    customer_list_id: str,
    lines: Sequence[InvoiceLineAdd],
    txn_date: date | None = None,
    ref_number: str | None = None,
    due_date: date | None = None,
    ar_account_name: str | None = None,
    memo: str | None = None,
    external_guid: str | None = None,
) -> str:
    """An InvoiceAddRq with item lines, in InvoiceAdd's schema order."""
    if not lines:
        raise ValueError("an invoice needs at least one line")
    request, add = nodes.customer_txn_add(
        "Invoice", customer_list_id, ar_account_name, txn_date, ref_number, INVOICE_REF_NUMBER_MAX_LEN
    )
    nodes.add_date(add, "DueDate", due_date)
    nodes.add_text(add, "Memo", memo, 4095, multiline=True)
    nodes.add_guid(add, "ExternalGUID", external_guid)
    for line in lines:
        element = nodes.sub(add, "InvoiceLineAdd")
        nodes.add_ref(element, "ItemRef", list_id=line.item_list_id, full_name=line.item_full_name)
        nodes.add_text(element, "Desc", line.desc, 4095, multiline=True)
        if line.quantity is not None:
            nodes.sub(element, "Quantity", format_quantity(line.quantity))
        if line.rate is not None:
            nodes.sub(element, "Rate", format_quantity(line.rate))
        nodes.add_amount(element, "Amount", line.amount)
    return nodes.to_text(request)


@dataclass(frozen=True)
class InvoiceLine:
    txn_line_id: str
    item_list_id: str | None
    item_full_name: str | None
    desc: str | None
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal | None


@dataclass(frozen=True)
class LinkedTxn(nodes.LinkedRet):
    """A transaction linked to the invoice, typically a ReceivePayment applied to it.

    QuickBooks reports a payment's ``amount`` as a negative number on the invoice side.
    """

    link_type: str | None
    amount: Decimal | None


@dataclass(frozen=True)
class Invoice(nodes.CustomerTxnRet):
    due_date: date | None
    subtotal: Decimal | None
    sales_tax_total: Decimal | None
    applied_amount: Decimal | None
    balance_remaining: Decimal | None
    is_paid: bool | None
    memo: str | None
    currency: str | None
    lines: tuple[InvoiceLine, ...]
    linked_txns: tuple[LinkedTxn, ...]
    external_guid: str | None
    is_pending: bool | None
    data_ext: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)


def _read_line(line: nodes.Element) -> InvoiceLine:
    item_list_id, item_full_name = nodes.ref_of(line, "ItemRef")
    return InvoiceLine(
        txn_line_id=nodes.text_of(line, "TxnLineID") or "",
        item_list_id=item_list_id,
        item_full_name=item_full_name,
        desc=nodes.text_of(line, "Desc"),
        quantity=nodes.amount_of(line, "Quantity"),
        rate=nodes.amount_of(line, "Rate"),
        amount=nodes.amount_of(line, "Amount"),
    )


def _read_lines(ret: nodes.Element) -> tuple[InvoiceLine, ...]:
    """Item lines in document order; the lines inside an item group are listed in its place."""
    lines: list[InvoiceLine] = []
    for child in ret:
        if child.tag == "InvoiceLineRet":
            lines.append(_read_line(child))
        elif child.tag == "InvoiceLineGroupRet":
            lines.extend(_read_line(inner) for inner in child.findall("InvoiceLineRet"))
    return tuple(lines)


def _read_linked(linked: nodes.Element) -> LinkedTxn:
    return LinkedTxn(**nodes.linked_header(linked), link_type=nodes.text_of(linked, "LinkType"))


def read_invoice(ret: nodes.Element) -> Invoice:
    currency_list_id, currency_name = nodes.ref_of(ret, "CurrencyRef")
    return Invoice(
        **nodes.customer_txn_header(ret),
        due_date=nodes.date_of(ret, "DueDate"),
        subtotal=nodes.amount_of(ret, "Subtotal"),
        sales_tax_total=nodes.amount_of(ret, "SalesTaxTotal"),
        applied_amount=nodes.amount_of(ret, "AppliedAmount"),
        balance_remaining=nodes.amount_of(ret, "BalanceRemaining"),
        is_paid=nodes.bool_of(ret, "IsPaid"),
        memo=nodes.text_of(ret, "Memo"),
        currency=currency_name or currency_list_id,
        lines=_read_lines(ret),
        linked_txns=tuple(_read_linked(linked) for linked in ret.findall("LinkedTxn")),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        is_pending=nodes.bool_of(ret, "IsPending"),
        data_ext=nodes.data_ext_of(ret),
    )


def parse_invoices(rs_xml: str) -> list[Invoice]:
    """Every InvoiceRet in an InvoiceQueryRs/AddRs (``ResponseItem.xml``)."""
    return [read_invoice(ret) for ret in nodes.rets(rs_xml, "InvoiceRet")]
