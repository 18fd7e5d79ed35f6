"""The simulated QuickBooks request processor: one qbXML request document in, one response document out.

This is the other side of the wire from `ml_connector.qbxml` and deliberately shares no code with it, so
the two implementations check each other. It follows Intuit's contract (the qbXML 13.0 XSD plus the
behaviour collected in shared/qb/PROTOCOL.md):

- A document QuickBooks cannot read (not well-formed, DOCTYPE, no ``<?qbxml version?>``, newer than 13.0,
  or against the XSD grammar) fails as a whole: `RequestProcessorError("0x80040400", ...)`, which the Web
  Connector passes on as the hresult of receiveResponseXML. Nothing in such a document is executed.
- Otherwise every ``*Rq`` gets an ``*Rs`` carrying requestID, statusCode, statusSeverity and statusMessage.
  ``onError="stopOnError"`` stops after the first Error-severity Rs (later requests get no Rs at all);
  ``continueOnError`` runs them all. ``rollbackOnError`` is treated like stopOnError: QuickBooks Desktop
  does not roll back these writes either.
- Business failures are status codes (3100 name in use, 3200 stale EditSequence, 3210 overpayment, ...).
  Any valid request the simulator does not implement answers 3250 so nothing silently succeeds.
- Iterators live in this processor object, i.e. in one QuickBooks session; `end_session()` kills them and
  a later Continue gets 3391.

Error recovery (``oldMessageSetID``) is where Intuit's documentation is thin, so the answer is a switch,
:class:`RecoveryAnswer`, and the product's exactly-once tests run under every setting. QuickBooks keeps the
outcome of the last message set that carried ``newMessageSetID``; a later ``QBXMLMsgsRq`` with that id as
``oldMessageSetID`` is answered, as we read Intuit's "Error recovery" page, with the status of the *last
request processed* in it (``LAST``, the default). Other readings: nothing at all (``NOTHING``), status 600
"no cleared state" (``STATUS_600``), or every stored Rs (``ALL``). An id QuickBooks stored nothing for gets
``messageSetStatusCode="9002"``. Message-set ids longer than 23 characters are refused as a whole with 9004
and nothing in the document runs (Intuit's message-set attribute table; PROTOCOL.md section 5).

Times in date filters are wall-clock times in the company's zone; an offset on a filter value is ignored,
as QuickBooks is observed to do (PROTOCOL.md section 10).
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar, cast

from lxml import etree

from ml_connector.simulator.company import (
    UNCHANGED,
    ZERO,
    Account,
    CompanyFile,
    Customer,
    DataExtDef,
    Invoice,
    Item,
    NewApplication,
    NewInvoiceLine,
    PaymentMethod,
    ReceivePayment,
    StatusError,
    money,
    not_found,
    too_long,
)
from ml_connector.simulator.ledger import CompanyLedger
from ml_connector.simulator.ledger import handlers as ledger_handlers
from ml_connector.simulator.schema import LengthViolation, load_schema, safe_parser, validate

HRESULT_PARSE_ERROR = "0x80040400"
HRESULT_UNEXPECTED = "0x80040402"
QBXML_VERSION = (13, 0)
SUPPORTED_QBXML_VERSIONS = (
    "1.0",
    "1.1",
    "2.0",
    "2.1",
    "3.0",
    "4.0",
    "4.1",
    "5.0",
    "6.0",
    "7.0",
    "8.0",
    "9.0",
    "10.0",
    "11.0",
    "12.0",
    "13.0",
)
MESSAGE_SET_NOT_FOUND = "9002"  # nothing stored for that oldMessageSetID
MESSAGE_SET_INVALID_ID = "9004"  # the id is not usable (e.g. longer than 23 characters): nothing runs
MESSAGE_SET_NO_STATE = "600"  # no cleared state to return
MESSAGE_SET_ID_MAX_LEN = 23


class RecoveryAnswer(enum.StrEnum):
    """What an oldMessageSetID status check returns: unconfirmed on a real QuickBooks, so a switch."""

    LAST = "last"  # the stored Rs of the last request processed (our reading of Intuit's page; default)
    NOTHING = "nothing"  # an empty QBXMLMsgsRs
    STATUS_600 = "600"  # messageSetStatusCode 600, no Rs
    ALL = "all"  # every stored Rs of the message set
_PARSE_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
_NO_MATCH = "A query request did not find a matching object in QuickBooks"

_XML_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml\b[^>]*\?>")
_PI_VERSION = re.compile(r'version\s*=\s*"(\d+)\.(\d+)"')
_DATETIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[+-]\d{1,2}:\d{1,2})?)?)?)?$"
)


class _ListRecord(Protocol):
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
Render = Callable[[str], "etree._Element | None"]


class RequestProcessorError(Exception):
    """The request processor itself failed (the whole document); the Web Connector reports it as hresult."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


@dataclass(slots=True)
class _Iterator:
    request: str
    remaining: list[str]
    page_size: int | None
    render: Render


@dataclass(frozen=True, slots=True)
class _CustomerChanges:
    name: str | None
    is_active: bool | None
    parent_id: Any
    fields: dict[str, str]
    addresses: dict[str, dict[str, str]]
    preferred_payment_method_id: Any
    external_guid: str | None


@dataclass(slots=True)
class _Selection:
    """What a query matched, in QuickBooks' order, plus a Warn-level status (500) or an error to report."""

    ids: list[str]
    warning: StatusError | None = None


# Customer text fields the simulator stores, in the order the CustomerRet sequence wants them.
_CUSTOMER_NAME_FIELDS = (
    "CompanyName",
    "Salutation",
    "FirstName",
    "MiddleName",
    "LastName",
    "Suffix",
    "JobTitle",
)
_CUSTOMER_COMM_FIELDS = (
    "PrintAs",
    "Phone",
    "Mobile",
    "Pager",
    "AltPhone",
    "Fax",
    "Email",
    "Cc",
    "Contact",
    "AltContact",
)
_CUSTOMER_TAX_FIELDS = ("SalesTaxCountry", "ResaleNumber", "AccountNumber", "CreditLimit")
_CUSTOMER_JOB_FIELDS = (
    "JobStatus",
    "JobStartDate",
    "JobProjectedEndDate",
    "JobEndDate",
    "JobDesc",
    "Notes",
    "IsStatementWithParent",
    "DeliveryMethod",
    "PreferredDeliveryMethod",
)
_CUSTOMER_TEXT_FIELDS = frozenset(
    _CUSTOMER_NAME_FIELDS
    + _CUSTOMER_COMM_FIELDS
    + _CUSTOMER_TAX_FIELDS
    + _CUSTOMER_JOB_FIELDS
    + ("TaxRegistrationNumber",)
)
_ADDRESS_PARTS = (
    "Addr1",
    "Addr2",
    "Addr3",
    "Addr4",
    "Addr5",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Note",
)


