"""A public custom field on customers that holds the Stripe customer id."""

from __future__ import annotations

import pytest
from lxml import etree

from ml_connector.qbxml.dataext import (
    data_ext_add,
    data_ext_def_add,
    data_ext_def_query,
    data_ext_mod,
    parse_data_ext_defs,
    parse_data_ext_values,
)
from ml_connector.qbxml.envelope import RequestItem, build_message_set
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text

CUSTOMER = "80000001-1700000000"
APP_OWNER = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"


def _valid(*fragments: str) -> str:
    doc = build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    return doc


def test_the_definition_matches_the_reference_sample() -> None:
    sample = etree.fromstring(sample_text("customer-add-with-dataext.rq.xml").split("\n", 2)[2])
    expected = sample.find("QBXMLMsgsRq/DataExtDefAddRq")
    assert expected is not None
    assert canonical_xml(data_ext_def_add("StripeCustomerId")) == canonical_xml(
        etree.tostring(expected, encoding="unicode")
    )


def test_setting_the_value_on_a_customer_matches_the_reference_sample() -> None:
    doc = _valid(data_ext_add(CUSTOMER, "StripeCustomerId", "cus_Nabc123XYZ"))
    assert canonical_xml(doc) == canonical_xml(sample_text("dataext-add-customer.rq.xml"))


def test_definitions_values_and_queries_in_every_variant_are_valid() -> None:
    _valid(
        data_ext_def_query(),
        data_ext_def_query(owner_ids=["0", APP_OWNER]),
        data_ext_def_query(assign_to_objects=["Customer", "Invoice"]),
        data_ext_def_add(
            "Stripe & <Id>", data_ext_type="STR1024TYPE", assign_to_objects=("Customer", "ReceivePayment")
        ),
        data_ext_def_add("Private Id", owner_id=APP_OWNER),
        data_ext_add(CUSTOMER, "StripeCustomerId", "cus_Łódź & <x> 😀"),
        data_ext_mod(CUSTOMER, "StripeCustomerId", "cus_new"),
        data_ext_mod(CUSTOMER, "StripeCustomerId", "", owner_id=APP_OWNER),
    )


def test_values_are_cleaned_and_cut_to_the_field_type() -> None:
    value = etree.fromstring(data_ext_add(CUSTOMER, "Notes", "é" * 300 + " 😀")).findtext(
        "DataExtAdd/DataExtValue"
    )
    assert value == "é" * 255


@pytest.mark.parametrize("name", ["", " padded", "x" * 32, "Łódź"])
def test_custom_field_names_are_identifiers_and_never_cut(name: str) -> None:
    with pytest.raises(ValueError):
        data_ext_def_add(name)
    with pytest.raises(ValueError):
        data_ext_add(CUSTOMER, name, "v")


def test_a_definition_query_filters_by_owner_or_object_not_both() -> None:
    with pytest.raises(ValueError):
        data_ext_def_query(owner_ids=["0"], assign_to_objects=["Customer"])
    with pytest.raises(ValueError):
        data_ext_def_add("x", owner_id="mine")


def test_definitions_are_read_back() -> None:
    rs = f"""<DataExtDefQueryRs requestID="1" statusCode="0" statusSeverity="Info">
      <DataExtDefRet><OwnerID>0</OwnerID><DataExtID>3</DataExtID><DataExtName>StripeCustomerId</DataExtName>
        <DataExtType>STR255TYPE</DataExtType><AssignToObject>Customer</AssignToObject>
        <DataExtListRequire>false</DataExtListRequire><DataExtTxnRequire>false</DataExtTxnRequire>
        <DataExtFormatString></DataExtFormatString></DataExtDefRet>
      <DataExtDefRet><OwnerID>{APP_OWNER}</OwnerID><DataExtID>4</DataExtID><DataExtName>Hidden</DataExtName>
        <DataExtType>INTTYPE</DataExtType><AssignToObject>Customer</AssignToObject><AssignToObject>Vendor</AssignToObject>
        <DataExtListRequire>false</DataExtListRequire><DataExtTxnRequire>false</DataExtTxnRequire>
        <DataExtFormatString></DataExtFormatString></DataExtDefRet>
    </DataExtDefQueryRs>"""
    assert_valid_qbxml(f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>")
    public, private = parse_data_ext_defs(rs)
    assert (public.name, public.data_ext_id, public.data_ext_type, public.assign_to_objects) == (
        "StripeCustomerId",
        3,
        "STR255TYPE",
        ("Customer",),
    )
    assert public.is_public and not private.is_public
    assert private.assign_to_objects == ("Customer", "Vendor")


def test_a_stored_value_is_read_back() -> None:
    rs = """<DataExtAddRs requestID="dx-1" statusCode="0" statusSeverity="Info"><DataExtRet>
      <OwnerID>0</OwnerID><DataExtName>StripeCustomerId</DataExtName><DataExtType>STR255TYPE</DataExtType>
      <DataExtValue>cus_Nabc123XYZ</DataExtValue></DataExtRet></DataExtAddRs>"""
    assert_valid_qbxml(f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>")
    (value,) = parse_data_ext_values(rs)
    assert (value.owner_id, value.name, value.data_ext_type, value.value) == (
        "0",
        "StripeCustomerId",
        "STR255TYPE",
        "cus_Nabc123XYZ",
    )
