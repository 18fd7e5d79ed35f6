"""General journal entries: JournalEntryAdd, JournalEntryQuery, and reading JournalEntryRet.

The connector posts the Stripe money that has no QuickBooks form of its own as journal entries: the
processing fee taken out of the clearing account, the funds a dispute withdrew and the dispute fee, a
won dispute's reinstatement, a lost dispute's write-off. A journal entry must balance, so the value
object refuses an unbalanced one here instead of QuickBooks answering 3020 later.

QuickBooks has no idempotency key, so every entry carries an ExternalGUID derived from the Stripe ids
it posts, a RefNumber (at most 11 characters, the schema's limit) and the full Stripe ids in its Memo;
a re-run queries by RefNumber and compares the ExternalGUID before posting again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.txn_query import ByIdsOrDates, TxnFilter, txn_query
from ml_connector.qbxml.values import format_amount

REF_NUMBER_MAX_LEN = 11
MEMO_MAX_LEN = 4095
ACCOUNT_FULL_NAME_MAX_LEN = nodes.ACCOUNT_FULL_NAME_MAX_LEN
CURRENCY_NAME_MAX_LEN = 64

LineKind = Literal["debit", "credit"]


def cents(value: Decimal) -> Decimal:
    """``value`` as it will be sent (two decimals, half-up); also refuses float money."""
    return Decimal(format_amount(value))


def check_positive(amount: Decimal, what: str) -> None:
    """Refuse ``what``'s amount unless it is positive as it will be sent (a line or transaction of zero
    would be refused by QuickBooks, a negative one means the caller mixed up the direction)."""
    if cents(amount) <= 0:
        raise ValueError(f"{what} amount must be positive, got {amount}")


def cents_total(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of ``amounts`` as they will be sent, each rounded to cents first (as QuickBooks adds them)."""
    return sum((cents(amount) for amount in amounts), Decimal(0))


def check_exchange_rate(rate: Decimal | None) -> None:
    if rate is not None and rate <= 0:
        raise ValueError(f"exchange rate must be positive, got {rate}")


@dataclass(frozen=True, kw_only=True)
class PostingAdd:
    """What the Add of a ledger posting (a journal entry here, a credit memo or card refund in
    :mod:`~ml_connector.qbxml.credits`) carries so that a re-run finds it instead of posting it twice: a
    RefNumber, the Stripe ids in its Memo and an ExternalGUID (see the module docstring); with its date and,
    in a multicurrency file, the exchange rate."""

    txn_date: date | None = None
    ref_number: str | None = None
    memo: str | None = None
    exchange_rate: Decimal | None = None
    external_guid: str | None = None

    def __post_init__(self) -> None:
        if self.ref_number is not None and len(self.ref_number) > REF_NUMBER_MAX_LEN:
            # Cutting it would make it collide with another posting's; the caller derives a short one.
            raise ValueError(f"RefNumber is longer than {REF_NUMBER_MAX_LEN} characters: {self.ref_number!r}")

    def posting_fields(self) -> dict[str, Any]:
        """These fields alone, as keyword arguments for another Add of the same posting: a card refund
        carries its credit memo's, so that both are found again by the same RefNumber and ExternalGUID."""
        return {f.name: getattr(self, f.name) for f in fields(PostingAdd)}


@dataclass(frozen=True, kw_only=True)
class JournalLine:
    """One side of an entry. An Accounts Receivable or Payable line needs ``entity_list_id`` (the
    customer or vendor): QuickBooks refuses an A/R line without a name."""

    account_name: str
    amount: Decimal
    memo: str | None = None
    entity_list_id: str | None = None

    def __post_init__(self) -> None:
        check_positive(self.amount, "a journal line")
        if not self.account_name or not self.account_name.strip():
            raise ValueError("a journal line needs an account")


@dataclass(frozen=True, kw_only=True)
class JournalEntryAdd(PostingAdd):
    """A balanced entry. ``currency_name``/``exchange_rate`` are for multicurrency files only."""

    debits: tuple[JournalLine, ...]
    credits: tuple[JournalLine, ...]
    is_adjustment: bool | None = None
    currency_name: str | None = None

    def __post_init__(self) -> None:
        if not self.debits or not self.credits:
            raise ValueError("a journal entry needs at least one debit and one credit line")
        debit_total = cents_total(line.amount for line in self.debits)
        credit_total = cents_total(line.amount for line in self.credits)
        if debit_total != credit_total:
            raise ValueError(f"a journal entry must balance: debits {debit_total} != credits {credit_total}")
        super().__post_init__()
        check_exchange_rate(self.exchange_rate)

    @property
    def total(self) -> Decimal:
        return cents_total(line.amount for line in self.debits)


