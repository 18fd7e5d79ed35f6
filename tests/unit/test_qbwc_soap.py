"""The SOAP codec speaks exactly what the Web Connector speaks, and refuses everything else safely.

Requests below are written by hand the way QBWC (a .NET SOAP client) puts them on the wire; every response we
render is validated against the schema embedded in the official WSDL (/work/shared/qb/qbwc.wsdl).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ml_connector.qbwc.errors import LocalError, PeerError, ProtocolError
from ml_connector.qbwc.soap import (
    QBWC_NS,
    SOAP_ENV_NS,
    Authenticate,
    Call,
    ClientVersion,
    CloseConnection,
    GetInteractiveURL,
    GetLastError,
    InteractiveDone,
    InteractiveRejected,
    QbwcConnectionError,
    ReceiveResponseXML,
    SendRequestXML,
    ServerVersion,
    SoapFault,
    parse_call,
    render_fault,
    render_result,
    soap_action_for,
)

QB_DIR = Path("/work/shared/qb")
SAMPLES = QB_DIR / "samples"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XS_NS = "http://www.w3.org/2001/XMLSchema"

PASSWORD = "Tr0ub4dor&3-correct horse"
COMPANY_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Acme.QBW"
HCP_RESPONSE = (
    '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs requestID="0" statusCode="0" '
    'statusSeverity="Info" statusMessage="Status OK"><HostRet><ProductName>QuickBooks Pro 2024</ProductName>'
    "<MajorVersion>34</MajorVersion><MinorVersion>0</MinorVersion><Country>US</Country>"
    "<SupportedQBXMLVersion>13.0</SupportedQBXMLVersion></HostRet></HostQueryRs></QBXMLMsgsRs></QBXML>"
)


# ---------------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def official_schema() -> etree.XMLSchema:
    """The XML Schema inside the official WSDL's <types>, compiled on its own."""
    definitions = etree.parse(str(QB_DIR / "qbwc.wsdl")).getroot()
    schema = definitions.find(f"{{{WSDL_NS}}}types/{{{XS_NS}}}schema")
    assert schema is not None
    # QName-valued attributes (type="s:string", "tns:ArrayOfString") rely on prefixes declared on the
    # wsdl:definitions element, so the copy re-declares every in-scope namespace on its root.
    namespaces: dict[Any, str] = dict(schema.nsmap.items())
    standalone = etree.Element(schema.tag, nsmap=namespaces)
    for name, value in schema.attrib.items():
        standalone.set(name, value)
    for child in schema:
        standalone.append(copy.deepcopy(child))
    return etree.XMLSchema(standalone)


