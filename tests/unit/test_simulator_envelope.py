"""The simulated request processor at the document level: what QuickBooks refuses outright, how a message
set runs (stopOnError / continueOnError, requestID), error recovery, and the fault switches."""

from __future__ import annotations

import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from ml_connector.simulator import schema
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor, RecoveryAnswer, RequestProcessorError
from ml_connector.simulator.schema import response_errors
from ml_connector.simulator.seed import seed_company

NOW = datetime(2024, 3, 12, 15, 0, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "qb" / "samples"


def envelope(*requests: str, on_error: str = "stopOnError", **attributes: str) -> str:
    extra = "".join(f' {name}="{value}"' for name, value in attributes.items())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}"{extra}>{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def customer_add(name: str, request_id: str) -> str:
    return f'<CustomerAddRq requestID="{request_id}"><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>'


def answer(processor: QuickBooksProcessor, document: str) -> etree._Element:
    """Run a document; every reply must itself be valid qbXML."""
    reply = processor.process(document)
    assert reply.startswith('<?xml version="1.0" ?>')
    assert response_errors(reply) == []
    messages = etree.fromstring(reply.encode()).find("QBXMLMsgsRs")
    assert messages is not None
    return messages


@pytest.fixture
def company() -> CompanyFile:
    company = CompanyFile(clock=lambda: NOW)
    seed_company(company, customers=5, open_invoices=3, now=NOW)
    return company


@pytest.fixture
def processor(company: CompanyFile) -> QuickBooksProcessor:
    return QuickBooksProcessor(company)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">', "Not well-formed"),
        (
            '<?qbxml version="13.0"?><!DOCTYPE QBXML [<!ENTITY x "y">]>'
            '<QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>',
            "DOCTYPE",
        ),
        ('<QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>', "processing instruction is missing"),
        ('<?qbxml version="16.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>', "not supported"),
        ('<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq/></QBXML>', "onError"),
    ],
    ids=["not-well-formed", "doctype", "no-qbxml-version", "version-too-new", "onError-missing"],
)
def test_documents_quickbooks_cannot_read_fail_as_a_whole_with_0x80040400(
    processor: QuickBooksProcessor, document: str, reason: str
) -> None:
    with pytest.raises(RequestProcessorError) as failure:
        processor.process(document)
    assert failure.value.hresult == "0x80040400"
    assert "QuickBooks found an error when parsing the provided XML text stream." in failure.value.message
    assert reason in failure.value.message


def test_elements_out_of_schema_order_reject_the_whole_document_and_nothing_runs(
    processor: QuickBooksProcessor, company: CompanyFile
) -> None:
    before = len(company.customers)
    misordered = (
        '<CustomerAddRq requestID="2"><CustomerAdd><Email>a@b.example</Email><Name>Late Name</Name>'
        "</CustomerAdd></CustomerAddRq>"
    )
    with pytest.raises(RequestProcessorError) as failure:
        processor.process(envelope(customer_add("Valid First", "1"), misordered))
    assert failure.value.hresult == "0x80040400"
    assert "Email" in failure.value.message
    assert len(company.customers) == before


def test_unknown_elements_reject_the_document(processor: QuickBooksProcessor) -> None:
    with pytest.raises(RequestProcessorError, match="StripeId"):
        processor.process(
            envelope(
                "<CustomerAddRq><CustomerAdd><Name>X</Name><StripeId>1</StripeId></CustomerAdd></CustomerAddRq>"
            )
        )


def test_the_qbxml_samples_are_accepted(processor: QuickBooksProcessor) -> None:
    for sample in sorted(SAMPLES.glob("*.rq.xml")):
        answer(processor, sample.read_text(encoding="utf-8"))


