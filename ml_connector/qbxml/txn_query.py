"""One builder for every transaction query (InvoiceQuery, ReceivePaymentQuery, CreditMemoQuery,
ARRefundCreditCardQuery, JournalEntryQuery, DepositQuery, TransferQuery).

The schema gives these requests one shape: exactly one of a TxnID list, a RefNumber list or a filter group
(MaxReturned, a modified-date *or* transaction-date range, EntityFilter, AccountFilter, RefNumberFilter,
PaidStatus, in that order), then the Include* flags and OwnerIDs. Each request allows only part of the filter
group, so each entity module says which part with a ``TypedDict`` of keyword arguments (its callers keep
writing ``credit_memo_query(ref_numbers=[…])``) and hands them here as one :class:`TxnFilter` value; the
schema's choice rules are checked once, here, raising ``ValueError`` rather than letting QuickBooks answer
0x80040400 with a parse error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypedDict

from ml_connector.qbxml import nodes
from ml_connector.qbxml.text import qb_text
from ml_connector.qbxml.values import QbDateTime

PaidStatus = Literal["All", "PaidOnly", "NotPaidOnly"]


class ByIdsOrDates(TypedDict, total=False):
    """The part of the filter group every transaction query allows (TransferQuery allows no more)."""

    txn_ids: Sequence[str]
    max_returned: int | None
    from_txn_date: date | None
    to_txn_date: date | None


class ByRefOrCustomer(ByIdsOrDates, total=False):
    """Queries of customer transactions, selectable by RefNumber (credit memos, card refunds)."""

    ref_numbers: Sequence[str]
    customer_list_ids: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class TxnFilter:
    """Which transactions a query asks for: ids, RefNumbers, or the filter group (a schema choice)."""

    txn_ids: Sequence[str] = ()
    ref_numbers: Sequence[str] = ()
    max_returned: int | None = None
    from_modified: datetime | QbDateTime | None = None
    to_modified: datetime | QbDateTime | None = None
    from_txn_date: date | None = None
    to_txn_date: date | None = None
    customer_list_ids: Sequence[str] = ()
    account_names: Sequence[str] = ()
    ref_number_starts_with: str | None = None
    ref_number_contains: str | None = None
    paid_status: PaidStatus | None = None
    iterator: bool = False

    def __post_init__(self) -> None:
        modified = self.from_modified is not None or self.to_modified is not None
        txn_dated = self.from_txn_date is not None or self.to_txn_date is not None
        by_filters = (
            self.max_returned is not None
            or modified
            or txn_dated
            or bool(self.customer_list_ids)
            or bool(self.account_names)
            or self.ref_number_match is not None
            or self.paid_status is not None
        )
        if sum((bool(self.txn_ids), bool(self.ref_numbers), by_filters)) > 1:
            raise ValueError("select by txn ids, by ref numbers or by filters, not a mix (a schema choice)")
        if modified and txn_dated:
            raise ValueError("a query filters on modified dates or on transaction dates, not both")
        if self.ref_number_starts_with is not None and self.ref_number_contains is not None:
            raise ValueError("a query has one RefNumberFilter: starts-with or contains, not both")
        if self.iterator and (self.txn_ids or self.ref_numbers):
            raise ValueError("an iterator pages through a filtered query, not a list of ids or ref numbers")
        if self.iterator and self.max_returned is None:
            raise ValueError("an iterator needs max_returned (the page size)")

    @property
    def ref_number_match(self) -> tuple[str, str] | None:
        if self.ref_number_starts_with is not None:
            return "StartsWith", self.ref_number_starts_with
        if self.ref_number_contains is not None:
            return "Contains", self.ref_number_contains
        return None


def txn_query(
    tag: str,
    where: TxnFilter,
    *,
    include_line_items: bool = False,
    include_linked_txns: bool = False,
    owner_ids: Sequence[str] = (),
) -> str:
    """The ``tag`` request (``"DepositQueryRq"`` …) selecting ``where``, children in XSD order. The Include*
    flags are sent only when true, since false is QuickBooks' default."""
    request = nodes.new_request(tag, iterator=where.iterator)
    _add_selection(request, where)
    if include_line_items:
        nodes.add_bool(request, "IncludeLineItems", True)
    if include_linked_txns:
        nodes.add_bool(request, "IncludeLinkedTxns", True)
    nodes.add_owner_ids(request, owner_ids)
    return nodes.to_text(request)


def _add_selection(request: nodes.Element, where: TxnFilter) -> None:
    for txn_id in where.txn_ids:
        nodes.add_id(request, "TxnID", txn_id)
    for ref_number in where.ref_numbers:
        cleaned = qb_text(ref_number)
        if not cleaned:
            raise ValueError(f"ref number has nothing QuickBooks can match: {ref_number!r}")
        nodes.sub(request, "RefNumber", cleaned)
    nodes.add_int(request, "MaxReturned", where.max_returned, minimum=1)
    if where.from_modified is not None or where.to_modified is not None:
        date_range = nodes.sub(request, "ModifiedDateRangeFilter")
        nodes.add_datetime(date_range, "FromModifiedDate", where.from_modified)
        nodes.add_datetime(date_range, "ToModifiedDate", where.to_modified)
    if where.from_txn_date is not None or where.to_txn_date is not None:
        date_range = nodes.sub(request, "TxnDateRangeFilter")
        nodes.add_date(date_range, "FromTxnDate", where.from_txn_date)
        nodes.add_date(date_range, "ToTxnDate", where.to_txn_date)
    if where.customer_list_ids:
        entity = nodes.sub(request, "EntityFilter")
        for list_id in where.customer_list_ids:
            nodes.add_id(entity, "ListID", list_id)
    if where.account_names:
        account_filter = nodes.sub(request, "AccountFilter")
        for name in where.account_names:
            nodes.add_text(account_filter, "FullName", name, nodes.ACCOUNT_FULL_NAME_MAX_LEN)
    match = where.ref_number_match
    if match is not None:
        criterion, ref_number = match
        needle = qb_text(ref_number)
        if not needle:
            raise ValueError(f"ref number filter has nothing QuickBooks can match: {ref_number!r}")
        ref_filter = nodes.sub(request, "RefNumberFilter")
        nodes.sub(ref_filter, "MatchCriterion", criterion)
        nodes.sub(ref_filter, "RefNumber", needle)
    if where.paid_status is not None:
        nodes.sub(request, "PaidStatus", where.paid_status)
