"""Transactions: InvoiceAdd/Query, ReceivePaymentAdd/Query, TxnDel and TxnDeletedQuery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, TypedDict

from lxml import etree

from ml_connector.simulator.company import (
    ZERO,
    Customer,
    Invoice,
    NewApplication,
    NewInvoiceLine,
    ReceivePayment,
    missing_element,
    not_found,
)
from ml_connector.simulator.queries import (
    Requests,
    _Selection,
    answers,
)
from ml_connector.simulator.wire import (
    _NO_MATCH,
    _address,
    _address_of,
    _amount,
    _amt,
    _bool,
    _currency_list_id,
    _currency_name,
    _date,
    _decimal,
    _flag,
    _number,
    _price,
    _rate,
    _ref_element,
    _reject,
    _required,
    _required_text,
    _rs,
    _sub,
    _text,
    _texts,
    _unsupported,
    _wall_clock,
    _with_ret,
)


class _TxnHeader(TypedDict):
    """TxnDate, RefNumber, Memo and ExternalGUID: what an InvoiceAdd and a ReceivePaymentAdd both carry and
    `TxnRecord` stores, read one way for both (a missing TxnDate is left to the company: today)."""

    txn_date: date | None
    ref_number: str | None
    memo: str | None
    external_guid: str | None


class TransactionRequests(Requests):
    """Invoices, received payments and their deletion."""

    @staticmethod
    def _read_txn_header(add: etree._Element) -> _TxnHeader:
        """The reading side of `_txn_head`: the header fields of an InvoiceAdd or ReceivePaymentAdd."""
        return _TxnHeader(
            txn_date=_date(add, "TxnDate"),
            ref_number=_text(add, "RefNumber"),
            memo=_text(add, "Memo"),
            external_guid=_text(add, "ExternalGUID"),
        )

    def _txn_head(self, ret: etree._Element, record: Invoice | ReceivePayment) -> Customer:
        """The *Ret elements an invoice and a payment share, up to RefNumber; returns the customer."""
        company = self.company
        _sub(ret, "TxnID", record.txn_id)
        _sub(ret, "TimeCreated", company.format_datetime(record.time_created))
        _sub(ret, "TimeModified", company.format_datetime(record.time_modified))
        _sub(ret, "EditSequence", record.edit_sequence)
        _sub(ret, "TxnNumber", str(record.txn_number))
        customer = company.customers[record.customer_id]
        _ref_element(ret, "CustomerRef", customer.list_id, customer.full_name)
        ar_account = company.accounts[record.ar_account_id]
        _ref_element(ret, "ARAccountRef", ar_account.list_id, ar_account.name)
        _sub(ret, "TxnDate", record.txn_date.isoformat())
        _sub(ret, "RefNumber", record.ref_number)
        return customer

    # -- invoices -----------------------------------------------------------------------------------------

    _INVOICE_ADD_FIELDS = frozenset(
        {
            "CustomerRef",
            "ARAccountRef",
            "TxnDate",
            "RefNumber",
            "BillAddress",
            "ShipAddress",
            "IsPending",
            "PONumber",
            "DueDate",
            "Memo",
            "IsToBePrinted",
            "IsToBeEmailed",
            "ExternalGUID",
            "InvoiceLineAdd",
        }
    )
    _INVOICE_LINE_FIELDS = frozenset({"ItemRef", "Desc", "Quantity", "Rate", "Amount"})

    @answers("InvoiceAddRq")
    def _invoice_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "InvoiceAdd")
        for child in add:
            if child.tag not in self._INVOICE_ADD_FIELDS:
                raise _unsupported(f"InvoiceAdd/{child.tag}")
        customer = self._customer_ref(add, "CustomerRef", "Invoice")
        ar_account = self._ar_account_ref(add, "Invoice")
        lines: list[NewInvoiceLine] = []
        for line in add.findall("InvoiceLineAdd"):
            for child in line:
                if child.tag not in self._INVOICE_LINE_FIELDS:
                    raise _unsupported(f"InvoiceLineAdd/{child.tag}")
            item_id = None
            if line.find("ItemRef") is not None:
                item_id = self._list_ref(line, "ItemRef", "Invoice", "Item", self.company.find_item).list_id
            lines.append(
                NewInvoiceLine(
                    item_id=item_id,
                    desc=_text(line, "Desc"),
                    quantity=_decimal(line, "Quantity"),
                    rate=_decimal(line, "Rate"),
                    amount=_decimal(line, "Amount"),
                )
            )
        invoice = self.company.add_invoice(
            customer.list_id,
            lines,
            ar_account_id=ar_account.list_id if ar_account else None,
            **self._read_txn_header(add),
            due_date=_date(add, "DueDate"),
            po_number=_text(add, "PONumber"),
            is_pending=_flag(add, "IsPending", default=False),
            is_to_be_printed=_flag(add, "IsToBePrinted", default=False),
            is_to_be_emailed=_flag(add, "IsToBeEmailed", default=False),
            bill_address=_address_of(add, "BillAddress"),
            ship_address=_address_of(add, "ShipAddress"),
        )
        return _with_ret(request, self._invoice_ret(invoice, include_lines=True, include_linked=False))

    @answers("InvoiceQueryRq")
    def _invoice_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = _flag(request, "IncludeLineItems", default=False)
        include_linked = _flag(request, "IncludeLinkedTxns", default=False)

        def select() -> _Selection:
            return self._select_txns(
                request, company.invoices, lambda i: [i.ar_account_id], is_paid=lambda i: i.is_paid
            )

        def render(txn_id: str) -> etree._Element | None:
            invoice = company.invoices.get(txn_id)
            return self._invoice_ret(invoice, include_lines, include_linked) if invoice else None

        return self._answer_query(request, select, render)

    def _invoice_ret(self, invoice: Invoice, include_lines: bool, include_linked: bool) -> etree._Element:
        company = self.company
        ret = etree.Element("InvoiceRet")
        self._txn_head(ret, invoice)
        _address(ret, "BillAddress", invoice.bill_address)
        _address(ret, "ShipAddress", invoice.ship_address)
        _sub(ret, "IsPending", _bool(invoice.is_pending))
        _sub(ret, "IsFinanceCharge", "false")
        _sub(ret, "PONumber", invoice.po_number)
        _sub(ret, "DueDate", invoice.due_date.isoformat())
        _sub(ret, "Subtotal", _amt(invoice.subtotal))
        _sub(ret, "SalesTaxPercentage", "0.00")
        _sub(ret, "SalesTaxTotal", "0.00")
        _sub(ret, "AppliedAmount", _amt(-invoice.applied_amount))
        _sub(ret, "BalanceRemaining", _amt(invoice.balance_remaining))
        _sub(ret, "Memo", invoice.memo)
        _sub(ret, "IsPaid", _bool(invoice.is_paid))
        _sub(ret, "IsToBePrinted", _bool(invoice.is_to_be_printed))
        _sub(ret, "IsToBeEmailed", _bool(invoice.is_to_be_emailed))
        _sub(ret, "ExternalGUID", invoice.external_guid)
        if include_linked:
            for payment_id, amount in invoice.payments.items():
                payment = company.receive_payments[payment_id]
                linked = etree.SubElement(ret, "LinkedTxn")
                _sub(linked, "TxnID", payment.txn_id)
                _sub(linked, "TxnType", "ReceivePayment")
                _sub(linked, "TxnDate", payment.txn_date.isoformat())
                _sub(linked, "RefNumber", payment.ref_number)
                _sub(linked, "LinkType", "AMTTYPE")
                _sub(linked, "Amount", _amt(-amount))
        if include_lines:
            for line in invoice.lines:
                line_ret = etree.SubElement(ret, "InvoiceLineRet")
                _sub(line_ret, "TxnLineID", line.txn_line_id)
                item = company.items.get(line.item_id) if line.item_id else None
                if item:
                    _ref_element(line_ret, "ItemRef", item.list_id, item.name)
                _sub(line_ret, "Desc", line.desc)
                _sub(line_ret, "Quantity", _number(line.quantity) if line.quantity is not None else None)
                _sub(line_ret, "Rate", _price(line.rate) if line.rate is not None else None)
                _sub(line_ret, "Amount", _amt(line.amount))
        return ret

    # -- payments -----------------------------------------------------------------------------------------

    @answers("ReceivePaymentAddRq")
    def _receive_payment_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "ReceivePaymentAdd")
        _reject(add, "CreditCardTxnInfo")
        customer = self._customer_ref(add, "CustomerRef", "ReceivePayment")
        ar_account = self._ar_account_ref(add, "ReceivePayment")
        deposit = self._account_ref(add, "DepositToAccountRef", "ReceivePayment")
        method = self._payment_method_ref(add, "PaymentMethodRef", "ReceivePayment")
        applications: list[NewApplication] = []
        for applied in add.findall("AppliedToTxnAdd"):
            _reject(applied, "TxnLineDetail", "SetCredit", "DiscountClassRef")
            txn_id = _required_text(applied, "TxnID")
            if txn_id not in self.company.invoices:
                raise not_found(txn_id)
            self._before_write(txn_id, "Invoice", is_mod=False)
            discount = _amount(applied, "DiscountAmount") or ZERO
            discount_account = self._account_ref(applied, "DiscountAccountRef", "ReceivePayment")
            if discount and discount_account is None:
                raise missing_element("DiscountAccountRef")
            applications.append(
                NewApplication(
                    txn_id,
                    _amount(applied, "PaymentAmount") or ZERO,
                    discount,
                    discount_account.list_id if discount_account else None,
                )
            )
        payment = self.company.add_receive_payment(
            customer.list_id,
            total_amount=_amount(add, "TotalAmount"),
            applications=applications,
            auto_apply=_flag(add, "IsAutoApply", default=False),
            ar_account_id=ar_account.list_id if ar_account else None,
            deposit_to_account_id=deposit.list_id if deposit else None,
            **self._read_txn_header(add),
            payment_method_id=method.list_id if method else None,
            exchange_rate=_rate(add),
        )
        return _with_ret(request, self._receive_payment_ret(payment, include_lines=True))

    @answers("ReceivePaymentQueryRq")
    def _receive_payment_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = _flag(request, "IncludeLineItems", default=False)

        def select() -> _Selection:
            return self._select_txns(
                request,
                company.receive_payments,
                lambda p: [p.ar_account_id, p.deposit_to_account_id],
            )

        def render(txn_id: str) -> etree._Element | None:
            payment = company.receive_payments.get(txn_id)
            return self._receive_payment_ret(payment, include_lines) if payment else None

        return self._answer_query(request, select, render)

    def _receive_payment_ret(self, payment: ReceivePayment, include_lines: bool) -> etree._Element:
        company = self.company
        ret = etree.Element("ReceivePaymentRet")
        customer = self._txn_head(ret, payment)
        _sub(ret, "TotalAmount", _amt(payment.total_amount))
        if company.multicurrency:
            code = company.currency_of(customer)
            _ref_element(ret, "CurrencyRef", _currency_list_id(code), _currency_name(code))
            _sub(ret, "ExchangeRate", f"{payment.exchange_rate or Decimal(1):f}")
            _sub(ret, "TotalAmountInHomeCurrency", _amt(payment.home_amount))
        if payment.payment_method_id:
            method = company.payment_methods[payment.payment_method_id]
            _ref_element(ret, "PaymentMethodRef", method.list_id, method.name)
        _sub(ret, "Memo", payment.memo)
        deposit = company.accounts[payment.deposit_to_account_id]
        _ref_element(ret, "DepositToAccountRef", deposit.list_id, deposit.name)
        _sub(ret, "UnusedPayment", _amt(payment.unused_payment))
        _sub(ret, "UnusedCredits", "0.00")
        _sub(ret, "ExternalGUID", payment.external_guid)
        if include_lines:
            for app in payment.applications:
                invoice = company.invoices[app.invoice_txn_id]
                applied = etree.SubElement(ret, "AppliedToTxnRet")
                _sub(applied, "TxnID", invoice.txn_id)
                _sub(applied, "TxnType", "Invoice")
                _sub(applied, "TxnDate", invoice.txn_date.isoformat())
                _sub(applied, "RefNumber", invoice.ref_number)
                _sub(applied, "BalanceRemaining", _amt(invoice.balance_remaining))
                _sub(applied, "Amount", _amt(app.amount))
                if app.discount_amount:
                    _sub(applied, "DiscountAmount", _amt(app.discount_amount))
                    if app.discount_account_id:
                        account = company.accounts[app.discount_account_id]
                        _ref_element(applied, "DiscountAccountRef", account.list_id, account.name)
        return ret

    @answers("TxnDelRq")
    def _txn_del(self, request: etree._Element) -> etree._Element:
        txn_type = _required_text(request, "TxnDelType")
        txn_id = _required_text(request, "TxnID")
        if txn_type not in ("ReceivePayment", "Invoice"):
            raise _unsupported(f"TxnDel of {txn_type}")
        records: dict[str, Any] = (
            self.company.receive_payments if txn_type == "ReceivePayment" else self.company.invoices
        )
        if txn_id not in records:
            raise not_found(txn_id)
        self._before_write(txn_id, txn_type, is_mod=False)
        deleted = self.company.delete_transaction(txn_id)
        rs = _rs(request)
        _sub(rs, "TxnDelType", txn_type)
        _sub(rs, "TxnID", txn_id)
        when = self.company.deleted_transactions[-1].time_deleted
        _sub(rs, "TimeDeleted", self.company.format_datetime(when))
        _sub(rs, "RefNumber", deleted.ref_number)
        return rs

    @answers("TxnDeletedQueryRq")
    def _txn_deleted_query(self, request: etree._Element) -> etree._Element:
        """The deletions of the requested types, oldest first, in the DeletedDateRangeFilter's wall-clock
        window (no iterator: qbXML has none for this query)."""
        types = set(_texts(request, "TxnDelType"))
        window = request.find("DeletedDateRangeFilter")
        since = _wall_clock(window, "FromDeletedDate", end=False) if window is not None else None
        until = _wall_clock(window, "ToDeletedDate", end=True) if window is not None else None
        company = self.company
        rets: list[etree._Element] = []
        for record in sorted(company.deleted_transactions, key=lambda d: d.time_deleted):
            wall = company.local_wall_time(record.time_deleted)
            if record.txn_type not in types or (since and wall < since) or (until and wall > until):
                continue
            ret = etree.Element("TxnDeletedRet")
            _sub(ret, "TxnDelType", record.txn_type)
            _sub(ret, "TxnID", record.txn_id)
            _sub(ret, "TimeCreated", company.format_datetime(record.time_created))
            _sub(ret, "TimeDeleted", company.format_datetime(record.time_deleted))
            _sub(ret, "RefNumber", record.ref_number)
            rets.append(ret)
        rs = _rs(request) if rets else _rs(request, 1, _NO_MATCH)
        rs.set("retCount", str(len(rets)))
        rs.extend(rets)
        return rs

    # -- accounts, payment methods, items -----------------------------------------------------------------
