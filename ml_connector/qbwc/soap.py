"""SOAP 1.1 codec for the QuickBooks Web Connector callbacks: bytes in, calls out; results in, bytes out.

Sans-IO in the h11 sense: nothing here touches a socket, a database or FastAPI. :func:`parse_call` turns the
body of an HTTP POST from the Web Connector into one frozen :data:`Call` value; :func:`render_result` and
:func:`render_fault` turn our answer back into an envelope. The session logic in between lives elsewhere.

The wire format is fixed by the service's WSDL (``qbwc.wsdl``): document/literal, every parameter and result
wrapped in ``<op>`` / ``<opResponse><opResult>`` elements in the ``http://developer.intuit.com/`` namespace.
Element names are significant -- the Web Connector is a .NET client generated from that WSDL -- so they are
written down once, in :data:`_OPERATIONS`, and both directions are driven from that table.

Parsing is defensive because the endpoint is public: no DTDs (so no XXE and no entity bombs), no network,
no huge-tree mode, and fault messages never echo parameter values, so a password cannot leak through them.
The body's shape is bounded first, before any tree is built, by :mod:`ml_connector.qbwc.soap_scanner`;
:class:`SoapFault` itself lives with the other protocol errors in :mod:`ml_connector.qbwc.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import ClassVar, Literal, TypeAlias

from lxml import etree

from ml_connector.qbwc.errors import LocalError, ProtocolError, SoapFault, client_fault
from ml_connector.qbwc.soap_scanner import SoapScanner, refuse_unsafe_prolog, syntax_fault
from ml_connector.qbxml.nodes import safe_parser

__all__ = [
    "QBWC_NS",
    "SOAP_ENV_NS",
    "Authenticate",
    "Call",
    "ClientVersion",
    "CloseConnection",
    "GetInteractiveURL",
    "GetLastError",
    "InteractiveDone",
    "InteractiveRejected",
    "OPERATION_NAMES",
    "QbwcConnectionError",
    "ReceiveResponseXML",
    "SendRequestXML",
    "ServerVersion",
    "SoapFault",
    "parse_call",
    "render_fault",
    "render_result",
    "soap_action_for",
]

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
QBWC_NS = "http://developer.intuit.com/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# authenticate answers [ticket, status] plus optional [postpone seconds] and [minimum run interval seconds].
AUTHENTICATE_RESULT_MIN_ITEMS = 2
AUTHENTICATE_RESULT_MAX_ITEMS = 4

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'


# ------------------------------------------------------------------------------------------------------------
# Calls: one frozen value per WSDL operation


class _TextCall:
    """Calls validate themselves (h11 style) so a hand-built one in a test or the simulator cannot hold a
    non-string where the wire can only carry text; the fields named in ``OPTIONAL`` may also be None."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if value is None and f.name in self.OPTIONAL:
                continue
            if not isinstance(value, str):
                raise TypeError(f"{type(self).__name__}.{f.name} must be str, not {type(value).__name__}")


@dataclass(frozen=True)
class ServerVersion(_TextCall):
    """``serverVersion``: QBWC asks which server it talks to. ``str_version`` is ``None`` when not sent."""

    OPERATION: ClassVar[str] = "serverVersion"
    OPTIONAL: ClassVar[tuple[str, ...]] = ("str_version",)
    str_version: str | None = None


@dataclass(frozen=True)
class ClientVersion(_TextCall):
    """``clientVersion``: QBWC's own build number, e.g. ``2.3.0.215``."""

    OPERATION: ClassVar[str] = "clientVersion"
    str_version: str


@dataclass(frozen=True)
class Authenticate(_TextCall):
    """``authenticate``: the .qwc ``UserName`` and the password the user typed into QBWC.

    The password is excluded from ``repr``/``str`` so that logging a call can never write it out.
    """

    OPERATION: ClassVar[str] = "authenticate"
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SendRequestXML(_TextCall):
    """``sendRequestXML``: QBWC asks for the next qbXML document.

    ``hcp_response`` (Host/Company/Preferences query result) is only filled on the first call of a session.
    The version numbers stay text, as sent; the session decides what to do with an unusable one.
    """

    OPERATION: ClassVar[str] = "sendRequestXML"
    ticket: str
    hcp_response: str
    company_file_name: str
    country: str
    major_version: str
    minor_version: str


@dataclass(frozen=True)
class ReceiveResponseXML(_TextCall):
    """``receiveResponseXML``: QuickBooks' answer to the last document, or ``hresult``/``message`` when the
    request processor itself failed (then ``response`` is empty)."""

    OPERATION: ClassVar[str] = "receiveResponseXML"
    ticket: str
    response: str
    hresult: str
    message: str