class QuickBooksProcessor:
    """QuickBooks Desktop's request processor over a `CompanyFile`, one QuickBooks session per instance.

    Fault switches for tests: `latency_seconds`, `on_next_mod` (a concurrent edit), `lock` (record in use).
    """

    def __init__(
        self,
        company: CompanyFile,
        *,
        validate_schema: bool = True,
        recovery_answer: RecoveryAnswer | str = RecoveryAnswer.LAST,
    ) -> None:
        self.company = company
        self.recovery_answer = RecoveryAnswer(recovery_answer)
        self.latency_seconds: float = 0.0
        self._schema = load_schema() if validate_schema else None
        self._iterators: dict[str, _Iterator] = {}
        self._locks: dict[str, int] = {}
        self._pending_edits: dict[str, list[Callable[[CompanyFile], object]]] = {}
        self._handlers: dict[str, Callable[[etree._Element], etree._Element]] = {
            "HostQueryRq": self._host_query,
            "CompanyQueryRq": self._company_query,
            "PreferencesQueryRq": self._preferences_query,
            "CustomerQueryRq": self._customer_query,
            "CustomerAddRq": self._customer_add,
            "CustomerModRq": self._customer_mod,
            "InvoiceAddRq": self._invoice_add,
            "InvoiceQueryRq": self._invoice_query,
            "ReceivePaymentAddRq": self._receive_payment_add,
            "ReceivePaymentQueryRq": self._receive_payment_query,
            "TxnDelRq": self._txn_del,
            "TxnDeletedQueryRq": self._txn_deleted_query,
            "AccountAddRq": self._account_add,
            "AccountQueryRq": self._account_query,
            "PaymentMethodAddRq": self._payment_method_add,
            "PaymentMethodQueryRq": self._payment_method_query,
            "ItemQueryRq": self._item_query,
            "ItemServiceAddRq": self._item_add,
            "ItemOtherChargeAddRq": self._item_add,
            "DataExtDefAddRq": self._data_ext_def_add,
            "DataExtDefQueryRq": self._data_ext_def_query,
            "DataExtAddRq": self._data_ext_add,
            "DataExtModRq": self._data_ext_mod,
        }
        # Journal entries, deposits, transfers, credit memos and card refunds (clearing-account mode).
        self.ledger = CompanyLedger(company)
        self._handlers.update(ledger_handlers(self.ledger))

    # -- public interface ---------------------------------------------------------------------------------

    def process(self, request: str) -> str:
        """Run one qbXML document against the company and return QuickBooks' response document."""
        root, too_long_fields = self._parse(request)
        messages = root.find("QBXMLMsgsRq")
        response_root = etree.Element("QBXML")
        messages_rs = etree.SubElement(response_root, "QBXMLMsgsRs")
        if messages is None:
            return _serialise(response_root)
        with self.company.lock:
            try:
                self._run_message_set(messages, messages_rs, too_long_fields)
            except RequestProcessorError:
                raise
            except Exception as exc:  # a simulator bug must surface, and as QuickBooks' "unexpected error"
                raise RequestProcessorError(HRESULT_UNEXPECTED, f"Unexpected error: {exc!r}") from exc
        if messages.get("responseData") == "includeNone":
            for rs in messages_rs:
                for child in list(rs):
                    rs.remove(child)
        return _serialise(response_root)

    def hcp_response(self) -> str:
        """What the Web Connector passes as strHCPResponse on the first sendRequestXML of a session."""
        root = etree.Element("QBXML")
        messages = etree.SubElement(root, "QBXMLMsgsRs")
        with self.company.lock:
            for name in ("HostQueryRq", "CompanyQueryRq", "PreferencesQueryRq"):
                messages.append(self._handlers[name](etree.Element(name)))
        return _serialise(root)

    def end_session(self) -> None:
        """The Web Connector closed the session: every iterator dies (a later Continue gets 3391)."""
        with self.company.lock:
            self._iterators.clear()

    def on_next_mod(self, list_or_txn_id: str, edit: Callable[[CompanyFile], object]) -> None:
        """Stage a concurrent edit: `edit` runs right before the next Mod of that object is applied."""
        with self.company.lock:
            self._pending_edits.setdefault(list_or_txn_id, []).append(edit)

    def lock(self, object_id: str, times: int = 1) -> None:
        """The next `times` writes to the object answer 3175, as when another user has the record open."""
        with self.company.lock:
            self._locks[object_id] = self._locks.get(object_id, 0) + times

    # -- document level -----------------------------------------------------------------------------------

    def _parse(self, request: str) -> tuple[etree._Element, dict[etree._Element, LengthViolation]]:
        # lxml refuses str input with an encoding declaration; the text is already decoded.
        text = _XML_DECLARATION.sub("", request, count=1)
        try:
            root = etree.fromstring(text, safe_parser())
        except etree.XMLSyntaxError as exc:
            raise RequestProcessorError(
                HRESULT_PARSE_ERROR, f"{_PARSE_MESSAGE} Not well-formed XML: {exc}"
            ) from None
        tree = root.getroottree()
        if cast(Any, tree.docinfo).doctype:
            raise RequestProcessorError(HRESULT_PARSE_ERROR, f"{_PARSE_MESSAGE} A DOCTYPE is not allowed.")
        version = _qbxml_version(root)
        if version is None:
            raise RequestProcessorError(
                HRESULT_PARSE_ERROR,
                f'{_PARSE_MESSAGE} The <?qbxml version="13.0"?> processing instruction is missing.',
            )
        if version > QBXML_VERSION:
            raise RequestProcessorError(
                HRESULT_PARSE_ERROR,
                f"{_PARSE_MESSAGE} qbXML version {version[0]}.{version[1]} is not supported (highest is 13.0).",
            )
        if self._schema is None:
            _check_structure(root)
            return root, {}
        verdict = validate(self._schema, tree)
        if verdict.grammar_errors:
            details = "; ".join(verdict.grammar_errors[:3])
            raise RequestProcessorError(HRESULT_PARSE_ERROR, f"{_PARSE_MESSAGE} {details}")
        by_request: dict[etree._Element, LengthViolation] = {}
        for violation in verdict.length_violations:
            request_element = _enclosing_request(violation.element)
            if request_element is not None and request_element not in by_request:
                by_request[request_element] = violation
        return root, by_request

    def _run_message_set(
        self,
        messages: etree._Element,
        messages_rs: etree._Element,
        too_long_fields: dict[etree._Element, LengthViolation],
    ) -> None:
        old_id = messages.get("oldMessageSetID")
        new_id = messages.get("newMessageSetID")
        if new_id is not None:
            messages_rs.set("newMessageSetID", new_id)
        for value in (old_id, new_id):
            if value is not None and (len(value) > MESSAGE_SET_ID_MAX_LEN or not value.strip()):
                # Refused at message-set level: no request of the document runs.
                messages_rs.set("messageSetStatusCode", MESSAGE_SET_INVALID_ID)
                return
        if old_id is not None:
            self._answer_recovery(old_id, messages_rs)
        stop_on_error = messages.get("onError") != "continueOnError"
        produced: list[etree._Element] = []
        for request in messages:
            if not isinstance(request.tag, str):
                continue  # comments and processing instructions
            if self.latency_seconds > 0:
                # QuickBooks works through one request at a time with the file held, so the lock stays taken.
                time.sleep(self.latency_seconds)
            rs = self._run_one(request, too_long_fields.get(request))
            produced.append(rs)
            messages_rs.append(rs)
            if stop_on_error and rs.get("statusSeverity") == "Error":
                break
        if new_id is not None:
            self.company.remember_message_set(
                new_id, [etree.tostring(rs, encoding="unicode") for rs in produced]
            )

    def _answer_recovery(self, old_id: str, messages_rs: etree._Element) -> None:
        stored = self.company.recall_message_set(old_id)
        if stored is None:
            messages_rs.set("messageSetStatusCode", MESSAGE_SET_NOT_FOUND)
            return
        answer = self.recovery_answer
        if answer is RecoveryAnswer.STATUS_600:
            messages_rs.set("messageSetStatusCode", MESSAGE_SET_NO_STATE)
            return
        messages_rs.set("messageSetStatusCode", "0")
        replay = {
            RecoveryAnswer.LAST: stored.responses[-1:],
            RecoveryAnswer.ALL: stored.responses,
            RecoveryAnswer.NOTHING: (),
        }[answer]
        for rs in replay:
            messages_rs.append(etree.fromstring(rs, safe_parser()))

    def _run_one(self, request: etree._Element, violation: LengthViolation | None) -> etree._Element:
        try:
            request_id = request.get("requestID")
            if request_id is not None and len(request_id) > 50:
                raise StatusError(1060, f'The requestID "{request_id}" is too long; at most 50 characters.')
            if violation is not None:
                raise too_long(violation.value, violation.field)
            handler = self._handlers.get(str(request.tag))
            if handler is None:
                raise _unsupported(str(request.tag))
            rs = handler(request)
        except StatusError as failure:
            return _rs(request, failure.code, failure.message)
        keep = {e.text for e in request.findall("IncludeRetElement") if e.text}
        if keep:
            for ret in rs:
                for child in list(ret):
                    if child.tag not in keep:
                        ret.remove(child)
        return rs

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
        self, request: etree._Element, select: Callable[[], _Selection], render: Render
    ) -> etree._Element:
        mode = request.get("iterator")
        max_returned = _int(request, "MaxReturned")
        if mode in ("Continue", "Stop"):
            return self._continue_iterator(request, mode, max_returned)
        selection = select()
        if mode == "Start":
            page, rest = _split(selection.ids, max_returned)
            iterator_id = "{" + str(uuid.uuid4()).upper() + "}"
            if rest:
                self._iterators[iterator_id] = _Iterator(str(request.tag), rest, max_returned, render)
            return _page(
                request, page, render, selection.warning, remaining=len(rest), iterator_id=iterator_id
            )
        page, _ = _split(selection.ids, max_returned)
        return _page(request, page, render, selection.warning)

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
            rs = _rs(request, 0, "Status OK")
            rs.set("retCount", "0")
            rs.set("iteratorRemainingCount", "0")
            rs.set("iteratorID", iterator_id)
            return rs
        page, iterator.remaining = _split(iterator.remaining, max_returned or iterator.page_size)
        if not iterator.remaining:
            del self._iterators[iterator_id]
        return _page(
            request, page, iterator.render, None, remaining=len(iterator.remaining), iterator_id=iterator_id
        )

    def _by_ids(
        self, requested: Sequence[str], lookup: Callable[[str], str | None], *, missing_is_error: bool
    ) -> _Selection:
        found: list[str] = []
        missing: list[str] = []
        for key in requested:
            object_id = lookup(key)
            if object_id is None:
                missing.append(key)
            elif object_id not in found:
                found.append(object_id)
        if not missing:
            return _Selection(found)
        if not found and missing_is_error:
            return _Selection([], not_found(missing[0]))
        return _Selection(
            found,
            StatusError(
                500,
                "The query request has not been fully completed. There was a required element "
                f'("{missing[0]}") that could not be found in QuickBooks.',
            ),
        )

    def _list_filter(
        self, request: etree._Element, records: Iterable[L], name: Callable[[L], str]
    ) -> list[L]:
        """The ListFilter group: ActiveStatus (default ActiveOnly), From/ToModifiedDate (inclusive, wall
        clock), NameFilter, NameRangeFilter."""
        status = _text(request, "ActiveStatus") or "ActiveOnly"
        modified_from = _wall_clock(request, "FromModifiedDate", end=False)
        modified_to = _wall_clock(request, "ToModifiedDate", end=True)
        name_match = _name_matcher(request.find("NameFilter"), "Name")
        name_range = _range_matcher(request.find("NameRangeFilter"), "FromName", "ToName")
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
        _reject(request, "CurrencyFilter")
        modified = request.find("ModifiedDateRangeFilter")
        modified_from = _wall_clock(modified, "FromModifiedDate", end=False) if modified is not None else None
        modified_to = _wall_clock(modified, "ToModifiedDate", end=True) if modified is not None else None
        dates = request.find("TxnDateRangeFilter")
        if dates is not None:
            _reject(dates, "DateMacro")
        date_from = _date(dates, "FromTxnDate") if dates is not None else None
        date_to = _date(dates, "ToTxnDate") if dates is not None else None
        entities = self._entity_ids(request.find("EntityFilter"))
        accounts = self._account_ids(request.find("AccountFilter"))
        ref_match = _name_matcher(request.find("RefNumberFilter"), "RefNumber")
        ref_range = _range_matcher(request.find("RefNumberRangeFilter"), "FromRefNumber", "ToRefNumber")
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
        for list_id in _texts(entity_filter, "ListID"):
            ids.add(list_id)
        for full_name in _texts(entity_filter, "FullName"):
            found = company.find_customer(full_name=full_name)
            if found:
                ids.add(found.list_id)
        with_children = [
            company.find_customer(list_id=v) for v in _texts(entity_filter, "ListIDWithChildren")
        ]
        with_children += [
            company.find_customer(full_name=v) for v in _texts(entity_filter, "FullNameWithChildren")
        ]
        for parent in with_children:
            if parent is not None:
                ids.add(parent.list_id)
                ids.update(company.descendants_of(parent.list_id))
        return ids

    def _account_ids(self, account_filter: etree._Element | None) -> set[str] | None:
        if account_filter is None:
            return None
        ids = set(_texts(account_filter, "ListID")) | set(_texts(account_filter, "ListIDWithChildren"))
        for full_name in _texts(account_filter, "FullName") + _texts(account_filter, "FullNameWithChildren"):
            found = self.company.find_account(full_name=full_name)
            if found:
                ids.add(found.list_id)
        return ids

    # -- references ---------------------------------------------------------------------------------------

    def _customer_ref(self, parent: etree._Element, tag: str, txn_name: str) -> Customer:
        list_id, full_name = _ref(parent, tag)
        customer = self.company.find_customer(list_id, full_name)
        if customer is None:
            raise StatusError(3140, _invalid_reference("Customer", list_id or full_name or "", txn_name))
        return customer

    def _account_ref(self, parent: etree._Element, tag: str, txn_name: str) -> Account | None:
        if parent.find(tag) is None:
            return None
        list_id, full_name = _ref(parent, tag)
        account = self.company.find_account(list_id, full_name)
        if account is None:
            raise StatusError(3140, _invalid_reference("Account", list_id or full_name or "", txn_name))
        return account

    def _ar_account_ref(self, parent: etree._Element, txn_name: str) -> Account | None:
        """ARAccountRef must name an Accounts Receivable account, not just any account."""
        account = self._account_ref(parent, "ARAccountRef", txn_name)
        if account is not None and account.account_type != "AccountsReceivable":
            raise StatusError(3140, _invalid_reference("Account", account.name, txn_name))
        return account

    def _payment_method_ref(self, parent: etree._Element, tag: str, txn_name: str) -> PaymentMethod | None:
        if parent.find(tag) is None:
            return None
        list_id, full_name = _ref(parent, tag)
        method = self.company.find_payment_method(list_id, full_name)
        if method is None:
            raise StatusError(
                3140, _invalid_reference("Payment Method", list_id or full_name or "", txn_name)
            )
        return method

    # -- host, company, preferences -----------------------------------------------------------------------

    def _host_query(self, request: etree._Element) -> etree._Element:
        rs = _rs(request)
        host = etree.SubElement(rs, "HostRet")
        _sub(host, "ProductName", "QuickBooks Pro 2024 (ml-connector simulator)")
        _sub(host, "MajorVersion", "34")
        _sub(host, "MinorVersion", "0")
        _sub(host, "Country", "US")
        for version in SUPPORTED_QBXML_VERSIONS:
            _sub(host, "SupportedQBXMLVersion", version)
        _sub(host, "IsAutomaticLogin", "false")
        _sub(host, "QBFileMode", "SingleUser")
        return rs

    def _company_query(self, request: etree._Element) -> etree._Element:
        rs = _rs(request)
        ret = etree.SubElement(rs, "CompanyRet")
        _sub(ret, "IsSampleCompany", "false")
        _sub(ret, "CompanyName", self.company.name)
        _sub(ret, "LegalCompanyName", self.company.name)
        _sub(ret, "FirstMonthFiscalYear", "January")
        _sub(ret, "FirstMonthIncomeTaxYear", "January")
        _sub(ret, "TaxForm", "OtherOrNone")
        return rs

    def _preferences_query(self, request: etree._Element) -> etree._Element:
        rs = _rs(request)
        ret = etree.SubElement(rs, "PreferencesRet")
        accounting = etree.SubElement(ret, "AccountingPreferences")
        for tag in ("IsUsingAccountNumbers", "IsRequiringAccounts", "IsUsingClassTracking"):
            _sub(accounting, tag, "false")
        _sub(accounting, "IsUsingAuditTrail", "true")
        _sub(accounting, "IsAssigningJournalEntryNumbers", "true")
        multi_currency = etree.SubElement(ret, "MultiCurrencyPreferences")
        _sub(multi_currency, "IsMultiCurrencyOn", _bool(self.company.multicurrency))
        if self.company.multicurrency:
            home = self.company.home_currency
            _ref_element(multi_currency, "HomeCurrencyRef", _currency_list_id(home), _currency_name(home))
        sales = etree.SubElement(ret, "SalesAndCustomersPreferences")
        _sub(sales, "IsTrackingReimbursedExpensesAsIncome", "false")
        _sub(sales, "IsAutoApplyingPayments", "false")
        rights = etree.SubElement(ret, "CurrentAppAccessRights")
        _sub(rights, "IsAutomaticLoginAllowed", "true")
        _sub(rights, "IsPersonalDataAccessAllowed", "false")
        return rs

    # -- customers ----------------------------------------------------------------------------------------

    def _customer_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        owners = _texts(request, "OwnerID")

        def select() -> _Selection:
            list_ids, names = _texts(request, "ListID"), _texts(request, "FullName")
            if list_ids:
                return self._by_ids(
                    list_ids, lambda i: i if i in company.customers else None, missing_is_error=False
                )
            if names:
                return self._by_ids(names, _lookup_id(company.find_customer), missing_is_error=False)
            _reject(request, "CurrencyFilter", "ClassFilter")
            matched = self._list_filter(request, company.customers_in_order(), lambda c: c.full_name)
            balance_match = _amount_matcher(request.find("TotalBalanceFilter"))
            return _Selection([c.list_id for c in matched if balance_match(company.total_balance(c))])

        def render(list_id: str) -> etree._Element | None:
            customer = company.customers.get(list_id)
            return self._customer_ret(customer, owners) if customer else None

        return self._answer_query(request, select, render)

    def _customer_add(self, request: etree._Element) -> etree._Element:
        changes = self._customer_changes(_required(request, "CustomerAdd"), "Customer")
        customer = self.company.add_customer(
            changes.name or "",
            parent_id=None if changes.parent_id is UNCHANGED else changes.parent_id,
            is_active=True if changes.is_active is None else changes.is_active,
            fields=changes.fields,
            addresses=changes.addresses,
            preferred_payment_method_id=(
                None
                if changes.preferred_payment_method_id is UNCHANGED
                else changes.preferred_payment_method_id
            ),
            external_guid=changes.external_guid,
        )
        rs = _rs(request)
        rs.append(self._customer_ret(customer, ()))
        return rs

    def _customer_mod(self, request: etree._Element) -> etree._Element:
        mod = _required(request, "CustomerMod")
        list_id = _required_text(mod, "ListID")
        if list_id not in self.company.customers:
            raise not_found(list_id)
        self._before_write(list_id, "Customer list", is_mod=True)
        changes = self._customer_changes(mod, "Customer")
        customer = self.company.modify_customer(
            list_id,
            edit_sequence=_required_text(mod, "EditSequence"),
            name=changes.name,
            parent_id=changes.parent_id,
            is_active=changes.is_active,
            fields=changes.fields,
            addresses=changes.addresses,
            preferred_payment_method_id=changes.preferred_payment_method_id,
        )
        rs = _rs(request)
        rs.append(self._customer_ret(customer, ()))
        return rs

    def _customer_changes(self, element: etree._Element, txn_name: str) -> _CustomerChanges:
        name: str | None = None
        is_active: bool | None = None
        parent_id: Any = UNCHANGED
        preferred: Any = UNCHANGED
        external_guid: str | None = None
        fields: dict[str, str] = {}
        addresses: dict[str, dict[str, str]] = {}
        for child in element:
            tag = str(child.tag)
            value = child.text or ""
            if tag in ("ListID", "EditSequence"):
                continue
            if tag == "Name":
                name = value
            elif tag == "IsActive":
                is_active = _to_bool(value)
            elif tag == "ParentRef":
                list_id, full_name = _ref(element, "ParentRef")
                parent = self.company.find_customer(list_id, full_name)
                if parent is None:
                    raise StatusError(
                        3130,
                        f'There is an invalid reference to a parent "{list_id or full_name}" in the Customers list.  '
                        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
                    )
                parent_id = parent.list_id
            elif tag in _CUSTOMER_TEXT_FIELDS:
                fields[tag] = _normalise_field(tag, value)
            elif tag in ("BillAddress", "ShipAddress"):
                addresses[tag] = {str(part.tag): part.text or "" for part in child}
            elif tag == "PreferredPaymentMethodRef":
                method = self._payment_method_ref(element, tag, txn_name)
                preferred = method.list_id if method else None
            elif tag == "ExternalGUID":
                external_guid = value
            else:
                raise _unsupported(f"{element.tag}/{tag}")
        return _CustomerChanges(name, is_active, parent_id, fields, addresses, preferred, external_guid)

    def _customer_ret(self, customer: Customer, owners: Sequence[str]) -> etree._Element:
        company = self.company
        ret = etree.Element("CustomerRet")
        self._list_core(ret, customer)
        _sub(ret, "Name", customer.name)
        _sub(ret, "FullName", customer.full_name)
        _sub(ret, "IsActive", _bool(customer.is_active))
        if customer.parent_id:
            parent = company.customers[customer.parent_id]
            _ref_element(ret, "ParentRef", parent.list_id, parent.full_name)
        _sub(ret, "Sublevel", str(customer.sublevel))
        for tag in _CUSTOMER_NAME_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        for tag in ("BillAddress", "ShipAddress"):
            _address(ret, tag, customer.addresses.get(tag))
        for tag in _CUSTOMER_COMM_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        _sub(ret, "Balance", _amt(customer.balance))
        _sub(ret, "TotalBalance", _amt(company.total_balance(customer)))
        for tag in _CUSTOMER_TAX_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        if customer.preferred_payment_method_id:
            method = company.payment_methods.get(customer.preferred_payment_method_id)
            if method:
                _ref_element(ret, "PreferredPaymentMethodRef", method.list_id, method.name)
        for tag in _CUSTOMER_JOB_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        _sub(ret, "ExternalGUID", customer.external_guid)
        _sub(ret, "TaxRegistrationNumber", customer.fields.get("TaxRegistrationNumber"))
        if company.multicurrency:
            code = company.currency_of(customer)
            _ref_element(ret, "CurrencyRef", _currency_list_id(code), _currency_name(code))
        for owner in owners:
            for definition in company.data_ext_defs:
                if definition.owner_id.upper() != owner.upper():
                    continue
                value = customer.data_ext.get(definition.owner_id, {}).get(definition.name)
                if value is not None:
                    self._data_ext_ret(ret, definition, value)
        return ret

    def _list_core(self, ret: etree._Element, record: Customer | Account | PaymentMethod | Item) -> None:
        _sub(ret, "ListID", record.list_id)
        _sub(ret, "TimeCreated", self.company.format_datetime(record.time_created))
        _sub(ret, "TimeModified", self.company.format_datetime(record.time_modified))
        _sub(ret, "EditSequence", record.edit_sequence)

    def _txn_core(self, ret: etree._Element, record: Invoice | ReceivePayment) -> None:
        _sub(ret, "TxnID", record.txn_id)
        _sub(ret, "TimeCreated", self.company.format_datetime(record.time_created))
        _sub(ret, "TimeModified", self.company.format_datetime(record.time_modified))
        _sub(ret, "EditSequence", record.edit_sequence)
        _sub(ret, "TxnNumber", str(record.txn_number))

    # -- invoices -----------------------------------------------------------------------------------------

    _INVOICE_ADD_FIELDS = frozenset(
        {
            "CustomerRef",
            "ARAccountRef",
            "TxnDate",
            "RefNumber",
            "BillAddress",
            "ShipAddress",
            "IsPending",
            "PONumber",
            "DueDate",
            "Memo",
            "IsToBePrinted",
            "IsToBeEmailed",
            "ExternalGUID",
            "InvoiceLineAdd",
        }
    )
    _INVOICE_LINE_FIELDS = frozenset({"ItemRef", "Desc", "Quantity", "Rate", "Amount"})

    def _invoice_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "InvoiceAdd")
        for child in add:
            if child.tag not in self._INVOICE_ADD_FIELDS:
                raise _unsupported(f"InvoiceAdd/{child.tag}")
        customer = self._customer_ref(add, "CustomerRef", "Invoice")
        ar_account = self._ar_account_ref(add, "Invoice")
        lines: list[NewInvoiceLine] = []
        for line in add.findall("InvoiceLineAdd"):
            for child in line:
                if child.tag not in self._INVOICE_LINE_FIELDS:
                    raise _unsupported(f"InvoiceLineAdd/{child.tag}")
            item_id = None
            if line.find("ItemRef") is not None:
                list_id, full_name = _ref(line, "ItemRef")
                item = self.company.find_item(list_id, full_name)
                if item is None:
                    raise StatusError(3140, _invalid_reference("Item", list_id or full_name or "", "Invoice"))
                item_id = item.list_id
            lines.append(
                NewInvoiceLine(
                    item_id=item_id,
                    desc=_text(line, "Desc"),
                    quantity=_decimal(line, "Quantity"),
                    rate=_decimal(line, "Rate"),
                    amount=_decimal(line, "Amount"),
                )
            )
        invoice = self.company.add_invoice(
            customer.list_id,
            lines,
            ar_account_id=ar_account.list_id if ar_account else None,
            txn_date=_date(add, "TxnDate"),
            ref_number=_text(add, "RefNumber"),
            due_date=_date(add, "DueDate"),
            po_number=_text(add, "PONumber"),
            memo=_text(add, "Memo"),
            external_guid=_text(add, "ExternalGUID"),
            is_pending=_to_bool(_text(add, "IsPending") or "false"),
            is_to_be_printed=_to_bool(_text(add, "IsToBePrinted") or "false"),
            is_to_be_emailed=_to_bool(_text(add, "IsToBeEmailed") or "false"),
            bill_address=_address_of(add, "BillAddress"),
            ship_address=_address_of(add, "ShipAddress"),
        )
        rs = _rs(request)
        rs.append(self._invoice_ret(invoice, include_lines=True, include_linked=False))
        return rs

    def _invoice_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = _to_bool(_text(request, "IncludeLineItems") or "false")
        include_linked = _to_bool(_text(request, "IncludeLinkedTxns") or "false")

        def select() -> _Selection:
            return self._select_txns(
                request, company.invoices, lambda i: [i.ar_account_id], is_paid=lambda i: i.is_paid
            )

        def render(txn_id: str) -> etree._Element | None:
            invoice = company.invoices.get(txn_id)
            return self._invoice_ret(invoice, include_lines, include_linked) if invoice else None

        return self._answer_query(request, select, render)

    def _select_txns(
        self,
        request: etree._Element,
        records: Mapping[str, X],
        accounts_of: Callable[[X], Sequence[str]],
        *,
        is_paid: Callable[[X], bool] | None = None,
    ) -> _Selection:
        """TxnID+ | RefNumber+ | RefNumberCaseSensitive+ | the TxnFilter group (+ PaidStatus for invoices)."""
        txn_ids = _texts(request, "TxnID")
        if txn_ids:
            return self._by_ids(txn_ids, lambda t: t if t in records else None, missing_is_error=True)
        refs = _texts(request, "RefNumber")
        exact = _texts(request, "RefNumberCaseSensitive")
        if refs or exact:
            wanted = {r.casefold() for r in refs}
            matched = [
                r
                for r in records.values()
                if r.ref_number is not None and (r.ref_number.casefold() in wanted or r.ref_number in exact)
            ]
            matched.sort(key=lambda r: (r.txn_date, r.txn_number))
            return _Selection([r.txn_id for r in matched])
        matched = self._txn_filter(request, records.values(), accounts_of)
        if is_paid is not None:
            paid = _text(request, "PaidStatus") or "All"
            if paid == "PaidOnly":
                matched = [i for i in matched if is_paid(i)]
            elif paid == "NotPaidOnly":
                matched = [i for i in matched if not is_paid(i)]
        return _Selection([r.txn_id for r in matched])

    def _invoice_ret(self, invoice: Invoice, include_lines: bool, include_linked: bool) -> etree._Element:
        company = self.company
        ret = etree.Element("InvoiceRet")
        self._txn_core(ret, invoice)
        customer = company.customers[invoice.customer_id]
        _ref_element(ret, "CustomerRef", customer.list_id, customer.full_name)
        ar_account = company.accounts[invoice.ar_account_id]
        _ref_element(ret, "ARAccountRef", ar_account.list_id, ar_account.name)
        _sub(ret, "TxnDate", invoice.txn_date.isoformat())
        _sub(ret, "RefNumber", invoice.ref_number)
        _address(ret, "BillAddress", invoice.bill_address)
        _address(ret, "ShipAddress", invoice.ship_address)
        _sub(ret, "IsPending", _bool(invoice.is_pending))
        _sub(ret, "IsFinanceCharge", "false")
        _sub(ret, "PONumber", invoice.po_number)
        _sub(ret, "DueDate", invoice.due_date.isoformat())
        _sub(ret, "Subtotal", _amt(invoice.subtotal))
        _sub(ret, "SalesTaxPercentage", "0.00")
        _sub(ret, "SalesTaxTotal", "0.00")
        _sub(ret, "AppliedAmount", _amt(-invoice.applied_amount))
        _sub(ret, "BalanceRemaining", _amt(invoice.balance_remaining))
        _sub(ret, "Memo", invoice.memo)
        _sub(ret, "IsPaid", _bool(invoice.is_paid))
        _sub(ret, "IsToBePrinted", _bool(invoice.is_to_be_printed))
        _sub(ret, "IsToBeEmailed", _bool(invoice.is_to_be_emailed))
        _sub(ret, "ExternalGUID", invoice.external_guid)
        if include_linked:
            for payment_id, amount in invoice.payments.items():
                payment = company.receive_payments[payment_id]
                linked = etree.SubElement(ret, "LinkedTxn")
                _sub(linked, "TxnID", payment.txn_id)
                _sub(linked, "TxnType", "ReceivePayment")
                _sub(linked, "TxnDate", payment.txn_date.isoformat())
                _sub(linked, "RefNumber", payment.ref_number)
                _sub(linked, "LinkType", "AMTTYPE")
                _sub(linked, "Amount", _amt(-amount))
        if include_lines:
            for line in invoice.lines:
                line_ret = etree.SubElement(ret, "InvoiceLineRet")
                _sub(line_ret, "TxnLineID", line.txn_line_id)
                item = company.items.get(line.item_id) if line.item_id else None
                if item:
                    _ref_element(line_ret, "ItemRef", item.list_id, item.name)
                _sub(line_ret, "Desc", line.desc)
                _sub(line_ret, "Quantity", _number(line.quantity) if line.quantity is not None else None)
                _sub(line_ret, "Rate", _price(line.rate) if line.rate is not None else None)
                _sub(line_ret, "Amount", _amt(line.amount))
        return ret

    # -- payments -----------------------------------------------------------------------------------------

    def _receive_payment_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "ReceivePaymentAdd")
        _reject(add, "CreditCardTxnInfo")
        customer = self._customer_ref(add, "CustomerRef", "ReceivePayment")
        ar_account = self._ar_account_ref(add, "ReceivePayment")
        deposit = self._account_ref(add, "DepositToAccountRef", "ReceivePayment")
        method = self._payment_method_ref(add, "PaymentMethodRef", "ReceivePayment")
        applications: list[NewApplication] = []
        for applied in add.findall("AppliedToTxnAdd"):
            _reject(applied, "TxnLineDetail", "SetCredit", "DiscountClassRef")
            txn_id = _required_text(applied, "TxnID")
            if txn_id not in self.company.invoices:
                raise not_found(txn_id)
            self._before_write(txn_id, "Invoice", is_mod=False)
            discount = _amount(applied, "DiscountAmount") or ZERO
            discount_account = self._account_ref(applied, "DiscountAccountRef", "ReceivePayment")
            if discount and discount_account is None:
                raise StatusError(3150, 'There is a missing element: "DiscountAccountRef".')
            applications.append(
                NewApplication(
                    txn_id,
                    _amount(applied, "PaymentAmount") or ZERO,
                    discount,
                    discount_account.list_id if discount_account else None,
                )
            )
        payment = self.company.add_receive_payment(
            customer.list_id,
            total_amount=_amount(add, "TotalAmount"),
            applications=applications,
            auto_apply=_to_bool(_text(add, "IsAutoApply") or "false"),
            ar_account_id=ar_account.list_id if ar_account else None,
            deposit_to_account_id=deposit.list_id if deposit else None,
            txn_date=_date(add, "TxnDate"),
            ref_number=_text(add, "RefNumber"),
            payment_method_id=method.list_id if method else None,
            memo=_text(add, "Memo"),
            external_guid=_text(add, "ExternalGUID"),
            exchange_rate=_rate(add),
        )
        rs = _rs(request)
        rs.append(self._receive_payment_ret(payment, include_lines=True))
        return rs

    def _receive_payment_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = _to_bool(_text(request, "IncludeLineItems") or "false")

        def select() -> _Selection:
            return self._select_txns(
                request,
                company.receive_payments,
                lambda p: [p.ar_account_id, p.deposit_to_account_id],
            )

        def render(txn_id: str) -> etree._Element | None:
            payment = company.receive_payments.get(txn_id)
            return self._receive_payment_ret(payment, include_lines) if payment else None

        return self._answer_query(request, select, render)

    def _receive_payment_ret(self, payment: ReceivePayment, include_lines: bool) -> etree._Element:
        company = self.company
        ret = etree.Element("ReceivePaymentRet")
        self._txn_core(ret, payment)
        customer = company.customers[payment.customer_id]
        _ref_element(ret, "CustomerRef", customer.list_id, customer.full_name)
        ar_account = company.accounts[payment.ar_account_id]
        _ref_element(ret, "ARAccountRef", ar_account.list_id, ar_account.name)
        _sub(ret, "TxnDate", payment.txn_date.isoformat())
        _sub(ret, "RefNumber", payment.ref_number)
        _sub(ret, "TotalAmount", _amt(payment.total_amount))
        if company.multicurrency:
            code = company.currency_of(customer)
            _ref_element(ret, "CurrencyRef", _currency_list_id(code), _currency_name(code))
            _sub(ret, "ExchangeRate", f"{payment.exchange_rate or Decimal(1):f}")
            _sub(ret, "TotalAmountInHomeCurrency", _amt(payment.home_amount))
        if payment.payment_method_id:
            method = company.payment_methods[payment.payment_method_id]
            _ref_element(ret, "PaymentMethodRef", method.list_id, method.name)
        _sub(ret, "Memo", payment.memo)
        deposit = company.accounts[payment.deposit_to_account_id]
        _ref_element(ret, "DepositToAccountRef", deposit.list_id, deposit.name)
        _sub(ret, "UnusedPayment", _amt(payment.unused_payment))
        _sub(ret, "UnusedCredits", "0.00")
        _sub(ret, "ExternalGUID", payment.external_guid)
        if include_lines:
            for app in payment.applications:
                invoice = company.invoices[app.invoice_txn_id]
                applied = etree.SubElement(ret, "AppliedToTxnRet")
                _sub(applied, "TxnID", invoice.txn_id)
                _sub(applied, "TxnType", "Invoice")
                _sub(applied, "TxnDate", invoice.txn_date.isoformat())
                _sub(applied, "RefNumber", invoice.ref_number)
                _sub(applied, "BalanceRemaining", _amt(invoice.balance_remaining))
                _sub(applied, "Amount", _amt(app.amount))
                if app.discount_amount:
                    _sub(applied, "DiscountAmount", _amt(app.discount_amount))
                    if app.discount_account_id:
                        account = company.accounts[app.discount_account_id]
                        _ref_element(applied, "DiscountAccountRef", account.list_id, account.name)
        return ret

    def _txn_del(self, request: etree._Element) -> etree._Element:
        txn_type = _required_text(request, "TxnDelType")
        txn_id = _required_text(request, "TxnID")
        if txn_type not in ("ReceivePayment", "Invoice"):
            raise _unsupported(f"TxnDel of {txn_type}")
        records: dict[str, Any] = (
            self.company.receive_payments if txn_type == "ReceivePayment" else self.company.invoices
        )
        if txn_id not in records:
            raise not_found(txn_id)
        self._before_write(txn_id, txn_type, is_mod=False)
        deleted = self.company.delete_transaction(txn_id)
        rs = _rs(request)
        _sub(rs, "TxnDelType", txn_type)
        _sub(rs, "TxnID", txn_id)
        when = self.company.deleted_transactions[-1].time_deleted
        _sub(rs, "TimeDeleted", self.company.format_datetime(when))
        _sub(rs, "RefNumber", deleted.ref_number)
        return rs

    def _txn_deleted_query(self, request: etree._Element) -> etree._Element:
        """The deletions of the requested types, oldest first, in the DeletedDateRangeFilter's wall-clock
        window (no iterator: qbXML has none for this query)."""
        types = set(_texts(request, "TxnDelType"))
        window = request.find("DeletedDateRangeFilter")
        since = _wall_clock(window, "FromDeletedDate", end=False) if window is not None else None
        until = _wall_clock(window, "ToDeletedDate", end=True) if window is not None else None
        company = self.company
        rets: list[etree._Element] = []
        for record in sorted(company.deleted_transactions, key=lambda d: d.time_deleted):
            wall = company.local_wall_time(record.time_deleted)
            if record.txn_type not in types or (since and wall < since) or (until and wall > until):
                continue
            ret = etree.Element("TxnDeletedRet")
            _sub(ret, "TxnDelType", record.txn_type)
            _sub(ret, "TxnID", record.txn_id)
            _sub(ret, "TimeCreated", company.format_datetime(record.time_created))
            _sub(ret, "TimeDeleted", company.format_datetime(record.time_deleted))
            _sub(ret, "RefNumber", record.ref_number)
            rets.append(ret)
        rs = _rs(request) if rets else _rs(request, 1, _NO_MATCH)
        rs.set("retCount", str(len(rets)))
        rs.extend(rets)
        return rs

    # -- accounts, payment methods, items -----------------------------------------------------------------

    def _account_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "AccountAdd")
        _reject(
            add,
            "DetailAccountType",
            "OpenBalance",
            "OpenBalanceDate",
            "SalesTaxCodeRef",
            "TaxLineID",
            "CurrencyRef",
        )
        account_type = _required_text(add, "AccountType")
        parent = self._account_ref(add, "ParentRef", "Account")
        account = self.company.add_account(
            _required_text(add, "Name"),
            account_type,
            is_active=_to_bool(_text(add, "IsActive") or "true"),
            special_account_type="AccountsReceivable" if account_type == "AccountsReceivable" else None,
            account_number=_text(add, "AccountNumber"),
            bank_number=_text(add, "BankNumber"),
            desc=_text(add, "Desc"),
            parent_id=parent.list_id if parent else None,
        )
        rs = _rs(request)
        rs.append(self._account_ret(account))
        return rs

    def _account_query(self, request: etree._Element) -> etree._Element:
        company = self.company

        def select() -> _Selection:
            list_ids, names = _texts(request, "ListID"), _texts(request, "FullName")
            if list_ids:
                return self._by_ids(
                    list_ids, lambda i: i if i in company.accounts else None, missing_is_error=False
                )
            if names:
                return self._by_ids(names, _lookup_id(company.find_account), missing_is_error=False)
            _reject(request, "CurrencyFilter")
            types = set(_texts(request, "AccountType"))
            ordered = sorted(company.accounts.values(), key=lambda a: a.name.casefold())
            matched = self._list_filter(request, ordered, lambda a: a.name)
            return _Selection([a.list_id for a in matched if not types or a.account_type in types])

        def render(list_id: str) -> etree._Element | None:
            account = company.accounts.get(list_id)
            return self._account_ret(account) if account else None

        return self._answer_query(request, select, render)

    def _account_ret(self, account: Account) -> etree._Element:
        ret = etree.Element("AccountRet")
        self._list_core(ret, account)
        full_name = self.company.account_full_name(account)
        _sub(ret, "Name", account.name)
        _sub(ret, "FullName", full_name)
        _sub(ret, "IsActive", _bool(account.is_active))
        if account.parent_id is not None:
            parent = self.company.accounts[account.parent_id]
            _ref_element(ret, "ParentRef", parent.list_id, self.company.account_full_name(parent))
        _sub(ret, "Sublevel", str(full_name.count(":")))
        _sub(ret, "AccountType", account.account_type)
        _sub(ret, "SpecialAccountType", account.special_account_type)
        _sub(ret, "AccountNumber", account.account_number)
        _sub(ret, "BankNumber", account.bank_number)
        _sub(ret, "Desc", account.desc)
        balance = _amt(self.company.account_balance(account))
        _sub(ret, "Balance", balance)
        _sub(ret, "TotalBalance", balance)
        return ret

    def _payment_method_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "PaymentMethodAdd")
        method = self.company.add_payment_method(
            _required_text(add, "Name"),
            _text(add, "PaymentMethodType"),
            is_active=_to_bool(_text(add, "IsActive") or "true"),
        )
        rs = _rs(request)
        rs.append(self._payment_method_ret(method))
        return rs

    def _payment_method_query(self, request: etree._Element) -> etree._Element:
        company = self.company

        def select() -> _Selection:
            list_ids, names = _texts(request, "ListID"), _texts(request, "FullName")
            if list_ids:
                return self._by_ids(
                    list_ids, lambda i: i if i in company.payment_methods else None, missing_is_error=False
                )
            if names:
                return self._by_ids(names, _lookup_id(company.find_payment_method), missing_is_error=False)
            types = set(_texts(request, "PaymentMethodType"))
            ordered = sorted(company.payment_methods.values(), key=lambda m: m.name.casefold())
            matched = self._list_filter(request, ordered, lambda m: m.name)
            return _Selection([m.list_id for m in matched if not types or m.payment_method_type in types])

        def render(list_id: str) -> etree._Element | None:
            method = company.payment_methods.get(list_id)
            return self._payment_method_ret(method) if method else None

        return self._answer_query(request, select, render)

    def _payment_method_ret(self, method: PaymentMethod) -> etree._Element:
        ret = etree.Element("PaymentMethodRet")
        self._list_core(ret, method)
        _sub(ret, "Name", method.name)
        _sub(ret, "IsActive", _bool(method.is_active))
        _sub(ret, "PaymentMethodType", method.payment_method_type)
        return ret

    def _item_query(self, request: etree._Element) -> etree._Element:
        company = self.company

        def select() -> _Selection:
            list_ids, names = _texts(request, "ListID"), _texts(request, "FullName")
            if list_ids:
                return self._by_ids(
                    list_ids, lambda i: i if i in company.items else None, missing_is_error=False
                )
            if names:
                return self._by_ids(names, _lookup_id(company.find_item), missing_is_error=False)
            ordered = sorted(company.items.values(), key=lambda i: i.name.casefold())
            return _Selection([i.list_id for i in self._list_filter(request, ordered, lambda i: i.name)])

        def render(list_id: str) -> etree._Element | None:
            item = company.items.get(list_id)
            return self._item_ret(item) if item else None

        return self._answer_query(request, select, render)

    def _item_add(self, request: etree._Element) -> etree._Element:
        """ItemServiceAdd / ItemOtherChargeAdd, SalesOrPurchase branch; item names are unique across every
        item type (3100)."""
        kind = str(request.tag)[: -len("AddRq")]
        add = _required(request, f"{kind}Add")
        _reject(add, "BarCode", "ClassRef", "ParentRef", "UnitOfMeasureSetRef", "SalesAndPurchase")
        sales = _required(add, "SalesOrPurchase")
        _reject(sales, "PricePercent")
        account = self._account_ref(sales, "AccountRef", kind)
        price = _text(sales, "Price")
        item = self.company.add_item(
            kind,
            _required_text(add, "Name"),
            desc=_text(sales, "Desc"),
            price=Decimal(price) if price else None,
            account_id=account.list_id if account else None,
            is_active=_to_bool(_text(add, "IsActive") or "true"),
        )
        rs = _rs(request)
        rs.append(self._item_ret(item))
        return rs

    def _item_ret(self, item: Item) -> etree._Element:
        ret = etree.Element(f"{item.kind}Ret")
        self._list_core(ret, item)
        _sub(ret, "Name", item.name)
        _sub(ret, "FullName", item.name)
        _sub(ret, "IsActive", _bool(item.is_active))
        _sub(ret, "Sublevel", "0")
        sales = etree.SubElement(ret, "SalesOrPurchase")
        _sub(sales, "Desc", item.desc)
        _sub(sales, "Price", _price(item.price) if item.price is not None else None)
        if item.account_id:
            account = self.company.accounts[item.account_id]
            _ref_element(sales, "AccountRef", account.list_id, self.company.account_full_name(account))
        return ret

    # -- data extensions ----------------------------------------------------------------------------------

    def _data_ext_def_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "DataExtDefAdd")
        _reject(add, "DataExtListRequire", "DataExtTxnRequire", "DataExtFormatString")
        definition = self.company.add_data_ext_def(
            _required_text(add, "OwnerID"),
            _required_text(add, "DataExtName"),
            _required_text(add, "DataExtType"),
            _texts(add, "AssignToObject"),
        )
        rs = _rs(request)
        rs.append(_data_ext_def_ret(definition))
        return rs

    def _data_ext_def_query(self, request: etree._Element) -> etree._Element:
        owners = {o.upper() for o in _texts(request, "OwnerID")}
        objects = set(_texts(request, "AssignToObject"))
        matched = [
            d
            for d in self.company.data_ext_defs
            if (not owners or d.owner_id.upper() in owners)
            and (not objects or objects.intersection(d.assign_to_objects))
        ]
        if not matched:
            return _rs(request, 1, _NO_MATCH)
        rs = _rs(request)
        rs.set("retCount", str(len(matched)))
        for definition in matched:
            rs.append(_data_ext_def_ret(definition))
        return rs

    def _data_ext_add(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, _required(request, "DataExtAdd"), must_exist=False)

    def _data_ext_mod(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, _required(request, "DataExtMod"), must_exist=True)

    def _data_ext_write(
        self, request: etree._Element, body: etree._Element, *, must_exist: bool
    ) -> etree._Element:
        _reject(body, "TxnDataExtType", "OtherDataExtType")
        list_type = _required_text(body, "ListDataExtType")
        if list_type != "Customer":
            raise _unsupported(f"data extensions on {list_type}")
        owner = _required_text(body, "OwnerID")
        name = _required_text(body, "DataExtName")
        definition = self.company.find_data_ext_def(owner, name)
        if definition is None:
            raise not_found(name)
        customer = self._customer_ref(body, "ListObjRef", "DataExt")
        self._before_write(customer.list_id, "Customer list", is_mod=must_exist)
        value = _text(body, "DataExtValue") or ""
        self.company.set_customer_data_ext(definition, customer, value, must_exist=must_exist)
        rs = _rs(request)
        self._data_ext_ret(rs, definition, value)
        return rs

    @staticmethod
    def _data_ext_ret(parent: etree._Element, definition: DataExtDef, value: str) -> None:
        ret = etree.SubElement(parent, "DataExtRet")
        _sub(ret, "OwnerID", definition.owner_id)
        _sub(ret, "DataExtName", definition.name)
        _sub(ret, "DataExtType", definition.data_ext_type)
        _sub(ret, "DataExtValue", value)


