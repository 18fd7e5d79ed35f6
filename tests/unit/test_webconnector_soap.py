"""The simulated Web Connector speaks the WSDL exactly: request envelopes are checked against the XML
Schema embedded in qbwc.wsdl, and server answers are read as strictly as .NET's SOAP client reads them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ml_connector.simulator import soap_client
from ml_connector.simulator.soap_client import (
    QBWC_NS,
    SOAP_ENV_NS,
    QbwcSoapClient,
    SoapFault,
    SoapHttpError,
    SoapProtocolError,
    SoapRequest,
    SoapTransportError,
)

WSDL = Path("/work/shared/qb/qbwc.wsdl")
XSD_NS = "http://www.w3.org/2001/XMLSchema"
URL = "http://127.0.0.1:8000/qbwc"

QBXML = (
    '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML>'
    '<QBXMLMsgsRq onError="stopOnError"><CustomerQueryRq requestID="1">'
    "<FullName>Smith &amp; Sons &lt;Café&gt;</FullName></CustomerQueryRq></QBXMLMsgsRq></QBXML>"
)


def wsdl_types_schema() -> etree.XMLSchema:
    """Compile the schema in the WSDL's <types>. The namespace prefixes that its QName attribute values
    (type="tns:ArrayOfString") rely on are declared on wsdl:definitions, so they are carried over."""
    schema = etree.parse(str(WSDL)).find(f".//{{{XSD_NS}}}schema")
    assert schema is not None
    standalone = etree.Element(
        f"{{{XSD_NS}}}schema",
        attrib=dict(schema.attrib),
        nsmap={prefix: uri for prefix, uri in schema.nsmap.items() if prefix},
    )
    for child in schema:
        standalone.append(copy.deepcopy(child))
    return etree.XMLSchema(standalone)


SCHEMA = wsdl_types_schema()

ALL_REQUESTS: dict[str, Callable[[], SoapRequest]] = {
    "serverVersion": soap_client.build_server_version,
    "clientVersion": lambda: soap_client.build_client_version("2.3.0.215"),
    "authenticate": lambda: soap_client.build_authenticate("acct-1", "s3cret<&>"),
    "sendRequestXML": lambda: soap_client.build_send_request_xml(
        "tkt", "<QBXML/>", "C:\\Company\\sim.QBW", "US", 13, 0
    ),
    "receiveResponseXML": lambda: soap_client.build_receive_response_xml("tkt", QBXML, "", ""),
    "connectionError": lambda: soap_client.build_connection_error(
        "tkt", "0x80040408", "Could not start QuickBooks."
    ),
    "getLastError": lambda: soap_client.build_get_last_error("tkt"),
    "closeConnection": lambda: soap_client.build_close_connection("tkt"),
}


def body_element(request: SoapRequest) -> etree._Element:
    envelope = etree.fromstring(request.body)
    assert envelope.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    (body,) = envelope
    assert body.tag == f"{{{SOAP_ENV_NS}}}Body"
    (payload,) = body
    return payload


def response_envelope(operation: str, result_xml: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<soap:Body><{operation}Response xmlns="{QBWC_NS}">{result_xml}</{operation}Response>'
        "</soap:Body></soap:Envelope>"
    ).encode()


def fault_envelope(text: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Server</faultcode><faultstring>{text}</faultstring><detail/>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def client_answering(
    status: int, body: bytes, content_type: str = "text/xml; charset=utf-8"
) -> QbwcSoapClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"Content-Type": content_type})

    return QbwcSoapClient(URL, httpx.Client(transport=httpx.MockTransport(handler)))


# ------------------------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize("operation", sorted(ALL_REQUESTS))
def test_every_request_envelope_validates_against_the_schema_in_the_wsdl(operation: str) -> None:
    payload = body_element(ALL_REQUESTS[operation]())
    assert SCHEMA.validate(payload), SCHEMA.error_log
    assert payload.tag == f"{{{QBWC_NS}}}{operation}"


@pytest.mark.parametrize("operation", sorted(ALL_REQUESTS))
def test_every_request_carries_the_quoted_soap_action_and_text_xml_utf8(operation: str) -> None:
    headers = dict(ALL_REQUESTS[operation]().headers)
    assert headers["SOAPAction"] == f'"http://developer.intuit.com/{operation}"'
    assert headers["Content-Type"] == "text/xml; charset=utf-8"


def test_the_wrapper_declares_the_intuit_namespace_as_default_like_dotnet() -> None:
    request = soap_client.build_authenticate("acct-1", "pw")
    assert request.body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert b'<authenticate xmlns="http://developer.intuit.com/"><strUserName>acct-1</strUserName>' in (
        request.body
    )


def test_send_request_xml_parameters_appear_in_wsdl_order() -> None:
    payload = body_element(soap_client.build_send_request_xml("t", "", "C:\\a.QBW", "CA", 13, 0))
    names = [etree.QName(child).localname for child in payload]
    assert names == [
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ]
    assert [child.text or "" for child in payload] == ["t", "", "C:\\a.QBW", "CA", "13", "0"]


def test_qbxml_travels_as_escaped_text_and_arrives_byte_for_byte() -> None:
    request = soap_client.build_receive_response_xml("t", QBXML, "", "")
    assert b"&lt;QBXML&gt;" in request.body
    payload = body_element(request)
    response = payload.find(f"{{{QBWC_NS}}}response")
    assert response is not None
    assert len(response) == 0, "qbXML must never be embedded as child elements"
    assert response.text == QBXML


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError):
        soap_client._envelope("getInteractiveURL", ())


# ------------------------------------------------------------------------------------ reading answers


def test_authenticate_result_is_read_as_an_array_of_string_items() -> None:
    body = response_envelope(
        "authenticate",
        "<authenticateResult><string>{T-1}</string><string></string>"
        '<string xsi:nil="true"/><string>900</string></authenticateResult>',
    )
    assert SCHEMA.validate(etree.fromstring(body)[0][0])
    assert client_answering(200, body).authenticate("u", "p") == ("{T-1}", "", "", "900")


def test_an_array_item_outside_the_intuit_namespace_is_rejected() -> None:
    body = response_envelope(
        "authenticate", '<authenticateResult><string xmlns="">x</string></authenticateResult>'
    )
    with pytest.raises(SoapProtocolError, match="ArrayOfString"):
        client_answering(200, body).authenticate("u", "p")


def test_receive_response_xml_result_is_an_int() -> None:
    body = response_envelope(
        "receiveResponseXML", "<receiveResponseXMLResult>-101</receiveResponseXMLResult>"
    )
    assert client_answering(200, body).receive_response_xml("t", "", "", "") == -101


@pytest.mark.parametrize(
    "result_xml",
    ["<receiveResponseXMLResult>50%</receiveResponseXMLResult>", ""],
    ids=["not-an-int", "missing"],
)
def test_receive_response_xml_without_a_valid_int_is_a_protocol_error(result_xml: str) -> None:
    body = response_envelope("receiveResponseXML", result_xml)
    with pytest.raises(SoapProtocolError, match="receiveResponseXMLResult"):
        client_answering(200, body).receive_response_xml("t", "", "", "")


def test_a_null_string_result_reads_as_empty_like_dotnet() -> None:
    body = response_envelope("sendRequestXML", "")
    assert client_answering(200, body).send_request_xml("t", "", "f", "US", 13, 0) == ""


def test_escaped_qbxml_in_a_result_is_unescaped_exactly() -> None:
    escaped = QBXML.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = response_envelope("sendRequestXML", f"<sendRequestXMLResult>{escaped}</sendRequestXMLResult>")
    assert client_answering(200, body).send_request_xml("t", "", "f", "US", 13, 0) == QBXML


def test_a_result_in_no_namespace_is_rejected() -> None:
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>'
        f'<getLastErrorResponse xmlns="{QBWC_NS}"><getLastErrorResult xmlns="">x</getLastErrorResult>'
        "</getLastErrorResponse></soap:Body></soap:Envelope>"
    ).encode()
    with pytest.raises(SoapProtocolError, match="getLastErrorResult"):
        client_answering(200, body).get_last_error("t")


def test_the_answer_to_another_operation_is_rejected() -> None:
    body = response_envelope("closeConnection", "<closeConnectionResult>OK</closeConnectionResult>")
    with pytest.raises(SoapProtocolError, match="getLastErrorResponse"):
        client_answering(200, body).get_last_error("t")


def test_qbxml_embedded_as_child_elements_instead_of_text_is_rejected() -> None:
    body = response_envelope("sendRequestXML", "<sendRequestXMLResult><QBXML/></sendRequestXMLResult>")
    with pytest.raises(SoapProtocolError, match="text"):
        client_answering(200, body).send_request_xml("t", "", "f", "US", 13, 0)


def test_a_response_that_is_not_text_xml_is_rejected_as_dotnet_would() -> None:
    body = response_envelope("closeConnection", "<closeConnectionResult>OK</closeConnectionResult>")
    with pytest.raises(SoapProtocolError, match="content type"):
        client_answering(200, body, content_type="application/xml").close_connection("t")


def test_a_soap_fault_raises_a_typed_error_carrying_the_fault_text() -> None:
    with pytest.raises(SoapFault) as caught:
        client_answering(500, fault_envelope("Ticket is not valid")).send_request_xml(
            "t", "", "f", "US", 13, 0
        )
    assert caught.value.fault.faultstring == "Ticket is not valid"
    assert caught.value.fault.faultcode == "soap:Server"
    assert caught.value.http_status == 500
    assert "Ticket is not valid" in str(caught.value)


def test_an_http_error_without_a_fault_raises_a_typed_error_with_the_body() -> None:
    with pytest.raises(SoapHttpError) as caught:
        client_answering(502, b"Bad gateway", content_type="text/plain").close_connection("t")
    assert caught.value.status_code == 502
    assert "Bad gateway" in str(caught.value)


def test_a_server_that_cannot_be_reached_raises_a_transport_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = QbwcSoapClient(URL, httpx.Client(transport=httpx.MockTransport(refuse)))
    with pytest.raises(SoapTransportError, match="serverVersion"):
        client.server_version()


def test_internal_entities_in_an_answer_are_never_expanded() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY boom "EXPANDED">]>'
        + response_envelope("getLastError", "<getLastErrorResult>&boom;</getLastErrorResult>").split(
            b"?>", 1
        )[1]
    )
    assert "EXPANDED" not in client_answering(200, body).get_last_error("t")


def test_the_client_posts_to_the_url_with_the_headers_and_keeps_no_cookies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            content=response_envelope("serverVersion", "<serverVersionResult>1.0</serverVersionResult>"),
            headers={"Content-Type": "text/xml; charset=utf-8", "Set-Cookie": "session=abc; Path=/"},
        )

    client = QbwcSoapClient(URL, httpx.Client(transport=httpx.MockTransport(handler)))
    assert client.server_version() == "1.0"
    assert client.server_version() == "1.0"
    assert [str(r.url) for r in seen] == [URL, URL]
    assert seen[0].headers["SOAPAction"] == '"http://developer.intuit.com/serverVersion"'
    assert seen[0].method == "POST"
    assert "cookie" not in seen[1].headers
