"""What the simulator's handler modules share: one session's state, the query machinery (selection,
ListFilter/TxnFilter, iterators), references to list records, and the write-time fault switches.

Each handler module (``customers``, ``transactions``, ``lists``) subclasses :class:`Requests` and marks the
method answering each ``*Rq`` with `answers`; ``processor.py`` registers every subclass's `Requests.handlers`
table, next to ``ledger.handlers(ledger)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, TypeVar

from lxml import etree

from ml_connector.simulator import wire
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.company.records import (
    Account,
    Customer,
    Item,
    PaymentMethod,
    StatusError,
    bad_reference,
    not_found,
)
from ml_connector.simulator.wire import Render


class _ListRecord(Protocol):
    list_id: str
    name: str
    is_active: bool
    time_modified: datetime


class _TxnRecord(Protocol):
    txn_id: str
    txn_number: int
    txn_date: date
    time_modified: datetime
    ref_number: str | None
    customer_id: str


L = TypeVar("L", bound=_ListRecord)
X = TypeVar("X", bound=_TxnRecord)
R = TypeVar("R")

Handler = Callable[[etree._Element], etree._Element]
M = TypeVar("M", bound=Callable[..., etree._Element])

_ANSWERS: dict[Callable[..., etree._Element], tuple[str, ...]] = {}
"""`Requests` method (the function, unbound) -> the request names it answers; filled by `answers`."""


def answers(*request_names: str) -> Callable[[M], M]:
    """Mark a `Requests` method as the handler of these ``*Rq`` elements.

    The request name stands on the method that answers it, so adding a request is one change in one place;
    `Requests.handlers` collects the marks into the dispatch table.
    """

    def mark(method: M) -> M:
        _ANSWERS[method] = request_names
        return method

    return mark


@dataclass(slots=True)
class _Iterator:
    request: str
    remaining: list[str]
    page_size: int | None
    render: Render


@dataclass(slots=True)
class Selection:
    """What a query matched, in QuickBooks' order, plus a Warn-level status (500) or an error to report."""

    ids: list[str]
    warning: StatusError | None = None


@dataclass(slots=True)
class Session:
    """One QuickBooks session: the company file, its open iterators and the fault switches' state."""

    company: CompanyFile
    iterators: dict[str, _Iterator] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)
    pending_edits: dict[str, list[Callable[[CompanyFile], object]]] = field(default_factory=dict)