# ----------------------------------------------------------------------------------------------------------
# Helpers: reading requests
# ----------------------------------------------------------------------------------------------------------


def _qbxml_version(root: etree._Element) -> tuple[int, int] | None:
    for sibling in root.itersiblings(preceding=True):
        if isinstance(sibling, etree._ProcessingInstruction) and sibling.target == "qbxml":
            found = _PI_VERSION.search(sibling.text or "")
            if found:
                return int(found[1]), int(found[2])
    return None


def _check_structure(root: etree._Element) -> None:
    """Without the XSD: the envelope shape only. Real QuickBooks is stricter; tests should use the XSD."""

    def fail(detail: str) -> RequestProcessorError:
        return RequestProcessorError(HRESULT_PARSE_ERROR, f"{_PARSE_MESSAGE} {detail}")

    if root.tag != "QBXML":
        raise fail(f"The root element must be QBXML, not {root.tag}.")
    for child in root:
        if isinstance(child.tag, str) and child.tag not in ("SignonMsgsRq", "QBXMLMsgsRq"):
            raise fail(f"Unexpected element {child.tag} in QBXML.")
    messages = root.find("QBXMLMsgsRq")
    if messages is None:
        return
    if messages.get("onError") not in ("stopOnError", "continueOnError", "rollbackOnError"):
        raise fail("QBXMLMsgsRq needs onError = stopOnError, continueOnError or rollbackOnError.")
    for request in messages:
        if isinstance(request.tag, str) and not request.tag.endswith("Rq"):
            raise fail(f"{request.tag} is not a request element.")


