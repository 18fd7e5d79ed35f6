"""Recording a Stripe payment in QuickBooks exactly once, applied to the invoice it pays."""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.payments import (
    AppliedTo,
    ReceivePaymentAdd,
    external_guid_for,
    parse_receive_payments,
    receive_payment_add,
    receive_payment_query,
)
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text

CUSTOMER = "80000001-1700000000"
INVOICE = "1A2B-1710000000"
GUID_PATTERN = re.compile(r"\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}")


def _valid(*fragments: str) -> str:
    doc = build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    return doc


def _sample_payment(**overrides: object) -> ReceivePaymentAdd:
    values: dict[str, object] = {
        "customer_list_id": CUSTOMER,
        "ar_account_name": "Accounts Receivable",
        "txn_date": date(2024, 3, 12),
        "ref_number": "pi_3OabcDEFghiJKL",
        "total_amount": Decimal("250.00"),
        "payment_method_name": "Stripe",
        "memo": "Stripe payment pi_3OabcDEFghiJKL (ch_3Oabc)",
        "deposit_to_account_name": "Stripe Clearing",
        "external_guid": "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
        "applied": (AppliedTo(INVOICE, Decimal("250.00")),),
    }
    values.update(overrides)
    return ReceivePaymentAdd(**values)  # type: ignore[arg-type]


def test_receive_payment_add_matches_the_reference_sample() -> None:
    doc = _valid(receive_payment_add(_sample_payment()))
    assert canonical_xml(doc) == canonical_xml(sample_text("receive-payment-add.rq.xml"))


def test_a_payment_with_awkward_text_is_valid_and_cut_to_quickbooks_limits() -> None:
    fragment = receive_payment_add(
        _sample_payment(
            ref_number="pi_3OabcDEFghiJKLmnopQRSTuv",
            memo="Stripe & Co <payout> for Łódź 😀\nsecond line",
            payment_method_name="Stripe — card & wallet payments (online)",
            deposit_to_account_name="Other Current Assets:Stripe Clearing",
            total_amount=Decimal("300"),
            applied=(AppliedTo(INVOICE, Decimal("250")), AppliedTo("1A2C-1710000001", Decimal("50.004"))),
        )
    )
    _valid(fragment)
    add = etree.fromstring(fragment).find("ReceivePaymentAdd")
    assert add is not None
    assert add.findtext("RefNumber") == "pi_3OabcDEFghiJKLmno"  # 20 characters
    assert add.findtext("Memo") == "Stripe & Co <payout> for Lodz\nsecond line"
    assert len(add.findtext("PaymentMethodRef/FullName") or "") == 31
    assert add.findtext("TotalAmount") == "300.00"
    assert [a.findtext("PaymentAmount") for a in add.findall("AppliedToTxnAdd")] == ["250.00", "50.00"]


def test_auto_applied_payments_let_quickbooks_choose_the_invoices() -> None:
    fragment = receive_payment_add(_sample_payment(applied=(), is_auto_apply=True, external_guid=None))
    _valid(fragment)
    add = etree.fromstring(fragment).find("ReceivePaymentAdd")
    assert add is not None and add.findtext("IsAutoApply") == "true" and add.find("AppliedToTxnAdd") is None


def test_a_payment_that_would_be_left_unapplied_is_refused() -> None:
    with pytest.raises(ValueError, match="unapplied"):
        _sample_payment(applied=())


def test_a_payment_cannot_be_both_applied_and_auto_applied() -> None:
    with pytest.raises(ValueError):
        _sample_payment(is_auto_apply=True)


def test_applying_more_than_the_payment_total_is_refused() -> None:
    with pytest.raises(ValueError, match="exceed"):
        _sample_payment(total_amount=Decimal("100.00"))
    with pytest.raises(ValueError, match="exceed"):
        _sample_payment(total_amount=Decimal("249.99"))


def test_applied_amounts_are_compared_in_the_cents_that_will_be_sent() -> None:
    payment = _sample_payment(
        total_amount=Decimal("250.00"), applied=(AppliedTo(INVOICE, Decimal("250.004")),)
    )
    assert payment.applied[0].payment_amount == Decimal("250.004")


def test_float_money_never_reaches_quickbooks() -> None:
    with pytest.raises(TypeError):
        _sample_payment(total_amount=250.0)
    with pytest.raises(TypeError):
        receive_payment_add(_sample_payment(applied=(AppliedTo(INVOICE, 250.0),)))  # type: ignore[arg-type]


def test_a_payment_needs_a_valid_customer_id_and_guid() -> None:
    with pytest.raises(ValueError):
        receive_payment_add(_sample_payment(customer_list_id=""))
    with pytest.raises(ValueError):
        receive_payment_add(_sample_payment(external_guid="pi_3Oabc"))


def test_the_external_guid_is_derived_from_the_stripe_id_and_never_changes() -> None:
    guid = external_guid_for("pi_3OabcDEFghiJKL")
    assert GUID_PATTERN.fullmatch(guid)
    assert guid == external_guid_for("pi_3OabcDEFghiJKL")
    assert guid != external_guid_for("pi_3OabcDEFghiJKM")
    # Pinned: a changed derivation would let an already-recorded payment be recorded again.
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:ml-connector:stripe-payment")
    assert guid == "{" + str(uuid.uuid5(namespace, "pi_3OabcDEFghiJKL")).upper() + "}"
    assert guid == "{89D930F5-BEAF-58FF-977C-FD518D15BBCA}"
    with pytest.raises(ValueError):
        external_guid_for(" ")


