"""Invoices: finding the one a payment settles, and reading its balance and applied payments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.invoices import InvoiceLineAdd, invoice_add, invoice_query, parse_invoices
from ml_connector.qbxml.payments import external_guid_for
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text

CUSTOMER = "80000001-1700000000"


def _valid(*fragments: str) -> str:
    doc = build_message_set(
        [RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="continueOnError"
    )
    assert_valid_qbxml(doc)
    return doc


def test_invoice_queries_match_the_reference_sample() -> None:
    by_filters = invoice_query(
        max_returned=50,
        from_modified=datetime(2024, 3, 1),
        to_modified=datetime(2024, 3, 31, 23, 59, 59),
        customer_list_ids=[CUSTOMER],
        paid_status="NotPaidOnly",
        include_linked_txns=True,
        owner_ids=["0"],
        iterator=True,
    )
    by_ref = invoice_query(ref_numbers=["1001"], include_linked_txns=True)
    doc = build_message_set(
        [RequestItem("iq-1", by_filters), RequestItem("iq-2", by_ref)], on_error="continueOnError"
    )
    # The sample spells out QuickBooks' default <IncludeLineItems>false</IncludeLineItems>; we leave defaults out.
    expected = sample_text("invoice-query.rq.xml").replace("<IncludeLineItems>false</IncludeLineItems>", "")
    assert canonical_xml(doc) == canonical_xml(expected)
    assert_valid_qbxml(doc)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"txn_ids": ["1A2B-1710000000", "1A2C-1710000001"], "include_line_items": True},
        {"ref_numbers": ["1001", "INV & <2>"]},
        {"from_modified": datetime(2024, 3, 1)},
        {"to_modified": datetime(2024, 3, 1), "paid_status": "PaidOnly", "owner_ids": ["0"]},
        {"customer_list_ids": [CUSTOMER, "80000002-1"], "paid_status": "All", "include_line_items": True},
        {"max_returned": 1, "iterator": True, "include_line_items": True, "include_linked_txns": True},
        {},
    ],
)
def test_invoice_queries_are_valid(kwargs: dict) -> None:  # type: ignore[type-arg]
    _valid(invoice_query(**kwargs))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"txn_ids": ["1"], "ref_numbers": ["1001"]},
        {"txn_ids": ["1"], "paid_status": "PaidOnly"},
        {"ref_numbers": ["1001"], "customer_list_ids": [CUSTOMER]},
        {"txn_ids": ["1"], "iterator": True},
        {"iterator": True},
        {"ref_numbers": ["😀"]},
    ],
)
def test_invoice_queries_the_schema_would_reject_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        invoice_query(**kwargs)


def test_invoice_add_with_item_lines_and_awkward_text_is_valid() -> None:
    fragment = invoice_add(
        customer_list_id=CUSTOMER,
        txn_date=date(2024, 3, 9),
        ref_number="INV-2024-000123",
        due_date=date(2024, 4, 8),
        ar_account_name="Accounts Receivable",
        memo="Thanks & welcome <back> 😀\nLine two",
        external_guid=external_guid_for("in_1Oabc"),
        lines=[
            InvoiceLineAdd(
                item_full_name="Consulting: Łódź",
                desc="Design & build <v2>",
                quantity=Decimal("1.5"),
                rate=Decimal("120.12345"),
            ),
            InvoiceLineAdd(item_list_id="80000010-1700000000", amount=Decimal("99.995")),
        ],
    )
    _valid(fragment)
    add = etree.fromstring(fragment).find("InvoiceAdd")
    assert add is not None
    assert add.findtext("RefNumber") == "INV-2024-00"  # 11 characters, QuickBooks' limit for invoices
    assert add.findtext("Memo") == "Thanks & welcome <back>\nLine two"
    lines = add.findall("InvoiceLineAdd")
    assert [line.findtext("Rate") for line in lines] == ["120.12345", None]
    assert [line.findtext("Amount") for line in lines] == [None, "100.00"]
    assert lines[0].findtext("ItemRef/FullName") == "Consulting: Lodz"


def test_invoice_lines_need_an_item_and_a_price() -> None:
    with pytest.raises(ValueError):
        InvoiceLineAdd(desc="no item", amount=Decimal(1))
    with pytest.raises(ValueError):
        InvoiceLineAdd(item_full_name="Consulting")
    with pytest.raises(ValueError):
        invoice_add(customer_list_id=CUSTOMER, lines=[])
    with pytest.raises(TypeError):
        invoice_add(customer_list_id=CUSTOMER, lines=[InvoiceLineAdd(item_full_name="X", amount=10.5)])  # type: ignore[arg-type]


def test_an_invoice_is_read_with_balance_applied_payments_and_links() -> None:
    first, second = parse_response(sample_text("invoice-query.rs.xml")).items
    (invoice,) = parse_invoices(first.xml)
    assert invoice.txn_id == "1A2B-1710000000"
    assert invoice.edit_sequence == "1710276330"
    assert invoice.txn_number == 412
    assert invoice.time_modified is not None and invoice.time_modified.wall_clock == "2024-03-12T16:45:30"
    assert (invoice.customer_list_id, invoice.customer_full_name) == (CUSTOMER, "Acme Corp")
    assert (invoice.txn_date, invoice.due_date) == (date(2024, 3, 9), date(2024, 4, 8))
    assert invoice.ref_number == "1001"
    assert invoice.subtotal == Decimal("1500.00")
    assert invoice.sales_tax_total == Decimal("0.00")
    assert invoice.applied_amount == Decimal("-250.00")
    assert invoice.balance_remaining == Decimal("1250.00")
    assert invoice.is_paid is False and invoice.is_pending is False
    assert invoice.lines == () and invoice.memo is None and invoice.currency is None
    (link,) = invoice.linked_txns
    assert (link.txn_id, link.txn_type, link.txn_date) == (
        "1A40-1710260000",
        "ReceivePayment",
        date(2024, 3, 12),
    )
    assert (link.ref_number, link.link_type, link.amount) == ("pi_3Oabc", "AMTTYPE", Decimal("-250.00"))
    assert second.status_code == 1 and parse_invoices(second.xml) == []


def test_invoice_lines_including_grouped_ones_are_read_in_order() -> None:
    rs = """<InvoiceQueryRs requestID="1" statusCode="0" statusSeverity="Info"><InvoiceRet>
      <TxnID>1A2B-1</TxnID><EditSequence>5</EditSequence><TxnNumber>7</TxnNumber>
      <CustomerRef><ListID>80000001-1700000000</ListID></CustomerRef><TxnDate>2024-03-09</TxnDate>
      <Subtotal>250.00</Subtotal><BalanceRemaining>0.00</BalanceRemaining>
      <CurrencyRef><FullName>US Dollar</FullName></CurrencyRef><Memo>Paid in full</Memo><IsPaid>true</IsPaid>
      <ExternalGUID>{3F2504E0-4F89-11D3-9A0C-0305E82C3301}</ExternalGUID>
      <InvoiceLineRet><TxnLineID>L1</TxnLineID><ItemRef><ListID>I1</ListID><FullName>Consulting</FullName></ItemRef>
        <Desc>Design &amp; build</Desc><Quantity>1.5</Quantity><Rate>100.00</Rate><Amount>150.00</Amount>
      </InvoiceLineRet>
      <InvoiceLineGroupRet><TxnLineID>G1</TxnLineID><ItemGroupRef><FullName>Bundle</FullName></ItemGroupRef>
        <IsPrintItemsInGroup>false</IsPrintItemsInGroup><TotalAmount>100.00</TotalAmount>
        <InvoiceLineRet><TxnLineID>L2</TxnLineID><ItemRef><FullName>Support</FullName></ItemRef>
          <Amount>100.00</Amount></InvoiceLineRet>
      </InvoiceLineGroupRet>
      <DataExtRet><OwnerID>0</OwnerID><DataExtName>StripeInvoice</DataExtName><DataExtType>STR255TYPE</DataExtType>
        <DataExtValue>in_1</DataExtValue></DataExtRet>
    </InvoiceRet></InvoiceQueryRs>"""
    assert_valid_qbxml(f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>")
    (invoice,) = parse_invoices(rs)
    assert [(line.txn_line_id, line.item_full_name, line.amount) for line in invoice.lines] == [
        ("L1", "Consulting", Decimal("150.00")),
        ("L2", "Support", Decimal("100.00")),
    ]
    first = invoice.lines[0]
    assert (first.item_list_id, first.desc, first.quantity, first.rate) == (
        "I1",
        "Design & build",
        Decimal("1.5"),
        Decimal("100.00"),
    )
    assert invoice.is_paid is True and invoice.currency == "US Dollar" and invoice.memo == "Paid in full"
    assert invoice.external_guid == "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"
    assert dict(invoice.data_ext) == {"StripeInvoice": "in_1"}
    assert invoice.time_modified is None and invoice.linked_txns == ()
