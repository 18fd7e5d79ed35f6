"""The accounting entries Stripe money becomes: journal entries, deposits, transfers, credit memos and
card refunds, each valid against the qbXML 13.0 schema and read back from QuickBooks' answers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ml_connector.qbxml.credits import (
    ARRefundCreditCardAdd,
    CreditMemoAdd,
    RefundAppliedTo,
    ar_refund_credit_card_add,
    ar_refund_credit_card_query,
    credit_memo_add,
    credit_memo_query,
    parse_ar_refunds_credit_card,
    parse_credit_memos,
)
from ml_connector.qbxml.deposits import DepositAdd, DepositLine, deposit_add, deposit_query, parse_deposits
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.qbxml.journal import (
    JournalEntryAdd,
    JournalLine,
    journal_entry_add,
    journal_entry_query,
    parse_journal_entries,
)
from ml_connector.qbxml.nodes import parse_fragment
from ml_connector.qbxml.transfers import TransferAdd, parse_transfers, transfer_add, transfer_query
from tests.qbxml_schema import assert_valid_qbxml

GUID = "{6F9619FF-8B86-D011-B42D-00C04FC964FF}"
CUSTOMER = "80000001-1700000000"


def _valid(*fragments: str) -> str:
    doc = build_message_set([RequestItem(str(i), f) for i, f in enumerate(fragments)], on_error="stopOnError")
    assert_valid_qbxml(doc)
    return doc


def _fee_entry(**overrides: object) -> JournalEntryAdd:
    values: dict[str, object] = {
        "txn_date": date(2026, 3, 2),
        "ref_number": "SF7K2M9QX4A",
        "memo": "Stripe fee for ch_3OabcDEFghiJKL (txn_1Oabc)",
        "external_guid": GUID,
        "debits": (JournalLine(account_name="Stripe Fees", amount=Decimal("7.55")),),
        "credits": (JournalLine(account_name="Stripe Clearing", amount=Decimal("7.55")),),
    }
    values.update(overrides)
    return JournalEntryAdd(**values)  # type: ignore[arg-type]


def _response(inner: str) -> str:
    doc = f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs>{inner}</QBXMLMsgsRs></QBXML>'
    assert_valid_qbxml(doc)
    return parse_response(doc).items[0].xml


# ----------------------------------------------------------------------------- journal entries


def test_a_fee_journal_entry_is_valid_and_lists_debits_before_credits() -> None:
    fragment = journal_entry_add(_fee_entry())
    _valid(fragment)
    add = parse_fragment(fragment).find("JournalEntryAdd")
    assert add is not None
    assert [child.tag for child in add] == [
        "TxnDate", "RefNumber", "Memo", "ExternalGUID", "JournalDebitLine", "JournalCreditLine",
    ]
    assert add.findtext("JournalDebitLine/Amount") == "7.55"


def test_a_dispute_entry_names_the_customer_on_its_receivable_line_and_can_carry_an_exchange_rate() -> None:
    entry = _fee_entry(
        debits=(
            JournalLine(account_name="Accounts Receivable", amount=Decimal("100.00"), entity_list_id=CUSTOMER),
            JournalLine(account_name="Stripe Fees", amount=Decimal("15.00"), memo="dispute fee"),
        ),
        credits=(JournalLine(account_name="Stripe Clearing", amount=Decimal("115.00")),),
        currency_name="Euro",
        exchange_rate=Decimal("1.08345"),
    )
    fragment = journal_entry_add(entry)
    _valid(fragment)
    root = parse_fragment(fragment)
    assert root.findtext("JournalEntryAdd/JournalDebitLine/EntityRef/ListID") == CUSTOMER
    assert root.findtext("JournalEntryAdd/ExchangeRate") == "1.08345"
    assert entry.total == Decimal("115.00")


def test_an_unbalanced_or_one_sided_journal_entry_is_refused_before_quickbooks_sees_it() -> None:
    with pytest.raises(ValueError, match="balance"):
        _fee_entry(credits=(JournalLine(account_name="Stripe Clearing", amount=Decimal("7.54")),))
    with pytest.raises(ValueError, match="one debit and one credit"):
        _fee_entry(credits=())
    with pytest.raises(ValueError, match="positive"):
        JournalLine(account_name="Stripe Fees", amount=Decimal("0"))
    with pytest.raises(TypeError):
        JournalLine(account_name="Stripe Fees", amount=7.55)  # type: ignore[arg-type]


def test_a_ref_number_longer_than_quickbooks_allows_is_refused_not_cut() -> None:
    with pytest.raises(ValueError, match="11 characters"):
        _fee_entry(ref_number="txn_1OabcDEFghi")


def test_journal_entry_queries_by_ref_number_or_date_range_are_valid() -> None:
    _valid(
        journal_entry_query(ref_numbers=["SF7K2M9QX4A"]),
        journal_entry_query(txn_ids=["1A2B-1710000000"], include_line_items=False),
        journal_entry_query(from_txn_date=date(2026, 3, 1), to_txn_date=date(2026, 3, 31), max_returned=100,
                            iterator=True),
        journal_entry_query(ref_number_starts_with="SF"),
    )
    with pytest.raises(ValueError):
        journal_entry_query(ref_numbers=["A"], from_txn_date=date(2026, 3, 1))


def test_a_journal_entry_is_read_back_with_its_lines_and_net_per_account() -> None:
    rs = _response(
        '<JournalEntryAddRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<JournalEntryRet><TxnID>1F-1710000000</TxnID><TimeCreated>2026-03-02T10:00:00-05:00</TimeCreated>"
        "<TimeModified>2026-03-02T10:00:00-05:00</TimeModified><EditSequence>1710000000</EditSequence>"
        "<TxnNumber>7</TxnNumber><TxnDate>2026-03-02</TxnDate><RefNumber>SF7K2M9QX4A</RefNumber>"
        f"<Memo>Stripe fee</Memo><ExternalGUID>{GUID}</ExternalGUID>"
        "<JournalDebitLine><TxnLineID>20-1</TxnLineID><AccountRef><FullName>Stripe Fees</FullName></AccountRef>"
        "<Amount>7.55</Amount></JournalDebitLine>"
        "<JournalCreditLine><TxnLineID>21-1</TxnLineID><AccountRef><FullName>Stripe Clearing</FullName>"
        "</AccountRef><Amount>7.55</Amount></JournalCreditLine>"
        "</JournalEntryRet></JournalEntryAddRs>"
    )
    [entry] = parse_journal_entries(rs)
    assert entry.txn_id == "1F-1710000000"
    assert entry.external_guid == GUID
    assert entry.total("debit") == entry.total("credit") == Decimal("7.55")
    assert entry.net_for("stripe clearing") == Decimal("-7.55")
    assert entry.net_for("Stripe Fees") == Decimal("7.55")


# ------------------------------------------------------------------------- deposits, transfers


def test_a_payout_deposit_moves_the_payout_amount_from_clearing_into_the_bank() -> None:
    deposit = DepositAdd(
        deposit_to_account_name="Checking",
        txn_date=date(2026, 3, 5),
        memo="Stripe payout po_1Oabc",
        external_guid=GUID,
        lines=(DepositLine(account_name="Stripe Clearing", amount=Decimal("1234.56"), memo="po_1Oabc"),),
    )
    fragment = deposit_add(deposit)
    _valid(fragment)
    line = parse_fragment(fragment).find("DepositAdd/DepositLineAdd")
    assert line is not None
    assert [c.tag for c in line] == ["AccountRef", "Memo", "Amount"]
    assert deposit.total == Decimal("1234.56")
    with pytest.raises(ValueError):
        DepositAdd(deposit_to_account_name="Checking", lines=())


def test_deposit_queries_select_by_ids_or_by_date_and_account() -> None:
    _valid(
        deposit_query(txn_ids=["1A-1"]),
        deposit_query(from_txn_date=date(2026, 3, 1), to_txn_date=date(2026, 3, 8), account_names=["Checking"]),
    )
    with pytest.raises(ValueError):
        deposit_query(txn_ids=["1A-1"], account_names=["Checking"])


def test_a_deposit_is_read_back_with_its_total_guid_and_lines() -> None:
    rs = _response(
        '<DepositQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<DepositRet><TxnID>30-1710000000</TxnID><TimeCreated>2026-03-05T10:00:00-05:00</TimeCreated>"
        "<TimeModified>2026-03-05T10:00:00-05:00</TimeModified><EditSequence>1</EditSequence>"
        "<TxnDate>2026-03-05</TxnDate><DepositToAccountRef><FullName>Checking</FullName></DepositToAccountRef>"
        f"<Memo>Stripe payout po_1Oabc</Memo><DepositTotal>1234.56</DepositTotal><ExternalGUID>{GUID}"
        "</ExternalGUID><DepositLineRet><TxnLineID>31-1</TxnLineID><AccountRef><FullName>Stripe Clearing"
        "</FullName></AccountRef><Amount>1234.56</Amount></DepositLineRet></DepositRet></DepositQueryRs>"
    )
    [deposit] = parse_deposits(rs)
    assert (deposit.deposit_to_account_name, deposit.deposit_total) == ("Checking", Decimal("1234.56"))
    assert deposit.lines[0].account_name == "Stripe Clearing"
    assert deposit.external_guid == GUID


def test_transfer_add_and_query_are_valid_and_read_back() -> None:
    transfer = TransferAdd(from_account_name="Stripe Clearing", to_account_name="Checking",
                           amount=Decimal("10.00"), txn_date=date(2026, 3, 5), memo="po_1Oabc")
    _valid(transfer_add(transfer), transfer_query(from_txn_date=date(2026, 3, 1)), transfer_query(txn_ids=["A-1"]))
    with pytest.raises(ValueError):
        TransferAdd(from_account_name="Checking", to_account_name="checking", amount=Decimal("1.00"))
    rs = _response(
        '<TransferQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<TransferRet><TxnID>40-1</TxnID><TimeCreated>2026-03-05T10:00:00</TimeCreated>"
        "<TimeModified>2026-03-05T10:00:00</TimeModified><EditSequence>1</EditSequence>"
        "<TxnDate>2026-03-05</TxnDate><TransferFromAccountRef><FullName>Stripe Clearing</FullName>"
        "</TransferFromAccountRef><TransferToAccountRef><FullName>Checking</FullName></TransferToAccountRef>"
        "<Amount>10.00</Amount><Memo>po_1Oabc</Memo></TransferRet></TransferQueryRs>"
    )
    [read] = parse_transfers(rs)
    assert (read.from_account_name, read.to_account_name, read.amount) == (
        "Stripe Clearing", "Checking", Decimal("10.00"))


# ------------------------------------------------------------------- credit memos and refunds


def test_a_refund_is_a_credit_memo_paid_out_of_the_clearing_account_by_a_card_refund() -> None:
    memo = CreditMemoAdd(
        customer_list_id=CUSTOMER, item_name="Stripe Refund", amount=Decimal("25.00"),
        description="Refund re_1Oabc of invoice 1001", txn_date=date(2026, 3, 3), ref_number="RF7K2M9QX4A",
        memo="Stripe refund re_1Oabc for ch_1Oabc", external_guid=GUID,
    )
    refund = ARRefundCreditCardAdd(
        customer_list_id=CUSTOMER, refund_from_account_name="Stripe Clearing",
        applied=(RefundAppliedTo("50-1710000000", Decimal("25.00")),), txn_date=date(2026, 3, 3),
        ref_number="RF7K2M9QX4A", payment_method_name="Stripe", memo="Stripe refund re_1Oabc",
        external_guid=GUID,
    )
    _valid(credit_memo_add(memo), ar_refund_credit_card_add(refund))
    add = parse_fragment(ar_refund_credit_card_add(refund)).find("ARRefundCreditCardAdd")
    assert add is not None
    assert [c.tag for c in add] == [
        "CustomerRef", "RefundFromAccountRef", "TxnDate", "RefNumber", "PaymentMethodRef", "Memo",
        "ExternalGUID", "RefundAppliedToTxnAdd",
    ]
    assert refund.total == Decimal("25.00")
    with pytest.raises(ValueError):
        ARRefundCreditCardAdd(customer_list_id=CUSTOMER, refund_from_account_name="Stripe Clearing", applied=())


def test_credit_memo_and_refund_queries_are_valid() -> None:
    _valid(
        credit_memo_query(ref_numbers=["RF7K2M9QX4A"]),
        credit_memo_query(customer_list_ids=[CUSTOMER], from_txn_date=date(2026, 3, 1), include_line_items=True),
        ar_refund_credit_card_query(ref_numbers=["RF7K2M9QX4A"]),
        ar_refund_credit_card_query(from_txn_date=date(2026, 3, 1), to_txn_date=date(2026, 3, 31)),
    )


def test_credit_memos_and_refunds_are_read_back_with_what_they_are_linked_to() -> None:
    memo_rs = _response(
        '<CreditMemoQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<CreditMemoRet><TxnID>50-1</TxnID><TimeCreated>2026-03-03T10:00:00</TimeCreated>"
        "<TimeModified>2026-03-03T10:00:00</TimeModified><EditSequence>1</EditSequence>"
        f"<CustomerRef><ListID>{CUSTOMER}</ListID></CustomerRef><TxnDate>2026-03-03</TxnDate>"
        "<RefNumber>RF7K2M9QX4A</RefNumber><IsPending>false</IsPending><Subtotal>25.00</Subtotal>"
        "<SalesTaxPercentage>0</SalesTaxPercentage><SalesTaxTotal>0.00</SalesTaxTotal>"
        "<TotalAmount>25.00</TotalAmount><CreditRemaining>0.00</CreditRemaining>"
        f"<Memo>re_1Oabc</Memo><ExternalGUID>{GUID}</ExternalGUID>"
        "<LinkedTxn><TxnID>60-1</TxnID><TxnType>ARRefundCreditCard</TxnType><TxnDate>2026-03-03</TxnDate>"
        "<LinkType>AMTTYPE</LinkType><Amount>-25.00</Amount></LinkedTxn></CreditMemoRet></CreditMemoQueryRs>"
    )
    [memo] = parse_credit_memos(memo_rs)
    assert (memo.total_amount, memo.credit_remaining) == (Decimal("25.00"), Decimal("0.00"))
    assert memo.linked[0].txn_type == "ARRefundCreditCard"
    refund_rs = _response(
        '<ARRefundCreditCardQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
        "<ARRefundCreditCardRet><TxnID>60-1</TxnID><TimeCreated>2026-03-03T10:00:00</TimeCreated>"
        "<TimeModified>2026-03-03T10:00:00</TimeModified><EditSequence>1</EditSequence>"
        f"<CustomerRef><ListID>{CUSTOMER}</ListID></CustomerRef><RefundFromAccountRef><FullName>Stripe "
        "Clearing</FullName></RefundFromAccountRef><TxnDate>2026-03-03</TxnDate><TotalAmount>25.00</TotalAmount>"
        f"<ExternalGUID>{GUID}</ExternalGUID><RefundAppliedToTxnRet><TxnID>50-1</TxnID><TxnType>CreditMemo"
        "</TxnType><TxnDate>2026-03-03</TxnDate><CreditRemaining>0.00</CreditRemaining>"
        "<RefundAmount>25.00</RefundAmount></RefundAppliedToTxnRet></ARRefundCreditCardRet>"
        "</ARRefundCreditCardQueryRs>"
    )
    [refund] = parse_ar_refunds_credit_card(refund_rs)
    assert refund.refund_from_account_name == "Stripe Clearing"
    assert refund.applied_to[0].txn_id == "50-1"
    assert refund.applied_to[0].amount == Decimal("25.00")
