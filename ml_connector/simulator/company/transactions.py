"""Invoices and received payments: numbering, payment application, deletion and customer balances.

The rules follow QuickBooks: a payment may not apply more than an invoice's open balance (3210), what it
does not apply stays on the customer as credit, deleting a payment reopens what it paid and deleting an
invoice leaves its payments as credit. A customer's Balance is recomputed from its transactions after
every change, so it can never drift from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from ml_connector.simulator.company.lists import ListBook
from ml_connector.simulator.company.records import (
    ZERO,
    Application,
    Customer,
    DeletedTransaction,
    Invoice,
    InvoiceLine,
    NewApplication,
    NewInvoiceLine,
    ReceivePayment,
    StatusError,
    bad_reference,
    missing_element,
    money,
    not_found,
)


class TransactionBook(ListBook):
    """The invoices and payments of a company file (a mixin of `CompanyFile`; needs the A/R and deposit
    accounts of `ListBook`)."""

    def invoices_of(self, customer_id: str) -> list[Invoice]:
        return [self.invoices[t] for t in self._invoices_by_customer.get(customer_id, ())]

    def payments_of(self, customer_id: str) -> list[ReceivePayment]:
        return [self.receive_payments[t] for t in self._payments_by_customer.get(customer_id, ())]

    def _next_invoice_number(self) -> str:
        """QuickBooks numbers a new invoice one above the highest numeric RefNumber so far."""
        if self._max_invoice_number is None:
            numbers = (
                int(i.ref_number) for i in self.invoices.values() if i.ref_number and i.ref_number.isdigit()
            )
            self._max_invoice_number = max(numbers, default=1000)
        return str(self._max_invoice_number + 1)

    def add_invoice(
        self,
        customer_id: str,
        lines: Sequence[NewInvoiceLine],
        *,
        ar_account_id: str | None = None,
        txn_date: date | None = None,
        ref_number: str | None = None,
        due_date: date | None = None,
        po_number: str | None = None,
        memo: str | None = None,
        external_guid: str | None = None,
        is_pending: bool = False,
        is_to_be_printed: bool = False,
        is_to_be_emailed: bool = False,
        bill_address: Mapping[str, str] | None = None,
        ship_address: Mapping[str, str] | None = None,
    ) -> Invoice:
        customer = self.customers[customer_id]
        ar_account = self.accounts[ar_account_id] if ar_account_id else self.default_ar_account()
        if ar_account is None:
            raise bad_reference("Account", "Accounts Receivable", "Invoice")
        moment = self.now()
        built: list[InvoiceLine] = []
        for line in lines:
            item = self.items.get(line.item_id) if line.item_id else None
            rate = line.rate if line.rate is not None else (item.price if item else None)
            if line.amount is not None:
                amount = money(line.amount)
            elif rate is not None:
                amount = money(rate * (line.quantity if line.quantity is not None else Decimal(1)))
            else:
                amount = ZERO
            built.append(
                InvoiceLine(
                    txn_line_id=self._new_txn_id(moment),
                    item_id=line.item_id,
                    desc=line.desc if line.desc is not None else (item.desc if item else None),
                    quantity=line.quantity,
                    rate=rate,
                    amount=amount,
                )
            )
        the_date = txn_date or moment.astimezone(self.zone).date()
        invoice = self._new_txn_record(
            Invoice,
            moment,
            customer_id=customer.list_id,
            ar_account_id=ar_account.list_id,
            txn_date=the_date,
            ref_number=ref_number if ref_number is not None else self._next_invoice_number(),
            due_date=due_date or the_date,
            subtotal=sum((line.amount for line in built), ZERO),
            lines=built,
            po_number=po_number,
            memo=memo,
            external_guid=external_guid,
            is_pending=is_pending,
            is_to_be_printed=is_to_be_printed,
            is_to_be_emailed=is_to_be_emailed,
            bill_address=dict(
                bill_address if bill_address is not None else customer.addresses.get("BillAddress", {})
            ),
            ship_address=dict(
                ship_address if ship_address is not None else customer.addresses.get("ShipAddress", {})
            ),
        )
        self.invoices[invoice.txn_id] = invoice
        if self._max_invoice_number is not None and invoice.ref_number and invoice.ref_number.isdigit():
            self._max_invoice_number = max(self._max_invoice_number, int(invoice.ref_number))
        self._invoices_by_customer.setdefault(customer.list_id, []).append(invoice.txn_id)
        self._recompute_balance(customer.list_id)
        return invoice

    def _payment_rate(self, customer: Customer, rate: Decimal | None) -> Decimal | None:
        if rate is not None and not self.multicurrency:
            raise StatusError(
                3250, "This feature is not enabled or not available in this version of QuickBooks."
            )
        if rate is not None and rate <= ZERO:
            raise StatusError(3210, f'The exchange rate "{rate}" is not valid. It must be greater than zero.')
        if customer.currency is None:
            if rate is not None and rate != 1:
                raise StatusError(
                    3210,
                    f'The exchange rate "{rate}" is not valid for customer "{customer.full_name}", whose '
                    f"currency is the home currency {self.home_currency}: it is always 1.",
                )
            return None
        if rate is None:
            raise missing_element("ExchangeRate")
        return rate

    # -- payments -----------------------------------------------------------------------------------------

    def add_receive_payment(
        self,
        customer_id: str,
        *,
        total_amount: Decimal | None,
        applications: Sequence[NewApplication] = (),
        auto_apply: bool = False,
        ar_account_id: str | None = None,
        deposit_to_account_id: str | None = None,
        txn_date: date | None = None,
        ref_number: str | None = None,
        payment_method_id: str | None = None,
        memo: str | None = None,
        external_guid: str | None = None,
        exchange_rate: Decimal | None = None,
    ) -> ReceivePayment:
        """Record a payment and apply it.

        Explicit applications must name open invoices of this customer and may not exceed what is due
        (3210). `auto_apply` spends TotalAmount on the customer's open invoices, oldest first. Whatever is
        not applied stays on the customer as an unused payment (a credit).

        Amounts are in the customer's currency. ``exchange_rate`` (home units per unit of it) needs
        multicurrency (3250 otherwise) and must be positive; a home-currency customer only takes 1. A
        foreign-currency customer's payment needs one: this simulator has no currency list with stored
        rates to fall back on (QuickBooks would use the rate of the payment date from it).
        """
        customer = self.customers[customer_id]
        exchange_rate = self._payment_rate(customer, exchange_rate)
        ar_account = self.accounts[ar_account_id] if ar_account_id else self.default_ar_account()
        deposit = self.accounts[deposit_to_account_id] if deposit_to_account_id else self.undeposited_funds()
        if ar_account is None:
            raise bad_reference("Account", "Accounts Receivable", "ReceivePayment")
        if deposit is None:
            raise bad_reference("Account", "Undeposited Funds", "ReceivePayment")
        planned: dict[str, NewApplication] = {}
        for app in applications:
            if app.amount < ZERO or app.discount_amount < ZERO:
                raise StatusError(3210, "A payment amount cannot be negative.")
            invoice = self.invoices.get(app.invoice_txn_id)
            if invoice is None or invoice.customer_id != customer.list_id:
                raise not_found(app.invoice_txn_id)
            earlier = planned.get(invoice.txn_id)
            if earlier:
                app = NewApplication(
                    invoice.txn_id,
                    earlier.amount + app.amount,
                    earlier.discount_amount + app.discount_amount,
                    app.discount_account_id or earlier.discount_account_id,
                )
            if money(app.amount + app.discount_amount) > invoice.balance_remaining:
                raise StatusError(
                    3210,
                    f'There was an error when saving the payment applied to transaction "{invoice.txn_id}".  '
                    "QuickBooks error message: You cannot pay more than the amount due.",
                )
            planned[invoice.txn_id] = app
        applied = sum((money(a.amount) for a in planned.values()), ZERO)
        total = money(total_amount) if total_amount is not None else applied
        if total < ZERO:
            raise StatusError(3210, "The payment amount cannot be negative.")
        if applied > total:
            raise StatusError(
                3210,
                f"The amount applied to transactions ({applied}) is more than the amount of the payment ({total}).",
            )
        if auto_apply:
            remaining = total
            open_invoices = sorted(
                (i for i in self.invoices_of(customer.list_id) if i.balance_remaining > ZERO),
                key=lambda i: (i.txn_date, i.txn_number),
            )
            for invoice in open_invoices:
                if remaining <= ZERO:
                    break
                share = min(remaining, invoice.balance_remaining)
                planned[invoice.txn_id] = NewApplication(invoice.txn_id, share)
                remaining -= share
        moment = self.now()
        payment = self._new_txn_record(
            ReceivePayment,
            moment,
            customer_id=customer.list_id,
            ar_account_id=ar_account.list_id,
            txn_date=txn_date or moment.astimezone(self.zone).date(),
            total_amount=total,
            deposit_to_account_id=deposit.list_id,
            ref_number=ref_number,
            payment_method_id=payment_method_id,
            memo=memo,
            external_guid=external_guid,
            exchange_rate=exchange_rate,
            applications=[
                Application(
                    a.invoice_txn_id, money(a.amount), money(a.discount_amount), a.discount_account_id
                )
                for a in planned.values()
            ],
        )
        for made in payment.applications:
            invoice = self.invoices[made.invoice_txn_id]
            invoice.applied_amount += made.amount + made.discount_amount
            invoice.payments[payment.txn_id] = made.amount + made.discount_amount
            self._touch(invoice)
        self.receive_payments[payment.txn_id] = payment
        self._payments_by_customer.setdefault(customer.list_id, []).append(payment.txn_id)
        self._recompute_balance(customer.list_id)
        return payment

    def delete_transaction(self, txn_id: str) -> Invoice | ReceivePayment:
        """TxnDel. Deleting a payment reopens the invoices it paid; deleting an invoice leaves the payments
        that were applied to it as unused credit on the customer (both as QuickBooks does). The deletion is
        remembered with its time, for TxnDeletedQuery."""
        deleted = self._delete_transaction(txn_id)
        self.deleted_transactions.append(
            DeletedTransaction(
                "ReceivePayment" if isinstance(deleted, ReceivePayment) else "Invoice",
                deleted.txn_id,
                deleted.time_created,
                self.now(),
                deleted.ref_number,
            )
        )
        return deleted

    def _delete_transaction(self, txn_id: str) -> Invoice | ReceivePayment:
        if txn_id in self.receive_payments:
            payment = self.receive_payments.pop(txn_id)
            for app in payment.applications:
                invoice = self.invoices.get(app.invoice_txn_id)
                if invoice is not None:
                    invoice.applied_amount -= app.amount + app.discount_amount
                    invoice.payments.pop(payment.txn_id, None)
                    self._touch(invoice)
            self._payments_by_customer[payment.customer_id].remove(txn_id)
            self._recompute_balance(payment.customer_id)
            return payment
        if txn_id in self.invoices:
            invoice = self.invoices.pop(txn_id)
            for payment_id in invoice.payments:
                payment = self.receive_payments[payment_id]
                payment.applications = [a for a in payment.applications if a.invoice_txn_id != txn_id]
                self._touch(payment)
            self._invoices_by_customer[invoice.customer_id].remove(txn_id)
            self._recompute_balance(invoice.customer_id)
            return invoice
        raise not_found(txn_id)

    def _recompute_balance(self, customer_id: str) -> None:
        """Balance: the customer's open invoices less its unused payments (its jobs keep their own)."""
        open_total = sum((i.balance_remaining for i in self.invoices_of(customer_id)), ZERO)
        unused = sum((p.unused_payment for p in self.payments_of(customer_id)), ZERO)
        self.customers[customer_id].balance = open_total - unused
