"""The WSDL we serve describes the very service the Web Connector was built against, at our own address.

Equivalence with the official WSDL (/work/shared/qb/qbwc.wsdl) is checked on parsed structures -- operations,
wrapper elements, their children's names, types and cardinalities, SOAPActions, binding style -- not on text.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ml_connector.qbwc.soap import QBWC_NS, SOAP_ENV_NS, parse_call, soap_action_for
from ml_connector.qbwc.wsdl import render_wsdl, wsdl_text

OFFICIAL_WSDL = Path("/work/shared/qb/qbwc.wsdl")
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"


def _qname(context: etree._Element, value: str) -> tuple[str | None, str]:
    """Resolve a QName-valued attribute (``tns:foo``, ``s:string``) against the namespaces in scope."""
    prefix, _, local = value.rpartition(":")
    return context.nsmap.get(prefix or None), local


def describe(document: bytes) -> dict[str, Any]:
    """What a SOAP toolkit would see in a WSDL, independent of prefixes, order, comments and formatting."""
    root = etree.fromstring(document)
    schema = root.find(f"{{{WSDL}}}types/{{{XS}}}schema")
    assert schema is not None
    elements = {el.get("name"): el for el in schema.findall(f"{{{XS}}}element")}
    complex_types = {ct.get("name"): ct for ct in schema.findall(f"{{{XS}}}complexType")}

    def sequence(holder: etree._Element) -> tuple[Any, ...]:
        return tuple(
            (
                child.get("name"),
                type_of(child, child.get("type", "")),
                child.get("minOccurs", "1"),
                child.get("maxOccurs", "1"),
                child.get("nillable", "false"),
            )
            for child in holder.findall(f"{{{XS}}}sequence/{{{XS}}}element")
        )

    def type_of(context: etree._Element, value: str) -> Any:
        namespace, local = _qname(context, value)
        if namespace == XS:
            return ("xs", local)
        assert namespace == schema.get("targetNamespace")
        return ("complex", local, sequence(complex_types[local]))

    def wrapper(context: etree._Element, message_ref: str) -> Any:
        _, message_name = _qname(context, message_ref)
        message = root.find(f"{{{WSDL}}}message[@name='{message_name}']")
        assert message is not None
        (part,) = message.findall(f"{{{WSDL}}}part")
        namespace, element_name = _qname(part, part.get("element", ""))
        assert namespace == schema.get("targetNamespace")
        complex_type = elements[element_name].find(f"{{{XS}}}complexType")
        assert complex_type is not None
        return (part.get("name"), element_name, sequence(complex_type))

    port_type = root.find(f"{{{WSDL}}}portType")
    binding = root.find(f"{{{WSDL}}}binding")
    service = root.find(f"{{{WSDL}}}service")
    assert port_type is not None and binding is not None and service is not None
    soap_binding = binding.find(f"{{{WSOAP}}}binding")
    assert soap_binding is not None
    operations: dict[str, Any] = {}
    for op in port_type.findall(f"{{{WSDL}}}operation"):
        name = op.get("name")
        bound = binding.find(f"{{{WSDL}}}operation[@name='{name}']")
        assert bound is not None
        soap_op = bound.find(f"{{{WSOAP}}}operation")
        assert soap_op is not None
        input_ref, output_ref = op.find(f"{{{WSDL}}}input"), op.find(f"{{{WSDL}}}output")
        assert input_ref is not None and output_ref is not None
        operations[name or ""] = {
            "input": wrapper(input_ref, input_ref.get("message", "")),
            "output": wrapper(output_ref, output_ref.get("message", "")),
            "soap_action": soap_op.get("soapAction"),
            "style": soap_op.get("style", soap_binding.get("style")),
            "use": tuple(b.get("use") for b in bound.iter(f"{{{WSOAP}}}body")),
        }
    port = service.find(f"{{{WSDL}}}port")
    assert port is not None
    return {
        "target_namespace": root.get("targetNamespace"),
        "schema_element_form": schema.get("elementFormDefault"),
        "port_type": port_type.get("name"),
        "binding": (binding.get("name"), _qname(binding, binding.get("type", ""))),
        "binding_style": soap_binding.get("style"),
        "transport": soap_binding.get("transport"),
        "service": service.get("name"),
        "port": (port.get("name"), _qname(port, port.get("binding", ""))),
        "operations": operations,
    }


def test_our_wsdl_is_structurally_the_official_web_connector_service() -> None:
    ours = describe(render_wsdl("https://sync.example.com/qbwc"))
    official = describe(OFFICIAL_WSDL.read_bytes())
    assert ours == official
    assert set(ours["operations"]) == {
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "connectionError",
        "getLastError",
        "closeConnection",
    }
    assert ours["service"] == "QBWebConnectorSvc"
    assert ours["binding_style"] == "document"


def test_every_operation_is_soap_1_1_document_literal_with_the_intuit_soap_action() -> None:
    for name, op in describe(wsdl_text())["operations"].items():
        assert op["soap_action"] == soap_action_for(name) == f"http://developer.intuit.com/{name}"
        assert op["style"] == "document"
        assert op["use"] == ("literal", "literal")
    assert describe(wsdl_text())["transport"] == "http://schemas.xmlsoap.org/soap/http"


def test_the_served_wsdl_points_at_our_endpoint_only() -> None:
    rendered = render_wsdl("https://sync.example.com/qbwc")
    root = etree.fromstring(rendered)
    (address,) = root.iter(f"{{{WSOAP}}}address")
    assert address.get("location") == "https://sync.example.com/qbwc"
    assert b"vogelfam" not in rendered and b"localhost" not in rendered
    assert rendered.startswith(b'<?xml version="1.0" encoding="utf-8"?>')


def test_an_address_with_markup_characters_is_escaped_not_spliced() -> None:
    address = 'https://sync.example.com/qbwc?company=a&b="c"<d>'
    root = etree.fromstring(render_wsdl(address))
    (element,) = root.iter(f"{{{WSOAP}}}address")
    assert element.get("location") == address


@pytest.mark.parametrize(
    "address",
    [
        "",
        "sync.example.com/qbwc",
        "/qbwc",
        "ftp://sync.example.com/qbwc",
        "https:///qbwc",
        "https://sync.example.com/q bwc",
        "https://sync.example.com/\nqbwc",
    ],
)
def test_an_address_that_is_not_an_absolute_http_url_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        render_wsdl(address)


def test_the_schema_in_our_wsdl_compiles() -> None:
    root = etree.fromstring(wsdl_text())
    schema = root.find(f"{{{WSDL}}}types/{{{XS}}}schema")
    assert schema is not None
    namespaces: dict[Any, str] = dict(schema.nsmap.items())
    standalone = etree.Element(schema.tag, nsmap=namespaces)
    for name, value in schema.attrib.items():
        standalone.set(name, value)
    for child in schema:
        standalone.append(copy.deepcopy(child))
    compiled = etree.XMLSchema(standalone)
    sample = etree.fromstring(f'<getLastError xmlns="{QBWC_NS}"><ticket>t</ticket></getLastError>')
    assert compiled.validate(sample)


def test_the_codec_understands_every_operation_the_wsdl_declares_with_every_parameter() -> None:
    """Cross-check of the WSDL text against the codec's table: fill every declared parameter, parse it."""
    for name, op in describe(wsdl_text())["operations"].items():
        _, element_name, children = op["input"]
        values = {child[0]: "7" if child[1] == ("xs", "int") else f"{child[0]}-value" for child in children}
        params = "".join(f"<{key}>{value}</{key}>" for key, value in values.items())
        body = (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body>'
            f'<{element_name} xmlns="{QBWC_NS}">{params}</{element_name}></soap:Body></soap:Envelope>'
        ).encode()
        call = parse_call(body, soap_action_for(name))
        assert type(call).OPERATION == name
        field_values = [getattr(call, field.name) for field in dataclasses.fields(call)]
        assert sorted(field_values) == sorted(values.values()), name
