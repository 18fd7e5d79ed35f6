"""Message sets out, responses in: requestIDs, statuses, iterators, and refusing hostile documents."""

from __future__ import annotations

import pytest
from lxml import etree

from ml_connector.qbxml.customers import CustomerFields, customer_add, customer_query, parse_customers
from ml_connector.qbxml.envelope import (
    REQUEST_ID_MAX_LEN,
    RequestItem,
    build_message_set,
    is_iterator_start,
    is_write,
    iterator_continue,
    parse_response,
    request_name,
)
from ml_connector.qbxml.errors import (
    QbBusyError,
    QbDataConflictError,
    QbxmlParseError,
    StatusClass,
)
from ml_connector.qbxml.invoices import invoice_query
from ml_connector.qbxml.payments import receive_payment_query
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml, sample_text, samples_dir

ITERATOR_ID = "{A1B2C3D4-E5F6-4711-9ABC-DEF012345678}"


def _response(*items: str, attrs: str = "") -> str:
    return f'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs{attrs}>{"".join(items)}</QBXMLMsgsRs></QBXML>'


# ----------------------------------------------------------------------------- building


def test_a_message_set_has_the_declarations_and_a_request_id_on_every_request() -> None:
    doc = build_message_set(
        [
            RequestItem("ca-1", customer_add(CustomerFields(name="Acme Corp"))),
            RequestItem("cq-1", customer_query(list_ids=["80000001-1700000000"])),
        ],
        on_error="continueOnError",
    )
    assert doc.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML>')
    assert_valid_qbxml(doc)
    msgs = etree.fromstring(doc.split("\n", 2)[2]).find("QBXMLMsgsRq")
    assert msgs is not None
    assert msgs.get("onError") == "continueOnError"
    assert [(child.tag, child.get("requestID")) for child in msgs] == [
        ("CustomerAddRq", "ca-1"),
        ("CustomerQueryRq", "cq-1"),
    ]


def test_writes_can_carry_a_new_message_set_id() -> None:
    doc = build_message_set(
        [RequestItem("ca-1", customer_add(CustomerFields(name="Acme")))],
        on_error="stopOnError",
        new_message_set_id="msgset-20240312-0001",
    )
    assert_valid_qbxml(doc)
    assert 'newMessageSetID="msgset-20240312-0001"' in doc


def test_the_error_recovery_query_is_an_empty_set_with_the_old_message_set_id() -> None:
    doc = build_message_set([], on_error="stopOnError", old_message_set_id="msgset-20240312-0001")
    assert_valid_qbxml(doc)
    assert canonical_xml(doc) == canonical_xml(sample_text("error-recovery-query.rq.xml"))


def test_an_empty_message_set_without_recovery_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message_set([], on_error="stopOnError")


def test_request_ids_longer_than_50_characters_are_refused_before_quickbooks_says_1060() -> None:
    RequestItem("x" * REQUEST_ID_MAX_LEN, "<HostQueryRq/>")
    with pytest.raises(ValueError):
        RequestItem("x" * (REQUEST_ID_MAX_LEN + 1), "<HostQueryRq/>")
    with pytest.raises(ValueError):
        RequestItem("", "<HostQueryRq/>")


def test_duplicate_request_ids_are_refused_because_replies_are_matched_by_id() -> None:
    with pytest.raises(ValueError):
        build_message_set(
            [RequestItem("1", "<HostQueryRq/>"), RequestItem("1", "<CompanyQueryRq/>")],
            on_error="stopOnError",
        )


@pytest.mark.parametrize("on_error", ["rollbackOnError", "stop"])
def test_only_stop_or_continue_on_error_is_offered(on_error: str) -> None:
    with pytest.raises(ValueError):
        build_message_set([RequestItem("1", "<HostQueryRq/>")], on_error=on_error)  # type: ignore[arg-type]


def test_the_request_item_id_replaces_any_id_in_the_fragment() -> None:
    doc = build_message_set([RequestItem("mine", '<HostQueryRq requestID="old"/>')], on_error="stopOnError")
    assert 'requestID="mine"' in doc and "old" not in doc


