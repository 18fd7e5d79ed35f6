"""The qbXML message set: wrapping request fragments into a document, and splitting a response.

Requests are built strictly (schema order, ``<?qbxml version?>`` instruction, a unique ``requestID`` on
every request, since replies are matched by requestID and never by position). Responses are read
leniently (any child order, any of the encodings QuickBooks is seen to declare, BOM or leading
whitespace), but safely: see :func:`ml_connector.qbxml.nodes.parse_xml`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lxml import etree

from ml_connector.qbxml import nodes
from ml_connector.qbxml.errors import (
    QbStatusError,
    QbxmlParseError,
    StatusClass,
    classify,
    severity_for,
    status_error,
)

REQUEST_ID_MAX_LEN = 50  # longer requestIDs are rejected with status 1060
# new/oldMessageSetID: at most 23 characters (Intuit's message-set attribute table, PROTOCOL.md section 5);
# a longer id makes QuickBooks refuse the whole message set (messageSetStatusCode), running none of it.
MESSAGE_SET_ID_MAX_LEN = 23
OnError = Literal["stopOnError", "continueOnError"]

# Elements a Continue request keeps from its Start request. They shape each page (size, returned
# fields, custom fields, line items) instead of selecting records; the schema allows all of them next to
# iterator="Continue", and repeating them guarantees every page has the shape of the first even if
# QuickBooks reads them per page. Everything else (ListID, FullName, TxnID, RefNumber, all *Filter,
# ActiveStatus, PaidStatus, From/To dates …) is fixed by the Start request and dropped.
_CONTINUE_KEEPS = frozenset(
    {
        "MaxReturned",
        "IncludeLineItems",
        "IncludeLinkedTxns",
        "IncludeComponentLineItems",
        "IncludeRetElement",
        "OwnerID",
    }
)
_VERSION = re.compile(r"\d{1,2}\.\d{1,2}")


@dataclass(frozen=True)
class RequestItem:
    """One request fragment and the requestID it will carry in the message set."""

    request_id: str
    body: str

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, str) or not self.request_id.strip():
            raise ValueError("request_id must be a non-empty string")
        if len(self.request_id) > REQUEST_ID_MAX_LEN:
            raise ValueError(
                f"request_id is {len(self.request_id)} characters; QuickBooks allows {REQUEST_ID_MAX_LEN}"
            )


@dataclass(frozen=True)
class ResponseItem:
    """One ``*Rs`` of a response, with its status attributes read and its XML kept for entity parsers."""

    request_id: str | None
    name: str
    status_code: int
    status_severity: str
    status_message: str
    ret_count: int | None
    iterator_id: str | None
    iterator_remaining_count: int | None
    xml: str

    @property
    def status_class(self) -> StatusClass:
        return classify(self.status_code)

    @property
    def is_error(self) -> bool:
        """Whether QuickBooks failed this request.

        Warnings (500-999, including 530/531 "field not supported") mean the request *was* carried out
        with something ignored, so they are not errors here even though ``status_class`` says what was
        ignored; an ``Error`` severity or an error-class code of 1000 and up is.
        """
        if self.status_severity.lower() == "error":
            return True
        return self.status_class.is_error and self.status_code >= 1000

    @property
    def has_more_pages(self) -> bool:
        """True while an iterator has records left to fetch with a Continue request."""
        return self.iterator_id is not None and (self.iterator_remaining_count or 0) > 0

    @property
    def request_name(self) -> str:
        """The request this answers: ``CustomerAddRs`` -> ``CustomerAddRq``."""
        return self.name[:-2] + "Rq" if self.name.endswith("Rs") else self.name

    def to_error(self) -> QbStatusError:
        return status_error(
            self.status_code, self.status_severity, self.status_message, self.request_name, self.request_id
        )

    def raise_for_status(self) -> None:
        """Raise the matching :class:`QbStatusError` subclass if this response is an error."""
        if self.is_error:
            raise self.to_error()


@dataclass(frozen=True)
class MessageSetResponse:
    items: tuple[ResponseItem, ...]
    new_message_set_id: str | None
    message_set_status_code: int | None

    def by_request_id(self) -> dict[str, ResponseItem]:
        return {item.request_id: item for item in self.items if item.request_id is not None}


def build_message_set(
    items: Sequence[RequestItem],
    *,
    on_error: OnError,
    version: str = "13.0",
    new_message_set_id: str | None = None,
    old_message_set_id: str | None = None,
) -> str:
    """A complete qbXML request document for ``items``, each fragment given its ``requestID``.

    ``on_error``: ``stopOnError`` for requests that depend on each other (QuickBooks runs none after the
    first failure), ``continueOnError`` for independent ones. ``rollbackOnError`` is deliberately not
    offered: QuickBooks Desktop does not roll back writes.

    ``new_message_set_id`` marks a document containing writes so its outcome can be asked for later;
    ``old_message_set_id`` with no items is that question (the error-recovery query). An empty document
    is refused otherwise, since QuickBooks would do nothing with it.
    """
    if on_error not in ("stopOnError", "continueOnError"):
        raise ValueError(f"on_error must be 'stopOnError' or 'continueOnError', not {on_error!r}")
    if not _VERSION.fullmatch(version):
        raise ValueError(f"qbXML version must look like '13.0', not {version!r}")
    if not items and old_message_set_id is None:
        raise ValueError("an empty message set is only meaningful with old_message_set_id (error recovery)")

    msgs = etree.Element("QBXMLMsgsRq")
    msgs.set("onError", on_error)
    if new_message_set_id is not None:
        msgs.set("newMessageSetID", _check_message_set_id(new_message_set_id))
    if old_message_set_id is not None:
        msgs.set("oldMessageSetID", _check_message_set_id(old_message_set_id))

    seen: set[str] = set()
    for item in items:
        if not isinstance(item, RequestItem):
            raise TypeError(f"expected RequestItem, not {type(item).__name__}")
        if item.request_id in seen:
            raise ValueError(f"duplicate request_id {item.request_id!r}; replies are matched by requestID")
        seen.add(item.request_id)
        request = nodes.parse_fragment(item.body)
        # requestID first, purely so the document reads naturally; the RequestItem's id is authoritative.
        other_attributes = [(key, value) for key, value in request.attrib.items() if key != "requestID"]
        request.attrib.clear()
        request.set("requestID", item.request_id)
        for key, value in other_attributes:
            request.set(key, value)
        msgs.append(request)

    root = etree.Element("QBXML")
    root.append(msgs)
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n{body}'


def _check_message_set_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"message set ID must be non-empty text without surrounding spaces: {value!r}")
    if len(value) > MESSAGE_SET_ID_MAX_LEN and value != "ClearAllMessageSets":
        raise ValueError(
            f"message set ID {value!r} is {len(value)} characters; QuickBooks allows {MESSAGE_SET_ID_MAX_LEN}"
        )
    return value


def _optional_int(element: nodes.Element, attribute: str) -> int | None:
    raw = element.get(attribute)
    if raw is None or not raw.strip():
        return None
    try:
        return int(raw.strip())
    except ValueError as exc:
        raise QbxmlParseError(f"<{element.tag}> has a non-integer {attribute}={raw!r}") from exc


def parse_response(doc: str | bytes) -> MessageSetResponse:
    """Split a QuickBooks response document into one :class:`ResponseItem` per ``*Rs``.

    Raises :class:`QbxmlParseError` if the document is not XML, declares a DOCTYPE, has no
    ``QBXML/QBXMLMsgsRs``, or a ``*Rs`` lacks a usable ``statusCode``.
    """
    root = nodes.parse_xml(doc, "qbXML response")
    if root.tag != "QBXML":
        raise QbxmlParseError(f"root element is <{root.tag}>, expected <QBXML>")
    msgs = root.find("QBXMLMsgsRs")
    if msgs is None:
        raise QbxmlParseError("response has no <QBXMLMsgsRs>")

    items: list[ResponseItem] = []
    for element in msgs:
        if not isinstance(element.tag, str) or not element.tag.endswith("Rs"):
            continue
        code = _optional_int(element, "statusCode")
        if code is None:
            raise QbxmlParseError(f"<{element.tag}> has no statusCode")
        items.append(
            ResponseItem(
                request_id=element.get("requestID"),
                name=element.tag,
                status_code=code,
                status_severity=element.get("statusSeverity") or severity_for(code),
                status_message=element.get("statusMessage") or "",
                ret_count=_optional_int(element, "retCount"),
                iterator_id=element.get("iteratorID") or None,
                iterator_remaining_count=_optional_int(element, "iteratorRemainingCount"),
                xml=nodes.to_text(element),
            )
        )
    return MessageSetResponse(
        items=tuple(items),
        new_message_set_id=msgs.get("newMessageSetID") or None,
        message_set_status_code=_optional_int(msgs, "messageSetStatusCode"),
    )


def request_name(fragment: str) -> str:
    """The request element's name, e.g. ``CustomerQueryRq``."""
    return str(nodes.parse_fragment(fragment).tag)


