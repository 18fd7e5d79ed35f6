"""Turning a Stripe payment into a ReceivePaymentAdd, and checking QuickBooks' answer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ml_connector.payments.companies import UNRESOLVED, company_for
from ml_connector.payments.ids import IdKind, id_kind
from ml_connector.payments.matching import InvoiceChoice, InvoiceSource
from ml_connector.payments.model import InvoiceSnapshot, StripePayment
from ml_connector.payments.posting import (
    Posted,
    check_posted,
    currency_refusal,
    describe,
    duplicate_search,
    find_existing,
    home_amount,
    plan_payment,
    receive_payment_add_for,
)
from ml_connector.qbxml.envelope import RequestItem, build_message_set
from ml_connector.qbxml.payments import external_guid_for
from tests.qbxml_schema import assert_valid_qbxml


def assert_valid_request(fragment: str) -> None:
    assert_valid_qbxml(build_message_set([RequestItem("1", fragment)], on_error="stopOnError"))


def _payment(amount: int, **kw: object) -> StripePayment:
    base: dict[str, object] = dict(
        payment_id="pi_3PabcdefghijklmnopQRS",
        status="succeeded",
        amount=amount,
        currency="usd",
        created=0,
        local_date="2026-03-01",
        customer_id="cus_1",
        charge_id="ch_3PabcdefghijklmnopQRS",
    )
    base.update(kw)
    return StripePayment(**base)  # type: ignore[arg-type]


INVOICE = InvoiceSnapshot("80-1", "C1", "1001", "2026-02-01", 10000, "9", False)


def test_a_partial_payment_applies_what_was_paid_and_leaves_the_rest_due():
    plan = plan_payment(_payment(4000), "C1", INVOICE)
    assert (plan.applied, plan.credit, plan.expected_balance_after) == (4000, 0, 6000)


def test_an_overpayment_applies_the_balance_and_leaves_the_rest_as_credit():
    plan = plan_payment(_payment(12500), "C1", INVOICE)
    assert (plan.total, plan.applied, plan.credit, plan.expected_balance_after) == (12500, 10000, 2500, 0)


def test_without_an_invoice_the_whole_payment_is_an_unapplied_credit():
    plan = plan_payment(_payment(777), "C1", None)
    body = receive_payment_add_for(plan, "usd", payment_method="Stripe", deposit_account="Undeposited Funds")
    assert plan.invoice_txn_id is None and "<IsAutoApply>false</IsAutoApply>" in body
    assert "AppliedToTxnAdd" not in body
    assert_valid_request(body)


def test_the_request_carries_the_stripe_ids_within_quickbooks_limits_and_validates_against_the_xsd():
    plan = plan_payment(_payment(4000), "C1", INVOICE)
    body = receive_payment_add_for(plan, "usd", payment_method="Stripe", deposit_account="Undeposited Funds")
    assert "<RefNumber>ch_3Pabcdefghijklmno</RefNumber>" in body  # cut to 20
    assert "ch_3PabcdefghijklmnopQRS" in body and "pi_3PabcdefghijklmnopQRS" in body  # whole, in the Memo
    assert external_guid_for("pi_3PabcdefghijklmnopQRS") in body
    assert "<TxnDate>2026-03-01</TxnDate>" in body and "<PaymentAmount>40.00</PaymentAmount>" in body
    assert_valid_request(body)


def test_quickbooks_recording_less_than_planned_is_reported():
    plan = plan_payment(_payment(4000), "C1", INVOICE)
    good = Posted("T", 4000, 4000, "80-1", 6000, plan.external_guid)
    assert check_posted(plan, good) == []
    assert check_posted(plan, Posted("T", 4000, 4000, "80-1", 10000, plan.external_guid))
    assert check_posted(plan, Posted("T", 4000, 3000, "80-1", 7000, plan.external_guid))


def test_another_payment_landing_first_does_not_count_as_a_wrong_balance():
    plan = plan_payment(_payment(4000), "C1", INVOICE)
    assert check_posted(plan, Posted("T", 4000, 4000, "80-1", 1000, plan.external_guid)) == []


def test_the_duplicate_search_is_bounded_and_matches_only_our_external_guid():
    plan = plan_payment(_payment(4000), "C1", INVOICE)
    query = duplicate_search(plan)
    assert "<MaxReturned>" in query and "<FromTxnDate>2026-02-26</FromTxnDate>" in query
    assert_valid_request(query)
    ours, theirs = plan.external_guid, external_guid_for("pi_other")
    rs = f"""<ReceivePaymentQueryRs statusCode="0">
      <ReceivePaymentRet><TxnID>A</TxnID><EditSequence>1</EditSequence><TotalAmount>40.00</TotalAmount>
        <ExternalGUID>{theirs}</ExternalGUID></ReceivePaymentRet>
      <ReceivePaymentRet><TxnID>B</TxnID><EditSequence>1</EditSequence><TotalAmount>40.00</TotalAmount>
        <ExternalGUID>{ours.lower()}</ExternalGUID></ReceivePaymentRet>
    </ReceivePaymentQueryRs>"""
    found = find_existing(rs, ours, "usd")
    assert found is not None and found.txn_id == "B"
    assert find_existing(rs, external_guid_for("pi_none"), "usd") is None


def test_replay_ids_are_told_apart_by_prefix():
    assert id_kind("evt_1") is IdKind.EVENT and id_kind("pi_1") is IdKind.PAYMENT_INTENT
    assert id_kind("ch_1") is IdKind.CHARGE
    with pytest.raises(ValueError):
        id_kind("1234")


def test_the_company_comes_from_metadata_then_from_a_single_configured_company():
    assert company_for({"metadata": {"qb_company": "east"}}, ["east", "west"]) == "east"
    assert company_for({"metadata": {"qb_company": "nowhere"}}, ["east", "west"]) == UNRESOLVED
    assert company_for({}, ["only"]) == "only"


def test_a_euro_payment_is_posted_in_euros_with_stripes_rate_into_the_home_currency():
    payment = _payment(12000, currency="eur", settlement_currency="usd", exchange_rate="1.0825")
    plan = plan_payment(payment, "C1", INVOICE)
    body = receive_payment_add_for(
        plan, "eur", payment_method="Stripe", deposit_account="Undeposited Funds", exchange_rate="1.0825"
    )
    assert "<TotalAmount>120.00</TotalAmount><ExchangeRate>1.0825</ExchangeRate>" in body
    assert "<PaymentAmount>100.00</PaymentAmount>" in body, "applied in the invoice's (customer's) currency"
    assert_valid_request(body)
    home = receive_payment_add_for(plan, "usd", payment_method="Stripe", deposit_account="Undeposited Funds")
    assert "ExchangeRate" not in home


def test_a_foreign_payment_is_refused_while_multicurrency_is_off_with_what_to_do():
    reason = currency_refusal(_payment(5000, currency="eur"), "usd", multicurrency=False)
    assert "EUR" in reason and "USD" in reason and "multicurrency is off" in reason
    assert "MLC_MULTICURRENCY=true" in reason and "by hand" in reason


def test_a_foreign_payment_is_accepted_with_multicurrency_on_whether_or_not_stripe_has_settled_it():
    settled = _payment(5000, currency="eur", settlement_currency="usd", exchange_rate="1.0825")
    unsettled = _payment(5000, currency="eur")
    assert currency_refusal(settled, "usd", multicurrency=True) == ""
    assert currency_refusal(unsettled, "usd", multicurrency=True) == "", "no rate yet: wait, do not refuse"
    assert currency_refusal(_payment(5000), "usd", multicurrency=False) == "", "home currency: nothing to say"


def test_a_payment_stripe_settled_in_a_third_currency_is_refused_since_no_rate_reaches_the_home_currency():
    payment = _payment(5000, currency="eur", settlement_currency="gbp", exchange_rate="0.8541")
    reason = currency_refusal(payment, "usd", multicurrency=True)
    assert "settled" in reason and "GBP" in reason and "by hand" in reason


def test_a_foreign_amount_is_rounded_into_the_home_currency_half_up_as_quickbooks_does():
    """EUR 0.25 at 0.5 is USD 0.125: QuickBooks books 0.13; half-even rounding (Python's default) gave 0.12."""
    payment = _payment(25, currency="eur", settlement_currency="usd", exchange_rate="0.5")
    assert home_amount(25, payment, "usd") == Decimal("0.13")
    assert home_amount(75, payment, "usd") == Decimal("0.38")  # 0.375: half-even would agree here
    # A zero-decimal home currency rounds to whole units: EUR 1.00 at 150.5 is JPY 151 (half-even: 150).
    assert str(home_amount(100, _payment(100, currency="eur", exchange_rate="150.5"), "jpy")) == "151"


def test_a_home_currency_amount_is_taken_as_it_is():
    assert home_amount(4000, _payment(4000), "usd") == Decimal("40.00")


def test_the_plan_is_described_in_a_bookkeepers_words():
    choice = InvoiceChoice(INVOICE, InvoiceSource.INVOICE_LINK, "stored invoice link 80-1")
    over = plan_payment(_payment(12000), "C1", INVOICE)
    assert describe(over, choice, "usd") == (
        "100.00 of 120.00 applied to invoice 80-1 (stored invoice link 80-1); 20.00 left as credit"
    )
    none = InvoiceChoice(None, InvoiceSource.NONE, "Stripe names no invoice and the fallback is off")
    assert describe(plan_payment(_payment(4000), "C1", None), none, "usd") == (
        "40.00 left unapplied as a credit (Stripe names no invoice and the fallback is off)"
    )