class Requests:
    """Base of the per-entity handler classes: the machinery they share, over one `Session`."""

    def __init__(self, session: Session) -> None:
        self.company = session.company
        self._iterators = session.iterators
        self._locks = session.locks
        self._pending_edits = session.pending_edits

    def handlers(self) -> dict[str, Handler]:
        """The dispatch table of this class's `answers`-marked methods, bound to this session."""
        table: dict[str, Handler] = {}
        for cls in reversed(type(self).__mro__):
            for attribute, value in vars(cls).items():
                for request_name in _ANSWERS.get(value, ()) if callable(value) else ():
                    table[request_name] = getattr(self, attribute)
        return table

    # -- fault switches -----------------------------------------------------------------------------------

    def _before_write(self, object_id: str, what: str, *, is_mod: bool) -> None:
        """Honour `lock` (3175) and, for a Mod, run the staged concurrent edits just before it applies."""
        if self._locks.get(object_id, 0) > 0:
            self._locks[object_id] -= 1
            raise StatusError(
                3175,
                f'There was an error when modifying a {what}, element "{object_id}".  '
                "QuickBooks error message: Cannot modify the record because it is in use by another user.",
            )
        if is_mod:
            for edit in self._pending_edits.pop(object_id, []):
                edit(self.company)

    # -- queries: shared machinery ------------------------------------------------------------------------

    def _answer_query(
        self, request: etree._Element, select: Callable[[], Selection], render: Render
    ) -> etree._Element:
        mode = request.get("iterator")
        max_returned = wire.int_of(request, "MaxReturned")
        if mode in ("Continue", "Stop"):
            return self._continue_iterator(request, mode, max_returned)
        selection = select()
        if mode == "Start":
            page, rest = wire.split_at(selection.ids, max_returned)
            iterator_id = "{" + str(uuid.uuid4()).upper() + "}"
            if rest:
                self._iterators[iterator_id] = _Iterator(str(request.tag), rest, max_returned, render)
            return wire.page_response(
                request, page, render, selection.warning, remaining=len(rest), iterator_id=iterator_id
            )
        page, _ = wire.split_at(selection.ids, max_returned)
        return wire.page_response(request, page, render, selection.warning)

    def _continue_iterator(
        self, request: etree._Element, mode: str, max_returned: int | None
    ) -> etree._Element:
        iterator_id = request.get("iteratorID", "")
        iterator = self._iterators.get(iterator_id)
        if iterator is None or iterator.request != request.tag:
            raise StatusError(
                3391,
                f'The iteratorID "{iterator_id}" is not valid: it has ended, expired or belongs to another session.',
            )
        if mode == "Stop":
            del self._iterators[iterator_id]
            rs = wire.response(request, 0, "Status OK")
            rs.set("retCount", "0")
            rs.set("iteratorRemainingCount", "0")
            rs.set("iteratorID", iterator_id)
            return rs
        page, iterator.remaining = wire.split_at(iterator.remaining, max_returned or iterator.page_size)
        if not iterator.remaining:
            del self._iterators[iterator_id]
        return wire.page_response(
            request, page, iterator.render, None, remaining=len(iterator.remaining), iterator_id=iterator_id
        )

    def _by_ids(
        self, requested: Sequence[str], lookup: Callable[[str], str | None], *, missing_is_error: bool
    ) -> Selection:
        found: list[str] = []
        missing: list[str] = []
        for key in requested:
            object_id = lookup(key)
            if object_id is None:
                missing.append(key)
            elif object_id not in found:
                found.append(object_id)
        if not missing:
            return Selection(found)
        if not found and missing_is_error:
            return Selection([], not_found(missing[0]))
        return Selection(
            found,
            StatusError(
                500,
                "The query request has not been fully completed. There was a required element "
                f'("{missing[0]}") that could not be found in QuickBooks.',
            ),
        )

    def _list_query(
        self,
        request: etree._Element,
        records: Mapping[str, L],
        find: Callable[..., L | None],
        ret: Callable[[L], etree._Element],
        *,
        ordered: Callable[[], Iterable[L]] | None = None,
        name: Callable[[L], str] = lambda record: record.name,
        unsupported: Sequence[str] = (),
        narrow: Callable[[list[L]], Iterable[L]] = lambda matched: matched,
    ) -> etree._Element:
        """A list's XxxQuery: ListID+ | FullName+ | the ListFilter group over `ordered()` (by default the
        records by name, case-insensitive) after refusing the `unsupported` filters, then `narrow` for the
        list's own filters."""

        def in_order() -> Iterable[L]:
            if ordered is not None:
                return ordered()
            return sorted(records.values(), key=lambda record: record.name.casefold())

        def select() -> Selection:
            list_ids, names = wire.texts_of(request, "ListID"), wire.texts_of(request, "FullName")
            if list_ids:
                return self._by_ids(list_ids, lambda i: i if i in records else None, missing_is_error=False)
            if names:
                return self._by_ids(names, wire.list_id_lookup(find), missing_is_error=False)
            wire.reject(request, *unsupported)
            return Selection([r.list_id for r in narrow(self._list_filter(request, in_order(), name))])

        def render(list_id: str) -> etree._Element | None:
            record = records.get(list_id)
            return ret(record) if record else None

        return self._answer_query(request, select, render)

    def _list_filter(
        self, request: etree._Element, records: Iterable[L], name: Callable[[L], str]
    ) -> list[L]:
        """The ListFilter group: ActiveStatus (default ActiveOnly), From/ToModifiedDate (inclusive, wall
        clock), NameFilter, NameRangeFilter."""
        status = wire.text_of(request, "ActiveStatus") or "ActiveOnly"
        modified_from = wire.wall_clock_of(request, "FromModifiedDate", end=False)
        modified_to = wire.wall_clock_of(request, "ToModifiedDate", end=True)
        name_match = wire.name_matcher(request.find("NameFilter"), "Name")
        name_range = wire.range_matcher(request.find("NameRangeFilter"), "FromName", "ToName")
        out: list[L] = []
        for record in records:
            if (status == "ActiveOnly" and not record.is_active) or (
                status == "InactiveOnly" and record.is_active
            ):
                continue
            if modified_from or modified_to:
                wall = self.company.local_wall_time(record.time_modified)
                if (modified_from and wall < modified_from) or (modified_to and wall > modified_to):
                    continue
            if not name_match(name(record)) or not name_range(name(record)):
                continue
            out.append(record)
        return out

    def _txn_filter(
        self,
        request: etree._Element,
        records: Iterable[X],
        accounts_of: Callable[[X], Sequence[str]],
    ) -> list[X]:
        """The TxnFilter group; records are returned in TxnDate then TxnNumber order."""
        wire.reject(request, "CurrencyFilter")
        modified = request.find("ModifiedDateRangeFilter")
        modified_from = (
            wire.wall_clock_of(modified, "FromModifiedDate", end=False) if modified is not None else None
        )
        modified_to = (
            wire.wall_clock_of(modified, "ToModifiedDate", end=True) if modified is not None else None
        )
        dates = request.find("TxnDateRangeFilter")
        if dates is not None:
            wire.reject(dates, "DateMacro")
        date_from = wire.date_of(dates, "FromTxnDate") if dates is not None else None
        date_to = wire.date_of(dates, "ToTxnDate") if dates is not None else None
        entities = self._entity_ids(request.find("EntityFilter"))
        accounts = self._account_ids(request.find("AccountFilter"))
        ref_match = wire.name_matcher(request.find("RefNumberFilter"), "RefNumber")
        ref_range = wire.range_matcher(request.find("RefNumberRangeFilter"), "FromRefNumber", "ToRefNumber")
        check_refs = (
            request.find("RefNumberFilter") is not None or request.find("RefNumberRangeFilter") is not None
        )
        out: list[X] = []
        for record in records:
            if modified_from or modified_to:
                wall = self.company.local_wall_time(record.time_modified)
                if (modified_from and wall < modified_from) or (modified_to and wall > modified_to):
                    continue
            if (date_from and record.txn_date < date_from) or (date_to and record.txn_date > date_to):
                continue
            if entities is not None and record.customer_id not in entities:
                continue
            if accounts is not None and not accounts.intersection(accounts_of(record)):
                continue
            if check_refs:
                ref = record.ref_number
                if ref is None or not ref_match(ref) or not ref_range(ref):
                    continue
            out.append(record)
        out.sort(key=lambda r: (r.txn_date, r.txn_number))
        return out

    def _entity_ids(self, entity_filter: etree._Element | None) -> set[str] | None:
        if entity_filter is None:
            return None
        company = self.company
        ids: set[str] = set()
        for list_id in wire.texts_of(entity_filter, "ListID"):
            ids.add(list_id)
        for full_name in wire.texts_of(entity_filter, "FullName"):
            found = company.find_customer(full_name=full_name)
            if found:
                ids.add(found.list_id)
        with_children = [
            company.find_customer(list_id=v) for v in wire.texts_of(entity_filter, "ListIDWithChildren")
        ]
        with_children += [
            company.find_customer(full_name=v) for v in wire.texts_of(entity_filter, "FullNameWithChildren")
        ]
        for parent in with_children:
            if parent is not None:
                ids.add(parent.list_id)
                ids.update(company.descendants_of(parent.list_id))
        return ids

    def _account_ids(self, account_filter: etree._Element | None) -> set[str] | None:
        if account_filter is None:
            return None
        ids = {*wire.texts_of(account_filter, "ListID"), *wire.texts_of(account_filter, "ListIDWithChildren")}
        for tag in ("FullName", "FullNameWithChildren"):
            for full_name in wire.texts_of(account_filter, tag):
                found = self.company.find_account(full_name=full_name)
                if found:
                    ids.add(found.list_id)
        return ids

    # -- references ---------------------------------------------------------------------------------------
    def _select_txns(
        self,
        request: etree._Element,
        records: Mapping[str, X],
        accounts_of: Callable[[X], Sequence[str]],
        *,
        is_paid: Callable[[X], bool] | None = None,
    ) -> Selection:
        """TxnID+ | RefNumber+ | RefNumberCaseSensitive+ | the TxnFilter group (+ PaidStatus for invoices)."""
        txn_ids = wire.texts_of(request, "TxnID")
        if txn_ids:
            return self._by_ids(txn_ids, lambda t: t if t in records else None, missing_is_error=True)
        refs = wire.texts_of(request, "RefNumber")
        exact = wire.texts_of(request, "RefNumberCaseSensitive")
        if refs or exact:
            wanted = {r.casefold() for r in refs}
            matched = [
                r
                for r in records.values()
                if r.ref_number is not None and (r.ref_number.casefold() in wanted or r.ref_number in exact)
            ]
            matched.sort(key=lambda r: (r.txn_date, r.txn_number))
            return Selection([r.txn_id for r in matched])
        matched = self._txn_filter(request, records.values(), accounts_of)
        if is_paid is not None:
            paid = wire.text_of(request, "PaidStatus") or "All"
            if paid == "PaidOnly":
                matched = [i for i in matched if is_paid(i)]
            elif paid == "NotPaidOnly":
                matched = [i for i in matched if not is_paid(i)]
        return Selection([r.txn_id for r in matched])

    def _list_ref(
        self,
        parent: etree._Element,
        tag: str,
        txn_name: str,
        list_name: str,
        find: Callable[[str | None, str | None], R | None],
    ) -> R:
        """The record a ListID/FullName reference names, or 3140 (an invalid reference in `txn_name`)."""
        list_id, full_name = wire.ref_of(parent, tag)
        found = find(list_id, full_name)
        if found is None:
            raise bad_reference(list_name, list_id or full_name or "", txn_name)
        return found

    def _customer_ref(self, parent: etree._Element, tag: str, txn_name: str) -> Customer:
        return self._list_ref(parent, tag, txn_name, "Customer", self.company.find_customer)

    def _account_ref(self, parent: etree._Element, tag: str, txn_name: str) -> Account | None:
        if parent.find(tag) is None:
            return None
        return self._list_ref(parent, tag, txn_name, "Account", self.company.find_account)

    def _ar_account_ref(self, parent: etree._Element, txn_name: str) -> Account | None:
        """ARAccountRef must name an Accounts Receivable account, not just any account."""
        account = self._account_ref(parent, "ARAccountRef", txn_name)
        if account is not None and account.account_type != "AccountsReceivable":
            raise bad_reference("Account", account.name, txn_name)
        return account

    def _payment_method_ref(self, parent: etree._Element, tag: str, txn_name: str) -> PaymentMethod | None:
        if parent.find(tag) is None:
            return None
        return self._list_ref(parent, tag, txn_name, "Payment Method", self.company.find_payment_method)

    def _list_core(self, ret: etree._Element, record: Customer | Account | PaymentMethod | Item) -> None:
        wire.sub(ret, "ListID", record.list_id)
        wire.sub(ret, "TimeCreated", self.company.format_datetime(record.time_created))
        wire.sub(ret, "TimeModified", self.company.format_datetime(record.time_modified))
        wire.sub(ret, "EditSequence", record.edit_sequence)
