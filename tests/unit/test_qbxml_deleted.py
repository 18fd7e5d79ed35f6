"""Deleted transactions: how the connector asks QuickBooks what was deleted, and reads the answer."""

from __future__ import annotations

from datetime import datetime

import pytest

from ml_connector.qbxml.deleted import parse_deleted, txn_deleted_query
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.values import parse_qb_datetime
from tests.qbxml_schema import assert_valid_qbxml, canonical_xml


def _valid(*fragments: str) -> str:
    doc = build_message_set(
        [RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="continueOnError"
    )
    assert_valid_qbxml(doc)
    return doc


def test_deleted_invoices_since_the_watermark_are_asked_for_in_schema_order() -> None:
    fragment = txn_deleted_query(
        ["Invoice"],
        from_deleted=datetime(2024, 3, 12, 16, 43, 30),
        to_deleted=parse_qb_datetime("2024-03-12T17:00:00-05:00"),
    )
    doc = _valid(fragment)
    expected = """<QBXML><QBXMLMsgsRq onError="continueOnError"><TxnDeletedQueryRq>
      <TxnDelType>Invoice</TxnDelType>
      <DeletedDateRangeFilter><FromDeletedDate>2024-03-12T16:43:30</FromDeletedDate>
        <ToDeletedDate>2024-03-12T17:00:00</ToDeletedDate></DeletedDateRangeFilter>
    </TxnDeletedQueryRq></QBXMLMsgsRq></QBXML>"""
    assert canonical_xml(doc) == canonical_xml(expected), (
        "wall-clock bounds, no offset, as QuickBooks reads them"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"txn_del_types": ["Invoice"]},
        {"txn_del_types": ["Invoice", "ReceivePayment"], "from_deleted": datetime(2024, 3, 1)},
        {"txn_del_types": ["CreditMemo"], "to_deleted": datetime(2024, 3, 1, 23, 59, 59)},
        {"txn_del_types": ["Invoice"], "include_ret_elements": ["TxnID", "TimeDeleted"]},
    ],
)
def test_deleted_queries_are_valid(kwargs: dict) -> None:  # type: ignore[type-arg]
    _valid(txn_deleted_query(**kwargs))


@pytest.mark.parametrize("types", [[], ["Customer"], ["invoice"], [" Invoice"]])
def test_deleted_queries_the_schema_would_reject_are_refused(types: list[str]) -> None:
    with pytest.raises(ValueError):
        txn_deleted_query(types)


def test_each_deletion_is_read_with_its_type_id_time_and_ref_number() -> None:
    rs = """<TxnDeletedQueryRs requestID="7" statusCode="0" statusSeverity="Info" statusMessage="Status OK"
        retCount="2">
      <TxnDeletedRet><TxnDelType>Invoice</TxnDelType><TxnID>1A2B-1710000000</TxnID>
        <TimeCreated>2024-03-09T10:00:00-05:00</TimeCreated><TimeDeleted>2024-03-12T16:45:30-05:00</TimeDeleted>
        <RefNumber>1001</RefNumber></TxnDeletedRet>
      <TxnDeletedRet><TxnDelType>Invoice</TxnDelType><TxnID>1A2C-1710000001</TxnID>
        <TimeDeleted>2024-07-01T09:15:00-05:00</TimeDeleted></TxnDeletedRet>
    </TxnDeletedQueryRs>"""
    assert_valid_qbxml(f"<QBXML><QBXMLMsgsRs>{rs}</QBXMLMsgsRs></QBXML>")
    first, second = parse_deleted(rs)
    assert (first.txn_del_type, first.txn_id, first.ref_number) == ("Invoice", "1A2B-1710000000", "1001")
    assert first.time_created is not None and first.time_created.wall_clock == "2024-03-09T10:00:00"
    assert first.time_deleted is not None and first.time_deleted.wall_clock == "2024-03-12T16:45:30"
    assert second.ref_number is None and second.time_created is None
    assert second.time_deleted is not None
    assert second.time_deleted.wall_clock == "2024-07-01T09:15:00", (
        "QuickBooks' wall clock, DST quirk and all"
    )


def test_nothing_deleted_reads_as_an_empty_list() -> None:
    doc = """<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><TxnDeletedQueryRs requestID="1" statusCode="1"
      statusSeverity="Info" statusMessage="A query request did not find a matching object in QuickBooks"
      retCount="0"/></QBXMLMsgsRs></QBXML>"""
    (item,) = parse_response(doc).items
    assert item.status_code == 1
    assert parse_deleted(item.xml) == []
