"""The simulator's general ledger for Stripe money: journal entries, deposits, transfers, credit memos and
card refunds, with account balances a test can hold against Stripe's numbers.

Kept beside ``company.py``/``processor.py`` (whose authors own them) and plugged in with
:func:`install`, which adds these requests to a processor's dispatch table. Every record is a posting
of signed debits per account (debit positive), so :meth:`CompanyLedger.account_balance` is the sum of
the company's own derived balance (payments deposited, open invoices) and these postings, shown the way
QuickBooks shows it: debit-positive for asset and expense accounts, credit-positive for the others.

Like QuickBooks, it refuses references to accounts, customers or items that do not exist (3140),
unbalanced journal entries (3020-style message) and refunds of more credit than remains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.company.records import ZERO, Account, StatusError, money

_DEBIT_POSITIVE = frozenset({
    "Bank", "AccountsReceivable", "OtherCurrentAsset", "FixedAsset", "OtherAsset", "Expense", "OtherExpense",
    "CostOfGoodsSold",
})


@dataclass
class Line:
    account_id: str
    debit: Decimal  # signed: negative is a credit
    memo: str | None = None
    entity_id: str | None = None


@dataclass
class LedgerTxn:
    kind: str  # JournalEntry, Deposit, Transfer, CreditMemo, ARRefundCreditCard
    txn_id: str
    txn_number: int
    created: datetime
    txn_date: date
    ref_number: str | None
    memo: str | None
    external_guid: str | None
    lines: list[Line]
    customer_id: str | None = None
    applied: list[tuple[str, Decimal]] = field(default_factory=list)  # refunds: credit memo id, amount
    payment_method: str | None = None


def _text(parent: etree._Element, tag: str) -> str | None:
    child = parent.find(tag)
    return None if child is None else (child.text or "")


def _amount(parent: etree._Element, tag: str) -> Decimal:
    raw = _text(parent, tag)
    if raw is None:
        raise StatusError(3000, f"The request is missing {tag}.")
    return money(Decimal(raw))


def _sub(parent: etree._Element, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def _amt(value: Decimal) -> str:
    return f"{money(value):f}"


class CompanyLedger:
    """The ledger of one company file; all access happens under ``company.lock`` (the processor's)."""

    def __init__(self, company: CompanyFile) -> None:
        self.company = company
        self.txns: dict[str, LedgerTxn] = {}
        self._seq = 0x900000

    # -- balances -------------------------------------------------------------------------------

    def account_balance(self, account: Account | str) -> Decimal:
        found = self._account(account) if isinstance(account, str) else account
        debits = sum(
            (line.debit for txn in self.txns.values() for line in txn.lines if line.account_id == found.list_id),
            ZERO,
        )
        own = self.company.account_balance(found)
        if found.account_type in _DEBIT_POSITIVE:
            return own + debits
        return own - debits

    def customer_balance_change(self, customer_id: str) -> Decimal:
        """What these postings add to a customer's open balance (A/R lines naming the customer)."""
        return sum(
            (line.debit for txn in self.txns.values() for line in txn.lines
             if line.entity_id == customer_id and self.company.accounts[line.account_id].account_type
             == "AccountsReceivable"),
            ZERO,
        )

    # -- lookups --------------------------------------------------------------------------------

    def _account(self, full_name: str | None, txn_name: str = "transaction") -> Account:
        found = self.company.find_account(full_name=full_name) if full_name else None
        if found is None:
            raise StatusError(3140, f'There is an invalid reference to QuickBooks Account "{full_name}" in the '
                                    f"{txn_name}.")
        return found

    def _account_ref(self, parent: etree._Element, tag: str, txn_name: str) -> Account:
        ref = parent.find(tag)
        if ref is None:
            raise StatusError(3000, f"The {txn_name} is missing {tag}.")
        list_id = _text(ref, "ListID")
        if list_id:
            account = self.company.find_account(list_id=list_id)
            if account is None:
                raise StatusError(3140, f'There is an invalid reference to QuickBooks Account "{list_id}".')
            return account
        return self._account(_text(ref, "FullName"), txn_name)

    def _customer(self, parent: etree._Element, tag: str = "CustomerRef") -> str:
        ref = parent.find(tag)
        list_id = _text(ref, "ListID") if ref is not None else None
        full_name = _text(ref, "FullName") if ref is not None else None
        customer = self.company.find_customer(list_id=list_id, full_name=full_name if not list_id else None)
        if customer is None:
            raise StatusError(3140, f'There is an invalid reference to QuickBooks Customer "{list_id or full_name}".')
        return customer.list_id

    def _new(self, kind: str, request: etree._Element, lines: list[Line], **extra: object) -> LedgerTxn:
        total = sum((line.debit for line in lines), ZERO)
        if total != 0:
            raise StatusError(3020, f"Transaction is not in balance (off by {_amt(total)}).")
        now = self.company.now()
        self._seq += 1
        raw_date = _text(request, "TxnDate")
        txn = LedgerTxn(
            kind=kind, txn_id=f"{self._seq:X}-{int(now.timestamp())}", txn_number=self._seq - 0x900000,
            created=now, txn_date=date.fromisoformat(raw_date) if raw_date else self.company.today(),
            ref_number=_text(request, "RefNumber"), memo=_text(request, "Memo"),
            external_guid=_text(request, "ExternalGUID"), lines=lines,
            **extra,  # type: ignore[arg-type]
        )
        self.txns[txn.txn_id] = txn
        return txn

    # -- adds -----------------------------------------------------------------------------------

    def journal_entry_add(self, add: etree._Element) -> LedgerTxn:
        lines = []
        for element in add:
            if element.tag not in ("JournalDebitLine", "JournalCreditLine"):
                continue
            account = self._account_ref(element, "AccountRef", "journal entry")
            amount = _amount(element, "Amount")
            entity = self._customer(element, "EntityRef") if element.find("EntityRef") is not None else None
            if account.account_type == "AccountsReceivable" and entity is None:
                raise StatusError(3140, "An Accounts Receivable line of a journal entry needs a customer.")
            sign = 1 if element.tag == "JournalDebitLine" else -1
            lines.append(Line(account.list_id, sign * amount, _text(element, "Memo"), entity))
        return self._new("JournalEntry", add, lines)

    def deposit_add(self, add: etree._Element) -> LedgerTxn:
        bank = self._account_ref(add, "DepositToAccountRef", "deposit")
        lines = []
        for element in add.findall("DepositLineAdd"):
            account = self._account_ref(element, "AccountRef", "deposit")
            lines.append(Line(account.list_id, -_amount(element, "Amount"), _text(element, "Memo")))
        total = -sum((line.debit for line in lines), ZERO)
        return self._new("Deposit", add, [Line(bank.list_id, total), *lines])

    def transfer_add(self, add: etree._Element) -> LedgerTxn:
        source = self._account_ref(add, "TransferFromAccountRef", "transfer")
        target = self._account_ref(add, "TransferToAccountRef", "transfer")
        amount = _amount(add, "Amount")
        return self._new("Transfer", add, [Line(target.list_id, amount), Line(source.list_id, -amount)])

    def credit_memo_add(self, add: etree._Element) -> LedgerTxn:
        customer = self._customer(add)
        ar = self._ar(add)
        lines = []
        for element in add.findall("CreditMemoLineAdd"):
            ref = element.find("ItemRef")
            item = self.company.find_item(full_name=_text(ref, "FullName")) if ref is not None else None
            if item is None or item.account_id is None:
                raise StatusError(3140, "There is an invalid reference to QuickBooks Item in the credit memo.")
            lines.append(Line(item.account_id, _amount(element, "Amount"), _text(element, "Desc")))
        total = sum((line.debit for line in lines), ZERO)
        return self._new("CreditMemo", add, [*lines, Line(ar.list_id, -total, None, customer)], customer_id=customer)

    def credit_remaining(self, memo: LedgerTxn) -> Decimal:
        total = -sum((line.debit for line in memo.lines if line.entity_id), ZERO)
        used = sum((amount for txn in self.txns.values() for txn_id, amount in txn.applied if txn_id == memo.txn_id),
                   ZERO)
        return total - used

    def refund_add(self, add: etree._Element) -> LedgerTxn:
        customer = self._customer(add)
        source = self._account_ref(add, "RefundFromAccountRef", "refund")
        ar = self._ar(add)
        applied = []
        for element in add.findall("RefundAppliedToTxnAdd"):
            txn_id = _text(element, "TxnID") or ""
            amount = _amount(element, "RefundAmount")
            memo = self.txns.get(txn_id)
            if memo is None or memo.kind != "CreditMemo" or memo.customer_id != customer:
                raise StatusError(3120, f'Object "{txn_id}" specified in the request cannot be found.')
            if amount > self.credit_remaining(memo):
                raise StatusError(3210, f"The refund of {_amt(amount)} exceeds the credit remaining on {txn_id}.")
            applied.append((txn_id, amount))
        total = sum((amount for _, amount in applied), ZERO)
        method = add.find("PaymentMethodRef")
        return self._new(
            "ARRefundCreditCard", add, [Line(ar.list_id, total, None, customer), Line(source.list_id, -total)],
            customer_id=customer, applied=applied,
            payment_method=_text(method, "FullName") if method is not None else None,
        )

    def _ar(self, add: etree._Element) -> Account:
        if add.find("ARAccountRef") is not None:
            return self._account_ref(add, "ARAccountRef", "transaction")
        default = self.company.default_ar_account()
        if default is None:
            raise StatusError(3140, "The company file has no Accounts Receivable account.")
        return default

    # -- rendering ------------------------------------------------------------------------------

    def _core(self, ret: etree._Element, txn: LedgerTxn) -> None:
        _sub(ret, "TxnID", txn.txn_id)
        _sub(ret, "TimeCreated", self.company.format_datetime(txn.created))
        _sub(ret, "TimeModified", self.company.format_datetime(txn.created))
        _sub(ret, "EditSequence", str(int(txn.created.timestamp())))
        if txn.kind not in ("Transfer",):
            _sub(ret, "TxnNumber", str(txn.txn_number))

    def _ref(self, parent: etree._Element, tag: str, account_id: str) -> None:
        ref = etree.SubElement(parent, tag)
        _sub(ref, "ListID", account_id)
        _sub(ref, "FullName", self.company.accounts[account_id].name)

    def _customer_ref(self, parent: etree._Element, tag: str, customer_id: str) -> None:
        ref = etree.SubElement(parent, tag)
        _sub(ref, "ListID", customer_id)
        _sub(ref, "FullName", self.company.customers[customer_id].full_name)

    def render(self, txn: LedgerTxn, include_lines: bool = True) -> etree._Element:
        ret = etree.Element(f"{txn.kind}Ret")
        self._core(ret, txn)
        getattr(self, f"_render_{txn.kind}")(ret, txn, include_lines)
        return ret

    def _render_JournalEntry(self, ret: etree._Element, txn: LedgerTxn, include_lines: bool) -> None:  # noqa: N802
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        _sub(ret, "RefNumber", txn.ref_number)
        _sub(ret, "Memo", txn.memo)
        _sub(ret, "ExternalGUID", txn.external_guid)
        for n, line in enumerate(txn.lines if include_lines else ()):
            element = etree.SubElement(ret, "JournalDebitLine" if line.debit > 0 else "JournalCreditLine")
            _sub(element, "TxnLineID", f"{txn.txn_id}-{n}")
            self._ref(element, "AccountRef", line.account_id)
            _sub(element, "Amount", _amt(abs(line.debit)))
            _sub(element, "Memo", line.memo)
            if line.entity_id:
                self._customer_ref(element, "EntityRef", line.entity_id)

    def _render_Deposit(self, ret: etree._Element, txn: LedgerTxn, include_lines: bool) -> None:  # noqa: N802
        bank, *lines = txn.lines
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        self._ref(ret, "DepositToAccountRef", bank.account_id)
        _sub(ret, "Memo", txn.memo)
        _sub(ret, "DepositTotal", _amt(bank.debit))
        _sub(ret, "ExternalGUID", txn.external_guid)
        for n, line in enumerate(lines if include_lines else ()):
            element = etree.SubElement(ret, "DepositLineRet")
            _sub(element, "TxnLineID", f"{txn.txn_id}-{n}")
            self._ref(element, "AccountRef", line.account_id)
            _sub(element, "Memo", line.memo)
            _sub(element, "Amount", _amt(-line.debit))

    def _render_Transfer(self, ret: etree._Element, txn: LedgerTxn, include_lines: bool) -> None:  # noqa: N802
        target, source = txn.lines
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        self._ref(ret, "TransferFromAccountRef", source.account_id)
        _sub(ret, "FromAccountBalance", _amt(self.account_balance(self.company.accounts[source.account_id])))
        self._ref(ret, "TransferToAccountRef", target.account_id)
        _sub(ret, "ToAccountBalance", _amt(self.account_balance(self.company.accounts[target.account_id])))
        _sub(ret, "Amount", _amt(target.debit))
        _sub(ret, "Memo", txn.memo)

    def _render_CreditMemo(self, ret: etree._Element, txn: LedgerTxn, include_lines: bool) -> None:  # noqa: N802
        total = -sum((line.debit for line in txn.lines if line.entity_id), ZERO)
        assert txn.customer_id is not None
        self._customer_ref(ret, "CustomerRef", txn.customer_id)
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        _sub(ret, "RefNumber", txn.ref_number)
        _sub(ret, "IsPending", "false")
        _sub(ret, "Subtotal", _amt(total))
        _sub(ret, "SalesTaxPercentage", "0")
        _sub(ret, "SalesTaxTotal", "0.00")
        _sub(ret, "TotalAmount", _amt(total))
        _sub(ret, "CreditRemaining", _amt(self.credit_remaining(txn)))
        _sub(ret, "Memo", txn.memo)
        _sub(ret, "ExternalGUID", txn.external_guid)
        for other in self.txns.values():
            for txn_id, amount in other.applied:
                if txn_id == txn.txn_id:
                    link = etree.SubElement(ret, "LinkedTxn")
                    _sub(link, "TxnID", other.txn_id)
                    _sub(link, "TxnType", other.kind)
                    _sub(link, "TxnDate", other.txn_date.isoformat())
                    _sub(link, "LinkType", "AMTTYPE")
                    _sub(link, "Amount", _amt(-amount))

    def _render_ARRefundCreditCard(  # noqa: N802
        self, ret: etree._Element, txn: LedgerTxn, include_lines: bool
    ) -> None:
        assert txn.customer_id is not None
        self._customer_ref(ret, "CustomerRef", txn.customer_id)
        self._ref(ret, "RefundFromAccountRef", txn.lines[1].account_id)
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        _sub(ret, "RefNumber", txn.ref_number)
        _sub(ret, "TotalAmount", _amt(txn.lines[0].debit))
        if txn.payment_method:
            method = etree.SubElement(ret, "PaymentMethodRef")
            _sub(method, "FullName", txn.payment_method)
        _sub(ret, "Memo", txn.memo)
        _sub(ret, "ExternalGUID", txn.external_guid)
        for txn_id, amount in txn.applied:
            element = etree.SubElement(ret, "RefundAppliedToTxnRet")
            memo = self.txns[txn_id]
            _sub(element, "TxnID", txn_id)
            _sub(element, "TxnType", "CreditMemo")
            _sub(element, "TxnDate", memo.txn_date.isoformat())
            _sub(element, "RefNumber", memo.ref_number)
            _sub(element, "CreditRemaining", _amt(self.credit_remaining(memo)))
            _sub(element, "RefundAmount", _amt(amount))

    # -- queries --------------------------------------------------------------------------------

    def select(self, kind: str, request: etree._Element) -> list[LedgerTxn]:
        txn_ids = [e.text for e in request.findall("TxnID")]
        refs = [e.text for e in request.findall("RefNumber")]
        found: Iterable[LedgerTxn] = (t for t in self.txns.values() if t.kind == kind)
        if txn_ids:
            found = (t for t in found if t.txn_id in txn_ids)
        if refs:
            found = (t for t in found if t.ref_number in refs)
        dates = request.find("TxnDateRangeFilter")
        if dates is not None:
            start, end = _text(dates, "FromTxnDate"), _text(dates, "ToTxnDate")
            found = (t for t in found if (not start or t.txn_date >= date.fromisoformat(start))
                     and (not end or t.txn_date <= date.fromisoformat(end)))
        accounts = request.find("AccountFilter")
        if accounts is not None:
            names = {(e.text or "").casefold() for e in accounts.findall("FullName")}
            ids = {a.list_id for a in self.company.accounts.values() if a.name.casefold() in names}
            found = (t for t in found if any(line.account_id in ids for line in t.lines))
        entities = request.find("EntityFilter")
        if entities is not None:
            wanted = {e.text for e in entities.findall("ListID")}
            found = (t for t in found if t.customer_id in wanted)
        result = list(found)
        limit = _text(request, "MaxReturned")
        return result[: int(limit)] if limit else result


_KINDS = {
    "JournalEntry": CompanyLedger.journal_entry_add,
    "Deposit": CompanyLedger.deposit_add,
    "Transfer": CompanyLedger.transfer_add,
    "CreditMemo": CompanyLedger.credit_memo_add,
    "ARRefundCreditCard": CompanyLedger.refund_add,
}


def _rs(request: etree._Element, code: int = 0, message: str = "Status OK") -> etree._Element:
    rs = etree.Element(str(request.tag)[:-2] + "Rs")
    if request.get("requestID") is not None:
        rs.set("requestID", str(request.get("requestID")))
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", "Info" if code < 500 else "Error" if code >= 1000 else "Warn")
    rs.set("statusMessage", message)
    return rs


def handlers(ledger: CompanyLedger) -> dict[str, Callable[[etree._Element], etree._Element]]:
    """``XxxAddRq``/``XxxQueryRq`` handlers in the processor's shape (StatusError → an error Rs)."""

    def adder(kind: str) -> Callable[[etree._Element], etree._Element]:
        def handle(request: etree._Element) -> etree._Element:
            add = request.find(f"{kind}Add")
            if add is None:
                raise StatusError(3000, f"The request is missing {kind}Add.")
            txn = _KINDS[kind](ledger, add)
            rs = _rs(request)
            rs.append(ledger.render(txn))
            return rs
        return handle

    def querier(kind: str) -> Callable[[etree._Element], etree._Element]:
        def handle(request: etree._Element) -> etree._Element:
            include = _text(request, "IncludeLineItems") == "true"
            found = ledger.select(kind, request)
            rs = _rs(request) if found else _rs(request, 1, "A query request did not find a matching object "
                                                            "in QuickBooks")
            rs.set("retCount", str(len(found)))
            rs.extend(ledger.render(txn, include or kind != "JournalEntry") for txn in found)
            return rs
        return handle

    table: dict[str, Callable[[etree._Element], etree._Element]] = {}
    for kind in _KINDS:
        table[f"{kind}AddRq"] = adder(kind)
        table[f"{kind}QueryRq"] = querier(kind)
    return table


def install(processor: object, company: CompanyFile) -> CompanyLedger:
    """Teach ``processor`` (a QuickBooksProcessor over ``company``) these requests; returns the ledger.

    The processor installs a ledger of its own at construction; this returns that one, or adds one to a
    processor built without it.
    """
    existing = getattr(processor, "ledger", None)
    if isinstance(existing, CompanyLedger) and existing.company is company:
        return existing
    ledger = CompanyLedger(company)
    table = getattr(processor, "_handlers")  # noqa: B009 - the dispatch table the processor owns
    table.update(handlers(ledger))
    return ledger