@pytest.mark.parametrize("body", ["<QBXML/>", "not xml", "<CustomerAdd/>", "<!DOCTYPE x><HostQueryRq/>"])
def test_a_body_that_is_not_one_request_element_is_refused(body: str) -> None:
    with pytest.raises(ValueError):
        build_message_set([RequestItem("1", body)], on_error="stopOnError")


def test_user_text_survives_the_envelope_escaped_not_concatenated() -> None:
    name = 'Tom & Jerry\'s <Diner> "Best"'
    doc = build_message_set(
        [RequestItem("1", customer_add(CustomerFields(name=name)))], on_error="stopOnError"
    )
    assert_valid_qbxml(doc)
    root = etree.fromstring(doc.split("\n", 2)[2])
    assert root.findtext("QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name") == name


def test_a_version_that_is_not_x_y_is_refused() -> None:
    with pytest.raises(ValueError):
        build_message_set([RequestItem("1", "<HostQueryRq/>")], on_error="stopOnError", version='13.0"?><x')


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("path", sorted(samples_dir().glob("*.rs.xml")), ids=lambda p: p.name)
def test_every_sample_response_parses(path) -> None:  # type: ignore[no-untyped-def]
    response = parse_response(path.read_text(encoding="utf-8"))
    assert response.items
    for item in response.items:
        assert item.name.endswith("Rs")
        assert item.request_id
        assert etree.fromstring(item.xml).tag == item.name


def test_an_iterator_page_reports_its_id_and_what_remains() -> None:
    (item,) = parse_response(sample_text("customer-query-iterator.rs.xml")).items
    assert item.request_id == "cq-1"
    assert item.name == "CustomerQueryRs"
    assert (item.status_code, item.status_severity, item.status_message) == (0, "Info", "Status OK")
    assert item.ret_count == 2
    assert item.iterator_id == ITERATOR_ID
    assert item.iterator_remaining_count == 37
    assert item.has_more_pages


def test_the_last_iterator_page_has_nothing_more() -> None:
    (item,) = parse_response(sample_text("customer-query-iterator-last.rs.xml")).items
    assert item.iterator_remaining_count == 0
    assert not item.has_more_pages


def test_no_match_is_an_empty_result_not_an_error() -> None:
    (item,) = parse_response(sample_text("customer-query-nomatch.rs.xml")).items
    assert item.status_code == 1
    assert item.status_class is StatusClass.NO_MATCH
    assert not item.is_error
    item.raise_for_status()
    assert parse_customers(item.xml) == []


def test_error_statuses_are_read_per_request_and_raise_the_right_error() -> None:
    response = parse_response(sample_text("mixed-status.rs.xml"))
    by_id = response.by_request_id()
    assert {rid: item.status_class for rid, item in by_id.items()} == {
        "rp-2": StatusClass.BAD_REFERENCE,
        "iq-9": StatusClass.NOT_FOUND,
        "ca-9": StatusClass.NAME_IN_USE,
        "ca-10": StatusClass.RETRY_LATER,
    }
    assert by_id["ca-9"].status_message == 'The name "Acme Corp" of the list element is already in use.'
    with pytest.raises(QbDataConflictError) as conflict:
        by_id["ca-9"].raise_for_status()
    assert conflict.value.request_name == "CustomerAddRq"
    with pytest.raises(QbBusyError):
        by_id["ca-10"].raise_for_status()


def test_a_stale_edit_sequence_is_reported_as_such() -> None:
    (item,) = parse_response(sample_text("customer-mod-editsequence-3200.rs.xml")).items
    assert item.status_class is StatusClass.EDIT_SEQUENCE
    assert item.request_name == "CustomerModRq"


def test_a_batch_with_out_of_order_elements_is_read_in_full() -> None:
    response = parse_response(sample_text("customer-batch-mixed.rs.xml"))
    assert [(i.request_id, i.status_code) for i in response.items] == [
        ("ext-mix-1", 0),
        ("ext-mix-2", 3100),
        ("ext-mix-3", 3250),
        ("ext-mix-4", 3130),
        ("ext-mix-5", 0),
    ]
    (first,) = parse_customers(response.items[0].xml)
    assert (first.company_name, first.sublevel) == ("Valid first", 0)


