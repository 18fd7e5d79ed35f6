"""The Web Connector's side of the SOAP wire: request envelopes out, strictly checked results in.

This module is written from ``qbwc.wsdl`` alone and deliberately shares no code with the server codec in
``ml_connector.qbwc``: two independent readings of the same WSDL only agree if both are right, so the
simulator catches mistakes the server's own tests would repeat.

Envelopes are shaped like the ones Intuit's .NET-based Web Connector sends (SOAP 1.1, document/literal,
the operation wrapper declaring ``http://developer.intuit.com/`` as its *default* namespace, every
parameter present even when empty). Results are parsed strictly: a server answer that real QBWC would
reject (wrong namespace, wrong wrapper, not ``text/xml``, not an int where the WSDL says ``s:int``) raises
:class:`SoapProtocolError` here instead of slipping through a forgiving client.

The pure functions (``build_*`` / ``parse_*``) do no I/O; :class:`QbwcSoapClient` is the thin httpx shell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from lxml import etree

QBWC_NS = "http://developer.intuit.com/"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

# The User-Agent .NET's SoapHttpClientProtocol (which QBWC uses) puts on every call.
QBWC_USER_AGENT = "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 4.0.30319.42000)"

OPERATIONS = (
    "serverVersion",
    "clientVersion",
    "authenticate",
    "sendRequestXML",
    "receiveResponseXML",
    "connectionError",
    "getLastError",
    "closeConnection",
)

# Parsing server answers never touches the network or expands entities: a hostile or buggy server must
# not be able to make the Web Connector fetch URLs or blow up memory.
_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


class SoapClientError(Exception):
    """Anything that stopped one SOAP call from producing a result."""


class SoapTransportError(SoapClientError):
    """The HTTP exchange itself failed (connection refused, timeout): the server was not reached."""


@dataclass(frozen=True)
class SoapFaultDetail:
    faultcode: str
    faultstring: str
    detail: str


class SoapServerError(SoapClientError):
    """The server answered an operation with an error: the message names the operation, as callers log it."""

    def __init__(self, operation: str, error: str) -> None:
        super().__init__(f"{operation}: {error}")
        self.operation = operation


class SoapFault(SoapServerError):
    """The server answered the call with a SOAP 1.1 Fault (the server said *it* failed)."""

    def __init__(self, operation: str, fault: SoapFaultDetail, http_status: int) -> None:
        super().__init__(operation, f"SOAP Fault {fault.faultcode}: {fault.faultstring}")
        self.fault = fault
        self.http_status = http_status


class SoapHttpError(SoapServerError):
    """The server answered with an HTTP error status and no SOAP Fault to explain it."""

    def __init__(self, operation: str, status_code: int, body_excerpt: str) -> None:
        super().__init__(operation, f"HTTP {status_code}: {body_excerpt}")
        self.status_code = status_code
        self.body_excerpt = body_excerpt


class SoapProtocolError(SoapClientError):
    """The server's answer is not what the WSDL promises; real QBWC would reject it too."""


@dataclass(frozen=True)
class SoapRequest:
    """One ready-to-post call: the operation, its HTTP headers and the envelope bytes."""

    operation: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


Param = tuple[str, str | int]


def _envelope(operation: str, params: Sequence[Param]) -> SoapRequest:
    if operation not in OPERATIONS:
        raise ValueError(f"not a QBWC operation: {operation!r}")
    envelope = etree.Element(
        f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS, "xsi": XSI_NS, "xsd": XSD_NS}
    )
    body = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    # .NET declares the Intuit namespace as the default one on the wrapper; lxml spells that with a None
    # prefix, which lxml-stubs does not know about.
    wrapper = etree.SubElement(
        body,
        f"{{{QBWC_NS}}}{operation}",
        nsmap={None: QBWC_NS},  # type: ignore[dict-item]
    )
    for name, value in params:
        child = etree.SubElement(wrapper, f"{{{QBWC_NS}}}{name}")
        # lxml escapes &, < and > in text, so qbXML travels as an escaped string, never as child XML.
        child.text = str(value)
    # The declaration is written by hand so it reads exactly like .NET's (double quotes).
    payload = b'<?xml version="1.0" encoding="utf-8"?>' + etree.tostring(
        envelope, xml_declaration=False, encoding="utf-8"
    )
    headers = (
        ("Content-Type", "text/xml; charset=utf-8"),
        ("SOAPAction", f'"{QBWC_NS}{operation}"'),
        ("User-Agent", QBWC_USER_AGENT),
    )
    return SoapRequest(operation=operation, headers=headers, body=payload)


