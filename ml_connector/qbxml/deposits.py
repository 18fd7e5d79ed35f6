"""Bank deposits: DepositAdd, DepositQuery, and reading DepositRet.

A Stripe payout is one deposit into the bank account whose single line comes *from* the clearing
account, for exactly the payout's amount: the bank feed then shows one line per payout and QuickBooks'
bank-feed matcher pairs it with this deposit. A deposit (rather than a transfer) is used because it
carries an ExternalGUID, so a re-run can find it and never post it twice (TransferAdd has no such
field and no RefNumber).

DepositQuery has no RefNumber filter either: look a deposit up by date range and bank account, then
compare ExternalGUIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.journal import (
    CURRENCY_NAME_MAX_LEN,
    MEMO_MAX_LEN,
    cents_total,
    check_exchange_rate,
    check_positive,
)
from ml_connector.qbxml.txn_query import ByIdsOrDates, TxnFilter, txn_query

CHECK_NUMBER_MAX_LEN = 11


@dataclass(frozen=True, kw_only=True)
class DepositLine:
    """Money deposited *from* ``account_name`` (the clearing account for a payout)."""

    account_name: str
    amount: Decimal
    memo: str | None = None
    entity_list_id: str | None = None
    check_number: str | None = None
    payment_method_name: str | None = None

    def __post_init__(self) -> None:
        check_positive(self.amount, "a deposit line")


@dataclass(frozen=True, kw_only=True)
class DepositAdd:
    deposit_to_account_name: str
    lines: tuple[DepositLine, ...]
    txn_date: date | None = None
    memo: str | None = None
    currency_name: str | None = None
    exchange_rate: Decimal | None = None
    external_guid: str | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("a deposit needs at least one line")
        check_exchange_rate(self.exchange_rate)

    @property
    def total(self) -> Decimal:
        return cents_total(line.amount for line in self.lines)


def deposit_add(deposit: DepositAdd) -> str:
    """A DepositAddRq in the schema's order (DepositInfo lines: EntityRef, AccountRef, Memo, …, Amount)."""
    request = nodes.new_request("DepositAddRq")
    add = nodes.sub(request, "DepositAdd")
    nodes.add_date(add, "TxnDate", deposit.txn_date)
    nodes.add_account_ref(add, "DepositToAccountRef", deposit.deposit_to_account_name)
    nodes.add_text(add, "Memo", deposit.memo, MEMO_MAX_LEN, multiline=True)
    nodes.add_ref(add, "CurrencyRef", full_name=deposit.currency_name, full_name_max=CURRENCY_NAME_MAX_LEN)
    nodes.add_quantity(add, "ExchangeRate", deposit.exchange_rate)
    nodes.add_guid(add, "ExternalGUID", deposit.external_guid)
    for line in deposit.lines:
        element = nodes.sub(add, "DepositLineAdd")
        nodes.add_ref(element, "EntityRef", list_id=line.entity_list_id)
        nodes.add_account_ref(element, "AccountRef", line.account_name)
        nodes.add_text(element, "Memo", line.memo, MEMO_MAX_LEN, multiline=True)
        nodes.add_text(element, "CheckNumber", line.check_number, CHECK_NUMBER_MAX_LEN)
        nodes.add_payment_method_ref(element, line.payment_method_name)
        nodes.add_amount(element, "Amount", line.amount)
    return nodes.to_text(request)


class DepositWhere(ByIdsOrDates, total=False):
    account_names: Sequence[str]


def deposit_query(*, include_line_items: bool = True, **where: Unpack[DepositWhere]) -> str:
    """A DepositQueryRq by TxnIDs, or by a transaction-date range and/or the accounts involved."""
    return txn_query("DepositQueryRq", TxnFilter(**where), include_line_items=include_line_items)


@dataclass(frozen=True)
class DepositLineRet:
    txn_line_id: str | None
    account_name: str | None
    amount: Decimal | None
    memo: str | None


@dataclass(frozen=True)
class Deposit(nodes.TxnRet):
    deposit_to_account_name: str | None
    memo: str | None
    deposit_total: Decimal | None
    external_guid: str | None
    lines: tuple[DepositLineRet, ...]


def read_deposit(ret: nodes.Element) -> Deposit:
    _, deposit_to = nodes.ref_of(ret, "DepositToAccountRef")
    lines = []
    for line in ret.findall("DepositLineRet"):
        _, account_name = nodes.ref_of(line, "AccountRef")
        lines.append(
            DepositLineRet(
                txn_line_id=nodes.text_of(line, "TxnLineID"),
                account_name=account_name,
                amount=nodes.amount_of(line, "Amount"),
                memo=nodes.text_of(line, "Memo"),
            )
        )
    return Deposit(
        **nodes.txn_header(ret),
        deposit_to_account_name=deposit_to,
        memo=nodes.text_of(ret, "Memo"),
        deposit_total=nodes.amount_of(ret, "DepositTotal"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        lines=tuple(lines),
    )


def parse_deposits(rs_xml: str) -> list[Deposit]:
    """Every DepositRet in a DepositQueryRs/AddRs."""
    return [read_deposit(ret) for ret in nodes.rets(rs_xml, "DepositRet")]
