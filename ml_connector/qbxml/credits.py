"""Customer credits and card refunds: CreditMemoAdd/Query and ARRefundCreditCardAdd/Query.

How a Stripe refund is recorded (the way QuickBooks Desktop itself records a card refund of a paid
invoice: Customers → Create Credit Memos/Refunds → "Give a refund"):

1. a **credit memo** for the customer, for the refunded amount, on the refund item (a service or
   other-charge item whose account is the income or "Refunds" contra-income account). It reverses the
   revenue of the original invoice, which stays paid, and names the invoice and payment in its Memo;
2. an **ARRefundCreditCard** ("Refund" with a card payment method) that pays that credit out *from the
   clearing account* (RefundFromAccountRef) and is applied to the credit memo (RefundAppliedToTxnAdd).

Together they leave the customer's balance and A/R untouched, reduce income, and take the money out of
the clearing account exactly as Stripe's refund balance transaction does. Several partial refunds of one
charge are several such pairs, each keyed by its own ``re_…`` id. A reversing journal entry would
balance too, but it bypasses the customer: QuickBooks' sales-by-customer and the customer's history
would still show the full sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.journal import (
    MEMO_MAX_LEN,
    REF_NUMBER_MAX_LEN,
    PostingAdd,
    cents_total,
    check_positive,
)
from ml_connector.qbxml.txn_query import ByRefOrCustomer, TxnFilter, txn_query
from ml_connector.qbxml.values import QbDateTime

ITEM_FULL_NAME_MAX_LEN = 159


# ---------------------------------------------------------------------------------- credit memos


@dataclass(frozen=True, kw_only=True)
class CreditMemoAdd(PostingAdd):
    """A one-line credit memo for ``amount`` on ``item_name``."""

    customer_list_id: str
    item_name: str
    amount: Decimal
    description: str | None = None
    ar_account_name: str | None = None

    def __post_init__(self) -> None:
        check_positive(self.amount, "a credit memo")
        super().__post_init__()


def credit_memo_add(memo: CreditMemoAdd) -> str:
    request, add = nodes.customer_txn_add(
        "CreditMemo", memo.customer_list_id, memo.ar_account_name, memo.txn_date, memo.ref_number, REF_NUMBER_MAX_LEN
    )
    nodes.add_text(add, "Memo", memo.memo, MEMO_MAX_LEN, multiline=True)
    nodes.add_quantity(add, "ExchangeRate", memo.exchange_rate)
    nodes.add_guid(add, "ExternalGUID", memo.external_guid)
    line = nodes.sub(add, "CreditMemoLineAdd")
    nodes.add_ref(line, "ItemRef", full_name=memo.item_name, full_name_max=ITEM_FULL_NAME_MAX_LEN)
    nodes.add_text(line, "Desc", memo.description, MEMO_MAX_LEN, multiline=True)
    nodes.add_amount(line, "Amount", memo.amount)
    return nodes.to_text(request)


def credit_memo_query(
    *, include_line_items: bool = False, include_linked_txns: bool = True, **where: Unpack[ByRefOrCustomer]
) -> str:
    """A CreditMemoQueryRq; ``include_linked_txns`` (default on) shows the refund that used the credit."""
    return txn_query(
        "CreditMemoQueryRq",
        TxnFilter(**where),
        include_line_items=include_line_items,
        include_linked_txns=include_linked_txns,
    )


@dataclass(frozen=True)
class LinkedTxn:
    txn_id: str
    txn_type: str | None
    amount: Decimal | None


def _read_linked(ret: nodes.Element, tag: str, amount_tag: str) -> tuple[LinkedTxn, ...]:
    """The ``tag`` children of ``ret``: a memo's LinkedTxn (Amount) or a refund's RefundAppliedToTxnRet
    (RefundAmount) carry the same three fields under a different amount tag."""
    return tuple(
        LinkedTxn(
            txn_id=nodes.text_of(link, "TxnID") or "",
            txn_type=nodes.text_of(link, "TxnType"),
            amount=nodes.amount_of(link, amount_tag),
        )
        for link in ret.findall(tag)
    )


@dataclass(frozen=True)
class CreditMemo:
    txn_id: str
    edit_sequence: str
    time_modified: QbDateTime | None
    customer_list_id: str | None
    txn_date: date | None
    ref_number: str | None
    memo: str | None
    total_amount: Decimal | None
    credit_remaining: Decimal | None
    external_guid: str | None
    linked: tuple[LinkedTxn, ...]


def read_credit_memo(ret: nodes.Element) -> CreditMemo:
    return CreditMemo(
        **nodes.txn_header(ret),
        customer_list_id=nodes.ref_of(ret, "CustomerRef")[0],
        ref_number=nodes.text_of(ret, "RefNumber"),
        memo=nodes.text_of(ret, "Memo"),
        total_amount=nodes.amount_of(ret, "TotalAmount"),
        credit_remaining=nodes.amount_of(ret, "CreditRemaining"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        linked=_read_linked(ret, "LinkedTxn", "Amount"),
    )


def parse_credit_memos(rs_xml: str) -> list[CreditMemo]:
    """Every CreditMemoRet in a CreditMemoQueryRs/AddRs."""
    return [read_credit_memo(ret) for ret in nodes.rets(rs_xml, "CreditMemoRet")]


# ------------------------------------------------------------------------------ card refunds


@dataclass(frozen=True)
class RefundAppliedTo:
    """Pay out ``amount`` of the credit ``txn_id`` (a credit memo, or a payment's unused amount)."""

    txn_id: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class ARRefundCreditCardAdd(PostingAdd):
    customer_list_id: str
    refund_from_account_name: str
    applied: tuple[RefundAppliedTo, ...]
    ar_account_name: str | None = None
    payment_method_name: str | None = None

    def __post_init__(self) -> None:
        if not self.applied:
            raise ValueError("a refund must be applied to the credit it pays out")
        for applied in self.applied:
            check_positive(applied.amount, "a refund")
        super().__post_init__()

    @property
    def total(self) -> Decimal:
        return cents_total(a.amount for a in self.applied)


def ar_refund_credit_card_add(refund: ARRefundCreditCardAdd) -> str:
    request = nodes.new_request("ARRefundCreditCardAddRq")
    add = nodes.sub(request, "ARRefundCreditCardAdd")
    nodes.add_ref(add, "CustomerRef", list_id=refund.customer_list_id)
    nodes.add_account_ref(add, "RefundFromAccountRef", refund.refund_from_account_name)
    nodes.add_account_ref(add, "ARAccountRef", refund.ar_account_name)
    nodes.add_date(add, "TxnDate", refund.txn_date)
    nodes.add_text(add, "RefNumber", refund.ref_number, REF_NUMBER_MAX_LEN)
    nodes.add_payment_method_ref(add, refund.payment_method_name)
    nodes.add_text(add, "Memo", refund.memo, MEMO_MAX_LEN, multiline=True)
    nodes.add_quantity(add, "ExchangeRate", refund.exchange_rate)
    nodes.add_guid(add, "ExternalGUID", refund.external_guid)
    nodes.add_applied_to(
        add, "RefundAppliedToTxnAdd", "RefundAmount", ((a.txn_id, a.amount) for a in refund.applied)
    )
    return nodes.to_text(request)


def ar_refund_credit_card_query(*, include_line_items: bool = True, **where: Unpack[ByRefOrCustomer]) -> str:
    return txn_query("ARRefundCreditCardQueryRq", TxnFilter(**where), include_line_items=include_line_items)


@dataclass(frozen=True)
class ARRefundCreditCard:
    txn_id: str
    edit_sequence: str
    time_modified: QbDateTime | None
    customer_list_id: str | None
    refund_from_account_name: str | None
    txn_date: date | None
    ref_number: str | None
    total_amount: Decimal | None
    memo: str | None
    external_guid: str | None
    applied_to: tuple[LinkedTxn, ...]


def read_ar_refund_credit_card(ret: nodes.Element) -> ARRefundCreditCard:
    return ARRefundCreditCard(
        **nodes.txn_header(ret),
        customer_list_id=nodes.ref_of(ret, "CustomerRef")[0],
        refund_from_account_name=nodes.ref_of(ret, "RefundFromAccountRef")[1],
        ref_number=nodes.text_of(ret, "RefNumber"),
        total_amount=nodes.amount_of(ret, "TotalAmount"),
        memo=nodes.text_of(ret, "Memo"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        applied_to=_read_linked(ret, "RefundAppliedToTxnRet", "RefundAmount"),
    )


def parse_ar_refunds_credit_card(rs_xml: str) -> list[ARRefundCreditCard]:
    """Every ARRefundCreditCardRet in an ARRefundCreditCardQueryRs/AddRs."""
    return [read_ar_refund_credit_card(ret) for ret in nodes.rets(rs_xml, "ARRefundCreditCardRet")]