@dataclass(frozen=True)
class QbwcConnectionError(_TextCall):
    """``connectionError``: QBWC could not open QuickBooks or the company file (``hresult`` is hex text)."""

    OPERATION: ClassVar[str] = "connectionError"
    ticket: str
    hresult: str
    message: str


@dataclass(frozen=True)
class GetLastError(_TextCall):
    """``getLastError``: QBWC asks what to show after an empty/``NoOp`` send or a negative receive."""

    OPERATION: ClassVar[str] = "getLastError"
    ticket: str


@dataclass(frozen=True)
class CloseConnection(_TextCall):
    """``closeConnection``: the session is over; the answer is shown in QBWC's status column."""

    OPERATION: ClassVar[str] = "closeConnection"
    ticket: str


@dataclass(frozen=True)
class GetInteractiveURL(_TextCall):
    """``getInteractiveURL`` (interactive mode, not in the WSDL): QBWC wants a URL to open in a browser."""

    OPERATION: ClassVar[str] = "getInteractiveURL"
    ticket: str
    session_id: str


@dataclass(frozen=True)
class InteractiveDone(_TextCall):
    """``interactiveDone`` (interactive mode, not in the WSDL): QBWC asks whether the browser part is over."""

    OPERATION: ClassVar[str] = "interactiveDone"
    ticket: str


@dataclass(frozen=True)
class InteractiveRejected(_TextCall):
    """``interactiveRejected`` (interactive mode, not in the WSDL): the user or a timeout declined."""

    OPERATION: ClassVar[str] = "interactiveRejected"
    ticket: str
    reason: str


Call: TypeAlias = (
    ServerVersion
    | ClientVersion
    | Authenticate
    | SendRequestXML
    | ReceiveResponseXML
    | QbwcConnectionError
    | GetLastError
    | CloseConnection
    | GetInteractiveURL
    | InteractiveDone
    | InteractiveRejected
)

Result: TypeAlias = str | int | Sequence[str] | None


# ------------------------------------------------------------------------------------------------------------
# The operation table: element names exactly as the WSDL spells them


@dataclass(frozen=True)
class _Param:
    element: str
    attr: str
    kind: Literal["string", "int"] = "string"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Operation:
    name: str
    call_type: type[Call]
    params: tuple[_Param, ...]
    result: Literal["string", "int", "strings"]
    absent: Literal["empty", "none"] = "empty"


_OPERATIONS: tuple[_Operation, ...] = (
    _Operation("serverVersion", ServerVersion, (_Param("strVersion", "str_version"),), "string", "none"),
    _Operation("clientVersion", ClientVersion, (_Param("strVersion", "str_version"),), "string"),
    _Operation(
        "authenticate",
        Authenticate,
        (_Param("strUserName", "username"), _Param("strPassword", "password")),
        "strings",
    ),
    _Operation(
        "sendRequestXML",
        SendRequestXML,
        (
            _Param("ticket", "ticket"),
            _Param("strHCPResponse", "hcp_response"),
            _Param("strCompanyFileName", "company_file_name"),
            _Param("qbXMLCountry", "country"),
            _Param("qbXMLMajorVers", "major_version", "int"),
            _Param("qbXMLMinorVers", "minor_version", "int"),
        ),
        "string",
    ),
    _Operation(
        "receiveResponseXML",
        ReceiveResponseXML,
        (
            _Param("ticket", "ticket"),
            _Param("response", "response"),
            _Param("hresult", "hresult"),
            _Param("message", "message"),
        ),
        "int",
    ),
    _Operation(
        "connectionError",
        QbwcConnectionError,
        (_Param("ticket", "ticket"), _Param("hresult", "hresult"), _Param("message", "message")),
        "string",
    ),
    _Operation("getLastError", GetLastError, (_Param("ticket", "ticket"),), "string"),
    _Operation("closeConnection", CloseConnection, (_Param("ticket", "ticket"),), "string"),
    # The interactive callbacks are documented by Intuit with a ``wcTicket`` parameter; accept ``ticket`` too.
    _Operation(
        "getInteractiveURL",
        GetInteractiveURL,
        (_Param("wcTicket", "ticket", aliases=("ticket",)), _Param("sessionID", "session_id")),
        "string",
    ),
    _Operation(
        "interactiveDone", InteractiveDone, (_Param("wcTicket", "ticket", aliases=("ticket",)),), "string"
    ),
    _Operation(
        "interactiveRejected",
        InteractiveRejected,
        (_Param("wcTicket", "ticket", aliases=("ticket",)), _Param("reason", "reason")),
        "string",
    ),
)

_BY_NAME: dict[str, _Operation] = {op.name: op for op in _OPERATIONS}
_BY_TYPE: dict[type, _Operation] = {op.call_type: op for op in _OPERATIONS}