def is_iterator_start(fragment: str) -> bool:
    return nodes.parse_fragment(fragment).get("iterator") == "Start"


def is_write(fragment: str) -> bool:
    """True for anything that may change the company file (Add, Mod, Del, Void, ListMerge …).

    Everything not named ``*QueryRq`` counts as a write: treating an unknown request as a write only
    costs a message-set ID, while treating a write as a read could run it twice.
    """
    return not request_name(fragment).endswith("QueryRq")


def iterator_continue(start_fragment: str, iterator_id: str) -> str:
    """The Continue request for an iterator opened by ``start_fragment``.

    Same element name, ``iterator="Continue"`` and the ``iteratorID`` QuickBooks returned; it keeps the
    elements that shape a page (MaxReturned, Include*, IncludeRetElement, OwnerID) and drops the filters,
    which the Start request fixed for the life of the iterator.
    """
    start = nodes.parse_fragment(start_fragment)
    if start.get("iterator") not in ("Start", "Continue"):
        raise ValueError(f"<{start.tag}> is not an iterator query (no iterator='Start')")
    if not isinstance(iterator_id, str) or not iterator_id.strip():
        raise ValueError("iterator_id must be a non-empty string")
    continued = etree.Element(start.tag)
    continued.set("iterator", "Continue")
    continued.set("iteratorID", iterator_id)
    for child in list(start):  # a snapshot: append() moves the child out of `start`
        if isinstance(child.tag, str) and child.tag in _CONTINUE_KEEPS:
            continued.append(child)
    return nodes.to_text(continued)