def test_message_set_attributes_are_read() -> None:
    doc = _response(
        '<HostQueryRs requestID="1" statusCode="0" statusSeverity="Info"/>',
        attrs=' newMessageSetID="msgset-1" messageSetStatusCode="0"',
    )
    response = parse_response(doc)
    assert response.new_message_set_id == "msgset-1"
    assert response.message_set_status_code == 0


def test_attribute_order_and_missing_optional_attributes_do_not_matter() -> None:
    doc = _response('<CustomerQueryRs statusSeverity="Warn" statusCode="500" requestID="x"/>')
    (item,) = parse_response(doc).items
    assert (item.status_code, item.status_severity, item.status_message) == (500, "Warn", "")
    assert item.ret_count is None and item.iterator_id is None and item.iterator_remaining_count is None


def test_an_unsupported_field_warning_means_the_request_was_still_carried_out() -> None:
    (item,) = parse_response(
        _response('<CustomerAddRs requestID="x" statusCode="530" statusSeverity="Warn"/>')
    ).items
    assert item.status_class is StatusClass.FIELD_IGNORED
    assert not item.is_error
    item.raise_for_status()


def test_a_missing_severity_is_derived_from_the_code() -> None:
    (item,) = parse_response(_response('<CustomerAddRs requestID="x" statusCode="3100"/>')).items
    assert item.status_severity == "Error"


def test_responses_declaring_iso_8859_1_are_read_as_windows_1252() -> None:
    body = _response(
        '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info"><CustomerRet>'
        "<ListID>1-1</ListID><Name>Caf\u00e9 \u20ac</Name></CustomerRet></CustomerQueryRs>"
    ).replace('<?xml version="1.0" ?>', '<?xml version="1.0" encoding="ISO-8859-1"?>')
    raw = body.encode("cp1252")
    for doc in (raw, body):
        (item,) = parse_response(doc).items
        assert parse_customers(item.xml)[0].name == "Café €"


def test_responses_without_declaration_in_windows_1252_bytes_are_read() -> None:
    body = _response(
        '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="M\u00fcller"/>'
    ).replace('<?xml version="1.0" ?>', "")
    assert parse_response(body.encode("cp1252")).items[0].status_message == "Müller"
    assert parse_response(body.encode("utf-8")).items[0].status_message == "Müller"


def test_a_leading_bom_and_whitespace_are_tolerated() -> None:
    doc = _response('<HostQueryRs requestID="1" statusCode="0" statusSeverity="Info"/>')
    assert parse_response("\ufeff\r\n  " + doc).items[0].name == "HostQueryRs"
    assert parse_response(b"\xef\xbb\xbf" + doc.encode("utf-8")).items[0].name == "HostQueryRs"