def test_every_request_gets_a_status_and_its_request_id_echoed(processor: QuickBooksProcessor) -> None:
    messages = answer(
        processor,
        envelope(
            customer_add("First Ltd", "a-1"),
            '<CustomerQueryRq requestID="a-2"><FullName>First Ltd</FullName></CustomerQueryRq>',
            '<HostQueryRq requestID="a-3"/>',
        ),
    )
    assert [
        (rs.tag, rs.get("requestID"), rs.get("statusCode"), rs.get("statusSeverity")) for rs in messages
    ] == [
        ("CustomerAddRs", "a-1", "0", "Info"),
        ("CustomerQueryRs", "a-2", "0", "Info"),
        ("HostQueryRs", "a-3", "0", "Info"),
    ]
    assert all(rs.get("statusMessage") == "Status OK" for rs in messages)


def test_stop_on_error_leaves_later_requests_without_a_response(processor: QuickBooksProcessor) -> None:
    messages = answer(
        processor,
        envelope(customer_add("Alpha", "1"), customer_add("Alpha", "2"), customer_add("Beta", "3")),
    )
    assert [(rs.get("requestID"), rs.get("statusCode")) for rs in messages] == [("1", "0"), ("2", "3100")]
    assert processor.company.find_customer(full_name="Beta") is None


def test_continue_on_error_runs_every_request(processor: QuickBooksProcessor) -> None:
    messages = answer(
        processor,
        envelope(
            customer_add("Alpha", "1"), customer_add("Alpha", "2"), customer_add("Beta", "3"),
            on_error="continueOnError",
        ),
    )  # fmt: skip
    assert [(rs.get("requestID"), rs.get("statusCode")) for rs in messages] == [
        ("1", "0"),
        ("2", "3100"),
        ("3", "0"),
    ]
    assert messages[1].get("statusMessage") == 'The name "Alpha" of the list element is already in use.'


def test_a_warning_does_not_stop_the_message_set(processor: QuickBooksProcessor) -> None:
    messages = answer(
        processor,
        envelope(
            '<CustomerQueryRq requestID="1"><ListID>80000999-1700000000</ListID></CustomerQueryRq>',
            customer_add("After The Warning", "2"),
        ),
    )
    assert [(rs.get("statusCode"), rs.get("statusSeverity")) for rs in messages] == [
        ("500", "Warn"),
        ("0", "Info"),
    ]


def test_a_too_long_name_is_answered_with_3070_on_that_request_only(processor: QuickBooksProcessor) -> None:
    long_name = "N" * 42
    messages = answer(
        processor,
        envelope(customer_add(long_name, "1"), customer_add("Short Name", "2"), on_error="continueOnError"),
    )
    assert messages[0].get("statusCode") == "3070"
    assert messages[0].get("statusMessage") == f'The string "{long_name}" in the field "Name" is too long.'
    assert messages[1].get("statusCode") == "0"


def test_requests_the_simulator_does_not_implement_answer_3250_instead_of_pretending(
    processor: QuickBooksProcessor,
) -> None:
    messages = answer(processor, envelope('<VendorQueryRq requestID="v"/>', on_error="continueOnError"))
    assert (messages[0].tag, messages[0].get("statusCode")) == ("VendorQueryRs", "3250")
    assert "does not implement VendorQueryRq" in (messages[0].get("statusMessage") or "")


def test_unsupported_fields_inside_a_supported_request_answer_3250(processor: QuickBooksProcessor) -> None:
    document = envelope(
        '<CustomerAddRq requestID="1"><CustomerAdd><Name>Termed Ltd</Name><TermsRef><FullName>Net 30</FullName>'
        "</TermsRef></CustomerAdd></CustomerAddRq>"
    )
    messages = answer(processor, document)
    assert messages[0].get("statusCode") == "3250"
    assert processor.company.find_customer(full_name="Termed Ltd") is None


def test_a_request_id_longer_than_50_characters_gets_1060(processor: QuickBooksProcessor) -> None:
    messages = answer(processor, envelope(customer_add("Whatever", "r" * 51)))
    assert messages[0].get("statusCode") == "1060"


def test_response_data_include_none_keeps_statuses_but_drops_records(processor: QuickBooksProcessor) -> None:
    messages = answer(processor, envelope(customer_add("Quiet Ltd", "1"), responseData="includeNone"))
    assert messages[0].get("statusCode") == "0" and len(messages[0]) == 0
    assert processor.company.find_customer(full_name="Quiet Ltd") is not None


