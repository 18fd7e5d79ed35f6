"""Accounts, payment methods and items a payment or an invoice line refers to."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.qbxml.accounts import (
    account_add,
    account_query,
    item_other_charge_add,
    item_query,
    item_service_add,
    parse_accounts,
    parse_items,
    parse_payment_methods,
    payment_method_add,
    payment_method_query,
)
from ml_connector.qbxml.envelope import RequestItem, build_message_set
from tests.qbxml_schema import assert_valid_qbxml


def _valid(*fragments: str) -> str:
    doc = build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    return doc


def test_every_list_request_variant_is_valid() -> None:
    _valid(
        account_query(full_names=["Stripe Clearing", "Other Current Assets:Stripe & <Co>"]),
        account_query(list_ids=["80000009-1600000000"]),
        account_query(account_types=["Bank", "OtherCurrentAsset"], active_status="All"),
        account_query(),
        account_add(
            "Stripe Clearing", "OtherCurrentAsset", account_number="1299", desc="Stripe & payouts 😀"
        ),
        account_add("Łódź Stripe Clearing Account for Payments", "Bank", parent_full_name="Bank Accounts"),
        payment_method_query(full_names=["Stripe"]),
        payment_method_query(active_status="ActiveOnly"),
        payment_method_add("Stripe"),
        payment_method_add("Stripe & <Card> payments over the limit", "OtherCreditCard"),
        item_query(full_names=["Consulting"]),
        item_query(list_ids=["80000010-1"]),
        item_query(),
        item_service_add(
            "Consulting & <Design>",
            income_account_name="Services",
            desc="Hourly\nwork",
            price=Decimal("120.5"),
        ),
        item_service_add("Support", income_account_name="Income:Services"),
    )


def test_list_names_are_fitted_to_31_characters() -> None:
    name = etree.fromstring(account_add("Łódź Stripe Clearing Account for Payments", "Bank")).findtext(
        "AccountAdd/Name"
    )
    assert name == "Lodz Stripe Clearing Account fo"
    method = etree.fromstring(payment_method_add("Stripe: cards")).findtext("PaymentMethodAdd/Name")
    assert method == "Stripe- cards"


@pytest.mark.parametrize(
    "call",
    [
        lambda: account_query(full_names=["A"], list_ids=["1"]),
        lambda: account_query(full_names=["A"], account_types=["Bank"]),
        lambda: payment_method_query(full_names=["Stripe"], active_status="All"),
        lambda: item_query(list_ids=["1"], full_names=["x"]),
        lambda: account_add("😀", "Bank"),
    ],
)
def test_list_requests_the_schema_would_reject_are_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def _response(rs: str) -> str:
    doc = f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>"
    assert_valid_qbxml(doc)
    return rs


def test_accounts_are_read() -> None:
    rs = _response(
        """<AccountQueryRs requestID="1" statusCode="0" statusSeverity="Info"><AccountRet>
        <ListID>8000000B-1600000000</ListID><EditSequence>16</EditSequence><Name>Stripe Clearing</Name>
        <FullName>Other Current Assets:Stripe Clearing</FullName><IsActive>true</IsActive><Sublevel>1</Sublevel>
        <AccountType>OtherCurrentAsset</AccountType><AccountNumber>1299</AccountNumber><Balance>-12.50</Balance>
        </AccountRet><AccountRet><ListID>80000009-1600000000</ListID><Name>Accounts Receivable</Name>
        <IsActive>false</IsActive><AccountType>AccountsReceivable</AccountType>
        <SpecialAccountType>AccountsReceivable</SpecialAccountType></AccountRet></AccountQueryRs>"""
    )
    clearing, receivable = parse_accounts(rs)
    assert (clearing.list_id, clearing.edit_sequence, clearing.name) == (
        "8000000B-1600000000",
        "16",
        "Stripe Clearing",
    )
    assert clearing.full_name == "Other Current Assets:Stripe Clearing"
    assert (clearing.account_type, clearing.account_number, clearing.balance) == (
        "OtherCurrentAsset",
        "1299",
        Decimal("-12.50"),
    )
    assert clearing.is_active and clearing.special_account_type is None
    assert receivable.full_name == "Accounts Receivable" and receivable.is_active is False
    assert receivable.special_account_type == "AccountsReceivable"


def test_payment_methods_are_read() -> None:
    rs = _response(
        """<PaymentMethodQueryRs requestID="1" statusCode="0" statusSeverity="Info"><PaymentMethodRet>
        <ListID>8000000A-1600000000</ListID><EditSequence>3</EditSequence><Name>Stripe</Name><IsActive>true</IsActive>
        <PaymentMethodType>OtherCreditCard</PaymentMethodType></PaymentMethodRet></PaymentMethodQueryRs>"""
    )
    (method,) = parse_payment_methods(rs)
    assert (
        method.list_id,
        method.edit_sequence,
        method.name,
        method.is_active,
        method.payment_method_type,
    ) == (
        "8000000A-1600000000",
        "3",
        "Stripe",
        True,
        "OtherCreditCard",
    )


def test_items_of_every_kind_are_read_in_order() -> None:
    rs = _response(
        """<ItemQueryRs requestID="1" statusCode="0" statusSeverity="Info">
        <ItemServiceRet><ListID>80000010-1</ListID><EditSequence>1</EditSequence><Name>Consulting</Name>
          <FullName>Consulting</FullName><IsActive>true</IsActive>
          <SalesOrPurchase><Price>120.00</Price><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase>
        </ItemServiceRet>
        <ItemNonInventoryRet><ListID>80000011-1</ListID><Name>Widget</Name><FullName>Parts:Widget</FullName>
          <IsActive>false</IsActive></ItemNonInventoryRet>
        </ItemQueryRs>"""
    )
    service, widget = parse_items(rs)
    assert (service.kind, service.list_id, service.name, service.full_name, service.is_active) == (
        "ItemService",
        "80000010-1",
        "Consulting",
        "Consulting",
        True,
    )
    assert (widget.kind, widget.full_name, widget.is_active) == ("ItemNonInventory", "Parts:Widget", False)


def test_refund_and_sub_items_are_valid_requests() -> None:
    _valid(
        item_other_charge_add(
            "Stripe Refund", account_name="Stripe Refunds", desc="Card refunds & <credits>"
        ),
        item_other_charge_add("Refund", account_name="Income:Refunds", parent_full_name="Stripe"),
        item_service_add("Support", income_account_name="Services", parent_full_name="Consulting"),
    )


def test_an_item_tells_the_account_its_sales_post_to() -> None:
    rs = (
        '<ItemQueryRs statusCode="0"><ItemOtherChargeRet><ListID>1</ListID><Name>Stripe Refund</Name>'
        "<FullName>Stripe Refund</FullName><SalesOrPurchase><AccountRef><FullName>Income:Refunds</FullName>"
        "</AccountRef></SalesOrPurchase></ItemOtherChargeRet><ItemInventoryRet><ListID>2</ListID>"
        "<Name>Widget</Name><SalesAndPurchase><IncomeAccountRef><FullName>Sales</FullName></IncomeAccountRef>"
        "</SalesAndPurchase></ItemInventoryRet><ItemSubtotalRet><ListID>3</ListID><Name>Subtotal</Name>"
        "</ItemSubtotalRet></ItemQueryRs>"
    )
    refund, widget, subtotal = parse_items(rs)
    assert (refund.kind, refund.account_full_name) == ("ItemOtherCharge", "Income:Refunds")
    assert (widget.kind, widget.account_full_name) == ("ItemInventory", "Sales")
    assert subtotal.account_full_name is None
