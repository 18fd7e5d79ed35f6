"""A multicurrency company file in the simulator: the preference, customers in their own currency, and
payments recorded in that currency at an exchange rate, worth TotalAmount × rate in the home currency."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.simulator.company import CompanyFile, NewInvoiceLine
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.schema import response_errors
from ml_connector.simulator.seed import ChartIds, seed_chart_of_accounts

NOW = datetime(2024, 3, 12, 20, 45, 30, tzinfo=UTC)


def _rs(processor: QuickBooksProcessor, request: str) -> etree._Element:
    reply = processor.process(
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="continueOnError">{request}</QBXMLMsgsRq></QBXML>'
    )
    assert response_errors(reply) == []
    messages = etree.fromstring(reply.encode()).find("QBXMLMsgsRs")
    assert messages is not None and len(messages) == 1
    return messages[0]


def _payment(customer_id: str, total: str, invoice: str | None, rate: str | None) -> str:
    rate_element = f"<ExchangeRate>{rate}</ExchangeRate>" if rate is not None else ""
    apply = (
        f"<AppliedToTxnAdd><TxnID>{invoice}</TxnID><PaymentAmount>{total}</PaymentAmount></AppliedToTxnAdd>"
        if invoice
        else "<IsAutoApply>false</IsAutoApply>"
    )
    return (
        f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{customer_id}</ListID></CustomerRef>"
        f"<TxnDate>2024-03-12</TxnDate><RefNumber>ch_3Oeur</RefNumber><TotalAmount>{total}</TotalAmount>"
        f"{rate_element}<DepositToAccountRef><FullName>Undeposited Funds</FullName></DepositToAccountRef>"
        f"{apply}</ReceivePaymentAdd></ReceivePaymentAddRq>"
    )


@pytest.fixture
def company() -> CompanyFile:
    return CompanyFile(clock=lambda: NOW)


@pytest.fixture
def chart(company: CompanyFile) -> ChartIds:
    return seed_chart_of_accounts(company)


def test_a_new_company_file_has_multicurrency_off_and_says_so(company: CompanyFile, chart: ChartIds) -> None:
    rs = _rs(QuickBooksProcessor(company), "<PreferencesQueryRq/>")
    assert rs.findtext("PreferencesRet/MultiCurrencyPreferences/IsMultiCurrencyOn") == "false"
    assert rs.find("PreferencesRet/MultiCurrencyPreferences/HomeCurrencyRef") is None
    customer = company.add_customer("Lyon SA")
    with pytest.raises(ValueError, match="multicurrency"):
        company.set_customer_currency(customer.list_id, "EUR")


def test_an_exchange_rate_is_refused_while_multicurrency_is_off(
    company: CompanyFile, chart: ChartIds
) -> None:
    customer = company.add_customer("Lyon SA")
    rs = _rs(QuickBooksProcessor(company), _payment(customer.list_id, "120.00", None, "1.0825"))
    assert rs.get("statusCode") == "3250"
    assert "not enabled" in (rs.get("statusMessage") or "")
    assert company.receive_payments == {}


def test_with_multicurrency_on_a_euro_customer_pays_in_euros_worth_amount_times_rate_in_dollars(
    company: CompanyFile, chart: ChartIds
) -> None:
    company.turn_on_multicurrency("USD")
    customer = company.set_customer_currency(company.add_customer("Lyon SA").list_id, "EUR")
    invoice = company.add_invoice(
        customer.list_id, [NewInvoiceLine(item_id=chart.items[0], amount=Decimal("150"))]
    )
    processor = QuickBooksProcessor(company)

    prefs = _rs(processor, "<PreferencesQueryRq/>").find("PreferencesRet/MultiCurrencyPreferences")
    assert prefs is not None and prefs.findtext("IsMultiCurrencyOn") == "true"
    assert prefs.findtext("HomeCurrencyRef/FullName") == "US Dollar"
    listed = _rs(processor, f"<CustomerQueryRq><ListID>{customer.list_id}</ListID></CustomerQueryRq>")
    assert listed.findtext("CustomerRet/CurrencyRef/FullName") == "Euro"

    rs = _rs(processor, _payment(customer.list_id, "120.00", invoice.txn_id, "1.0825"))
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    ret = rs.find("ReceivePaymentRet")
    assert ret is not None
    assert ret.findtext("TotalAmount") == "120.00" and ret.findtext("CurrencyRef/FullName") == "Euro"
    assert ret.findtext("ExchangeRate") == "1.0825"
    assert ret.findtext("TotalAmountInHomeCurrency") == "129.90"
    assert ret.findtext("AppliedToTxnRet/BalanceRemaining") == "30.00", "the invoice is paid down in euros"
    undeposited = company.accounts[chart.undeposited_funds]
    assert company.account_balance(undeposited) == Decimal("129.90"), "the deposit counts in dollars"


def test_with_multicurrency_on_the_rate_must_fit_the_customer(company: CompanyFile, chart: ChartIds) -> None:
    company.turn_on_multicurrency("USD")
    euro = company.set_customer_currency(company.add_customer("Lyon SA").list_id, "EUR")
    dollar = company.add_customer("Austin LLC")
    processor = QuickBooksProcessor(company)

    missing = _rs(processor, _payment(euro.list_id, "10.00", None, None))
    assert (missing.get("statusCode"), "ExchangeRate" in (missing.get("statusMessage") or "")) == (
        "3150",
        True,
    )
    home_with_rate = _rs(processor, _payment(dollar.list_id, "10.00", None, "1.0825"))
    assert home_with_rate.get("statusCode") == "3210"
    home = _rs(processor, _payment(dollar.list_id, "10.00", None, None))
    assert home.get("statusCode") == "0"
    assert home.findtext("ReceivePaymentRet/ExchangeRate") == "1"
    assert home.findtext("ReceivePaymentRet/TotalAmountInHomeCurrency") == "10.00"
    assert len(company.receive_payments) == 1


def test_the_multicurrency_preference_and_customer_currencies_survive_save_and_load(
    company: CompanyFile, chart: ChartIds, tmp_path
) -> None:
    company.turn_on_multicurrency("USD")
    customer = company.set_customer_currency(company.add_customer("Lyon SA").list_id, "EUR")
    company.add_receive_payment(
        customer.list_id, total_amount=Decimal("10.00"), exchange_rate=Decimal("1.0825")
    )
    company.save(tmp_path / "company.json")
    loaded = CompanyFile.load(tmp_path / "company.json")
    assert loaded.multicurrency and loaded.home_currency == "USD"
    assert loaded.customers[customer.list_id].currency == "EUR"
    (payment,) = loaded.receive_payments.values()
    assert (payment.exchange_rate, payment.home_amount) == (Decimal("1.0825"), Decimal("10.83"))