@pytest.mark.parametrize(
    ("reading", "replayed"),
    [
        (RecoveryAnswer.LAST, ["2"]),  # the status of the last request processed (default reading)
        (RecoveryAnswer.ALL, ["1", "2"]),
        (RecoveryAnswer.NOTHING, []),
    ],
)
def test_a_status_check_with_old_message_set_id_runs_nothing_twice_under_every_reading(
    company: CompanyFile, reading: RecoveryAnswer, replayed: list[str]
) -> None:
    """Intuit's "Error recovery" page: oldMessageSetID asks for the stored status of a message set; what
    exactly comes back is unconfirmed, so every reading is a setting (PROTOCOL.md section 5)."""
    processor = QuickBooksProcessor(company, recovery_answer=reading)
    first = answer(
        processor,
        envelope(customer_add("Once Only", "1"), customer_add("Twice Only", "2"), newMessageSetID="ms-1"),
    )
    assert first.get("newMessageSetID") == "ms-1"
    count = len(company.customers)
    recovered = answer(processor, envelope(oldMessageSetID="ms-1"))
    assert recovered.get("messageSetStatusCode") == "0"
    assert [rs.get("requestID") for rs in recovered] == replayed
    by_id = {rs.get("requestID"): etree.tostring(rs) for rs in first}
    assert [etree.tostring(rs) for rs in recovered] == [by_id[r] for r in replayed]
    assert len(company.customers) == count


def test_the_600_reading_answers_no_stored_state_and_no_rs(company: CompanyFile) -> None:
    processor = QuickBooksProcessor(company, recovery_answer="600")
    answer(processor, envelope(customer_add("Kept Ltd", "1"), newMessageSetID="ms-600"))
    recovered = answer(processor, envelope(oldMessageSetID="ms-600"))
    assert recovered.get("messageSetStatusCode") == "600" and len(recovered) == 0


def test_recovery_answers_the_old_set_before_running_the_new_requests(company: CompanyFile) -> None:
    processor = QuickBooksProcessor(company, recovery_answer=RecoveryAnswer.ALL)
    answer(processor, envelope(customer_add("Kept Ltd", "old-1"), newMessageSetID="ms-2"))
    messages = answer(processor, envelope(customer_add("Next Ltd", "new-1"), oldMessageSetID="ms-2"))
    assert [rs.get("requestID") for rs in messages] == ["old-1", "new-1"]


def test_an_unknown_old_message_set_id_is_reported_as_9002(processor: QuickBooksProcessor) -> None:
    answer(processor, envelope(customer_add("Set A", "1"), newMessageSetID="ms-a"))
    messages = answer(processor, envelope(oldMessageSetID="never-sent"))
    assert messages.get("messageSetStatusCode") == "9002" and len(messages) == 0


def test_only_the_latest_message_set_is_remembered(processor: QuickBooksProcessor) -> None:
    answer(processor, envelope(customer_add("Set One", "1"), newMessageSetID="ms-one"))
    answer(processor, envelope(customer_add("Set Two", "1"), newMessageSetID="ms-two"))
    assert answer(processor, envelope(oldMessageSetID="ms-one")).get("messageSetStatusCode") == "9002"
    assert answer(processor, envelope(oldMessageSetID="ms-two")).get("messageSetStatusCode") == "0"


@pytest.mark.parametrize("attribute", ["newMessageSetID", "oldMessageSetID"])
def test_a_message_set_id_over_23_characters_is_refused_and_nothing_runs(
    processor: QuickBooksProcessor, company: CompanyFile, attribute: str
) -> None:
    """Intuit's message-set attribute table: new/oldMessageSetID hold at most 23 characters."""
    count = len(company.customers)
    messages = answer(processor, envelope(customer_add("Too Long Ltd", "1"), **{attribute: "x" * 24}))
    assert messages.get("messageSetStatusCode") == "9004" and len(messages) == 0
    assert len(company.customers) == count
    ok = answer(processor, envelope(customer_add("Just Right Ltd", "1"), newMessageSetID="y" * 23))
    assert ok[0].get("statusCode") == "0"


