"""Customers: what we send QuickBooks is schema-valid and minimal; what it returns is read in full."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.qbxml.customers import (
    Address,
    CustomerFields,
    customer_add,
    customer_mod,
    customer_query,
    parse_customers,
)
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.errors import QbxmlParseError
from ml_connector.qbxml.values import parse_qb_datetime
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text

LIST_ID = "80000001-1700000000"
AWKWARD_NAME = "Łódź & O'Brien <Bakers> 😀 Wholesale Incorporated of Springfield"  # 62 characters


def _valid(*fragments: str) -> str:
    doc = build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    return doc


def _element(fragment: str) -> etree._Element:
    return etree.fromstring(fragment)


def test_customer_add_matches_the_reference_sample() -> None:
    fragment = customer_add(
        CustomerFields(
            name="Acme Corp",
            company_name="Acme Corp",
            email="billing@acme.example",
            account_number="cus_Nabc123XYZ",
            notes="stripe:cus_Nabc123XYZ",
            external_guid="{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
        )
    )
    sample = etree.fromstring(sample_text("customer-add-with-dataext.rq.xml").split("\n", 2)[2])
    expected = sample.find("QBXMLMsgsRq/CustomerAddRq")
    assert expected is not None
    assert canonical_xml(fragment) == canonical_xml(etree.tostring(expected, encoding="unicode"))


def test_customer_add_with_every_field_and_awkward_text_is_valid() -> None:
    fragment = customer_add(
        CustomerFields(
            name=AWKWARD_NAME,
            is_active=True,
            parent_list_id=LIST_ID,
            company_name=AWKWARD_NAME,
            first_name="Zoë-Åsa Maximiliana Constance",
            last_name="Ørsted-Wójcik",
            bill_address=Address(
                addr1="1 Rue de l'Église & Co <rear>",
                addr2="Building 7",
                city="Kraków",
                state="Małopolskie",
                postal_code="30-001 extra long postcode",
                country="Poland",
            ),
            phone="+48 12 345 67 89 ext. 1234",
            email="zoë@example.com",
            account_number="cus_" + "x" * 120,
            notes="Line one & two\nline <three> 😀",
            external_guid="{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
        )
    )
    _valid(fragment)
    add = _element(fragment).find("CustomerAdd")
    assert add is not None
    name = add.findtext("Name")
    assert name is not None and len(name) <= 41 and name.startswith("Lodz & O'Brien <Bakers> Wholesale")
    assert add.findtext("FirstName") == "Zoë-Åsa Maximiliana Const"  # 25 characters
    assert add.findtext("BillAddress/City") == "Kraków"
    assert add.findtext("BillAddress/State") == "Malopolskie"
    assert add.findtext("Notes") == "Line one & two\nline <three>"
    assert len(add.findtext("AccountNumber") or "") == 99


def test_customer_add_needs_a_name_and_a_valid_guid() -> None:
    with pytest.raises(ValueError):
        customer_add(CustomerFields(company_name="No name"))
    with pytest.raises(ValueError):
        customer_add(CustomerFields(name="A", external_guid="cus_123"))
    with pytest.raises(ValueError):
        customer_add(CustomerFields(name="😀"))


def test_customer_add_leaves_out_fields_that_clean_to_nothing() -> None:
    add = _element(customer_add(CustomerFields(name="Acme", phone="😀", email=None))).find("CustomerAdd")
    assert add is not None
    assert [child.tag for child in add] == ["Name"]


def test_customer_mod_matches_the_reference_sample() -> None:
    fragment = customer_mod(
        LIST_ID, "1709560812", CustomerFields(email="ap@acme.example", notes="stripe:cus_Nabc123XYZ")
    )
    expected = sample_text("customer-mod.rq.xml")
    assert canonical_xml(_valid(fragment)) == canonical_xml(expected)


def test_customer_mod_sends_only_the_fields_we_change() -> None:
    mod = _element(customer_mod(LIST_ID, "17", CustomerFields(is_active=False))).find("CustomerMod")
    assert mod is not None
    assert [child.tag for child in mod] == ["ListID", "EditSequence", "IsActive"]


def test_customer_mod_clears_a_field_with_an_empty_string() -> None:
    fragment = customer_mod(LIST_ID, "17", CustomerFields(phone="", notes="", bill_address=Address(addr2="")))
    _valid(fragment)
    mod = _element(fragment).find("CustomerMod")
    assert mod is not None
    assert [(child.tag, child.text) for child in mod][2:] == [
        ("BillAddress", None),
        ("Phone", None),
        ("Notes", None),
    ]


def test_customer_mod_with_every_field_is_valid() -> None:
    fields = CustomerFields(
        name=AWKWARD_NAME,
        is_active=True,
        parent_list_id=LIST_ID,
        company_name="Zoë & Co",
        first_name="Zoë",
        last_name="O'Brien",
        bill_address=Address(
            addr1="1 Main St", city="Springfield", state="IL", postal_code="62701", country="US"
        ),
        phone="555-0100",
        email="a&b@example.com",
        account_number="cus_1",
        notes="n",
    )
    _valid(customer_mod(LIST_ID, "1709560812", fields))


def test_customer_mod_cannot_change_the_external_guid_or_use_a_bad_id() -> None:
    with pytest.raises(ValueError):
        customer_mod(LIST_ID, "1", CustomerFields(external_guid="{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"))
    with pytest.raises(ValueError):
        customer_mod("x" * 37, "1", CustomerFields(email="a@b.c"))
    with pytest.raises(ValueError):
        customer_mod(LIST_ID, "1" * 17, CustomerFields(email="a@b.c"))
    with pytest.raises(ValueError):
        customer_mod(LIST_ID, "1", CustomerFields(name=""))


def test_customer_query_matches_the_iterator_start_sample() -> None:
    fragment = customer_query(
        max_returned=100, active_status="All", from_modified=datetime(2024, 1, 1), iterator=True
    )
    assert canonical_xml(_valid(fragment)) == canonical_xml(
        sample_text("customer-query-iterator-start.rq.xml")
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"list_ids": [LIST_ID, "80000002-1700000100"]},
        {"full_names": ["Acme Corp", "Parent:Łódź & Sons 😀"]},
        {"max_returned": 10, "to_modified": parse_qb_datetime("2024-07-01T10:00:00-05:00"), "owner_ids": ()},
        {"name_contains": "O'Brien & <Co>", "active_status": "InactiveOnly"},
        {"owner_ids": ("0", "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"), "max_returned": 5, "iterator": True},
    ],
)
def test_customer_queries_are_valid(kwargs: dict) -> None:  # type: ignore[type-arg]
    _valid(customer_query(**kwargs))


def test_customer_queries_return_public_custom_fields_by_default() -> None:
    assert _element(customer_query(list_ids=[LIST_ID])).findtext("OwnerID") == "0"


def test_a_name_search_is_cleaned_like_the_names_we_store() -> None:
    assert _element(customer_query(name_contains="Łódź")).findtext("NameFilter/Name") == "Lodz"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"list_ids": [LIST_ID], "full_names": ["Acme"]},
        {"list_ids": [LIST_ID], "max_returned": 10},
        {"full_names": ["Acme"], "active_status": "All"},
        {"iterator": True},
        {"list_ids": [LIST_ID], "iterator": True},
        {"max_returned": 0},
        {"name_contains": "😀"},
        {"owner_ids": ("me",)},
    ],
)
def test_customer_queries_the_schema_would_reject_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        customer_query(**kwargs)


def test_customers_are_read_from_a_query_page_with_custom_fields() -> None:
    (item,) = parse_response(sample_text("customer-query-iterator.rs.xml")).items
    acme, beta = parse_customers(item.xml)
    assert acme.list_id == LIST_ID
    assert acme.edit_sequence == "1709560812"
    assert acme.time_modified is not None and acme.time_modified.wall_clock == "2024-03-04T09:00:12"
    assert (acme.name, acme.full_name, acme.sublevel, acme.is_active) == ("Acme Corp", "Acme Corp", 0, True)
    assert acme.company_name == "Acme Corp"
    assert acme.email == "billing@acme.example"
    assert acme.balance == Decimal("1250.00") and isinstance(acme.balance, Decimal)
    assert acme.total_balance == Decimal("1250.00")
    assert acme.account_number == "cus_Nabc123XYZ"
    assert acme.notes == "stripe:cus_Nabc123XYZ"
    assert dict(acme.data_ext) == {"StripeCustomerId": "cus_Nabc123XYZ"}
    assert beta.name == "Beta & Sons"
    assert beta.is_active is False
    assert dict(beta.data_ext) == {}
    assert beta.parent_list_id is None and beta.external_guid is None and beta.bill_address is None


def test_customers_can_be_used_as_set_members() -> None:
    (item,) = parse_response(sample_text("customer-query-iterator.rs.xml")).items
    assert len(set(parse_customers(item.xml))) == 2


def test_a_customer_with_address_parent_and_several_custom_field_owners_is_read() -> None:
    rs = f"""<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info"><CustomerRet>
      <ListID>80000005-1</ListID><TimeCreated>2024-01-01T00:00:00</TimeCreated>
      <TimeModified>2024-01-02T03:04:05+01:00</TimeModified><EditSequence>9</EditSequence>
      <Name>Job 1</Name><FullName>Acme Corp:Job 1</FullName>
      <ParentRef><ListID>{LIST_ID}</ListID><FullName>Acme Corp</FullName></ParentRef><Sublevel>1</Sublevel>
      <FirstName>Zoë</FirstName><LastName>Ørsted</LastName>
      <BillAddress><Addr1>1 Main</Addr1><City>Springfield</City><PostalCode>62701</PostalCode></BillAddress>
      <Phone>555</Phone><ExternalGUID>{{3F2504E0-4F89-11D3-9A0C-0305E82C3301}}</ExternalGUID>
      <DataExtRet><OwnerID>{{3F2504E0-4F89-11D3-9A0C-0305E82C3301}}</OwnerID><DataExtName>StripeCustomerId</DataExtName>
        <DataExtType>STR255TYPE</DataExtType><DataExtValue>private</DataExtValue></DataExtRet>
      <DataExtRet><OwnerID>0</OwnerID><DataExtName>StripeCustomerId</DataExtName>
        <DataExtType>STR255TYPE</DataExtType><DataExtValue>cus_public</DataExtValue></DataExtRet>
    </CustomerRet></CustomerQueryRs>"""
    assert_valid_qbxml(f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>")
    (job,) = parse_customers(rs)
    assert (job.full_name, job.parent_list_id, job.sublevel) == ("Acme Corp:Job 1", LIST_ID, 1)
    assert job.bill_address == Address(addr1="1 Main", city="Springfield", postal_code="62701")
    assert (job.first_name, job.last_name, job.phone) == ("Zoë", "Ørsted", "555")
    assert job.external_guid == "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"
    assert job.data_ext["StripeCustomerId"] == "cus_public"
    assert job.time_modified is not None and job.time_modified.wall_clock == "2024-01-02T03:04:05"
    assert job.is_active is True


def test_an_unreadable_amount_in_a_customer_names_the_element() -> None:
    rs = (
        "<CustomerQueryRs statusCode='0' statusSeverity='Info'>"
        "<CustomerRet><ListID>1</ListID><Balance>lots</Balance></CustomerRet></CustomerQueryRs>"
    )
    with pytest.raises(QbxmlParseError, match="Balance"):
        parse_customers(rs)