def _add_line(parent: nodes.Element, tag: str, line: JournalLine) -> None:
    element = nodes.sub(parent, tag)
    nodes.add_account_ref(element, "AccountRef", line.account_name)
    nodes.add_amount(element, "Amount", line.amount)
    nodes.add_text(element, "Memo", line.memo, MEMO_MAX_LEN, multiline=True)
    nodes.add_ref(element, "EntityRef", list_id=line.entity_list_id)


def journal_entry_add(entry: JournalEntryAdd) -> str:
    """A JournalEntryAddRq in the schema's order: debit lines first, then credit lines."""
    request = nodes.new_request("JournalEntryAddRq")
    add = nodes.sub(request, "JournalEntryAdd")
    nodes.add_date(add, "TxnDate", entry.txn_date)
    nodes.add_text(add, "RefNumber", entry.ref_number, REF_NUMBER_MAX_LEN)
    nodes.add_text(add, "Memo", entry.memo, MEMO_MAX_LEN, multiline=True)
    nodes.add_bool(add, "IsAdjustment", entry.is_adjustment)
    nodes.add_ref(add, "CurrencyRef", full_name=entry.currency_name, full_name_max=CURRENCY_NAME_MAX_LEN)
    nodes.add_quantity(add, "ExchangeRate", entry.exchange_rate)
    nodes.add_guid(add, "ExternalGUID", entry.external_guid)
    for line in entry.debits:
        _add_line(add, "JournalDebitLine", line)
    for line in entry.credits:
        _add_line(add, "JournalCreditLine", line)
    return nodes.to_text(request)


class JournalEntryWhere(ByIdsOrDates, total=False):
    ref_numbers: Sequence[str]
    ref_number_starts_with: str | None
    iterator: bool


def journal_entry_query(*, include_line_items: bool = True, **where: Unpack[JournalEntryWhere]) -> str:
    """A JournalEntryQueryRq by TxnIDs, exact RefNumbers, or a date range / RefNumber prefix filter."""
    return txn_query("JournalEntryQueryRq", TxnFilter(**where), include_line_items=include_line_items)


@dataclass(frozen=True)
class JournalLineRet:
    kind: LineKind
    txn_line_id: str | None
    account_list_id: str | None
    account_name: str | None
    amount: Decimal | None
    memo: str | None
    entity_list_id: str | None


@dataclass(frozen=True)
class JournalEntry(nodes.TxnRet):
    ref_number: str | None
    memo: str | None
    external_guid: str | None
    lines: tuple[JournalLineRet, ...]

    def total(self, kind: LineKind) -> Decimal:
        return sum((line.amount or Decimal(0) for line in self.lines if line.kind == kind), Decimal(0))

    def net_for(self, account_name: str) -> Decimal:
        """Debits minus credits on one account (by FullName, case-insensitive, as QuickBooks matches)."""
        wanted = account_name.casefold()
        net = Decimal(0)
        for line in self.lines:
            if (line.account_name or "").casefold() == wanted:
                amount = line.amount or Decimal(0)
                net += amount if line.kind == "debit" else -amount
        return net


def _read_line(element: nodes.Element, kind: LineKind) -> JournalLineRet:
    account_list_id, account_name = nodes.ref_of(element, "AccountRef")
    entity_list_id, _ = nodes.ref_of(element, "EntityRef")
    return JournalLineRet(
        kind=kind,
        txn_line_id=nodes.text_of(element, "TxnLineID"),
        account_list_id=account_list_id,
        account_name=account_name,
        amount=nodes.amount_of(element, "Amount"),
        memo=nodes.text_of(element, "Memo"),
        entity_list_id=entity_list_id,
    )


def read_journal_entry(ret: nodes.Element) -> JournalEntry:
    lines: list[JournalLineRet] = []
    for child in ret:
        if child.tag == "JournalDebitLine":
            lines.append(_read_line(child, "debit"))
        elif child.tag == "JournalCreditLine":
            lines.append(_read_line(child, "credit"))
    return JournalEntry(
        **nodes.txn_header(ret),
        ref_number=nodes.text_of(ret, "RefNumber"),
        memo=nodes.text_of(ret, "Memo"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        lines=tuple(lines),
    )


def parse_journal_entries(rs_xml: str) -> list[JournalEntry]:
    """Every JournalEntryRet in a JournalEntryQueryRs/AddRs (``ResponseItem.xml``)."""
    return [read_journal_entry(ret) for ret in nodes.rets(rs_xml, "JournalEntryRet")]