def test_payment_query_by_dates_customer_and_ref_number_is_valid() -> None:
    fragment = receive_payment_query(
        from_txn_date=date(2024, 3, 1),
        to_txn_date=date(2024, 3, 31),
        customer_list_ids=[CUSTOMER],
        ref_number_contains="pi_",
        max_returned=100,
    )
    doc = _valid(fragment)
    # Same shape as the sample, which pages with an iterator and matches with StartsWith.
    expected = sample_text("receive-payment-query-by-date.rq.xml")
    expected = expected.replace(' iterator="Start"', "").replace("StartsWith", "Contains")
    assert canonical_xml(doc) == canonical_xml(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ref_numbers": ["pi_3OabcDEFghiJKL"]},
        {"txn_ids": [INVOICE], "include_line_items": False},
        {"from_txn_date": date(2024, 3, 1)},
        {"customer_list_ids": [CUSTOMER], "owner_ids": ["0"]},
        {"ref_number_contains": "O'Brien & <Co>"},
    ],
)
def test_payment_queries_are_valid(kwargs: dict) -> None:  # type: ignore[type-arg]
    _valid(receive_payment_query(**kwargs))


def test_payment_queries_return_what_each_payment_was_applied_to_by_default() -> None:
    assert (
        etree.fromstring(receive_payment_query(ref_numbers=["pi_1"])).findtext("IncludeLineItems") == "true"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"txn_ids": [INVOICE], "ref_numbers": ["pi_1"]},
        {"ref_numbers": ["pi_1"], "from_txn_date": date(2024, 3, 1)},
        {"ref_number_contains": "😀"},
        {"max_returned": 0},
    ],
)
def test_payment_queries_the_schema_would_reject_are_refused(kwargs: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        receive_payment_query(**kwargs)


def test_a_recorded_payment_is_read_with_where_it_was_applied() -> None:
    (item,) = parse_response(sample_text("receive-payment-add.rs.xml")).items
    (payment,) = parse_receive_payments(item.xml)
    assert payment.txn_id == "1A40-1710260000"
    assert (payment.edit_sequence, payment.txn_number) == ("1710276330", 413)
    assert payment.time_modified is not None and payment.time_modified.wall_clock == "2024-03-12T16:45:30"
    assert (payment.customer_list_id, payment.customer_full_name) == (CUSTOMER, "Acme Corp")
    assert payment.txn_date == date(2024, 3, 12)
    assert payment.ref_number == "pi_3OabcDEFghiJKL"
    assert payment.total_amount == Decimal("250.00")
    assert payment.payment_method_name == "Stripe"
    assert payment.deposit_to_account_name == "Stripe Clearing"
    assert payment.memo == "Stripe payment pi_3OabcDEFghiJKL (ch_3Oabc)"
    assert (payment.unused_payment, payment.unused_credits) == (Decimal("0.00"), Decimal("0.00"))
    assert payment.external_guid == "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
    (applied,) = payment.applied
    assert (applied.txn_id, applied.txn_type, applied.txn_date, applied.ref_number) == (
        INVOICE,
        "Invoice",
        date(2024, 3, 9),
        "1001",
    )
    assert (applied.balance_remaining, applied.amount) == (Decimal("1250.00"), Decimal("250.00"))


def test_a_foreign_currency_payment_carries_the_exchange_rate_after_the_total_exactly_as_given() -> None:
    fragment = receive_payment_add(
        _sample_payment(
            total_amount=Decimal("120.00"),
            applied=(AppliedTo(INVOICE, Decimal("120.00")),),
            exchange_rate=Decimal("1.082500"),
        )
    )
    _valid(fragment)
    add = etree.fromstring(fragment).find("ReceivePaymentAdd")
    assert add is not None
    tags = [child.tag for child in add]
    assert tags.index("ExchangeRate") == tags.index("TotalAmount") + 1, "XSD order: TotalAmount, ExchangeRate"
    assert add.findtext("ExchangeRate") == "1.0825"
    long_rate = receive_payment_add(_sample_payment(exchange_rate=Decimal("0.7411634")))
    assert "<ExchangeRate>0.7411634</ExchangeRate>" in long_rate, "not rounded to five places like a quantity"
    assert "ExchangeRate" not in receive_payment_add(_sample_payment()), "home currency: no rate at all"


@pytest.mark.parametrize("rate", [Decimal("0"), Decimal("-1.1"), Decimal("NaN"), 1.0825])
def test_an_exchange_rate_that_is_not_a_positive_decimal_is_refused_before_anything_is_sent(rate: object) -> None:
    with pytest.raises(ValueError, match="exchange rate"):
        _sample_payment(exchange_rate=rate)


def test_a_multicurrency_payment_is_read_back_with_its_currency_rate_and_home_value() -> None:
    rs = (
        '<ReceivePaymentAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<ReceivePaymentRet><TxnID>2A-1710000000</TxnID><TimeCreated>2024-03-12T16:45:30-05:00</TimeCreated>"
        "<TimeModified>2024-03-12T16:45:30-05:00</TimeModified><EditSequence>1710279930</EditSequence>"
        "<TxnNumber>7</TxnNumber><CustomerRef><ListID>80000001-1700000000</ListID><FullName>Lyon SA</FullName>"
        "</CustomerRef><TxnDate>2024-03-12</TxnDate><TotalAmount>120.00</TotalAmount>"
        "<CurrencyRef><ListID>00525545-1000000000</ListID><FullName>Euro</FullName></CurrencyRef>"
        "<ExchangeRate>1.0825</ExchangeRate><TotalAmountInHomeCurrency>129.90</TotalAmountInHomeCurrency>"
        "<UnusedPayment>0.00</UnusedPayment></ReceivePaymentRet></ReceivePaymentAddRs>"
    )
    (payment,) = parse_receive_payments(rs)
    assert payment.currency_name == "Euro"
    assert payment.exchange_rate == Decimal("1.0825")
    assert payment.total_amount_in_home_currency == Decimal("129.90")
