"""Customers and other lists through qbXML: queries and their filters, iterators, Add/Mod rules, the
concurrency fault switches, and custom fields (data extensions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.schema import response_errors
from ml_connector.simulator.seed import VENDOR_NAME_CLASH, seed_company

SUMMER = datetime(2024, 7, 1, 16, 0, tzinfo=UTC)  # 12:00 EDT, written as 12:00-05:00


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


def run(processor: QuickBooksProcessor, *requests: str) -> list[etree._Element]:
    reply = processor.process(envelope(*requests))
    assert response_errors(reply) == []
    messages = etree.fromstring(reply.encode()).find("QBXMLMsgsRs")
    assert messages is not None
    return list(messages)


def one(processor: QuickBooksProcessor, request: str) -> etree._Element:
    (rs,) = run(processor, request)
    return rs


def status(rs: etree._Element) -> tuple[str | None, str | None]:
    return rs.get("statusCode"), rs.get("statusMessage")


@pytest.fixture
def clock() -> SteppableClock:
    return SteppableClock(SUMMER)


@pytest.fixture
def company(clock: SteppableClock) -> CompanyFile:
    company = CompanyFile(clock=clock)
    seed_company(company, customers=8, open_invoices=0, now=SUMMER)
    return company


@pytest.fixture
def processor(company: CompanyFile) -> QuickBooksProcessor:
    return QuickBooksProcessor(company)


def add_customer(processor: QuickBooksProcessor, name: str, extra: str = "") -> etree._Element:
    rs = one(
        processor, f"<CustomerAddRq><CustomerAdd><Name>{name}</Name>{extra}</CustomerAdd></CustomerAddRq>"
    )
    assert rs.get("statusCode") == "0", rs.get("statusMessage")
    ret = rs.find("CustomerRet")
    assert ret is not None
    return ret


# -- Add -----------------------------------------------------------------------------------------------------


def test_customer_add_returns_the_stored_customer_in_schema_order(processor: QuickBooksProcessor) -> None:
    ret = add_customer(
        processor,
        "O&apos;Reilly &amp; Daughters",
        "<CompanyName>O'Reilly &amp; Daughters</CompanyName><BillAddress><Addr1>1 Main St</Addr1><City>Boston</City>"
        "</BillAddress><Phone>555-0100</Phone><Email>ap@obrien.example</Email>"
        "<AccountNumber>cus_Nabc123XYZ</AccountNumber><Notes>stripe:cus_Nabc123XYZ</Notes>"
        "<ExternalGUID>{3F2504E0-4F89-11D3-9A0C-0305E82C3301}</ExternalGUID>",
    )
    assert ret.findtext("Name") == ret.findtext("FullName") == "O'Reilly & Daughters"
    assert ret.findtext("TimeCreated") == "2024-07-01T12:00:00-05:00"
    assert ret.findtext("EditSequence") == str(int(SUMMER.timestamp()))
    assert ret.findtext("BillAddress/City") == "Boston"
    assert ret.findtext("AccountNumber") == "cus_Nabc123XYZ"
    assert ret.findtext("ExternalGUID") == "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"
    assert (ret.findtext("Balance"), ret.findtext("TotalBalance"), ret.findtext("Sublevel")) == (
        "0.00",
        "0.00",
        "0",
    )


def test_a_name_already_used_by_a_vendor_is_refused_with_3100(processor: QuickBooksProcessor) -> None:
    rs = one(
        processor,
        f"<CustomerAddRq><CustomerAdd><Name>{VENDOR_NAME_CLASH}</Name></CustomerAdd></CustomerAddRq>",
    )
    assert status(rs) == ("3100", f'The name "{VENDOR_NAME_CLASH}" of the list element is already in use.')
    assert rs.get("statusSeverity") == "Error"


def test_names_clash_regardless_of_letter_case(processor: QuickBooksProcessor) -> None:
    add_customer(processor, "Globex Corporation")
    rs = one(
        processor, "<CustomerAddRq><CustomerAdd><Name>GLOBEX corporation</Name></CustomerAdd></CustomerAddRq>"
    )
    assert rs.get("statusCode") == "3100"


def test_jobs_are_added_under_a_parent_with_a_colon_full_name(processor: QuickBooksProcessor) -> None:
    add_customer(processor, "Initech")
    job = add_customer(processor, "Server Migration", "<ParentRef><FullName>Initech</FullName></ParentRef>")
    assert job.findtext("FullName") == "Initech:Server Migration"
    assert job.findtext("ParentRef/FullName") == "Initech" and job.findtext("Sublevel") == "1"
    rs = one(
        processor,
        "<CustomerAddRq><CustomerAdd><Name>Orphan</Name><ParentRef><FullName>Nobody Inc</FullName></ParentRef>"
        "</CustomerAdd></CustomerAddRq>",
    )
    assert rs.get("statusCode") == "3130" and '"Nobody Inc"' in (rs.get("statusMessage") or "")


# -- Mod -----------------------------------------------------------------------------------------------------


def mod(list_id: str, edit_sequence: str, body: str) -> str:
    return (
        f"<CustomerModRq><CustomerMod><ListID>{list_id}</ListID><EditSequence>{edit_sequence}</EditSequence>"
        f"{body}</CustomerMod></CustomerModRq>"
    )


def test_customer_mod_replaces_only_the_fields_given(
    processor: QuickBooksProcessor, clock: SteppableClock
) -> None:
    ret = add_customer(
        processor, "Umbrella Ltd", "<Phone>555-0100</Phone><Email>old@umbrella.example</Email>"
    )
    clock.advance(minutes=5)
    rs = one(
        processor,
        mod(ret.findtext("ListID") or "", ret.findtext("EditSequence") or "", "<Email>new@u.example</Email>"),
    )
    modified = rs.find("CustomerRet")
    assert rs.get("statusCode") == "0" and modified is not None
    assert modified.findtext("Email") == "new@u.example"
    assert modified.findtext("Phone") == "555-0100"
    assert modified.findtext("EditSequence") != ret.findtext("EditSequence")
    assert modified.findtext("TimeModified") == "2024-07-01T12:05:00-05:00"
    assert modified.findtext("TimeCreated") == ret.findtext("TimeCreated")


def test_an_empty_element_in_a_mod_clears_the_field(processor: QuickBooksProcessor) -> None:
    ret = add_customer(processor, "Hooli", "<Phone>555-0100</Phone>")
    rs = one(
        processor, mod(ret.findtext("ListID") or "", ret.findtext("EditSequence") or "", "<Phone></Phone>")
    )
    assert rs.find("CustomerRet/Phone") is None


def test_a_mod_with_a_stale_edit_sequence_gets_3200(processor: QuickBooksProcessor) -> None:
    ret = add_customer(processor, "Stark Industries")
    list_id, first = ret.findtext("ListID") or "", ret.findtext("EditSequence") or ""
    assert one(processor, mod(list_id, first, "<Phone>1</Phone>")).get("statusCode") == "0"
    rs = one(processor, mod(list_id, first, "<Phone>2</Phone>"))
    assert status(rs) == ("3200", f'The provided edit sequence "{first}" is out-of-date. ')


def test_a_concurrent_edit_by_the_bookkeeper_makes_the_mod_fail_with_3200(
    processor: QuickBooksProcessor, company: CompanyFile
) -> None:
    ret = add_customer(processor, "Wayne Enterprises", "<Phone>555-0100</Phone>")
    list_id = ret.findtext("ListID") or ""
    processor.on_next_mod(list_id, lambda c: c.edit_customer(list_id, Phone="555-0199"))
    rs = one(
        processor, mod(list_id, ret.findtext("EditSequence") or "", "<Email>bruce@wayne.example</Email>")
    )
    assert rs.get("statusCode") == "3200"
    assert company.customers[list_id].fields["Phone"] == "555-0199"
    assert "Email" not in company.customers[list_id].fields
    fresh = one(processor, f"<CustomerQueryRq><ListID>{list_id}</ListID></CustomerQueryRq>").find(
        "CustomerRet"
    )
    assert fresh is not None
    retried = one(
        processor, mod(list_id, fresh.findtext("EditSequence") or "", "<Email>bruce@wayne.example</Email>")
    )
    assert retried.get("statusCode") == "0"


def test_a_mod_of_an_unknown_list_id_gets_3120(processor: QuickBooksProcessor) -> None:
    rs = one(processor, mod("80000999-1700000000", "1", "<Phone>1</Phone>"))
    assert status(rs) == ("3120", 'Object "80000999-1700000000" specified in the request cannot be found.  ')


def test_a_record_in_use_answers_3175_for_the_locked_number_of_writes(processor: QuickBooksProcessor) -> None:
    ret = add_customer(processor, "Cyberdyne Systems")
    list_id = ret.findtext("ListID") or ""
    processor.lock(list_id, times=2)
    for _ in range(2):
        assert (
            one(processor, mod(list_id, ret.findtext("EditSequence") or "", "<Phone>1</Phone>")).get(
                "statusCode"
            )
            == "3175"
        )
    assert (
        one(processor, mod(list_id, ret.findtext("EditSequence") or "", "<Phone>1</Phone>")).get("statusCode")
        == "0"
    )


# -- Query ---------------------------------------------------------------------------------------------------


def test_a_query_without_a_match_answers_status_1(processor: QuickBooksProcessor) -> None:
    rs = one(
        processor,
        "<CustomerQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>zzz</Name></NameFilter>"
        "</CustomerQueryRq>",
    )
    assert status(rs) == ("1", "A query request did not find a matching object in QuickBooks")
    assert rs.get("statusSeverity") == "Info" and rs.get("retCount") == "0"


def test_customers_are_queried_by_list_id_and_full_name_with_a_warning_for_missing_ones(
    processor: QuickBooksProcessor,
) -> None:
    ret = add_customer(processor, "Soylent Corp")
    list_id = ret.findtext("ListID")
    rs = one(
        processor, f"<CustomerQueryRq><ListID>{list_id}</ListID><ListID>80000999-1</ListID></CustomerQueryRq>"
    )
    assert (rs.get("statusCode"), rs.get("statusSeverity"), rs.get("retCount")) == ("500", "Warn", "1")
    assert '"80000999-1"' in (rs.get("statusMessage") or "")
    by_name = one(processor, "<CustomerQueryRq><FullName>soylent corp</FullName></CustomerQueryRq>")
    assert by_name.findtext("CustomerRet/ListID") == list_id


def test_active_status_defaults_to_active_only(processor: QuickBooksProcessor, company: CompanyFile) -> None:
    add_customer(processor, "Dormant LLC", "<IsActive>false</IsActive>")
    active = one(processor, "<CustomerQueryRq/>")
    everyone = one(processor, "<CustomerQueryRq><ActiveStatus>All</ActiveStatus></CustomerQueryRq>")
    inactive = one(processor, "<CustomerQueryRq><ActiveStatus>InactiveOnly</ActiveStatus></CustomerQueryRq>")
    names = lambda rs: {r.findtext("Name") for r in rs.findall("CustomerRet")}  # noqa: E731
    assert "Dormant LLC" not in names(active) and "Dormant LLC" in names(everyone)
    assert names(inactive) == {c.name for c in company.customers.values() if not c.is_active}
    assert int(everyone.get("retCount") or 0) == len(company.customers)


def test_modified_date_filters_are_inclusive_wall_clock_times(
    processor: QuickBooksProcessor, clock: SteppableClock
) -> None:
    clock.advance(days=30)  # 2024-07-31 12:00 EDT, returned as 12:00:00-05:00
    add_customer(processor, "Late Joiner")

    def names(filters: str) -> set[str | None]:
        rs = one(processor, f"<CustomerQueryRq><ActiveStatus>All</ActiveStatus>{filters}</CustomerQueryRq>")
        return {r.findtext("Name") for r in rs.findall("CustomerRet")}

    assert names("<FromModifiedDate>2024-07-31T12:00:00</FromModifiedDate>") == {"Late Joiner"}
    assert names("<FromModifiedDate>2024-07-31T12:00:01</FromModifiedDate>") == set()
    assert names("<FromModifiedDate>2024-07-31T12:00:00-05:00</FromModifiedDate>") == {"Late Joiner"}
    assert names(
        "<FromModifiedDate>2024-07-31</FromModifiedDate><ToModifiedDate>2024-07-31</ToModifiedDate>"
    ) == {"Late Joiner"}
    assert "Late Joiner" not in names("<ToModifiedDate>2024-07-31T11:59:59</ToModifiedDate>")


def test_name_filters_match_the_full_name_without_regard_to_case(processor: QuickBooksProcessor) -> None:
    add_customer(processor, "Vandelay Industries")
    add_customer(processor, "Vandelay Imports")

    def names(criterion: str, value: str) -> set[str | None]:
        rs = one(
            processor,
            f"<CustomerQueryRq><NameFilter><MatchCriterion>{criterion}</MatchCriterion><Name>{value}</Name>"
            "</NameFilter></CustomerQueryRq>",
        )
        return {r.findtext("Name") for r in rs.findall("CustomerRet")}

    assert names("StartsWith", "vandelay") == {"Vandelay Industries", "Vandelay Imports"}
    assert names("Contains", "IMPORT") == {"Vandelay Imports"}
    assert names("EndsWith", "industries") == {"Vandelay Industries"}


def test_include_ret_element_limits_the_returned_fields(processor: QuickBooksProcessor) -> None:
    add_customer(processor, "Tyrell Corp", "<Phone>555</Phone>")
    rs = one(
        processor,
        "<CustomerQueryRq><FullName>Tyrell Corp</FullName><IncludeRetElement>ListID</IncludeRetElement>"
        "<IncludeRetElement>Name</IncludeRetElement></CustomerQueryRq>",
    )
    assert [child.tag for child in rs.iterfind("CustomerRet/*")] == ["ListID", "Name"]


def test_max_returned_without_an_iterator_truncates(processor: QuickBooksProcessor) -> None:
    rs = one(processor, "<CustomerQueryRq><MaxReturned>3</MaxReturned></CustomerQueryRq>")
    assert rs.get("retCount") == "3" and rs.get("iteratorID") is None


# -- Iterators -----------------------------------------------------------------------------------------------


@pytest.fixture
def big_company() -> CompanyFile:
    company = CompanyFile(clock=lambda: SUMMER)
    seed_company(company, customers=1_000, jobs=50, open_invoices=0, now=SUMMER)
    return company


def start(page_size: int) -> str:
    return (
        f'<CustomerQueryRq requestID="it" iterator="Start"><MaxReturned>{page_size}</MaxReturned>'
        "<ActiveStatus>All</ActiveStatus></CustomerQueryRq>"
    )


def continue_(iterator_id: str, page_size: int) -> str:
    return (
        f'<CustomerQueryRq requestID="it" iterator="Continue" iteratorID="{iterator_id}">'
        f"<MaxReturned>{page_size}</MaxReturned></CustomerQueryRq>"
    )


def test_an_iterator_over_1050_customers_returns_each_exactly_once(big_company: CompanyFile) -> None:
    processor = QuickBooksProcessor(big_company)
    assert len(big_company.customers) == 1_050
    rs = one(processor, start(100))
    iterator_id = rs.get("iteratorID") or ""
    seen = [r.findtext("ListID") for r in rs.findall("CustomerRet")]
    remaining = [int(rs.get("iteratorRemainingCount") or -1)]
    pages = 1
    while remaining[-1] > 0:
        rs = one(processor, continue_(iterator_id, 100))
        assert rs.get("statusCode") == "0" and rs.get("iteratorID") == iterator_id
        seen += [r.findtext("ListID") for r in rs.findall("CustomerRet")]
        remaining.append(int(rs.get("iteratorRemainingCount") or -1))
        pages += 1
    assert pages == 11
    assert remaining == [950, 850, 750, 650, 550, 450, 350, 250, 150, 50, 0]
    assert len(seen) == 1_050 and set(seen) == set(big_company.customers)
    finished = one(processor, continue_(iterator_id, 100))
    assert finished.get("statusCode") == "3391"


def test_iterators_die_with_the_session(big_company: CompanyFile) -> None:
    processor = QuickBooksProcessor(big_company)
    iterator_id = one(processor, start(10)).get("iteratorID") or ""
    processor.end_session()
    rs = one(processor, continue_(iterator_id, 10))
    assert rs.get("statusCode") == "3391" and rs.get("statusSeverity") == "Error"
    assert iterator_id in (rs.get("statusMessage") or "")


def test_an_iterator_can_be_stopped_early(big_company: CompanyFile) -> None:
    processor = QuickBooksProcessor(big_company)
    iterator_id = one(processor, start(10)).get("iteratorID") or ""
    stop = one(processor, f'<CustomerQueryRq iterator="Stop" iteratorID="{iterator_id}"/>')
    assert (stop.get("statusCode"), stop.get("iteratorRemainingCount")) == ("0", "0")
    assert one(processor, continue_(iterator_id, 10)).get("statusCode") == "3391"


def test_an_iterator_belongs_to_its_query_type(big_company: CompanyFile) -> None:
    processor = QuickBooksProcessor(big_company)
    iterator_id = one(processor, start(10)).get("iteratorID") or ""
    rs = one(processor, f'<InvoiceQueryRq iterator="Continue" iteratorID="{iterator_id}"/>')
    assert rs.get("statusCode") == "3391"


def test_customers_changed_during_iteration_are_returned_as_they_are_now(big_company: CompanyFile) -> None:
    processor = QuickBooksProcessor(big_company)
    rs = one(processor, start(1_000))
    last = big_company.customers_in_order()[-1]
    big_company.edit_customer(last.list_id, Phone="555-0000")
    rest = one(processor, continue_(rs.get("iteratorID") or "", 1_000))
    phones = {r.findtext("ListID"): r.findtext("Phone") for r in rest.findall("CustomerRet")}
    assert phones[last.list_id] == "555-0000"


# -- Custom fields -------------------------------------------------------------------------------------------


DEF_ADD = (
    "<DataExtDefAddRq><DataExtDefAdd><OwnerID>0</OwnerID><DataExtName>StripeCustomerId</DataExtName>"
    "<DataExtType>STR255TYPE</DataExtType><AssignToObject>Customer</AssignToObject></DataExtDefAdd></DataExtDefAddRq>"
)


def data_ext(verb: str, list_id: str, value: str) -> str:
    return (
        f"<DataExt{verb}Rq><DataExt{verb}><OwnerID>0</OwnerID><DataExtName>StripeCustomerId</DataExtName>"
        f"<ListDataExtType>Customer</ListDataExtType><ListObjRef><ListID>{list_id}</ListID></ListObjRef>"
        f"<DataExtValue>{value}</DataExtValue></DataExt{verb}></DataExt{verb}Rq>"
    )


def test_public_custom_fields_are_defined_set_and_read_back_with_owner_id_0(
    processor: QuickBooksProcessor,
) -> None:
    definition = one(processor, DEF_ADD)
    assert definition.findtext("DataExtDefRet/DataExtName") == "StripeCustomerId"
    assert one(processor, DEF_ADD).get("statusCode") == "3180"
    list_id = add_customer(processor, "Massive Dynamic").findtext("ListID") or ""
    added = one(processor, data_ext("Add", list_id, "cus_123"))
    assert added.findtext("DataExtRet/DataExtValue") == "cus_123"
    again = one(processor, data_ext("Add", list_id, "cus_456"))
    assert again.get("statusCode") == "3180"
    assert one(processor, data_ext("Mod", list_id, "cus_789")).get("statusCode") == "0"
    rs = one(processor, f"<CustomerQueryRq><ListID>{list_id}</ListID><OwnerID>0</OwnerID></CustomerQueryRq>")
    assert rs.findtext("CustomerRet/DataExtRet/DataExtValue") == "cus_789"
    plain = one(processor, f"<CustomerQueryRq><ListID>{list_id}</ListID></CustomerQueryRq>")
    assert plain.find("CustomerRet/DataExtRet") is None
    definitions = one(processor, "<DataExtDefQueryRq><OwnerID>0</OwnerID></DataExtDefQueryRq>")
    assert definitions.get("retCount") == "1"


def test_setting_a_custom_field_without_a_definition_fails(processor: QuickBooksProcessor) -> None:
    list_id = add_customer(processor, "Aperture Science").findtext("ListID") or ""
    assert one(processor, data_ext("Add", list_id, "cus_1")).get("statusCode") == "3120"


# -- Other lists ---------------------------------------------------------------------------------------------


def test_accounts_payment_methods_and_items_can_be_listed(processor: QuickBooksProcessor) -> None:
    accounts = one(
        processor, "<AccountQueryRq><AccountType>AccountsReceivable</AccountType></AccountQueryRq>"
    )
    assert [r.findtext("Name") for r in accounts.findall("AccountRet")] == ["Accounts Receivable"]
    assert accounts.findtext("AccountRet/SpecialAccountType") == "AccountsReceivable"
    methods = one(processor, "<PaymentMethodQueryRq><FullName>Stripe</FullName></PaymentMethodQueryRq>")
    assert methods.findtext("PaymentMethodRet/PaymentMethodType") == "OtherCreditCard"
    items = one(processor, "<ItemQueryRq/>")
    assert {r.tag for r in items} == {"ItemServiceRet", "ItemNonInventoryRet"}
    assert items.findtext("ItemServiceRet/SalesOrPurchase/Price") is not None


def test_accounts_and_payment_methods_can_be_added_once(processor: QuickBooksProcessor) -> None:
    add_account = (
        "<AccountAddRq><AccountAdd><Name>Stripe Fees</Name><AccountType>Expense</AccountType></AccountAdd>"
        "</AccountAddRq>"
    )
    assert one(processor, add_account).findtext("AccountRet/AccountType") == "Expense"
    assert one(processor, add_account).get("statusCode") == "3100"
    add_method = (
        "<PaymentMethodAddRq><PaymentMethodAdd><Name>ACH</Name><PaymentMethodType>ECheck</PaymentMethodType>"
        "</PaymentMethodAdd></PaymentMethodAddRq>"
    )
    assert one(processor, add_method).findtext("PaymentMethodRet/Name") == "ACH"
    assert one(processor, add_method).get("statusCode") == "3100"