def _enclosing_request(element: etree._Element) -> etree._Element | None:
    current: etree._Element | None = element
    while current is not None:
        parent = current.getparent()
        if parent is not None and parent.tag == "QBXMLMsgsRq":
            return current
        current = parent
    return None


def _text(parent: etree._Element, tag: str) -> str | None:
    found = parent.find(tag)
    return None if found is None else (found.text or "")


def _texts(parent: etree._Element, tag: str) -> list[str]:
    return [e.text or "" for e in parent.findall(tag)]


def _required(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        raise StatusError(3150, f'There is a missing element: "{tag}".')
    return found


def _required_text(parent: etree._Element, tag: str) -> str:
    value = _text(parent, tag)
    if not value:
        raise StatusError(3150, f'There is a missing element: "{tag}".')
    return value


# QuickBooks' built-in currency names (CurrencyRef FullName); other codes are shown as the code itself.
_CURRENCY_NAMES = {
    "USD": "US Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "CHF": "Swiss Franc",
}


def _currency_name(code: str) -> str:
    return _CURRENCY_NAMES.get(code, code)


def _currency_list_id(code: str) -> str:
    """A stable ListID per currency (the simulator keeps no currency list records)."""
    return f"{sum(ord(c) << (8 * i) for i, c in enumerate(code)):08X}-1000000000"


def _rate(parent: etree._Element) -> Decimal | None:
    """ExchangeRate (FLOATTYPE): schema-valid decimal text, or absent/empty."""
    raw = _text(parent, "ExchangeRate")
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise StatusError(3210, f'The exchange rate "{raw}" is not a number.') from None


def _reject(parent: etree._Element, *tags: str) -> None:
    for tag in tags:
        if parent.find(tag) is not None:
            raise _unsupported(f"{parent.tag}/{tag}")


def _ref(parent: etree._Element, tag: str) -> tuple[str | None, str | None]:
    found = parent.find(tag)
    if found is None:
        return None, None
    return _text(found, "ListID"), _text(found, "FullName")


def _lookup_id(find: Callable[..., Any]) -> Callable[[str], str | None]:
    def lookup(full_name: str) -> str | None:
        found = find(full_name=full_name)
        return found.list_id if found else None

    return lookup


def _to_bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def _int(parent: etree._Element, tag: str) -> int | None:
    value = _text(parent, tag)
    return int(value) if value else None


def _decimal(parent: etree._Element, tag: str) -> Decimal | None:
    value = _text(parent, tag)
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise StatusError(3210, f'The value "{value}" in the field "{tag}" is not a valid number.') from None


def _amount(parent: etree._Element, tag: str) -> Decimal | None:
    value = _decimal(parent, tag)
    return money(value) if value is not None else None


def _date(parent: etree._Element | None, tag: str) -> date | None:
    value = _text(parent, tag) if parent is not None else None
    if not value:
        return None
    try:
        year, month, day = (int(part) for part in value.split("-"))
        return date(year, month, day)
    except ValueError:
        raise StatusError(
            3020, f'There was an error when converting the date value "{value}" in the field "{tag}".'
        ) from None


def _wall_clock(parent: etree._Element, tag: str, *, end: bool) -> datetime | None:
    """A DATETIMETYPE filter bound as a naive local time. Missing parts widen the bound: a To-date without a
    time means the end of that day. Any UTC offset is ignored (QuickBooks reads the wall clock)."""
    value = _text(parent, tag)
    if not value:
        return None
    found = _DATETIME.match(value.strip())
    try:
        if not found:
            raise ValueError(value)
        year, month, day = int(found[1]), int(found[2]), int(found[3])
        parts = [found[4], found[5], found[6]]
        fill = (23, 59, 59) if end else (0, 0, 0)
        hour, minute, second = (int(p) if p is not None else fill[i] for i, p in enumerate(parts))
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise StatusError(
            3020, f'There was an error when converting the date value "{value}" in the field "{tag}".'
        ) from None


def _name_matcher(element: etree._Element | None, value_tag: str) -> Callable[[str], bool]:
    if element is None:
        return lambda _value: True
    criterion = _text(element, "MatchCriterion") or "StartsWith"
    wanted = (_text(element, value_tag) or "").casefold()
    if criterion == "Contains":
        return lambda value: wanted in value.casefold()
    if criterion == "EndsWith":
        return lambda value: value.casefold().endswith(wanted)
    return lambda value: value.casefold().startswith(wanted)


def _range_matcher(element: etree._Element | None, from_tag: str, to_tag: str) -> Callable[[str], bool]:
    """Inclusive, case-insensitive; numbers compare as numbers (RefNumber 9 < 10), as QuickBooks sorts them."""
    if element is None:
        return lambda _value: True
    low, high = _text(element, from_tag), _text(element, to_tag)

    def key(value: str) -> tuple[int, int, str]:
        return (0, int(value), "") if value.isdigit() else (1, 0, value.casefold())

    def match(value: str) -> bool:
        if low and key(value) < key(low):
            return False
        if high and key(value) > key(high) and not value.casefold().startswith(high.casefold()):
            return False
        return True

    return match


def _amount_matcher(element: etree._Element | None) -> Callable[[Decimal], bool]:
    if element is None:
        return lambda _value: True
    operator = _required_text(element, "Operator")
    amount = _amount(element, "Amount") or ZERO
    compare: dict[str, Callable[[Decimal], bool]] = {
        "LessThan": lambda v: v < amount,
        "LessThanEqual": lambda v: v <= amount,
        "Equal": lambda v: v == amount,
        "GreaterThan": lambda v: v > amount,
        "GreaterThanEqual": lambda v: v >= amount,
    }
    return compare[operator]


def _normalise_field(tag: str, value: str) -> str:
    if tag == "CreditLimit" and value:
        return _amt(Decimal(value))
    if tag == "IsStatementWithParent" and value:
        return _bool(_to_bool(value))
    return value


def _address_of(parent: etree._Element, tag: str) -> dict[str, str] | None:
    found = parent.find(tag)
    if found is None:
        return None
    return {str(part.tag): part.text or "" for part in found if part.text}


def _split(ids: list[str], size: int | None) -> tuple[list[str], list[str]]:
    if size is None:
        return list(ids), []
    return ids[:size], ids[size:]


# ----------------------------------------------------------------------------------------------------------
# Helpers: writing responses
# ----------------------------------------------------------------------------------------------------------


def _severity(code: int) -> str:
    if code < 500:
        return "Info"
    return "Warn" if code < 1000 else "Error"


def _rs(request: etree._Element, code: int = 0, message: str = "Status OK") -> etree._Element:
    tag = str(request.tag)
    rs = etree.Element(tag[:-2] + "Rs" if tag.endswith("Rq") else tag + "Rs")
    request_id = request.get("requestID")
    if request_id is not None:
        rs.set("requestID", request_id)
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", _severity(code))
    rs.set("statusMessage", message)
    return rs


def _page(
    request: etree._Element,
    ids: Sequence[str],
    render: Render,
    warning: StatusError | None,
    *,
    remaining: int | None = None,
    iterator_id: str | None = None,
) -> etree._Element:
    rets = [ret for ret in (render(i) for i in ids) if ret is not None]
    if warning is not None and warning.code >= 1000:
        raise warning
    if warning is not None:
        rs = _rs(request, warning.code, warning.message)
    elif rets:
        rs = _rs(request)
    else:
        rs = _rs(request, 1, _NO_MATCH)
    rs.set("retCount", str(len(rets)))
    if iterator_id is not None:
        rs.set("iteratorRemainingCount", str(remaining or 0))
        rs.set("iteratorID", iterator_id)
    rs.extend(rets)
    return rs


def _unsupported(what: str) -> StatusError:
    return StatusError(
        3250,
        "This feature is not enabled or not available in this version of QuickBooks. "
        f"(The ml-connector QuickBooks simulator does not implement {what}.)",
    )


def _invalid_reference(list_name: str, ref: str, txn_name: str) -> str:
    return (
        f'There is an invalid reference to QuickBooks {list_name} "{ref}" in the {txn_name}.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
    )


def _sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def _ref_element(parent: etree._Element, tag: str, list_id: str, full_name: str) -> None:
    ref = etree.SubElement(parent, tag)
    _sub(ref, "ListID", list_id)
    _sub(ref, "FullName", full_name)


def _address(parent: etree._Element, tag: str, parts: dict[str, str] | None) -> None:
    if not parts:
        return
    address = etree.SubElement(parent, tag)
    for part in _ADDRESS_PARTS:
        _sub(address, part, parts.get(part))


def _data_ext_def_ret(definition: DataExtDef) -> etree._Element:
    ret = etree.Element("DataExtDefRet")
    _sub(ret, "OwnerID", definition.owner_id)
    _sub(ret, "DataExtID", str(definition.data_ext_id))
    _sub(ret, "DataExtName", definition.name)
    _sub(ret, "DataExtType", definition.data_ext_type)
    for target in definition.assign_to_objects:
        _sub(ret, "AssignToObject", target)
    _sub(ret, "DataExtListRequire", "false")
    _sub(ret, "DataExtTxnRequire", "false")
    _sub(ret, "DataExtFormatString", "")
    return ret


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _amt(value: Decimal) -> str:
    rounded = money(value)
    return f"{rounded + ZERO:.2f}" if rounded else "0.00"


def _price(value: Decimal) -> str:
    """PRICETYPE: at least two decimals, at most five."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:.2f}"
    return format(value.quantize(Decimal("0.00001")).normalize(), "f")


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _serialise(root: etree._Element) -> str:
    return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode", pretty_print=True)
