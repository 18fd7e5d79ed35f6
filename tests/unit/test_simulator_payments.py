"""Invoices and received payments through qbXML: balances to the cent, the overpayment and reference rules,
unused payments, auto-apply, deletion, and the queries a Stripe sync relies on."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from ml_connector.simulator.company import CompanyFile, NewInvoiceLine
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.schema import response_errors
from ml_connector.simulator.seed import SeedResult, seed_company

NOW = datetime(2024, 3, 12, 20, 45, 30, tzinfo=UTC)  # 16:45:30 EDT, written -05:00


class SteppableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def envelope(*requests: str, on_error: str = "continueOnError") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def one(processor: QuickBooksProcessor, request: str) -> etree._Element:
    reply = processor.process(envelope(request))
    assert response_errors(reply) == []
    messages = etree.fromstring(reply.encode()).find("QBXMLMsgsRs")
    assert messages is not None and len(messages) == 1
    return messages[0]


def money(element: etree._Element, path: str) -> Decimal:
    text = element.findtext(path)
    assert text is not None, path
    return Decimal(text)


@pytest.fixture
def clock() -> SteppableClock:
    return SteppableClock(NOW)


@pytest.fixture
def company(clock: SteppableClock) -> CompanyFile:
    return CompanyFile(clock=clock)


@pytest.fixture
def seeded(company: CompanyFile) -> SeedResult:
    return seed_company(company, customers=6, open_invoices=0, now=NOW)


@pytest.fixture
def processor(company: CompanyFile, seeded: SeedResult) -> QuickBooksProcessor:
    return QuickBooksProcessor(company)


@pytest.fixture
def customer_id(seeded: SeedResult) -> str:
    return seeded.customer_ids[-1]


def invoice_add(customer_id: str, *lines: tuple[str, str, str], extra: str = "") -> str:
    body = "".join(
        f"<InvoiceLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Quantity>{qty}</Quantity>"
        f"<Rate>{rate}</Rate></InvoiceLineAdd>"
        for item, qty, rate in lines
    )
    return (
        f"<InvoiceAddRq><InvoiceAdd><CustomerRef><ListID>{customer_id}</ListID></CustomerRef>{extra}{body}"
        "</InvoiceAdd></InvoiceAddRq>"
    )


def add_invoice(
    processor: QuickBooksProcessor, customer_id: str, amount: str, extra: str = ""
) -> etree._Element:
    rs = one(processor, invoice_add(customer_id, ("Consulting", "1", amount), extra=extra))
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    ret = rs.find("InvoiceRet")
    assert ret is not None
    return ret


def payment_add(customer_id: str, total: str | None, *applied: tuple[str, str], extra: str = "") -> str:
    total_element = f"<TotalAmount>{total}</TotalAmount>" if total is not None else ""
    applications = "".join(
        f"<AppliedToTxnAdd><TxnID>{txn}</TxnID><PaymentAmount>{amount}</PaymentAmount></AppliedToTxnAdd>"
        for txn, amount in applied
    )
    return (
        f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{customer_id}</ListID></CustomerRef>"
        f"<TxnDate>2024-03-12</TxnDate><RefNumber>pi_3Oabc</RefNumber>{total_element}"
        f"<PaymentMethodRef><FullName>Stripe</FullName></PaymentMethodRef>{extra}"
        f"{applications or '<IsAutoApply>false</IsAutoApply>'}</ReceivePaymentAdd></ReceivePaymentAddRq>"
    )


# -- Invoices ------------------------------------------------------------------------------------------------


def test_invoice_add_prices_the_lines_and_numbers_the_invoice(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    rs = one(
        processor, invoice_add(customer_id, ("Consulting", "3", "150.00"), ("Hardware Kit", "2", "249.95"))
    )
    ret = rs.find("InvoiceRet")
    assert ret is not None
    assert ret.findtext("RefNumber") == "1001"
    assert money(ret, "Subtotal") == Decimal("949.90") == money(ret, "BalanceRemaining")
    assert (ret.findtext("AppliedAmount"), ret.findtext("IsPaid")) == ("0.00", "false")
    assert [line.findtext("Amount") for line in ret.findall("InvoiceLineRet")] == ["450.00", "499.90"]
    assert ret.findtext("TxnDate") == ret.findtext("DueDate") == "2024-03-12"
    assert ret.findtext("TimeCreated") == "2024-03-12T16:45:30-05:00"
    assert ret.findtext("ARAccountRef/FullName") == "Accounts Receivable"
    second = add_invoice(processor, customer_id, "10.00")
    assert second.findtext("RefNumber") == "1002"


def test_invoice_add_refers_to_existing_customers_and_items(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    assert one(processor, invoice_add("80000999-1", ("Consulting", "1", "1.00"))).get("statusCode") == "3140"
    rs = one(processor, invoice_add(customer_id, ("Gold Plating", "1", "1.00")))
    assert rs.get("statusCode") == "3140" and "Item" in (rs.get("statusMessage") or "")


def test_invoices_are_queried_by_txn_id_ref_number_customer_and_paid_status(
    processor: QuickBooksProcessor, seeded: SeedResult
) -> None:
    first, second = seeded.customer_ids[0], seeded.customer_ids[1]
    a = add_invoice(processor, first, "100.00", extra="<RefNumber>INV-A</RefNumber>")
    add_invoice(processor, second, "200.00", extra="<RefNumber>INV-B</RefNumber>")
    one(processor, payment_add(first, "100.00", (a.findtext("TxnID") or "", "100.00")))

    def refs(query: str) -> list[str | None]:
        rs = one(processor, f"<InvoiceQueryRq>{query}</InvoiceQueryRq>")
        return [r.findtext("RefNumber") for r in rs.findall("InvoiceRet")]

    assert refs(f"<TxnID>{a.findtext('TxnID')}</TxnID>") == ["INV-A"]
    assert refs("<RefNumber>inv-b</RefNumber>") == ["INV-B"]
    assert refs("<RefNumberCaseSensitive>inv-b</RefNumberCaseSensitive>") == []
    assert refs(f"<EntityFilter><ListID>{second}</ListID></EntityFilter>") == ["INV-B"]
    assert refs("<PaidStatus>PaidOnly</PaidStatus>") == ["INV-A"]
    assert refs("<PaidStatus>NotPaidOnly</PaidStatus>") == ["INV-B"]
    assert refs("<TxnDateRangeFilter><FromTxnDate>2024-03-13</FromTxnDate></TxnDateRangeFilter>") == []
    assert refs(
        "<RefNumberFilter><MatchCriterion>StartsWith</MatchCriterion><RefNumber>INV-</RefNumber></RefNumberFilter>"
    ) == ["INV-A", "INV-B"]
    missing = one(processor, "<InvoiceQueryRq><TxnID>1A2B-9999999999</TxnID></InvoiceQueryRq>")
    assert (missing.get("statusCode"), missing.get("statusMessage")) == (
        "3120",
        'Object "1A2B-9999999999" specified in the request cannot be found.  ',
    )


def test_line_items_and_linked_payments_are_returned_only_when_asked(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    invoice = add_invoice(processor, customer_id, "300.00")
    txn_id = invoice.findtext("TxnID") or ""
    payment = one(processor, payment_add(customer_id, "120.00", (txn_id, "120.00"))).find("ReceivePaymentRet")
    assert payment is not None
    bare = one(processor, f"<InvoiceQueryRq><TxnID>{txn_id}</TxnID></InvoiceQueryRq>").find("InvoiceRet")
    assert bare is not None and bare.find("InvoiceLineRet") is None and bare.find("LinkedTxn") is None
    full = one(
        processor,
        f"<InvoiceQueryRq><TxnID>{txn_id}</TxnID><IncludeLineItems>true</IncludeLineItems>"
        "<IncludeLinkedTxns>true</IncludeLinkedTxns></InvoiceQueryRq>",
    ).find("InvoiceRet")
    assert full is not None and len(full.findall("InvoiceLineRet")) == 1
    linked = full.find("LinkedTxn")
    assert linked is not None
    assert (linked.findtext("TxnID"), linked.findtext("TxnType"), linked.findtext("Amount")) == (
        payment.findtext("TxnID"),
        "ReceivePayment",
        "-120.00",
    )


def test_invoices_modified_since_a_watermark_include_those_touched_by_payments(
    processor: QuickBooksProcessor, customer_id: str, clock: SteppableClock
) -> None:
    invoice = add_invoice(processor, customer_id, "50.00")
    clock.advance(hours=2)  # 18:45:30 local
    one(processor, payment_add(customer_id, "5.00", (invoice.findtext("TxnID") or "", "5.00")))
    rs = one(
        processor,
        "<InvoiceQueryRq><ModifiedDateRangeFilter><FromModifiedDate>2024-03-12T18:00:00</FromModifiedDate>"
        "</ModifiedDateRangeFilter></InvoiceQueryRq>",
    )
    assert [r.findtext("TxnID") for r in rs.findall("InvoiceRet")] == [invoice.findtext("TxnID")]
    assert rs.findtext("InvoiceRet/TimeModified") == "2024-03-12T18:45:30-05:00"


# -- Payments ------------------------------------------------------------------------------------------------


def test_a_payment_applied_to_an_invoice_reduces_its_balance_to_the_cent(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    invoice = add_invoice(processor, customer_id, "1500.00")
    txn_id = invoice.findtext("TxnID") or ""
    guid = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
    rs = one(
        processor,
        payment_add(customer_id, "250.10", (txn_id, "250.10"), extra=f"<ExternalGUID>{guid}</ExternalGUID>"),
    )
    ret = rs.find("ReceivePaymentRet")
    assert rs.get("statusCode") == "0" and ret is not None
    assert (money(ret, "TotalAmount"), money(ret, "UnusedPayment")) == (Decimal("250.10"), Decimal("0.00"))
    assert ret.findtext("ExternalGUID") == guid
    assert ret.findtext("DepositToAccountRef/FullName") == "Undeposited Funds"
    assert ret.findtext("AppliedToTxnRet/TxnID") == txn_id
    assert money(ret, "AppliedToTxnRet/Amount") == Decimal("250.10")
    assert money(ret, "AppliedToTxnRet/BalanceRemaining") == Decimal("1249.90")
    stored = company.invoices[txn_id]
    assert (stored.balance_remaining, stored.applied_amount, stored.is_paid) == (
        Decimal("1249.90"),
        Decimal("250.10"),
        False,
    )
    again = one(processor, f"<InvoiceQueryRq><TxnID>{txn_id}</TxnID></InvoiceQueryRq>").find("InvoiceRet")
    assert again is not None and money(again, "AppliedAmount") == Decimal("-250.10")
    assert company.customers[customer_id].balance == Decimal("1249.90")


def test_paying_the_rest_marks_the_invoice_paid(processor: QuickBooksProcessor, customer_id: str) -> None:
    txn_id = add_invoice(processor, customer_id, "99.99").findtext("TxnID") or ""
    one(processor, payment_add(customer_id, "33.33", (txn_id, "33.33")))
    one(processor, payment_add(customer_id, "66.66", (txn_id, "66.66")))
    invoice = one(processor, f"<InvoiceQueryRq><TxnID>{txn_id}</TxnID></InvoiceQueryRq>").find("InvoiceRet")
    assert invoice is not None
    assert (invoice.findtext("BalanceRemaining"), invoice.findtext("IsPaid")) == ("0.00", "true")


def test_paying_more_than_is_due_is_refused_with_3210_and_changes_nothing(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    txn_id = add_invoice(processor, customer_id, "100.00").findtext("TxnID") or ""
    rs = one(processor, payment_add(customer_id, "100.01", (txn_id, "100.01")))
    assert rs.get("statusCode") == "3210"
    assert "You cannot pay more than the amount due." in (rs.get("statusMessage") or "")
    assert company.invoices[txn_id].balance_remaining == Decimal("100.00")
    assert not company.receive_payments


def test_a_payment_larger_than_what_it_applies_leaves_an_unused_credit(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    txn_id = add_invoice(processor, customer_id, "80.00").findtext("TxnID") or ""
    ret = one(processor, payment_add(customer_id, "100.00", (txn_id, "80.00"))).find("ReceivePaymentRet")
    assert ret is not None and money(ret, "UnusedPayment") == Decimal("20.00")
    assert company.customers[customer_id].balance == Decimal("-20.00")
    customer = one(processor, f"<CustomerQueryRq><ListID>{customer_id}</ListID></CustomerQueryRq>")
    assert customer.findtext("CustomerRet/Balance") == "-20.00"


def test_applying_more_than_the_total_amount_is_refused(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    txn_id = add_invoice(processor, customer_id, "80.00").findtext("TxnID") or ""
    assert one(processor, payment_add(customer_id, "50.00", (txn_id, "60.00"))).get("statusCode") == "3210"


def test_auto_apply_pays_the_oldest_invoices_first(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    newer = add_invoice(processor, customer_id, "100.00", extra="<TxnDate>2024-03-10</TxnDate>")
    older = add_invoice(processor, customer_id, "100.00", extra="<TxnDate>2024-02-01</TxnDate>")
    rs = one(
        processor,
        f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{customer_id}</ListID></CustomerRef>"
        "<TotalAmount>150.00</TotalAmount><IsAutoApply>true</IsAutoApply></ReceivePaymentAdd></ReceivePaymentAddRq>",
    )
    assert rs.get("statusCode") == "0"
    assert company.invoices[older.findtext("TxnID") or ""].balance_remaining == Decimal("0.00")
    assert company.invoices[newer.findtext("TxnID") or ""].balance_remaining == Decimal("50.00")


def test_payments_must_name_an_existing_customer_and_that_customers_invoices(
    processor: QuickBooksProcessor, seeded: SeedResult
) -> None:
    owner, stranger = seeded.customer_ids[0], seeded.customer_ids[1]
    txn_id = add_invoice(processor, owner, "10.00").findtext("TxnID") or ""
    unknown_customer = one(processor, payment_add("80000099-1700000000", "10.00", (txn_id, "10.00")))
    assert unknown_customer.get("statusCode") == "3140"
    assert unknown_customer.get("statusMessage", "").startswith(
        'There is an invalid reference to QuickBooks Customer "80000099-1700000000" in the ReceivePayment.'
    )
    assert (
        one(processor, payment_add(owner, "10.00", ("1A2B-9999999999", "10.00"))).get("statusCode") == "3120"
    )
    assert one(processor, payment_add(stranger, "10.00", (txn_id, "10.00"))).get("statusCode") == "3120"
    bad_account = payment_add(
        owner,
        "1.00",
        (txn_id, "1.00"),
        extra="<DepositToAccountRef><FullName>Nowhere</FullName></DepositToAccountRef>",
    )
    assert one(processor, bad_account).get("statusCode") == "3140"


def test_an_invoice_in_use_refuses_the_payment_with_3175(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    txn_id = add_invoice(processor, customer_id, "10.00").findtext("TxnID") or ""
    processor.lock(txn_id)
    assert one(processor, payment_add(customer_id, "10.00", (txn_id, "10.00"))).get("statusCode") == "3175"
    assert one(processor, payment_add(customer_id, "10.00", (txn_id, "10.00"))).get("statusCode") == "0"


def test_deleting_a_payment_restores_the_invoice_balance(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    txn_id = add_invoice(processor, customer_id, "70.00").findtext("TxnID") or ""
    payment = one(processor, payment_add(customer_id, "70.00", (txn_id, "70.00"))).find("ReceivePaymentRet")
    assert payment is not None and company.invoices[txn_id].is_paid
    payment_id = payment.findtext("TxnID")
    rs = one(
        processor, f"<TxnDelRq><TxnDelType>ReceivePayment</TxnDelType><TxnID>{payment_id}</TxnID></TxnDelRq>"
    )
    assert (rs.get("statusCode"), rs.findtext("TxnID"), rs.findtext("RefNumber")) == (
        "0",
        payment_id,
        "pi_3Oabc",
    )
    assert company.invoices[txn_id].balance_remaining == Decimal("70.00")
    assert company.customers[customer_id].balance == Decimal("70.00")
    gone = one(processor, f"<ReceivePaymentQueryRq><TxnID>{payment_id}</TxnID></ReceivePaymentQueryRq>")
    assert gone.get("statusCode") == "3120"
    again = one(
        processor, f"<TxnDelRq><TxnDelType>ReceivePayment</TxnDelType><TxnID>{payment_id}</TxnID></TxnDelRq>"
    )
    assert again.get("statusCode") == "3120"


def test_payments_are_found_by_ref_number_date_customer_and_with_their_applications(
    processor: QuickBooksProcessor, seeded: SeedResult
) -> None:
    first, second = seeded.customer_ids[0], seeded.customer_ids[1]
    txn_id = add_invoice(processor, first, "40.00").findtext("TxnID") or ""
    one(processor, payment_add(first, "40.00", (txn_id, "40.00")))
    one(processor, payment_add(second, "5.00").replace("pi_3Oabc", "ch_other"))

    def refs(query: str) -> list[str | None]:
        rs = one(processor, f"<ReceivePaymentQueryRq>{query}</ReceivePaymentQueryRq>")
        return [r.findtext("RefNumber") for r in rs.findall("ReceivePaymentRet")]

    assert refs("<RefNumber>pi_3Oabc</RefNumber>") == ["pi_3Oabc"]
    assert refs(
        "<TxnDateRangeFilter><FromTxnDate>2024-03-01</FromTxnDate><ToTxnDate>2024-03-31</ToTxnDate>"
        f"</TxnDateRangeFilter><EntityFilter><ListID>{second}</ListID></EntityFilter>"
    ) == ["ch_other"]
    assert refs(
        "<RefNumberFilter><MatchCriterion>StartsWith</MatchCriterion><RefNumber>pi_</RefNumber></RefNumberFilter>"
    ) == ["pi_3Oabc"]
    with_lines = one(
        processor, "<ReceivePaymentQueryRq><RefNumber>pi_3Oabc</RefNumber><IncludeLineItems>true</IncludeLineItems>"
        "</ReceivePaymentQueryRq>"
    )  # fmt: skip
    assert with_lines.findtext("ReceivePaymentRet/AppliedToTxnRet/TxnID") == txn_id
    without = one(processor, "<ReceivePaymentQueryRq><RefNumber>pi_3Oabc</RefNumber></ReceivePaymentQueryRq>")
    assert without.find("ReceivePaymentRet/AppliedToTxnRet") is None


def test_invoice_and_payment_queries_iterate_page_by_page(company: CompanyFile) -> None:
    seed_company(company, customers=30, open_invoices=120, now=NOW)
    processor = QuickBooksProcessor(company)
    for query, ret in (("InvoiceQueryRq", "InvoiceRet"), ("ReceivePaymentQueryRq", "ReceivePaymentRet")):
        rs = one(processor, f'<{query} iterator="Start"><MaxReturned>25</MaxReturned></{query}>')
        seen = [r.findtext("TxnID") for r in rs.findall(ret)]
        while int(rs.get("iteratorRemainingCount") or 0) > 0:
            rs = one(
                processor,
                f'<{query} iterator="Continue" iteratorID="{rs.get("iteratorID")}"><MaxReturned>25</MaxReturned>'
                f"</{query}>",
            )
            seen += [r.findtext("TxnID") for r in rs.findall(ret)]
        expected = company.invoices if ret == "InvoiceRet" else company.receive_payments
        assert sorted(seen) == sorted(expected)  # type: ignore[type-var]


def test_one_receive_payment_per_stripe_payment_balances_to_the_cent(
    company: CompanyFile, clock: SteppableClock
) -> None:
    """The end-to-end property the connector promises, checked the way a test of it will: each Stripe payment
    becomes exactly one ReceivePayment (found by ExternalGUID) and every balance adds up to the cent."""
    seeded = seed_company(company, customers=10, open_invoices=0, now=NOW)
    processor = QuickBooksProcessor(company)
    rng = random.Random(3)
    invoices: dict[str, Decimal] = {}
    for customer_id in seeded.customer_ids:
        for _ in range(3):
            cents = Decimal(rng.randint(1_00, 5_000_00)).scaleb(-2)
            txn_id = company.add_invoice(customer_id, [NewInvoiceLine(amount=cents)]).txn_id
            invoices[txn_id] = cents
    stripe_payments: dict[str, tuple[str, str, Decimal]] = {}
    for n, (txn_id, due) in enumerate(sorted(invoices.items())):
        part = Decimal(rng.randint(1, int(due * 100))).scaleb(-2)
        stripe_payments[f"pi_{n:04d}"] = (company.invoices[txn_id].customer_id, txn_id, part)
    for stripe_id, (customer_id, txn_id, amount) in stripe_payments.items():
        clock.advance(seconds=1)
        guid = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, stripe_id)).upper() + "}"
        extra = f"<ExternalGUID>{guid}</ExternalGUID>"
        rs = one(processor, payment_add(customer_id, str(amount), (txn_id, str(amount)), extra=extra).replace(
            "pi_3Oabc", stripe_id
        ))  # fmt: skip
        assert rs.get("statusCode") == "0"
    by_guid: dict[str | None, int] = {}
    for payment in company.receive_payments.values():
        by_guid[payment.external_guid] = by_guid.get(payment.external_guid, 0) + 1
    assert len(company.receive_payments) == len(stripe_payments) and set(by_guid.values()) == {1}
    for stripe_id, (customer_id, txn_id, amount) in stripe_payments.items():
        (payment,) = [p for p in company.receive_payments.values() if p.ref_number == stripe_id]
        assert payment.total_amount == amount and payment.unused_payment == Decimal("0.00")
        assert company.invoices[txn_id].balance_remaining == invoices[txn_id] - amount
    for customer_id in seeded.customer_ids:
        owed = sum(
            (invoices[t] for t in invoices if company.invoices[t].customer_id == customer_id), Decimal(0)
        )
        paid = sum((a for c, _, a in stripe_payments.values() if c == customer_id), Decimal(0))
        assert company.customers[customer_id].balance == owed - paid


def test_txn_dates_default_to_the_companys_local_today(
    processor: QuickBooksProcessor, customer_id: str, clock: SteppableClock
) -> None:
    clock.now = datetime(2024, 3, 13, 3, 30, tzinfo=UTC)  # still 12 March in New York
    invoice = add_invoice(processor, customer_id, "1.00")
    assert invoice.findtext("TxnDate") == date(2024, 3, 12).isoformat()


def test_an_ar_account_ref_must_name_a_receivables_account(
    processor: QuickBooksProcessor, customer_id: str
) -> None:
    rs = one(
        processor,
        invoice_add(
            customer_id,
            ("Consulting", "1", "1.00"),
            extra="<ARAccountRef><FullName>Checking</FullName></ARAccountRef>",
        ),
    )
    assert rs.get("statusCode") == "3140" and '"Checking"' in (rs.get("statusMessage") or "")


def test_a_parents_total_balance_includes_its_jobs(
    processor: QuickBooksProcessor, company: CompanyFile, customer_id: str
) -> None:
    job = company.add_customer("Phase 2", parent_id=customer_id)
    add_invoice(processor, customer_id, "10.00")
    add_invoice(processor, job.list_id, "32.50")
    parent = one(processor, f"<CustomerQueryRq><ListID>{customer_id}</ListID></CustomerQueryRq>").find(
        "CustomerRet"
    )
    assert parent is not None
    assert (parent.findtext("Balance"), parent.findtext("TotalBalance")) == ("10.00", "42.50")
    by_family = one(
        processor,
        f"<InvoiceQueryRq><EntityFilter><ListIDWithChildren>{customer_id}</ListIDWithChildren></EntityFilter></InvoiceQueryRq>",
    )
    assert by_family.get("retCount") == "2"


def deleted_since(processor: QuickBooksProcessor, since: str | None, *types: str) -> list[etree._Element]:
    window = (
        f"<DeletedDateRangeFilter><FromDeletedDate>{since}</FromDeletedDate></DeletedDateRangeFilter>"
        if since
        else ""
    )
    kinds = "".join(f"<TxnDelType>{t}</TxnDelType>" for t in types)
    rs = one(processor, f"<TxnDeletedQueryRq>{kinds}{window}</TxnDeletedQueryRq>")
    assert rs.get("statusCode") in ("0", "1")
    return rs.findall("TxnDeletedRet")


def test_deleted_transactions_are_listed_with_the_time_they_were_deleted(
    processor: QuickBooksProcessor, company: CompanyFile, clock: SteppableClock, customer_id: str
) -> None:
    early = add_invoice(processor, customer_id, "40.00").findtext("TxnID") or ""
    late = add_invoice(processor, customer_id, "60.00", extra="<RefNumber>INV-9</RefNumber>").findtext(
        "TxnID"
    )
    assert late is not None
    assert deleted_since(processor, None, "Invoice") == [], "nothing deleted yet"
    one(processor, f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{early}</TxnID></TxnDelRq>")
    clock.advance(minutes=10)
    rs = one(processor, f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{late}</TxnID></TxnDelRq>")
    assert rs.findtext("TimeDeleted") == "2024-03-12T16:55:30-05:00"

    everything = deleted_since(processor, None, "Invoice")
    assert [(r.findtext("TxnID"), r.findtext("TimeDeleted")) for r in everything] == [
        (early, "2024-03-12T16:45:30-05:00"),
        (late, "2024-03-12T16:55:30-05:00"),
    ]
    assert everything[1].findtext("RefNumber") == "INV-9"
    assert everything[1].findtext("TimeCreated") == "2024-03-12T16:45:30-05:00"
    recent = deleted_since(processor, "2024-03-12T16:50:00", "Invoice")
    assert [r.findtext("TxnID") for r in recent] == [late], "the window is QuickBooks' wall clock"
    assert deleted_since(processor, None, "ReceivePayment") == [], "only the types asked for"
    gone = one(processor, f"<InvoiceQueryRq><TxnID>{late}</TxnID></InvoiceQueryRq>")
    assert gone.get("statusCode") == "3120", "a deleted invoice is gone from every other query"

    reloaded = QuickBooksProcessor(CompanyFile.from_json(company.to_json(), clock=clock))
    assert [r.findtext("TxnID") for r in deleted_since(reloaded, None, "Invoice", "ReceivePayment")] == [
        early,
        late,
    ], "the company file remembers its deletions"