def test_the_hcp_response_describes_host_company_and_preferences(processor: QuickBooksProcessor) -> None:
    reply = processor.hcp_response()
    assert response_errors(reply) == []
    root = etree.fromstring(reply.encode())
    assert [rs.tag for rs in root.iterfind("QBXMLMsgsRs/*")] == [
        "HostQueryRs",
        "CompanyQueryRs",
        "PreferencesQueryRs",
    ]
    assert "13.0" in [e.text for e in root.iterfind(".//SupportedQBXMLVersion")]
    assert root.findtext(".//CompanyName") == "Sandbox Company"


def test_latency_is_spent_per_request(processor: QuickBooksProcessor) -> None:
    processor.latency_seconds = 0.05
    started = time.perf_counter()
    answer(processor, envelope('<HostQueryRq requestID="1"/>', '<HostQueryRq requestID="2"/>'))
    assert time.perf_counter() - started >= 0.1


def test_concurrent_documents_are_processed_one_at_a_time(
    processor: QuickBooksProcessor, company: CompanyFile
) -> None:
    before = len(company.customers)
    errors: list[BaseException] = []

    def add_many(worker: int) -> None:
        try:
            for n in range(20):
                processor.process(envelope(customer_add(f"Thread {worker} Customer {n}", f"{worker}-{n}")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add_many, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(company.customers) == before + 120


def test_without_schema_validation_the_envelope_is_still_checked(company: CompanyFile) -> None:
    processor = QuickBooksProcessor(company, validate_schema=False)
    with pytest.raises(RequestProcessorError, match="root element must be QBXML"):
        processor.process('<?qbxml version="13.0"?><QBXMLX/>')
    messages = answer(processor, envelope(customer_add("No Schema Ltd", "1")))
    assert messages[0].get("statusCode") == "0"


def test_a_missing_xsd_is_announced_once_and_the_simulator_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "xsd_directory", lambda: None)
    schema.load_schema.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert schema.load_schema() is None
            assert schema.load_schema() is None
        assert len(caught) == 1 and "MLC_QBXML_XSD_DIR" in str(caught[0].message)
    finally:
        schema.load_schema.cache_clear()


def test_the_xsd_is_found_through_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLC_QBXML_XSD_DIR", str(SAMPLES.parent))
    assert schema.xsd_directory() == SAMPLES.parent
    monkeypatch.setenv("MLC_QBXML_XSD_DIR", str(tmp_path))
    assert schema.xsd_directory() == SAMPLES.parent  # falls back to ../shared/qb next to the repository


def test_every_kind_of_response_validates_against_the_xsd(
    processor: QuickBooksProcessor, company: CompanyFile
) -> None:
    customer = next(iter(company.customers.values()))
    invoice = next(iter(company.invoices.values()))
    requests = [
        '<HostQueryRq requestID="1"/>',
        '<CompanyQueryRq requestID="2"/>',
        '<PreferencesQueryRq requestID="3"/>',
        '<CustomerQueryRq requestID="4" iterator="Start"><MaxReturned>2</MaxReturned><OwnerID>0</OwnerID>'
        "</CustomerQueryRq>",
        '<CustomerAddRq requestID="5"><CustomerAdd><Name>Every Kind Ltd</Name><ParentRef><ListID>'
        f"{customer.list_id}</ListID></ParentRef><BillAddress><Addr1>1 Way</Addr1></BillAddress>"
        "<CreditLimit>500</CreditLimit><PreferredPaymentMethodRef><FullName>Stripe</FullName>"
        "</PreferredPaymentMethodRef><JobStatus>Pending</JobStatus></CustomerAdd></CustomerAddRq>",
        f'<CustomerModRq requestID="6"><CustomerMod><ListID>{customer.list_id}</ListID><EditSequence>'
        f"{customer.edit_sequence}</EditSequence><Phone>555-0100</Phone></CustomerMod></CustomerModRq>",
        '<InvoiceAddRq requestID="7"><InvoiceAdd><CustomerRef><ListID>'
        f"{customer.list_id}</ListID></CustomerRef><PONumber>PO-1</PONumber><Memo>m</Memo>"
        "<InvoiceLineAdd><Desc>Free text line</Desc><Amount>12.50</Amount></InvoiceLineAdd></InvoiceAdd>"
        "</InvoiceAddRq>",
        '<InvoiceQueryRq requestID="8"><IncludeLineItems>true</IncludeLineItems>'
        "<IncludeLinkedTxns>true</IncludeLinkedTxns></InvoiceQueryRq>",
        '<ReceivePaymentAddRq requestID="9"><ReceivePaymentAdd><CustomerRef><ListID>'
        f"{invoice.customer_id}</ListID></CustomerRef><TotalAmount>1.00</TotalAmount>"
        "<DepositToAccountRef><FullName>Stripe Clearing</FullName></DepositToAccountRef><AppliedToTxnAdd><TxnID>"
        f"{invoice.txn_id}</TxnID><PaymentAmount>0.50</PaymentAmount><DiscountAmount>0.25</DiscountAmount>"
        "<DiscountAccountRef><FullName>Merchant Fees</FullName></DiscountAccountRef></AppliedToTxnAdd>"
        "</ReceivePaymentAdd></ReceivePaymentAddRq>",
        '<ReceivePaymentQueryRq requestID="10"><IncludeLineItems>true</IncludeLineItems></ReceivePaymentQueryRq>',
        '<AccountQueryRq requestID="11"/>',
        '<AccountAddRq requestID="12"><AccountAdd><Name>Payouts</Name><AccountType>Bank</AccountType>'
        "<AccountNumber>1010</AccountNumber></AccountAdd></AccountAddRq>",
        '<PaymentMethodQueryRq requestID="13"/>',
        '<PaymentMethodAddRq requestID="14"><PaymentMethodAdd><Name>Wire</Name></PaymentMethodAdd>'
        "</PaymentMethodAddRq>",
        '<ItemQueryRq requestID="15"/>',
        '<DataExtDefAddRq requestID="16"><DataExtDefAdd><OwnerID>0</OwnerID><DataExtName>StripeId</DataExtName>'
        "<DataExtType>STR255TYPE</DataExtType><AssignToObject>Customer</AssignToObject></DataExtDefAdd>"
        "</DataExtDefAddRq>",
        '<DataExtDefQueryRq requestID="17"/>',
        '<DataExtAddRq requestID="18"><DataExtAdd><OwnerID>0</OwnerID><DataExtName>StripeId</DataExtName>'
        f"<ListDataExtType>Customer</ListDataExtType><ListObjRef><ListID>{customer.list_id}</ListID></ListObjRef>"
        "<DataExtValue>cus_1</DataExtValue></DataExtAdd></DataExtAddRq>",
        '<DataExtModRq requestID="19"><DataExtMod><OwnerID>0</OwnerID><DataExtName>StripeId</DataExtName>'
        f"<ListDataExtType>Customer</ListDataExtType><ListObjRef><ListID>{customer.list_id}</ListID></ListObjRef>"
        "<DataExtValue>cus_2</DataExtValue></DataExtMod></DataExtModRq>",
        '<TxnDelRq requestID="20"><TxnDelType>Invoice</TxnDelType><TxnID>'
        f"{invoice.txn_id}</TxnID></TxnDelRq>",
        '<VendorQueryRq requestID="21"/>',
    ]
    messages = answer(processor, envelope(*requests, on_error="continueOnError"))
    statuses = {rs.tag: rs.get("statusCode") for rs in messages}
    assert len(messages) == len(requests)
    assert statuses.pop("VendorQueryRs") == "3250"
    assert set(statuses.values()) == {"0"}, statuses
    assert all(len(rs) > 0 for rs in messages if rs.tag != "VendorQueryRs")


def test_the_response_validator_really_checks_element_order() -> None:
    misordered = (SAMPLES / "customer-batch-mixed.rs.xml").read_text(encoding="utf-8")
    assert any("Sublevel" in error for error in response_errors(misordered))