OPERATION_NAMES: tuple[str, ...] = tuple(op.name for op in _OPERATIONS)


def soap_action_for(operation: str) -> str:
    """The SOAPAction URI the WSDL binds to ``operation`` (``http://developer.intuit.com/<op>``)."""
    return QBWC_NS + operation


# ------------------------------------------------------------------------------------------------------------
# Parsing


def _parse_xml(body: bytes) -> etree._Element:
    refuse_unsafe_prolog(body)
    # Bound the shape before a tree is built: the scan holds nothing, the tree below holds every node.
    scanner = SoapScanner()
    scanner.feed(body)
    scanner.finish()
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise syntax_fault(exc) from None
    # Second line of defence behind the prolog scan: libxml2 records any DOCTYPE it met as an internal DTD.
    if root.getroottree().docinfo.internalDTD is not None:
        raise client_fault("Document type declarations (DTDs) are not allowed in a SOAP request.")
    return root


def _body_element(root: etree._Element) -> etree._Element:
    qname = etree.QName(root)
    if qname.localname == "Envelope" and qname.namespace == SOAP12_ENV_NS:
        raise client_fault(
            "SOAP 1.2 is not supported: the Web Connector service speaks SOAP 1.1 "
            f"(envelope namespace {SOAP_ENV_NS})."
        )
    if qname.localname != "Envelope" or qname.namespace != SOAP_ENV_NS:
        raise client_fault(f"The request is not a SOAP 1.1 envelope (expected {{{SOAP_ENV_NS}}}Envelope).")
    bodies = [child for child in root if child.tag == f"{{{SOAP_ENV_NS}}}Body"]
    if not bodies:
        raise client_fault("The SOAP envelope has no Body.")
    if len(bodies) > 1:
        raise client_fault("The SOAP envelope has more than one Body.")
    return bodies[0]


def _normalise_soap_action(soap_action: str | None) -> str | None:
    if soap_action is None:
        return None
    action = soap_action.strip()
    if len(action) >= 2 and action[0] == action[-1] == '"':
        action = action[1:-1].strip()
    # SOAP 1.1 §6.1.1: an empty SOAPAction states no intent; only a non-empty one is cross-checked.
    return action or None


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI_NS}}}nil", "").strip() in ("true", "1")


def _parameter_elements(op: _Operation, op_element: etree._Element) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for child in op_element:
        if not isinstance(child.tag, str):
            continue  # processing instructions carry no parameters
        qname = etree.QName(child)
        # The WSDL says elementFormDefault="qualified"; unqualified parameters are accepted for robustness.
        if qname.namespace not in (QBWC_NS, None):
            continue
        if qname.localname in found:
            raise client_fault(f"Parameter {qname.localname!r} of {op.name} is given more than once.")
        found[qname.localname] = child
    return found


def _parameter_text(op: _Operation, param: _Param, element: etree._Element) -> str:
    if any(isinstance(child.tag, str) for child in element):
        raise client_fault(
            f"Parameter {param.element!r} of {op.name} must be text (escaped or CDATA), not XML elements."
        )
    text = "".join(piece for piece in element.itertext() if isinstance(piece, str))
    return text.strip() if param.kind == "int" else text


def _build_call(op: _Operation, op_element: etree._Element) -> Call:
    elements = _parameter_elements(op, op_element)
    values: dict[str, str | None] = {}
    for param in op.params:
        element = next((elements[name] for name in (param.element, *param.aliases) if name in elements), None)
        if element is None or _is_nil(element):
            # .NET leaves out (or nils) a null string parameter; for us that is the empty string.
            values[param.attr] = None if op.absent == "none" else ""
        else:
            values[param.attr] = _parameter_text(op, param, element)
    return op.call_type(**values)  # type: ignore[arg-type]


