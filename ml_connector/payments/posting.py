"""From a Stripe payment and a freshly read invoice to a ReceivePaymentAdd, and back from QuickBooks' answer.

The plan is computed once, in minor units, and everything else is checked against it: how much is applied
(never more than the invoice's current balance — QuickBooks refuses that with 3210), how much is left as credit
(TotalAmount above the applied sum stays on the customer as an unused payment), and the balance the invoice
must show afterwards. QuickBooks reports that balance in the Add's own AppliedToTxnRet, so confirming the
payment landed costs no extra request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ml_connector.payments.matching import InvoiceChoice
from ml_connector.payments.model import InvoiceSnapshot, StripePayment
from ml_connector.qbxml.invoices import Invoice
from ml_connector.qbxml.payments import (
    REF_NUMBER_MAX_LEN,
    AppliedTo,
    ReceivePayment,
    ReceivePaymentAdd,
    external_guid_for,
    parse_receive_payments,
    receive_payment_add,
    receive_payment_query,
)
from ml_connector.stripe.money import to_decimal, to_minor

DUPLICATE_SEARCH_DAYS = 3
DUPLICATE_SEARCH_MAX = 50


@dataclass(frozen=True)
class Plan:
    """One ReceivePaymentAdd, decided: every amount in minor units of the home currency."""

    payment_id: str
    customer_list_id: str
    total: int
    applied: int
    invoice_txn_id: str | None
    balance_before: int | None
    txn_date: str
    ref_number: str
    memo: str
    external_guid: str

    @property
    def credit(self) -> int:
        """What stays on the customer as an unused payment (an overpayment, or the whole unapplied payment)."""
        return self.total - self.applied

    @property
    def expected_balance_after(self) -> int | None:
        return None if self.balance_before is None else self.balance_before - self.applied


def ref_number(payment: StripePayment) -> str:
    """RefNumber: the charge id (or PaymentIntent id) cut to QuickBooks' 20 characters; the Memo has it whole."""
    return payment.ref_source[:REF_NUMBER_MAX_LEN]


def memo(payment: StripePayment) -> str:
    parts = [f"Stripe payment {payment.payment_id}"]
    if payment.charge_id and payment.charge_id != payment.payment_id:
        parts.append(f"charge {payment.charge_id}")
    if payment.invoice_id:
        parts.append(f"invoice {payment.invoice_id}")
    if payment.customer_id:
        parts.append(f"customer {payment.customer_id}")
    return "; ".join(parts)


def plan_payment(payment: StripePayment, customer_list_id: str, invoice: InvoiceSnapshot | None) -> Plan:
    """Apply up to the invoice's current balance; whatever is left is credit. No invoice: all credit."""
    if payment.amount <= 0:
        raise ValueError("a payment to book must have a positive amount")
    applied = 0 if invoice is None else max(0, min(payment.amount, invoice.balance))
    return Plan(
        payment_id=payment.payment_id,
        customer_list_id=customer_list_id,
        total=payment.amount,
        applied=applied,
        invoice_txn_id=invoice.txn_id if invoice is not None and applied > 0 else None,
        balance_before=invoice.balance if invoice is not None and applied > 0 else None,
        txn_date=payment.local_date,
        ref_number=ref_number(payment),
        memo=memo(payment),
        external_guid=external_guid_for(payment.payment_id),
    )


def currency_refusal(payment: StripePayment, home_currency: str, *, multicurrency: bool) -> str:
    """Why a payment in a currency other than ``home_currency`` cannot be posted ("" when it can, or will be
    once Stripe shows its exchange rate), in words a bookkeeper can act on."""
    theirs, home = payment.currency.upper(), home_currency.upper()
    if payment.currency == home_currency:
        return ""
    if not multicurrency:
        return (
            f"the payment is in {theirs} and the company file's home currency is {home}; QuickBooks multicurrency "
            f"is off for this company. To post it: turn on multicurrency in QuickBooks (Edit > Preferences > "
            f"Multiple Currencies), give the QuickBooks customer the {theirs} currency, set MLC_MULTICURRENCY=true, "
            f"then replay it; or record it in QuickBooks by hand"
        )
    settled = payment.settlement_currency
    if settled and settled != home_currency:
        return (
            f"Stripe settled this {theirs} payment in {settled.upper()}, not in the home currency {home}, so it "
            f"has no exchange rate into {home} to give QuickBooks; record it in QuickBooks by hand"
        )
    return ""


def receive_payment_add_for(
    plan: Plan,
    currency: str,
    *,
    payment_method: str | None,
    deposit_account: str | None,
    exchange_rate: str = "",
) -> str:
    """The ReceivePaymentAddRq fragment for a plan.

    ``exchange_rate`` (Decimal text, "" for a home-currency payment) is for a payment in a foreign currency in a
    multicurrency company file: the amounts stay as Stripe charged them, in ``currency`` (which is the
    QuickBooks customer's), and the rate is Stripe's balance-transaction ``exchange_rate``. Stripe defines it
    as charge amount × rate = settled amount; settled in the home currency, that is home units per unit of
    ``currency``, the direction QuickBooks' ExchangeRate has.
    """
    applied = (
        (AppliedTo(plan.invoice_txn_id, to_decimal(plan.applied, currency)),)
        if plan.invoice_txn_id is not None
        else ()
    )
    return receive_payment_add(
        ReceivePaymentAdd(
            customer_list_id=plan.customer_list_id,
            total_amount=to_decimal(plan.total, currency),
            txn_date=date.fromisoformat(plan.txn_date),
            ref_number=plan.ref_number,
            payment_method_name=payment_method or None,
            memo=plan.memo,
            deposit_to_account_name=deposit_account or None,
            external_guid=plan.external_guid,
            exchange_rate=Decimal(exchange_rate) if exchange_rate else None,
            applied=applied,
            leave_unapplied=not applied,
        )
    )