def build_server_version() -> SoapRequest:
    """Intuit's own service description gives serverVersion no parameters; QBWC sends none."""
    return _envelope("serverVersion", ())


def build_client_version(str_version: str) -> SoapRequest:
    return _envelope("clientVersion", (("strVersion", str_version),))


def build_authenticate(user_name: str, password: str) -> SoapRequest:
    return _envelope("authenticate", (("strUserName", user_name), ("strPassword", password)))


def build_send_request_xml(
    ticket: str,
    hcp_response: str,
    company_file_name: str,
    country: str,
    major_version: int,
    minor_version: int,
) -> SoapRequest:
    return _envelope(
        "sendRequestXML",
        (
            ("ticket", ticket),
            ("strHCPResponse", hcp_response),
            ("strCompanyFileName", company_file_name),
            ("qbXMLCountry", country),
            ("qbXMLMajorVers", int(major_version)),
            ("qbXMLMinorVers", int(minor_version)),
        ),
    )


def build_receive_response_xml(ticket: str, response: str, hresult: str, message: str) -> SoapRequest:
    return _envelope(
        "receiveResponseXML",
        (("ticket", ticket), ("response", response), ("hresult", hresult), ("message", message)),
    )


def build_connection_error(ticket: str, hresult: str, message: str) -> SoapRequest:
    return _envelope("connectionError", (("ticket", ticket), ("hresult", hresult), ("message", message)))


def build_get_last_error(ticket: str) -> SoapRequest:
    return _envelope("getLastError", (("ticket", ticket),))


def build_close_connection(ticket: str) -> SoapRequest:
    return _envelope("closeConnection", (("ticket", ticket),))


# ---------------------------------------------------------------------------------------------- parsing


def _excerpt(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _parse_envelope(operation: str, status_code: int, content_type: str, body: bytes) -> etree._Element:
    """Return the single child of soap:Body, raising SoapFault / SoapHttpError / SoapProtocolError."""
    try:
        root = etree.fromstring(body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        if not 200 <= status_code < 300:
            raise SoapHttpError(operation, status_code, _excerpt(body)) from exc
        raise SoapProtocolError(f"{operation}: response is not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        if not 200 <= status_code < 300:
            raise SoapHttpError(operation, status_code, _excerpt(body))
        raise SoapProtocolError(f"{operation}: root element is {root.tag}, not a SOAP 1.1 Envelope")
    bodies = root.findall(f"{{{SOAP_ENV_NS}}}Body")
    if len(bodies) != 1:
        raise SoapProtocolError(f"{operation}: envelope has {len(bodies)} soap:Body elements")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise SoapProtocolError(f"{operation}: soap:Body holds {len(children)} elements, expected 1")
    payload = children[0]
    if payload.tag == f"{{{SOAP_ENV_NS}}}Fault":
        raise SoapFault(operation, _fault_detail(payload), status_code)
    if not 200 <= status_code < 300:
        raise SoapHttpError(operation, status_code, _excerpt(body))
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "text/xml":
        # .NET's SOAP client refuses any other media type for SOAP 1.1, so QBWC would too.
        raise SoapProtocolError(f"{operation}: response content type is {content_type!r}, expected text/xml")
    expected = f"{{{QBWC_NS}}}{operation}Response"
    if payload.tag != expected:
        raise SoapProtocolError(f"{operation}: soap:Body holds {payload.tag}, expected {expected}")
    return payload


def _fault_detail(fault: etree._Element) -> SoapFaultDetail:
    # SOAP 1.1 fault children are unqualified.
    def text_of(name: str) -> str:
        node = fault.find(name)
        return "" if node is None else "".join(str(text) for text in node.itertext()).strip()

    return SoapFaultDetail(
        faultcode=text_of("faultcode"), faultstring=text_of("faultstring"), detail=text_of("detail")
    )


def _result_element(operation: str, wrapper: etree._Element) -> etree._Element | None:
    children = [child for child in wrapper if isinstance(child.tag, str)]
    expected = f"{{{QBWC_NS}}}{operation}Result"
    if not children:
        return None
    if len(children) != 1 or children[0].tag != expected:
        found = ", ".join(str(child.tag) for child in children)
        raise SoapProtocolError(f"{operation}: {operation}Response holds [{found}], expected {expected}")
    return children[0]


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI_NS}}}nil") in ("true", "1")