def parse_call(body: bytes, soap_action: str | None = None, *, max_bytes: int | None = None) -> Call:
    """Decode one Web Connector SOAP request.

    ``soap_action`` is the HTTP ``SOAPAction`` header as received (quotes and all), or ``None`` when absent;
    when present and non-empty it must name the same operation as the Body. ``max_bytes`` is a second line
    of defence behind the HTTP layer's own size cap. Note that libxml2 without huge-tree mode refuses a
    single text node above 10 MB, which bounds the qbXML response one receiveResponseXML can carry.

    Raises :class:`SoapFault` with code ``Client`` for anything the Web Connector should not have sent.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_call expects the raw request bytes, not {type(body).__name__}")
    data = bytes(body)
    if max_bytes is not None and len(data) > max_bytes:
        raise client_fault(f"The request body is larger than the {max_bytes}-byte limit.")
    envelope_body = _body_element(_parse_xml(data))
    op_element = next((child for child in envelope_body if isinstance(child.tag, str)), None)
    if op_element is None:
        raise client_fault("The SOAP Body is empty: no operation was called.")
    qname = etree.QName(op_element)
    if qname.namespace != QBWC_NS:
        namespace = qname.namespace or "no namespace"
        raise client_fault(
            f"Operation element {qname.localname!r} must be in namespace {QBWC_NS} (it is in {namespace})."
        )
    op = _BY_NAME.get(qname.localname)
    if op is None:
        raise client_fault(f"Unknown Web Connector operation {qname.localname!r}.")
    action = _normalise_soap_action(soap_action)
    if action is not None and action != soap_action_for(op.name):
        raise client_fault(
            f"SOAPAction {action!r} does not match the operation in the Body ({soap_action_for(op.name)})."
        )
    return _build_call(op, op_element)


# ------------------------------------------------------------------------------------------------------------
# Rendering


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")


def _serialise(envelope: etree._Element) -> bytes:
    return _XML_DECLARATION + etree.tostring(envelope, encoding="utf-8", xml_declaration=False)


def _set_text(element: etree._Element, text: str, what: str) -> None:
    try:
        element.text = text
    except ValueError:
        raise LocalError(f"{what} holds characters that XML 1.0 cannot carry (control characters).") from None


def _result_element(op: _Operation, result: Result) -> etree._Element | None:
    """The ``<opResult>`` element, or ``None`` for a null string result (the WSDL makes it optional)."""
    tag = f"{{{QBWC_NS}}}{op.name}Result"
    what = f"The {op.name} result"
    if op.result == "int":
        if not isinstance(result, int) or isinstance(result, bool):
            raise LocalError(f"{what} must be an int, not {type(result).__name__}.")
        if not _INT32_MIN <= result <= _INT32_MAX:
            raise LocalError(f"{what} {result} does not fit the WSDL's 32-bit int.")
        element = etree.Element(tag)
        element.text = str(result)
        return element
    if op.result == "strings":
        if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
            raise LocalError(f"{what} must be a sequence of strings, not {type(result).__name__}.")
        if not AUTHENTICATE_RESULT_MIN_ITEMS <= len(result) <= AUTHENTICATE_RESULT_MAX_ITEMS:
            raise LocalError(
                f"{what} must hold {AUTHENTICATE_RESULT_MIN_ITEMS} to {AUTHENTICATE_RESULT_MAX_ITEMS} "
                f"strings, not {len(result)}."
            )
        element = etree.Element(tag)
        for index, item in enumerate(result):
            if not isinstance(item, str):
                raise LocalError(f"{what}[{index}] must be str, not {type(item).__name__}.")
            _set_text(etree.SubElement(element, f"{{{QBWC_NS}}}string"), item, f"{what}[{index}]")
        return element
    if result is None:
        return None
    if not isinstance(result, str):
        raise LocalError(f"{what} must be str or None, not {type(result).__name__}.")
    element = etree.Element(tag)
    _set_text(element, result, what)
    return element


def render_result(call: Call, result: Result) -> bytes:
    """Encode the answer to ``call`` as the WSDL's ``<opResponse><opResult>`` envelope (UTF-8).

    Result types follow the WSDL: ``authenticate`` takes 2-4 strings, ``receiveResponseXML`` an int, every
    other operation a string or ``None``. qbXML is passed as a plain ``str`` and leaves here as escaped text,
    which is what the Web Connector expects. A wrong type is our bug and raises :class:`LocalError`.
    """
    op = _BY_TYPE.get(type(call))
    if op is None:
        raise LocalError(f"render_result was given {type(call).__name__}, which is not a Web Connector call.")
    envelope, body = _envelope()
    response = etree.SubElement(body, f"{{{QBWC_NS}}}{op.name}Response", nsmap={None: QBWC_NS})  # type: ignore[dict-item]
    result_element = _result_element(op, result)
    if result_element is not None:
        response.append(result_element)
    return _serialise(envelope)


def render_fault(fault: ProtocolError) -> bytes:
    """Encode a SOAP 1.1 Fault envelope (UTF-8). The HTTP status (500) is the caller's business.

    Accepts any :class:`ProtocolError`, so a :class:`PeerError` or :class:`LocalError` raised by the session
    logic can be answered directly; other exceptions go through :meth:`SoapFault.from_error` first.
    """
    wire = SoapFault.from_error(fault)
    envelope, body = _envelope()
    fault_element = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    # SOAP 1.1 §4.4: faultcode and faultstring are unqualified; faultcode is a QName in the envelope's
    # namespace (the 'soap' prefix is bound on the Envelope).
    etree.SubElement(fault_element, "faultcode").text = f"soap:{wire.code}"
    etree.SubElement(fault_element, "faultstring").text = wire.message
    return _serialise(envelope)