def describe(plan: Plan, choice: InvoiceChoice, currency: str) -> str:
    """The plan in a bookkeeper's words, for the audit trail: what is applied where, and why that invoice."""
    total = to_decimal(plan.total, currency)
    if plan.invoice_txn_id is None:
        return f"{total} left unapplied as a credit ({choice.reason})"
    text = f"{to_decimal(plan.applied, currency)} of {total} applied to invoice {plan.invoice_txn_id} ({choice.reason})"
    if plan.credit:
        text += f"; {to_decimal(plan.credit, currency)} left as credit"
    return text


@dataclass(frozen=True)
class Posted:
    """A ReceivePayment as QuickBooks reports it, amounts in minor units."""

    txn_id: str
    total: int
    applied: int
    invoice_txn_id: str | None
    balance_after: int | None
    external_guid: str


def _posted(payment: ReceivePayment, currency: str) -> Posted:
    applied = payment.applied[0] if payment.applied else None
    return Posted(
        txn_id=payment.txn_id,
        total=to_minor(payment.total_amount or Decimal(0), currency),
        applied=sum(to_minor(a.amount or Decimal(0), currency) for a in payment.applied),
        invoice_txn_id=applied.txn_id if applied else None,
        balance_after=(
            to_minor(applied.balance_remaining, currency)
            if applied is not None and applied.balance_remaining is not None
            else None
        ),
        external_guid=(payment.external_guid or "").upper(),
    )


def read_posted(rs_xml: str, currency: str) -> Posted | None:
    """The payment in a ReceivePaymentAddRs (None when QuickBooks returned none)."""
    payments = parse_receive_payments(rs_xml)
    return _posted(payments[0], currency) if payments else None


def check_posted(plan: Plan, posted: Posted) -> list[str]:
    """Differences between what was planned and what QuickBooks recorded; empty when the books are right."""
    problems: list[str] = []
    if posted.total != plan.total:
        problems.append(f"total {posted.total} recorded, {plan.total} planned")
    if posted.applied != plan.applied:
        problems.append(f"applied {posted.applied} recorded, {plan.applied} planned")
    expected = plan.expected_balance_after
    after = posted.balance_after
    # Lower than expected is consistent: another payment for the same invoice may have landed in between
    # (it is checked by its own workflow). Higher, or negative, means ours did not reduce it as planned.
    if expected is not None and after is not None and (after > expected or after < 0):
        problems.append(f"invoice balance is {after} after the payment, {expected} expected")
    return problems


def duplicate_search(plan: Plan) -> str:
    """A bounded ReceivePaymentQuery for this payment: the customer, a few days around TxnDate, the RefNumber.

    qbXML cannot filter on ExternalGUID, so the rows found are compared on it by :func:`find_existing`.
    """
    day = date.fromisoformat(plan.txn_date)
    return receive_payment_query(
        customer_list_ids=[plan.customer_list_id],
        from_txn_date=day - timedelta(days=DUPLICATE_SEARCH_DAYS),
        to_txn_date=day + timedelta(days=DUPLICATE_SEARCH_DAYS),
        ref_number_contains=plan.ref_number,
        max_returned=DUPLICATE_SEARCH_MAX,
    )


def find_existing(rs_xml: str, external_guid: str, currency: str) -> Posted | None:
    """The payment among a ReceivePaymentQueryRs whose ExternalGUID is ours, if any."""
    wanted = external_guid.upper()
    for payment in parse_receive_payments(rs_xml):
        if (payment.external_guid or "").upper() == wanted:
            return _posted(payment, currency)
    return None


def snapshot(invoice: Invoice, currency: str) -> InvoiceSnapshot:
    """An InvoiceRet reduced to what matching and planning need."""
    return InvoiceSnapshot(
        txn_id=invoice.txn_id,
        customer_list_id=invoice.customer_list_id or "",
        ref_number=invoice.ref_number or "",
        txn_date=invoice.txn_date.isoformat() if invoice.txn_date else "",
        balance=to_minor(invoice.balance_remaining or Decimal(0), currency),
        edit_sequence=invoice.edit_sequence,
        is_paid=bool(invoice.is_paid) or (invoice.balance_remaining or Decimal(0)) <= 0,
    )


def home_amount(total: int, payment: StripePayment, home_currency: str) -> Decimal:
    """What the payment put into the deposit account in the home currency: a foreign payment at Stripe's
    exchange rate, rounded to the home currency's minor unit as QuickBooks rounds it, half away from zero
    (0.125 → 0.13; Python's default half-even would book 0.12 and the ledger would drift by a cent)."""
    amount = to_decimal(total, payment.currency)
    if not payment.exchange_rate:
        return amount
    home = to_decimal(0, home_currency)
    return (amount * Decimal(payment.exchange_rate)).quantize(
        home if home.as_tuple().exponent else Decimal(1), rounding=ROUND_HALF_UP
    )