def _leaf_text(operation: str, element: etree._Element) -> str:
    if any(isinstance(child.tag, str) for child in element):
        raise SoapProtocolError(f"{operation}: {element.tag} must hold text, not child elements")
    return element.text or ""


def parse_string_result(operation: str, status_code: int, content_type: str, body: bytes) -> str:
    """A ``s:string`` result with minOccurs=0: an absent or nil result is .NET's null, which QBWC reads
    as the empty string."""
    wrapper = _parse_envelope(operation, status_code, content_type, body)
    result = _result_element(operation, wrapper)
    if result is None or _is_nil(result):
        return ""
    return _leaf_text(operation, result)


def parse_int_result(operation: str, status_code: int, content_type: str, body: bytes) -> int:
    """A ``s:int`` result with minOccurs=1: absent or non-integer text is a broken server."""
    wrapper = _parse_envelope(operation, status_code, content_type, body)
    result = _result_element(operation, wrapper)
    if result is None:
        raise SoapProtocolError(f"{operation}: {operation}Result is required (s:int, minOccurs=1)")
    text = _leaf_text(operation, result).strip()
    try:
        value = int(text)
    except ValueError as exc:
        raise SoapProtocolError(f"{operation}: {operation}Result {text!r} is not an s:int") from exc
    if not -(2**31) <= value < 2**31:
        raise SoapProtocolError(f"{operation}: {operation}Result {value} does not fit an s:int")
    return value


def parse_string_array_result(
    operation: str, status_code: int, content_type: str, body: bytes
) -> tuple[str, ...]:
    """An ``ArrayOfString`` result: only ``<string>`` items in the Intuit namespace; nil items read as ""."""
    wrapper = _parse_envelope(operation, status_code, content_type, body)
    result = _result_element(operation, wrapper)
    if result is None or _is_nil(result):
        return ()
    items: list[str] = []
    for child in result:
        if not isinstance(child.tag, str):
            continue
        if child.tag != f"{{{QBWC_NS}}}string":
            raise SoapProtocolError(f"{operation}: ArrayOfString holds {child.tag}, expected <string> items")
        items.append("" if _is_nil(child) else _leaf_text(operation, child))
    return tuple(items)


# ------------------------------------------------------------------------------------------------ client


class QbwcSoapClient:
    """Posts envelopes to one QBWC endpoint with the caller's httpx client.

    Cookies are dropped before every call: .NET's SOAP client keeps none unless told to, so a server
    that leaned on a session cookie would work here and fail against the real Web Connector.
    """

    def __init__(self, url: str, http: httpx.Client, *, timeout: float = 60.0) -> None:
        self.url = url
        self._http = http
        self._timeout = timeout

    def _post(self, request: SoapRequest) -> httpx.Response:
        self._http.cookies.clear()
        try:
            return self._http.post(
                self.url, content=request.body, headers=dict(request.headers), timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise SoapTransportError(f"{request.operation}: {type(exc).__name__}: {exc}") from exc

    def _string(self, request: SoapRequest) -> str:
        response = self._post(request)
        content_type = response.headers.get("content-type", "")
        return parse_string_result(request.operation, response.status_code, content_type, response.content)

    def server_version(self) -> str:
        return self._string(build_server_version())

    def client_version(self, str_version: str) -> str:
        return self._string(build_client_version(str_version))

    def authenticate(self, user_name: str, password: str) -> tuple[str, ...]:
        request = build_authenticate(user_name, password)
        response = self._post(request)
        content_type = response.headers.get("content-type", "")
        return parse_string_array_result(
            request.operation, response.status_code, content_type, response.content
        )

    def send_request_xml(
        self,
        ticket: str,
        hcp_response: str,
        company_file_name: str,
        country: str,
        major_version: int,
        minor_version: int,
    ) -> str:
        return self._string(
            build_send_request_xml(
                ticket, hcp_response, company_file_name, country, major_version, minor_version
            )
        )

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        request = build_receive_response_xml(ticket, response, hresult, message)
        http_response = self._post(request)
        return parse_int_result(
            request.operation,
            http_response.status_code,
            http_response.headers.get("content-type", ""),
            http_response.content,
        )

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        return self._string(build_connection_error(ticket, hresult, message))

    def get_last_error(self, ticket: str) -> str:
        return self._string(build_get_last_error(ticket))

    def close_connection(self, ticket: str) -> str:
        return self._string(build_close_connection(ticket))