def test_control_characters_a_user_typed_do_not_block_the_whole_response() -> None:
    doc = _response(
        '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info"><CustomerRet>'
        "<ListID>1-1</ListID><Name>Acme</Name><Notes>tab\x0bhere &#x1; &#11;</Notes></CustomerRet></CustomerQueryRs>"
    )
    (item,) = parse_response(doc).items
    assert parse_customers(item.xml)[0].notes == "tabhere  "


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<QBXML><QBXMLMsgsRs><HostQueryRs requestID="&lol2;" statusCode="0" statusSeverity="Info"/></QBXMLMsgsRs></QBXML>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE QBXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<QBXML><QBXMLMsgsRs><HostQueryRs requestID="1" statusCode="0" statusSeverity="Info"
statusMessage="x">&xxe;</HostQueryRs></QBXMLMsgsRs></QBXML>"""

PLAIN_DOCTYPE = '<!DOCTYPE QBXML SYSTEM "http://example.invalid/qbxml.dtd"><QBXML><QBXMLMsgsRs/></QBXML>'


@pytest.mark.parametrize(
    "doc", [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DOCTYPE], ids=["laughs", "xxe", "dtd"]
)
def test_documents_with_a_doctype_or_entities_are_refused(doc: str) -> None:
    with pytest.raises(QbxmlParseError):
        parse_response(doc)
    with pytest.raises(QbxmlParseError):
        parse_response(doc.encode("utf-8"))


@pytest.mark.parametrize(
    "doc",
    [
        "",
        "   ",
        "garbage",
        "<QBXML><QBXMLMsgsRs>",
        "<html><body>502 Bad Gateway</body></html>",
        "<QBXML><SignonMsgsRs/></QBXML>",
        _response('<HostQueryRs requestID="1" statusSeverity="Info"/>'),
        _response('<HostQueryRs requestID="1" statusCode="zero" statusSeverity="Info"/>'),
        _response('<HostQueryRs requestID="1" statusCode="0" statusSeverity="Info" retCount="many"/>'),
    ],
)
def test_garbage_is_a_parse_error(doc: str) -> None:
    with pytest.raises(QbxmlParseError):
        parse_response(doc)


# --------------------------------------------------------------------------- iterators


def test_a_continue_request_matches_the_sample_for_the_sample_start() -> None:
    start_doc = etree.fromstring(sample_text("customer-query-iterator-start.rq.xml").split("\n", 2)[2])
    start = start_doc.find("QBXMLMsgsRq/CustomerQueryRq")
    assert start is not None
    start.attrib.pop("requestID")
    continued = iterator_continue(etree.tostring(start, encoding="unicode"), ITERATOR_ID)
    doc = build_message_set([RequestItem("cq-2", continued)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    expected = sample_text("customer-query-iterator-continue.rq.xml")
    # The sample omits OwnerID; we keep it so every page carries the custom fields the first one did.
    assert canonical_xml(doc) == canonical_xml(
        expected.replace("</MaxReturned>", "</MaxReturned><OwnerID>0</OwnerID>")
    )


def test_continue_keeps_page_shape_and_drops_filters() -> None:
    start = invoice_query(
        max_returned=50,
        customer_list_ids=["80000001-1700000000"],
        paid_status="NotPaidOnly",
        include_line_items=True,
        include_linked_txns=True,
        owner_ids=["0"],
        iterator=True,
    )
    continued = etree.fromstring(iterator_continue(start, ITERATOR_ID))
    assert continued.tag == "InvoiceQueryRq"
    assert continued.get("iterator") == "Continue"
    assert continued.get("iteratorID") == ITERATOR_ID
    assert [child.tag for child in continued] == [
        "MaxReturned",
        "IncludeLineItems",
        "IncludeLinkedTxns",
        "OwnerID",
    ]
    assert_valid_qbxml(
        build_message_set([RequestItem("1", iterator_continue(start, ITERATOR_ID))], on_error="stopOnError")
    )


def test_continue_needs_an_iterator_start_and_an_id() -> None:
    with pytest.raises(ValueError):
        iterator_continue(customer_query(list_ids=["1-1"]), ITERATOR_ID)
    with pytest.raises(ValueError):
        iterator_continue(customer_query(max_returned=10, iterator=True), "")


@pytest.mark.parametrize(
    ("fragment", "name", "start", "write"),
    [
        (customer_query(max_returned=100, iterator=True), "CustomerQueryRq", True, False),
        (customer_query(list_ids=["1-1"]), "CustomerQueryRq", False, False),
        (customer_add(CustomerFields(name="A")), "CustomerAddRq", False, True),
        (
            "<CustomerModRq><CustomerMod><ListID>1</ListID><EditSequence>1</EditSequence></CustomerMod></CustomerModRq>",
            "CustomerModRq",
            False,
            True,
        ),
        (
            "<TxnDelRq><TxnDelType>ReceivePayment</TxnDelType><TxnID>1</TxnID></TxnDelRq>",
            "TxnDelRq",
            False,
            True,
        ),
        (
            "<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>1</TxnID></TxnVoidRq>",
            "TxnVoidRq",
            False,
            True,
        ),
        ("<ListMergeRq/>", "ListMergeRq", False, True),
        (receive_payment_query(ref_numbers=["pi_1"]), "ReceivePaymentQueryRq", False, False),
        ("<HostQueryRq/>", "HostQueryRq", False, False),
    ],
)
def test_requests_are_recognised_by_name_iterator_and_whether_they_write(
    fragment: str, name: str, start: bool, write: bool
) -> None:
    assert request_name(fragment) == name
    assert is_iterator_start(fragment) is start
    assert is_write(fragment) is write
