"""The SOAP codec's shape bounds: checked incrementally and before any tree is built."""

from __future__ import annotations

import pytest

from ml_connector.qbwc.soap import Authenticate, SoapFault, parse_call
from ml_connector.qbwc.soap_scanner import MAX_ELEMENTS, SoapScanner

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
QBWC = "http://developer.intuit.com/"


def _call(operation: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
        f'<{operation} xmlns="{QBWC}">{inner}</{operation}></soap:Body></soap:Envelope>'
    ).encode()


def test_a_real_call_passes_and_names_its_operation_early():
    body = _call("authenticate", "<strUserName>u</strUserName><strPassword>p</strPassword>")
    scanner = SoapScanner()
    scanner.feed(body[:190])
    assert scanner.operation == "authenticate"
    scanner.feed(body[190:])
    scanner.finish()
    assert parse_call(body) == Authenticate("u", "p")


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("<a/>" * MAX_ELEMENTS, f"more than {MAX_ELEMENTS} XML elements"),
        ("<a>" * 10 + "</a>" * 10, "deeper than"),
    ],
    ids=["too many", "too deep"],
)
def test_too_many_or_too_deep_elements_are_refused(inner, message):
    with pytest.raises(SoapFault, match=message):
        parse_call(_call("authenticate", inner))


def test_the_scanner_refuses_a_bomb_at_its_first_bytes_whatever_follows():
    scanner = SoapScanner()
    with pytest.raises(SoapFault, match="XML elements"):
        scanner.feed(_call("receiveResponseXML", "<a/>" * 1000)[:8192])


@pytest.mark.parametrize(
    "chunks",
    [
        [b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'],
        [b'<?xml version="1.0"?>', b'<!DOCTYPE r [<!ENTITY x "', b'y">]><r>&x;</r>'],
    ],
    ids=["in the first bytes", "split across chunks"],
)
def test_the_scanner_refuses_a_dtd_before_an_entity_is_used(chunks):
    scanner = SoapScanner()
    with pytest.raises(SoapFault, match="DTD"):
        for chunk in chunks:
            scanner.feed(chunk)
    assert scanner.elements == 0


def test_the_scanner_refuses_utf16_and_malformed_bytes_without_echoing_them():
    with pytest.raises(SoapFault, match="UTF-8"):
        SoapScanner().feed("<a/>".encode("utf-16"))
    scanner = SoapScanner()
    with pytest.raises(SoapFault) as caught:
        scanner.feed(b"<a><b secret-password-here=")
        scanner.finish()
    assert "secret-password" not in caught.value.message


def test_a_long_text_parameter_is_fine():
    body = _call("receiveResponseXML", "<ticket>t</ticket><response>" + "&lt;x/&gt;" * 100_000 + "</response>")
    scanner = SoapScanner()
    for start in range(0, len(body), 65536):
        scanner.feed(body[start : start + 65536])
    scanner.finish()
    assert scanner.elements == 5  # Envelope, Body, receiveResponseXML, ticket, response