def envelope(operation_xml: str, *, prefix: str = "soap", header: str = "") -> bytes:
    """A request envelope laid out the way the .NET client behind QBWC writes it."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<{prefix}:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:{prefix}="{SOAP_ENV_NS}">'
        f"{header}<{prefix}:Body>{operation_xml}</{prefix}:Body></{prefix}:Envelope>"
    ).encode()


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def response_payload(data: bytes) -> etree._Element:
    """The single element inside the response Body, after checking the envelope around it."""
    root = etree.fromstring(data)
    assert root.tag == f"{{{SOAP_ENV_NS}}}Envelope"
    (body,) = root
    assert body.tag == f"{{{SOAP_ENV_NS}}}Body"
    (payload,) = body
    return payload


def fault_of(data: bytes) -> tuple[str, str]:
    payload = response_payload(data)
    assert payload.tag == f"{{{SOAP_ENV_NS}}}Fault"
    code = payload.find("faultcode")
    message = payload.find("faultstring")
    assert code is not None and message is not None and code.text and message.text is not None
    prefix, _, local = code.text.partition(":")
    assert code.nsmap[prefix] == SOAP_ENV_NS
    return local, message.text


def refused(body: bytes, soap_action: str | None = None) -> SoapFault:
    with pytest.raises(SoapFault) as caught:
        parse_call(body, soap_action)
    assert caught.value.code == "Client"
    return caught.value


# ---------------------------------------------------------------------------------------------------------
# every WSDL operation, round trip


ROUND_TRIPS: list[tuple[str, str, Call, Any, list[str] | str | None]] = [
    (
        "serverVersion",
        f'<serverVersion xmlns="{QBWC_NS}" />',
        ServerVersion(None),
        "ml-connector 0.1.0",
        "ml-connector 0.1.0",
    ),
    (
        "clientVersion",
        f'<clientVersion xmlns="{QBWC_NS}"><strVersion>2.3.0.215</strVersion></clientVersion>',
        ClientVersion("2.3.0.215"),
        "W:Please upgrade the Web Connector to 2.3.0.215 or later.",
        "W:Please upgrade the Web Connector to 2.3.0.215 or later.",
    ),
    (
        "authenticate",
        f'<authenticate xmlns="{QBWC_NS}"><strUserName>acct-1234</strUserName>'
        f"<strPassword>{escape(PASSWORD)}</strPassword></authenticate>",
        Authenticate("acct-1234", PASSWORD),
        ["{5B2C4E0A-8E2B-4C57-9D3D-2F8C9A1B7E11}", "", "", "300"],
        ["{5B2C4E0A-8E2B-4C57-9D3D-2F8C9A1B7E11}", "", "", "300"],
    ),
    (
        "sendRequestXML",
        f'<sendRequestXML xmlns="{QBWC_NS}"><ticket>t-1</ticket>'
        f"<strHCPResponse>{escape(HCP_RESPONSE)}</strHCPResponse>"
        f"<strCompanyFileName>{COMPANY_FILE}</strCompanyFileName>"
        "<qbXMLCountry>US</qbXMLCountry><qbXMLMajorVers>13</qbXMLMajorVers><qbXMLMinorVers>0</qbXMLMinorVers>"
        "</sendRequestXML>",
        SendRequestXML(
            "t-1",
            HCP_RESPONSE,
            COMPANY_FILE,
            "US",
            "13",
            "0",
        ),
        (SAMPLES / "customer-query-iterator-start.rq.xml").read_text(),
        (SAMPLES / "customer-query-iterator-start.rq.xml").read_text(),
    ),
    (
        "receiveResponseXML",
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t-1</ticket>'
        f"<response>{escape((SAMPLES / 'customer-query-iterator.rs.xml').read_text())}</response>"
        "<hresult /><message /></receiveResponseXML>",
        ReceiveResponseXML("t-1", (SAMPLES / "customer-query-iterator.rs.xml").read_text(), "", ""),
        42,
        "42",
    ),
    (
        "connectionError",
        f'<connectionError xmlns="{QBWC_NS}"><ticket>t-1</ticket><hresult>0x80040408</hresult>'
        "<message>Could not start QuickBooks.</message></connectionError>",
        QbwcConnectionError("t-1", "0x80040408", "Could not start QuickBooks."),
        "done",
        "done",
    ),
    (
        "getLastError",
        f'<getLastError xmlns="{QBWC_NS}"><ticket>t-1</ticket></getLastError>',
        GetLastError("t-1"),
        "NoOp",
        "NoOp",
    ),
    (
        "closeConnection",
        f'<closeConnection xmlns="{QBWC_NS}"><ticket>t-1</ticket></closeConnection>',
        CloseConnection("t-1"),
        "OK: synced 12 payments",
        "OK: synced 12 payments",
    ),
]


@pytest.mark.parametrize(
    ("operation", "request_xml", "expected_call", "result", "wire_result"),
    ROUND_TRIPS,
    ids=[case[0] for case in ROUND_TRIPS],
)
def test_each_web_connector_call_is_understood_and_answered_as_the_wsdl_says(
    official_schema: etree.XMLSchema,
    operation: str,
    request_xml: str,
    expected_call: Call,
    result: Any,
    wire_result: list[str] | str | None,
) -> None:
    body = envelope(request_xml)
    # The hand-written request is itself what the official schema allows.
    request_payload = response_payload(body)
    official_schema.assertValid(request_payload)

    call = parse_call(body, f'"{soap_action_for(operation)}"')
    assert call == expected_call
    assert type(call).OPERATION == operation

    rendered = render_result(call, result)
    assert rendered.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    payload = response_payload(rendered)
    official_schema.assertValid(payload)
    assert payload.tag == f"{{{QBWC_NS}}}{operation}Response"
    (result_element,) = payload
    assert result_element.tag == f"{{{QBWC_NS}}}{operation}Result"
    if isinstance(wire_result, list):
        assert [item.tag for item in result_element] == [f"{{{QBWC_NS}}}string"] * len(wire_result)
        assert [item.text or "" for item in result_element] == wire_result
    else:
        assert result_element.text == wire_result


def test_qbxml_leaves_as_escaped_text_and_comes_back_unchanged() -> None:
    qbxml = (SAMPLES / "receive-payment-add.rq.xml").read_text()
    call = SendRequestXML("t-1", "", "", "US", "13", "0")
    rendered = render_result(call, qbxml)
    assert b'&lt;?qbxml version="13.0"?&gt;' in rendered
    assert b"<QBXML>" not in rendered  # never raw child XML
    result_element = response_payload(rendered)[0]
    assert len(result_element) == 0
    assert result_element.text == qbxml


def test_qbxml_sent_as_cdata_reads_the_same_as_escaped_text() -> None:
    qbxml = (SAMPLES / "invoice-query.rs.xml").read_text()
    cdata = envelope(
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t-9</ticket><response><![CDATA[{qbxml}]]></response>'
        "<hresult></hresult><message></message></receiveResponseXML>"
    )
    escaped = envelope(
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t-9</ticket><response>{escape(qbxml)}</response>'
        "<hresult></hresult><message></message></receiveResponseXML>"
    )
    assert parse_call(cdata) == parse_call(escaped) == ReceiveResponseXML("t-9", qbxml, "", "")


def test_a_request_processor_failure_arrives_with_hresult_and_no_response() -> None:
    body = envelope(
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t-2</ticket><hresult>0x80040400</hresult>'
        "<message>QuickBooks found an error when parsing the provided XML text stream.</message>"
        "</receiveResponseXML>"
    )
    assert parse_call(body) == ReceiveResponseXML(
        "t-2", "", "0x80040400", "QuickBooks found an error when parsing the provided XML text stream."
    )


def test_any_envelope_prefix_a_header_and_xsi_nil_parameters_are_accepted() -> None:
    body = envelope(
        f'<ns1:connectionError xmlns:ns1="{QBWC_NS}"><ns1:ticket>t-3</ns1:ticket>'
        '<ns1:hresult xsi:nil="true" /><ns1:message>QuickBooks is not running</ns1:message>'
        "</ns1:connectionError>",
        prefix="SOAP-ENV",
        header='<SOAP-ENV:Header><trace xmlns="urn:example">abc</trace></SOAP-ENV:Header>',
    )
    assert parse_call(body) == QbwcConnectionError("t-3", "", "QuickBooks is not running")


def test_missing_parameters_read_as_empty_strings() -> None:
    body = envelope(f'<sendRequestXML xmlns="{QBWC_NS}"><ticket>t-4</ticket></sendRequestXML>')
    assert parse_call(body) == SendRequestXML("t-4", "", "", "", "", "")


def test_server_version_tells_absent_from_empty() -> None:
    assert parse_call(envelope(f'<serverVersion xmlns="{QBWC_NS}"/>')) == ServerVersion(None)
    sent = envelope(f'<serverVersion xmlns="{QBWC_NS}"><strVersion></strVersion></serverVersion>')
    assert parse_call(sent) == ServerVersion("")


def test_unqualified_parameter_elements_are_tolerated() -> None:
    body = envelope(f'<getLastError xmlns="{QBWC_NS}"><ticket xmlns="">t-5</ticket></getLastError>')
    assert parse_call(body) == GetLastError("t-5")


def test_version_numbers_are_trimmed_but_text_parameters_are_kept_verbatim() -> None:
    body = envelope(
        f'<sendRequestXML xmlns="{QBWC_NS}"><ticket> t-6 </ticket><qbXMLMajorVers> 13 </qbXMLMajorVers>'
        "<qbXMLMinorVers>\n0\n</qbXMLMinorVers></sendRequestXML>"
    )
    call = parse_call(body)
    assert isinstance(call, SendRequestXML)
    assert (call.ticket, call.major_version, call.minor_version) == (" t-6 ", "13", "0")


def test_non_ascii_text_survives_both_directions_as_utf8() -> None:
    body = envelope(f'<clientVersion xmlns="{QBWC_NS}"><strVersion>2.3 – Zürich</strVersion></clientVersion>')
    call = parse_call(body)
    assert call == ClientVersion("2.3 – Zürich")
    rendered = render_result(call, "W:Mise à jour recommandée")
    assert "W:Mise à jour recommandée".encode() in rendered
    assert response_payload(rendered)[0].text == "W:Mise à jour recommandée"


def test_a_null_string_result_leaves_the_result_element_out(official_schema: etree.XMLSchema) -> None:
    rendered = render_result(ClientVersion("2.3.0.215"), None)
    payload = response_payload(rendered)
    official_schema.assertValid(payload)
    assert len(payload) == 0


def test_authenticate_answers_two_to_four_strings(official_schema: etree.XMLSchema) -> None:
    call = Authenticate("acct-1234", PASSWORD)
    for answer in (["ticket", "nvu"], ["ticket", "none", "60"], ("ticket", "", "", "900")):
        payload = response_payload(render_result(call, answer))
        official_schema.assertValid(payload)
        assert [item.text or "" for item in payload[0]] == list(answer)


def test_negative_receive_results_are_sent_as_ints(official_schema: etree.XMLSchema) -> None:
    payload = response_payload(render_result(ReceiveResponseXML("t", "", "", ""), -101))
    official_schema.assertValid(payload)
    assert payload[0].text == "-101"


# ---------------------------------------------------------------------------------------------------------
# interactive-mode callbacks (not in the WSDL, documented by Intuit)


@pytest.mark.parametrize(
    ("request_xml", "expected_call"),
    [
        (
            f'<getInteractiveURL xmlns="{QBWC_NS}"><wcTicket>t-7</wcTicket><sessionID>s-1</sessionID>'
            "</getInteractiveURL>",
            GetInteractiveURL("t-7", "s-1"),
        ),
        (
            f'<interactiveDone xmlns="{QBWC_NS}"><wcTicket>t-7</wcTicket></interactiveDone>',
            InteractiveDone("t-7"),
        ),
        (
            f'<interactiveRejected xmlns="{QBWC_NS}"><wcTicket>t-7</wcTicket><reason>Timed out</reason>'
            "</interactiveRejected>",
            InteractiveRejected("t-7", "Timed out"),
        ),
        (
            f'<interactiveDone xmlns="{QBWC_NS}"><ticket>t-8</ticket></interactiveDone>',
            InteractiveDone("t-8"),
        ),
    ],
)
def test_interactive_mode_callbacks_are_understood_and_answered(
    request_xml: str, expected_call: Call
) -> None:
    call = parse_call(envelope(request_xml), soap_action_for(type(expected_call).OPERATION))
    assert call == expected_call
    payload = response_payload(render_result(call, "Done"))
    assert payload.tag == f"{{{QBWC_NS}}}{call.OPERATION}Response"
    assert payload[0].tag == f"{{{QBWC_NS}}}{call.OPERATION}Result"
    assert payload[0].text == "Done"


# ---------------------------------------------------------------------------------------------------------
# SOAPAction cross-check


def test_an_empty_or_absent_soap_action_does_not_block_the_call() -> None:
    body = envelope(f'<getLastError xmlns="{QBWC_NS}"><ticket>t</ticket></getLastError>')
    assert parse_call(body, None) == parse_call(body, '""') == parse_call(body, "") == GetLastError("t")


def test_a_soap_action_naming_another_operation_is_refused() -> None:
    body = envelope(f'<closeConnection xmlns="{QBWC_NS}"><ticket>t</ticket></closeConnection>')
    fault = refused(body, '"http://developer.intuit.com/sendRequestXML"')
    assert "sendRequestXML" in fault.message and "closeConnection" in fault.message


# ---------------------------------------------------------------------------------------------------------
# what is refused


def test_malformed_xml_is_a_client_fault() -> None:
    fault = refused(b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>')
    assert "not well-formed XML" in fault.message


@pytest.mark.parametrize("body", [b"", b"GET / HTTP/1.1", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_bodies_that_are_not_xml_at_all_are_client_faults(body: bytes) -> None:
    refused(body)


def test_soap_1_2_is_refused_with_a_message_saying_so() -> None:
    body = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
        f'<getLastError xmlns="{QBWC_NS}"><ticket>t</ticket></getLastError></env:Body></env:Envelope>'
    ).encode()
    fault = refused(body)
    assert "SOAP 1.2" in fault.message


def test_a_document_that_is_not_an_envelope_is_refused() -> None:
    fault = refused(f'<getLastError xmlns="{QBWC_NS}"><ticket>t</ticket></getLastError>'.encode())
    assert "not a SOAP 1.1 envelope" in fault.message


def test_an_envelope_without_a_body_is_refused() -> None:
    body = f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Header/></soap:Envelope>'.encode()
    assert "no Body" in refused(body).message


def test_an_empty_body_is_refused() -> None:
    assert "empty" in refused(envelope("")).message


def test_an_unknown_operation_is_refused_by_name() -> None:
    fault = refused(envelope(f'<deleteCompanyFile xmlns="{QBWC_NS}"><ticket>t</ticket></deleteCompanyFile>'))
    assert "deleteCompanyFile" in fault.message


def test_an_operation_outside_the_intuit_namespace_is_refused() -> None:
    fault = refused(envelope('<getLastError xmlns="urn:other"><ticket>t</ticket></getLastError>'))
    assert QBWC_NS in fault.message


def test_raw_xml_where_text_is_expected_is_refused_rather_than_flattened() -> None:
    body = envelope(
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t</ticket><response><QBXML><QBXMLMsgsRs/></QBXML>'
        "</response></receiveResponseXML>"
    )
    assert "'response'" in refused(body).message


def test_a_parameter_given_twice_is_refused() -> None:
    body = envelope(f'<getLastError xmlns="{QBWC_NS}"><ticket>a</ticket><ticket>b</ticket></getLastError>')
    assert "more than once" in refused(body).message


def test_an_external_entity_is_refused_and_the_file_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><getLastError xmlns="{QBWC_NS}">'
        "<ticket>&xxe;</ticket></getLastError></soap:Body></soap:Envelope>"
    ).encode()
    fault = refused(body)
    assert "DTD" in fault.message
    assert "TOP-SECRET" not in fault.message


def test_billion_laughs_is_refused_without_expanding_anything() -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    body = (
        f'<?xml version="1.0"?><!-- innocent --><!DOCTYPE lolz [{entities}]>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><clientVersion xmlns="{QBWC_NS}">'
        "<strVersion>&lol9;</strVersion></clientVersion></soap:Body></soap:Envelope>"
    ).encode()
    assert "DTD" in refused(body).message


def test_a_doctype_hidden_behind_a_byte_order_mark_and_whitespace_is_still_refused() -> None:
    body = b"\xef\xbb\xbf \n<?xml version='1.0'?>\n<!doctype x SYSTEM 'http://127.0.0.1:9/x.dtd'>\n<x/>"
    assert "DTD" in refused(body).message


def test_the_word_doctype_inside_qbxml_text_is_not_mistaken_for_a_dtd() -> None:
    body = envelope(
        f'<receiveResponseXML xmlns="{QBWC_NS}"><ticket>t</ticket>'
        "<message><![CDATA[<!DOCTYPE in a message]]></message></receiveResponseXML>"
    )
    assert parse_call(body) == ReceiveResponseXML("t", "", "", "<!DOCTYPE in a message")


@pytest.mark.parametrize(
    "body",
    [
        envelope(f'<getLastError xmlns="{QBWC_NS}"><ticket>t</ticket></getLastError>')
        .decode()
        .encode("utf-16"),
        b'<?xml version="1.0" encoding="UTF-16"?><x/>',
        b'<?xml version="1.0" encoding="EBCDIC-US"?><x/>',
    ],
    ids=["utf-16-with-bom", "utf-16-declared", "ebcdic-declared"],
)
def test_encodings_other_than_utf8_and_its_ascii_relatives_are_refused(body: bytes) -> None:
    assert "UTF-8" in refused(body).message


def test_a_body_over_the_given_size_limit_is_refused_before_parsing() -> None:
    body = envelope(f'<getLastError xmlns="{QBWC_NS}"><ticket>{"x" * 2000}</ticket></getLastError>')
    with pytest.raises(SoapFault) as caught:
        parse_call(body, max_bytes=1024)
    assert "1024-byte limit" in caught.value.message


# ---------------------------------------------------------------------------------------------------------
# the password stays secret


def test_the_password_is_not_shown_in_the_repr_or_str_of_an_authenticate_call() -> None:
    call = parse_call(
        envelope(
            f'<authenticate xmlns="{QBWC_NS}"><strUserName>acct-1234</strUserName>'
            f"<strPassword>{escape(PASSWORD)}</strPassword></authenticate>"
        )
    )
    assert isinstance(call, Authenticate) and call.password == PASSWORD
    assert PASSWORD not in repr(call) and PASSWORD not in str(call)
    assert "acct-1234" in repr(call)


@pytest.mark.parametrize(
    ("password_xml", "soap_action"),
    [
        ("&hunter2secret;", None),  # undefined entity: libxml2's own message would quote its name
        ("hunter2secret<", None),  # broken markup right after the password
        ("hunter2secret", "http://developer.intuit.com/closeConnection"),  # SOAPAction mismatch
    ],
)
def test_the_password_never_appears_in_a_fault(password_xml: str, soap_action: str | None) -> None:
    body = envelope(
        f'<authenticate xmlns="{QBWC_NS}"><strUserName>acct-1234</strUserName>'
        f"<strPassword>{password_xml}</strPassword></authenticate>"
    )
    fault = refused(body, soap_action)
    assert "hunter2secret" not in fault.message
    assert b"hunter2secret" not in render_fault(fault)


# ---------------------------------------------------------------------------------------------------------
# faults on the wire


def test_a_fault_is_a_valid_soap_1_1_fault_envelope() -> None:
    rendered = render_fault(SoapFault("Client", "Unknown Web Connector operation 'x'."))
    assert rendered.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert fault_of(rendered) == ("Client", "Unknown Web Connector operation 'x'.")


def test_errors_are_blamed_on_the_side_that_made_them() -> None:
    assert fault_of(render_fault(PeerError("ticket missing")))[0] == "Client"
    assert fault_of(render_fault(LocalError("result of the wrong type")))[0] == "Server"
    assert SoapFault.from_error(PeerError("x")).code == "Client"
    assert SoapFault.from_error(LocalError("x")).code == "Server"
    assert isinstance(SoapFault("Client", "x"), ProtocolError)


def test_an_unexpected_exception_becomes_a_bland_server_fault() -> None:
    fault = SoapFault.from_error(KeyError("postgres://user:pw@db/ml"))
    assert fault.code == "Server"
    assert "postgres" not in fault.message
    assert fault_of(render_fault(fault))[0] == "Server"


def test_fault_messages_are_cleaned_of_characters_xml_cannot_carry() -> None:
    fault = SoapFault("Client", "bad \x00\x07 bytes " + "y" * 2000)
    code, message = fault_of(render_fault(fault))
    assert code == "Client"
    assert message.startswith("bad ?? bytes ")
    assert len(message) <= 500


def test_only_client_and_server_are_soap_1_1_fault_codes() -> None:
    with pytest.raises(ValueError):
        SoapFault("Sender", "x")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# our own mistakes are caught before they reach the wire


@pytest.mark.parametrize(
    ("call", "result"),
    [
        (Authenticate("u", "p"), "ticket"),
        (Authenticate("u", "p"), ["ticket"]),
        (Authenticate("u", "p"), ["t", "", "", "", ""]),
        (Authenticate("u", "p"), ["t", 5]),
        (ReceiveResponseXML("t", "", "", ""), "100"),
        (ReceiveResponseXML("t", "", "", ""), True),
        (ReceiveResponseXML("t", "", "", ""), 2**31),
        (SendRequestXML("t", "", "", "", "13", "0"), 7),
        (SendRequestXML("t", "", "", "", "13", "0"), "<QBXML>\x01</QBXML>"),
        (CloseConnection("t"), ["OK"]),
    ],
)
def test_results_of_the_wrong_shape_are_our_bug(call: Call, result: Any) -> None:
    with pytest.raises(LocalError):
        render_result(call, result)


def test_render_result_refuses_something_that_is_not_a_call() -> None:
    with pytest.raises(LocalError):
        render_result("authenticate", "x")  # type: ignore[arg-type]


def test_calls_validate_their_own_fields() -> None:
    with pytest.raises(TypeError):
        Authenticate("acct-1234", 1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        GetLastError(None)  # type: ignore[arg-type]
