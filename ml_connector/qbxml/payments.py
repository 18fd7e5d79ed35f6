"""Received payments: ReceivePaymentAdd (recording a Stripe payment), ReceivePaymentQuery, and
reading ReceivePaymentRet.

Idempotency is designed in here. QuickBooks has no idempotency key, so a payment whose response was
lost could be recorded twice. Each payment therefore carries an ExternalGUID derived deterministically
from the Stripe payment id (:func:`external_guid_for`) plus the Stripe id in RefNumber and Memo; before
resending after an uncertain outcome the connector queries by RefNumber and compares ExternalGUIDs.

A payment is always applied, either to named invoices or by QuickBooks' auto-apply. A payment with
neither would be recorded as an unapplied credit that leaves the invoice open, the failure users of
other connectors report most (consolibyte/quickbooks-php #29), so that combination is refused.

Foreign currencies (QuickBooks multicurrency on): a payment is always in its *customer's* currency (there is no
CurrencyRef on ReceivePaymentAdd), so TotalAmount and every PaymentAmount are in that currency, and
``ExchangeRate`` says how many units of the company's *home* currency one unit of it is worth (Intuit:
"exchange rates are always recorded as the number of home currency units it takes to equal one foreign
currency unit"). QuickBooks values the deposit at TotalAmount × ExchangeRate (TotalAmountInHomeCurrency).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.journal import cents, cents_total
from ml_connector.qbxml.txn_query import ByRefOrCustomer, TxnFilter, txn_query

REF_NUMBER_MAX_LEN = 20

# uuid5(NAMESPACE_URL, "urn:ml-connector:stripe-payment"), written out so it can never drift.
# Never change it: every ExternalGUID already in a company file was derived from it, and the
# duplicate check compares freshly derived GUIDs with the stored ones.
STRIPE_PAYMENT_NAMESPACE = uuid.UUID("602aab7e-3955-5142-865f-57aa1dc1ae8d")


def external_guid_for(stripe_payment_id: str) -> str:
    """The ExternalGUID for a Stripe payment: UUIDv5 of its id, as ``{8-4-4-4-12 hex digits}`` in upper case."""
    if not isinstance(stripe_payment_id, str) or not stripe_payment_id.strip():
        raise ValueError("stripe_payment_id must be a non-empty string")
    value = uuid.uuid5(STRIPE_PAYMENT_NAMESPACE, stripe_payment_id.strip())
    return "{" + str(value).upper() + "}"


@dataclass(frozen=True)
class AppliedTo:
    """Apply ``payment_amount`` of the payment to the invoice ``txn_id``."""

    txn_id: str
    payment_amount: Decimal


@dataclass(frozen=True, kw_only=True)
class ReceivePaymentAdd:
    """A payment to record. Account and method are referred to by FullName, as a user names them."""

    customer_list_id: str
    total_amount: Decimal
    txn_date: date | None = None
    ref_number: str | None = None
    payment_method_name: str | None = None
    memo: str | None = None
    deposit_to_account_name: str | None = None
    ar_account_name: str | None = None
    external_guid: str | None = None
    # Home-currency units per unit of the customer's currency; only for a foreign-currency customer in a
    # multicurrency company file (QuickBooks refuses it otherwise).
    exchange_rate: Decimal | None = None
    applied: tuple[AppliedTo, ...] = ()
    is_auto_apply: bool = False
    # A deliberate credit on the customer (no invoice matched and the policy says so): IsAutoApply=false with
    # no lines. It has to be asked for by name so an empty `applied` can never produce one by accident.
    leave_unapplied: bool = False

    def __post_init__(self) -> None:
        if sum((bool(self.applied), self.is_auto_apply, self.leave_unapplied)) > 1:
            raise ValueError("apply to named invoices, auto-apply, or leave unapplied: exactly one")
        if not self.applied and not self.is_auto_apply and not self.leave_unapplied:
            raise ValueError(
                "a payment must be applied to invoices (applied=...) or auto-applied; "
                "otherwise QuickBooks records it as an unapplied credit and the invoice stays open "
                "(pass leave_unapplied=True when that is what is wanted)"
            )
        if self.exchange_rate is not None:
            format_rate(self.exchange_rate)  # refuses floats, zero, negatives and NaN now, not at send time
        # Compare the amounts as they will be sent (cents, half-up); this also refuses float money.
        total = cents(self.total_amount)
        applied_sum = cents_total(a.payment_amount for a in self.applied)
        if self.applied and applied_sum > total:
            raise ValueError(
                f"applied amounts ({applied_sum}) exceed the payment total ({self.total_amount})"
            )


def format_rate(rate: Decimal) -> str:
    """ExchangeRate text (FLOATTYPE, an ``xsd:decimal``): the rate exactly as given, without exponent.

    Not rounded to five places like a quantity: Stripe's rates carry six or more significant digits, and the
    deposit's home-currency value must come out as Stripe computed it.
    """
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        raise ValueError(f"an exchange rate must be a positive Decimal, got {rate!r}")
    text = f"{rate:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def receive_payment_add(p: ReceivePaymentAdd) -> str:
    """A ReceivePaymentAddRq in the schema's order.

    RefNumber is cut to QuickBooks' 20 characters (a Stripe ``pi_…`` id usually fits; if it does not,
    the full id is still in the Memo and the ExternalGUID).
    """
    request, add = nodes.customer_txn_add(
        "ReceivePayment", p.customer_list_id, p.ar_account_name, p.txn_date, p.ref_number, REF_NUMBER_MAX_LEN
    )
    nodes.add_amount(add, "TotalAmount", p.total_amount)
    if p.exchange_rate is not None:
        nodes.sub(add, "ExchangeRate", format_rate(p.exchange_rate))
    nodes.add_payment_method_ref(add, p.payment_method_name)
    nodes.add_text(add, "Memo", p.memo, 4095, multiline=True)
    nodes.add_account_ref(add, "DepositToAccountRef", p.deposit_to_account_name)
    nodes.add_guid(add, "ExternalGUID", p.external_guid)
    if p.is_auto_apply or p.leave_unapplied:
        nodes.add_bool(add, "IsAutoApply", p.is_auto_apply)
    nodes.add_applied_to(
        add, "AppliedToTxnAdd", "PaymentAmount", ((a.txn_id, a.payment_amount) for a in p.applied)
    )
    return nodes.to_text(request)


class ReceivePaymentWhere(ByRefOrCustomer, total=False):
    ref_number_contains: str | None


def receive_payment_query(
    *, include_line_items: bool = True, owner_ids: Sequence[str] = (), **where: Unpack[ReceivePaymentWhere]
) -> str:
    """A ReceivePaymentQueryRq: by TxnIDs, by exact RefNumbers, or by date/customer/ref filters.

    ``include_line_items`` (default on) returns AppliedToTxnRet, i.e. which invoices a payment paid.
    There is no ExternalGUID filter in qbXML; to find a payment we may already have recorded, query by
    RefNumber and compare ``ReceivePayment.external_guid``.
    """
    return txn_query(
        "ReceivePaymentQueryRq", TxnFilter(**where), include_line_items=include_line_items, owner_ids=owner_ids
    )


@dataclass(frozen=True)
class AppliedToTxn(nodes.LinkedRet):
    """Where part of a payment went, as QuickBooks reports it (AppliedToTxnRet)."""

    balance_remaining: Decimal | None
    amount: Decimal | None


@dataclass(frozen=True)
class ReceivePayment(nodes.CustomerTxnRet):
    total_amount: Decimal | None
    payment_method_name: str | None
    memo: str | None
    deposit_to_account_name: str | None
    unused_payment: Decimal | None
    unused_credits: Decimal | None
    external_guid: str | None
    applied: tuple[AppliedToTxn, ...]
    data_ext: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    # Multicurrency files only: the customer's currency, the rate and TotalAmount × rate.
    currency_name: str | None = None
    exchange_rate: Decimal | None = None
    total_amount_in_home_currency: Decimal | None = None


def _read_applied(element: nodes.Element) -> AppliedToTxn:
    return AppliedToTxn(
        **nodes.linked_header(element), balance_remaining=nodes.amount_of(element, "BalanceRemaining")
    )


def read_receive_payment(ret: nodes.Element) -> ReceivePayment:
    _, payment_method_name = nodes.ref_of(ret, "PaymentMethodRef")
    _, deposit_to_account_name = nodes.ref_of(ret, "DepositToAccountRef")
    _, currency_name = nodes.ref_of(ret, "CurrencyRef")
    rate = nodes.text_of(ret, "ExchangeRate")
    return ReceivePayment(
        **nodes.customer_txn_header(ret),
        total_amount=nodes.amount_of(ret, "TotalAmount"),
        payment_method_name=payment_method_name,
        memo=nodes.text_of(ret, "Memo"),
        deposit_to_account_name=deposit_to_account_name,
        unused_payment=nodes.amount_of(ret, "UnusedPayment"),
        unused_credits=nodes.amount_of(ret, "UnusedCredits"),
        external_guid=nodes.text_of(ret, "ExternalGUID"),
        applied=tuple(_read_applied(element) for element in ret.findall("AppliedToTxnRet")),
        data_ext=nodes.data_ext_of(ret),
        currency_name=currency_name,
        exchange_rate=Decimal(rate) if rate else None,
        total_amount_in_home_currency=nodes.amount_of(ret, "TotalAmountInHomeCurrency"),
    )


def parse_receive_payments(rs_xml: str) -> list[ReceivePayment]:
    """Every ReceivePaymentRet in a ReceivePaymentQueryRs/AddRs (``ResponseItem.xml``)."""
    return [read_receive_payment(ret) for ret in nodes.rets(rs_xml, "ReceivePaymentRet")]
