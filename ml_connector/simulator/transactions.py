"""Transactions: InvoiceAdd/Query, ReceivePaymentAdd/Query, TxnDel and TxnDeletedQuery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, TypedDict

from lxml import etree

from ml_connector.simulator import wire
from ml_connector.simulator.company.records import (
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
    Selection,
    answers,
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
            txn_date=wire.date_of(add, "TxnDate"),
            ref_number=wire.text_of(add, "RefNumber"),
            memo=wire.text_of(add, "Memo"),
            external_guid=wire.text_of(add, "ExternalGUID"),
        )

    def _txn_head(self, ret: etree._Element, record: Invoice | ReceivePayment) -> Customer:
        """The *Ret elements an invoice and a payment share, up to RefNumber; returns the customer."""
        company = self.company
        wire.sub(ret, "TxnID", record.txn_id)
        wire.sub(ret, "TimeCreated", company.format_datetime(record.time_created))
        wire.sub(ret, "TimeModified", company.format_datetime(record.time_modified))
        wire.sub(ret, "EditSequence", record.edit_sequence)
        wire.sub(ret, "TxnNumber", str(record.txn_number))
        customer = company.customers[record.customer_id]
        wire.add_ref(ret, "CustomerRef", customer.list_id, customer.full_name)
        ar_account = company.accounts[record.ar_account_id]
        wire.add_ref(ret, "ARAccountRef", ar_account.list_id, ar_account.name)
        wire.sub(ret, "TxnDate", record.txn_date.isoformat())
        wire.sub(ret, "RefNumber", record.ref_number)
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
        add = wire.required(request, "InvoiceAdd")
        for child in add:
            if child.tag not in self._INVOICE_ADD_FIELDS:
                raise wire.unsupported(f"InvoiceAdd/{child.tag}")
        customer = self._customer_ref(add, "CustomerRef", "Invoice")
        ar_account = self._ar_account_ref(add, "Invoice")
        lines: list[NewInvoiceLine] = []
        for line in add.findall("InvoiceLineAdd"):
            for child in line:
                if child.tag not in self._INVOICE_LINE_FIELDS:
                    raise wire.unsupported(f"InvoiceLineAdd/{child.tag}")
            item_id = None
            if line.find("ItemRef") is not None:
                item_id = self._list_ref(line, "ItemRef", "Invoice", "Item", self.company.find_item).list_id
            lines.append(
                NewInvoiceLine(
                    item_id=item_id,
                    desc=wire.text_of(line, "Desc"),
                    quantity=wire.decimal_of(line, "Quantity"),
                    rate=wire.decimal_of(line, "Rate"),
                    amount=wire.decimal_of(line, "Amount"),
                )
            )
        invoice = self.company.add_invoice(
            customer.list_id,
            lines,
            ar_account_id=ar_account.list_id if ar_account else None,
            **self._read_txn_header(add),
            due_date=wire.date_of(add, "DueDate"),
            po_number=wire.text_of(add, "PONumber"),
            is_pending=wire.flag_of(add, "IsPending", default=False),
            is_to_be_printed=wire.flag_of(add, "IsToBePrinted", default=False),
            is_to_be_emailed=wire.flag_of(add, "IsToBeEmailed", default=False),
            bill_address=wire.address_of(add, "BillAddress"),
            ship_address=wire.address_of(add, "ShipAddress"),
        )
        return wire.with_ret(request, self._invoice_ret(invoice, include_lines=True, include_linked=False))

    @answers("InvoiceQueryRq")
    def _invoice_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = wire.flag_of(request, "IncludeLineItems", default=False)
        include_linked = wire.flag_of(request, "IncludeLinkedTxns", default=False)

        def select() -> Selection:
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
        wire.add_address(ret, "BillAddress", invoice.bill_address)
        wire.add_address(ret, "ShipAddress", invoice.ship_address)
        wire.sub(ret, "IsPending", wire.bool_text(invoice.is_pending))
        wire.sub(ret, "IsFinanceCharge", "false")
        wire.sub(ret, "PONumber", invoice.po_number)
        wire.sub(ret, "DueDate", invoice.due_date.isoformat())
        wire.sub(ret, "Subtotal", wire.amount_text(invoice.subtotal))
        wire.sub(ret, "SalesTaxPercentage", "0.00")
        wire.sub(ret, "SalesTaxTotal", "0.00")
        wire.sub(ret, "AppliedAmount", wire.amount_text(-invoice.applied_amount))
        wire.sub(ret, "BalanceRemaining", wire.amount_text(invoice.balance_remaining))
        wire.sub(ret, "Memo", invoice.memo)
        wire.sub(ret, "IsPaid", wire.bool_text(invoice.is_paid))
        wire.sub(ret, "IsToBePrinted", wire.bool_text(invoice.is_to_be_printed))
        wire.sub(ret, "IsToBeEmailed", wire.bool_text(invoice.is_to_be_emailed))
        wire.sub(ret, "ExternalGUID", invoice.external_guid)
        if include_linked:
            for payment_id, amount in invoice.payments.items():
                payment = company.receive_payments[payment_id]
                linked = etree.SubElement(ret, "LinkedTxn")
                wire.sub(linked, "TxnID", payment.txn_id)
                wire.sub(linked, "TxnType", "ReceivePayment")
                wire.sub(linked, "TxnDate", payment.txn_date.isoformat())
                wire.sub(linked, "RefNumber", payment.ref_number)
                wire.sub(linked, "LinkType", "AMTTYPE")
                wire.sub(linked, "Amount", wire.amount_text(-amount))
        if include_lines:
            for line in invoice.lines:
                line_ret = etree.SubElement(ret, "InvoiceLineRet")
                wire.sub(line_ret, "TxnLineID", line.txn_line_id)
                item = company.items.get(line.item_id) if line.item_id else None
                if item:
                    wire.add_ref(line_ret, "ItemRef", item.list_id, item.name)
                wire.sub(line_ret, "Desc", line.desc)
                wire.sub(
                    line_ret,
                    "Quantity",
                    wire.number_text(line.quantity) if line.quantity is not None else None,
                )
                wire.sub(line_ret, "Rate", wire.price_text(line.rate) if line.rate is not None else None)
                wire.sub(line_ret, "Amount", wire.amount_text(line.amount))
        return ret

    # -- payments -----------------------------------------------------------------------------------------

    @answers("ReceivePaymentAddRq")
    def _receive_payment_add(self, request: etree._Element) -> etree._Element:
        add = wire.required(request, "ReceivePaymentAdd")
        wire.reject(add, "CreditCardTxnInfo")
        customer = self._customer_ref(add, "CustomerRef", "ReceivePayment")
        ar_account = self._ar_account_ref(add, "ReceivePayment")
        deposit = self._account_ref(add, "DepositToAccountRef", "ReceivePayment")
        method = self._payment_method_ref(add, "PaymentMethodRef", "ReceivePayment")
        applications: list[NewApplication] = []
        for applied in add.findall("AppliedToTxnAdd"):
            wire.reject(applied, "TxnLineDetail", "SetCredit", "DiscountClassRef")
            txn_id = wire.required_text(applied, "TxnID")
            if txn_id not in self.company.invoices:
                raise not_found(txn_id)
            self._before_write(txn_id, "Invoice", is_mod=False)
            discount = wire.amount_of(applied, "DiscountAmount") or ZERO
            discount_account = self._account_ref(applied, "DiscountAccountRef", "ReceivePayment")
            if discount and discount_account is None:
                raise missing_element("DiscountAccountRef")
            applications.append(
                NewApplication(
                    txn_id,
                    wire.amount_of(applied, "PaymentAmount") or ZERO,
                    discount,
                    discount_account.list_id if discount_account else None,
                )
            )
        payment = self.company.add_receive_payment(
            customer.list_id,
            total_amount=wire.amount_of(add, "TotalAmount"),
            applications=applications,
            auto_apply=wire.flag_of(add, "IsAutoApply", default=False),
            ar_account_id=ar_account.list_id if ar_account else None,
            deposit_to_account_id=deposit.list_id if deposit else None,
            **self._read_txn_header(add),
            payment_method_id=method.list_id if method else None,
            exchange_rate=wire.exchange_rate_of(add),
        )
        return wire.with_ret(request, self._receive_payment_ret(payment, include_lines=True))

    @answers("ReceivePaymentQueryRq")
    def _receive_payment_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        include_lines = wire.flag_of(request, "IncludeLineItems", default=False)

        def select() -> Selection:
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
        wire.sub(ret, "TotalAmount", wire.amount_text(payment.total_amount))
        if company.multicurrency:
            code = company.currency_of(customer)
            wire.add_ref(ret, "CurrencyRef", wire.currency_list_id(code), wire.currency_name(code))
            wire.sub(ret, "ExchangeRate", f"{payment.exchange_rate or Decimal(1):f}")
            wire.sub(ret, "TotalAmountInHomeCurrency", wire.amount_text(payment.home_amount))
        if payment.payment_method_id:
            method = company.payment_methods[payment.payment_method_id]
            wire.add_ref(ret, "PaymentMethodRef", method.list_id, method.name)
        wire.sub(ret, "Memo", payment.memo)
        deposit = company.accounts[payment.deposit_to_account_id]
        wire.add_ref(ret, "DepositToAccountRef", deposit.list_id, deposit.name)
        wire.sub(ret, "UnusedPayment", wire.amount_text(payment.unused_payment))
        wire.sub(ret, "UnusedCredits", "0.00")
        wire.sub(ret, "ExternalGUID", payment.external_guid)
        if include_lines:
            for app in payment.applications:
                invoice = company.invoices[app.invoice_txn_id]
                applied = etree.SubElement(ret, "AppliedToTxnRet")
                wire.sub(applied, "TxnID", invoice.txn_id)
                wire.sub(applied, "TxnType", "Invoice")
                wire.sub(applied, "TxnDate", invoice.txn_date.isoformat())
                wire.sub(applied, "RefNumber", invoice.ref_number)
                wire.sub(applied, "BalanceRemaining", wire.amount_text(invoice.balance_remaining))
                wire.sub(applied, "Amount", wire.amount_text(app.amount))
                if app.discount_amount:
                    wire.sub(applied, "DiscountAmount", wire.amount_text(app.discount_amount))
                    if app.discount_account_id:
                        account = company.accounts[app.discount_account_id]
                        wire.add_ref(applied, "DiscountAccountRef", account.list_id, account.name)
        return ret

    @answers("TxnDelRq")
    def _txn_del(self, request: etree._Element) -> etree._Element:
        txn_type = wire.required_text(request, "TxnDelType")
        txn_id = wire.required_text(request, "TxnID")
        if txn_type not in ("ReceivePayment", "Invoice"):
            raise wire.unsupported(f"TxnDel of {txn_type}")
        records: dict[str, Any] = (
            self.company.receive_payments if txn_type == "ReceivePayment" else self.company.invoices
        )
        if txn_id not in records:
            raise not_found(txn_id)
        self._before_write(txn_id, txn_type, is_mod=False)
        deleted = self.company.delete_transaction(txn_id)
        rs = wire.response(request)
        wire.sub(rs, "TxnDelType", txn_type)
        wire.sub(rs, "TxnID", txn_id)
        when = self.company.deleted_transactions[-1].time_deleted
        wire.sub(rs, "TimeDeleted", self.company.format_datetime(when))
        wire.sub(rs, "RefNumber", deleted.ref_number)
        return rs

    @answers("TxnDeletedQueryRq")
    def _txn_deleted_query(self, request: etree._Element) -> etree._Element:
        """The deletions of the requested types, oldest first, in the DeletedDateRangeFilter's wall-clock
        window (no iterator: qbXML has none for this query)."""
        types = set(wire.texts_of(request, "TxnDelType"))
        window = request.find("DeletedDateRangeFilter")
        since = wire.wall_clock_of(window, "FromDeletedDate", end=False) if window is not None else None
        until = wire.wall_clock_of(window, "ToDeletedDate", end=True) if window is not None else None
        company = self.company
        rets: list[etree._Element] = []
        for record in sorted(company.deleted_transactions, key=lambda d: d.time_deleted):
            wall = company.local_wall_time(record.time_deleted)
            if record.txn_type not in types or (since and wall < since) or (until and wall > until):
                continue
            ret = etree.Element("TxnDeletedRet")
            wire.sub(ret, "TxnDelType", record.txn_type)
            wire.sub(ret, "TxnID", record.txn_id)
            wire.sub(ret, "TimeCreated", company.format_datetime(record.time_created))
            wire.sub(ret, "TimeDeleted", company.format_datetime(record.time_deleted))
            wire.sub(ret, "RefNumber", record.ref_number)
            rets.append(ret)
        rs = wire.response(request) if rets else wire.response(request, 1, wire.NO_MATCH)
        rs.set("retCount", str(len(rets)))
        rs.extend(rets)
        return rs

    # -- accounts, payment methods, items -----------------------------------------------------------------
