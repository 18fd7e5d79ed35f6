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

This module is the document level; the requests themselves are answered per entity by ``customers``,
``transactions``, ``lists`` (their `Requests` subclasses' ``handlers()``) and ``ledger`` (``handlers(ledger)``),
all registered into one dispatch table.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from typing import Any, cast

from lxml import etree

from ml_connector.simulator import customers, lists, transactions, wire
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.company.records import StatusError, too_long
from ml_connector.simulator.ledger import CompanyLedger
from ml_connector.simulator.ledger import handlers as ledger_handlers
from ml_connector.simulator.lists import SUPPORTED_QBXML_VERSIONS as SUPPORTED_QBXML_VERSIONS
from ml_connector.simulator.queries import Handler, Session
from ml_connector.simulator.schema import LengthViolation, load_schema, safe_parser, validate

HRESULT_PARSE_ERROR = "0x80040400"
HRESULT_UNEXPECTED = "0x80040402"
QBXML_VERSION = (13, 0)
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

_XML_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml\b[^>]*\?>")
_PI_VERSION = re.compile(r'version\s*=\s*"(\d+)\.(\d+)"')


class RequestProcessorError(Exception):
    """The request processor itself failed (the whole document); the Web Connector reports it as hresult."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


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
        self._session = Session(company)
        self._handlers: dict[str, Handler] = {
            **lists.ListRequests(self._session).handlers(),
            **customers.CustomerRequests(self._session).handlers(),
            **transactions.TransactionRequests(self._session).handlers(),
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
            self._session.iterators.clear()

    def on_next_mod(self, list_or_txn_id: str, edit: Callable[[CompanyFile], object]) -> None:
        """Stage a concurrent edit: `edit` runs right before the next Mod of that object is applied."""
        with self.company.lock:
            self._session.pending_edits.setdefault(list_or_txn_id, []).append(edit)

    def lock(self, object_id: str, times: int = 1) -> None:
        """The next `times` writes to the object answer 3175, as when another user has the record open."""
        with self.company.lock:
            self._session.locks[object_id] = self._session.locks.get(object_id, 0) + times

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
                raise wire.unsupported(str(request.tag))
            rs = handler(request)
        except StatusError as failure:
            return wire.response(request, failure.code, failure.message)
        keep = {e.text for e in request.findall("IncludeRetElement") if e.text}
        if keep:
            for ret in rs:
                for child in list(ret):
                    if child.tag not in keep:
                        ret.remove(child)
        return rs


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


def _serialise(root: etree._Element) -> str:
    return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode", pretty_print=True)
