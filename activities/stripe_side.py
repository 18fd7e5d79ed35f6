"""The Stripe side of booking a payment: re-fetch what is true now, write our ids back, list a period.

Payment workflows never trust an event's snapshot: by the time a redelivered ``charge.succeeded`` arrives the
payment may be refunded, and an ``invoice.paid`` snapshot in today's API does not even name its payment. So
every run re-fetches the PaymentIntent (or bare charge), follows today's InvoicePayment link to its invoice,
and hands the workflow a :class:`StripePayment` in minor units with the TxnDate already placed in the
company's time zone (time zones need the tz database, which is I/O, so that happens here and not in the
workflow).

Writes back to Stripe (``qb_list_id`` on a customer, ``qb_payment_txn_id`` on a payment) carry idempotency keys
derived from what they do, so a re-run activity replays Stripe's first answer instead of writing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import stripe
from stripe.params import (
    ChargeListParams,
    ChargeRetrieveParams,
    ChargeUpdateParams,
    CustomerUpdateParams,
    PaymentIntentListParams,
    PaymentIntentUpdateParams,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ml_connector.config import Settings
from ml_connector.payments.companies import company_for
from ml_connector.payments.model import PaymentInput, StripePayment
from ml_connector.stripe import idempotency
from ml_connector.stripe.client import StripeGateway, StripeSettings
from ml_connector.stripe.shared_limit import limiter_for

PAGE_SIZE = 100


@dataclass(frozen=True)
class FetchPayment:
    company_id: str
    key: str
    key_kind: str  # "payment_intent" | "charge"


@dataclass(frozen=True)
class StripeCustomerInfo:
    customer_id: str
    name: str
    email: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerLinkedBack:
    customer_id: str
    company_id: str
    qb_list_id: str


@dataclass(frozen=True)
class PaymentPostedBack:
    company_id: str
    payment: StripePayment
    qb_txn_id: str


@dataclass(frozen=True)
class ListPayments:
    since: int  # epoch seconds, inclusive
    until: int | None = None  # epoch seconds, exclusive
    phase: str = "payment_intents"  # then "charges" (charges made without a PaymentIntent)
    starting_after: str | None = None


@dataclass(frozen=True)
class PaymentPage:
    payments: list[PaymentInput]  # each payment found while walking the period, as the input of its workflow
    next_cursor: str | None  # None: this phase is done


def _dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    result: dict[str, Any] = obj.to_dict()
    return result


def _ref(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    raw = obj.get("metadata")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


# The charge comes with its balance transaction in the same request: the currency Stripe settled it in and,
# for a payment in another currency, the exchange rate it used.
_WITH_SETTLEMENT: ChargeRetrieveParams = {"expand": ["balance_transaction"]}


def _settlement(txn: Any, currency: str) -> tuple[str, str]:
    """(settlement currency, exchange rate as Decimal text) from a charge's expanded balance transaction.

    ``("", "")`` while the charge has none yet (not settled). Stripe's ``exchange_rate`` converts the charge's
    currency into the settlement currency (amount × rate = settled amount); the SDK hands it over as a JSON
    float, so it is turned into Decimal through its shortest text, which is the text Stripe sent.
    """
    if not isinstance(txn, Mapping):
        return "", ""
    settled_in = str(txn.get("currency") or "").lower()
    rate = txn.get("exchange_rate")
    if settled_in == currency or rate is None or isinstance(rate, bool):
        return settled_in, ""
    try:
        value = Decimal(str(rate))
    except ArithmeticError:
        return settled_in, ""
    return settled_in, str(value) if value.is_finite() and value > 0 else ""


def _not_found(exc: stripe.InvalidRequestError) -> bool:
    return exc.http_status == 404


def gateway_for(settings: Settings) -> StripeGateway:
    """A gateway of its own for an activity class built without the worker's shared one (tests, tools);
    a clear error (visible on the pending activity) while no Stripe key is configured."""
    cfg = settings.stripe
    if not cfg.configured:
        raise ApplicationError(
            "Stripe is not configured: set MLC_STRIPE_API_KEY", type="StripeNotConfigured"
        )
    return StripeGateway.from_settings(
        StripeSettings(api_key=cfg.api_key, api_base=cfg.api_base, rate_per_s=cfg.rate_per_s),
        limiter=limiter_for(
            settings.database_url, cfg.api_key, rate_per_s=cfg.rate_per_s, account_id=cfg.account_id
        ),
    )


class StripeGatewayHolder:
    """The worker's shared :class:`StripeGateway`, or (built without one) a gateway of its own made on first
    use, so that a missing Stripe key fails the activity that needs Stripe, not the worker's start."""

    def __init__(self, settings: Settings, gateway: StripeGateway | None = None) -> None:
        self.settings = settings
        self._gateway = gateway

    @property
    def gateway(self) -> StripeGateway:
        if self._gateway is None:
            self._gateway = gateway_for(self.settings)
        return self._gateway


class StripeActivities(StripeGatewayHolder):
    """Activities that talk to Stripe through the process's one :class:`StripeGateway`."""

    def _local_date(self, company_id: str, created: int) -> str:
        try:
            zone = ZoneInfo(self.settings.company(company_id).timezone)
        except KeyError:
            zone = ZoneInfo("UTC")
        return datetime.fromtimestamp(created, UTC).astimezone(zone).date().isoformat()

    @activity.defn(name="stripe_fetch_payment")
    def fetch_payment(self, inp: FetchPayment) -> StripePayment | None:
        """The payment as Stripe knows it now, with its invoice (via InvoicePayments); None if it is gone."""
        gw = self.gateway
        try:
            if inp.key_kind == "payment_intent":
                pi = _dict(gw.call(lambda c: c.v1.payment_intents.retrieve(inp.key)))
                charge_id = _ref(pi.get("latest_charge"))
                charge: dict[str, Any] = {}
                if charge_id is not None:
                    latest = charge_id
                    charge = _dict(gw.call(lambda c: c.v1.charges.retrieve(latest, _WITH_SETTLEMENT)))
            else:
                charge = _dict(gw.call(lambda c: c.v1.charges.retrieve(inp.key, _WITH_SETTLEMENT)))
                pi = {}
                charge_id = inp.key
        except stripe.InvalidRequestError as exc:
            if _not_found(exc):
                return None
            raise
        invoice_id: str | None = None
        invoice: dict[str, Any] = {}
        if pi:
            listed = gw.call(
                lambda c: c.v1.invoice_payments.list(
                    {"payment": {"type": "payment_intent", "payment_intent": inp.key}, "limit": 10}
                )
            )
            for entry in _dict(listed).get("data", []):
                if isinstance(entry, Mapping) and entry.get("status") != "canceled":
                    invoice_id = _ref(entry.get("invoice"))
                    break
        if invoice_id is not None:
            found_id = invoice_id
            invoice = _dict(gw.call(lambda c: c.v1.invoices.retrieve(found_id)))
        source = pi or charge
        status = str(source.get("status") or "")
        if pi:
            amount = int(pi.get("amount_received") or 0)
        else:
            amount = int(charge.get("amount_captured") or charge.get("amount") or 0)
        created = int(source.get("created") or 0)
        currency = str(source.get("currency") or "").lower()
        settlement_currency, exchange_rate = _settlement(charge.get("balance_transaction"), currency)
        return StripePayment(
            payment_id=inp.key,
            status=status,
            amount=amount,
            currency=currency,
            created=created,
            local_date=self._local_date(inp.company_id, created),
            livemode=bool(source.get("livemode")),
            payment_intent_id=inp.key if pi else None,
            charge_id=charge_id,
            customer_id=_ref(source.get("customer")) or _ref(charge.get("customer")),
            invoice_id=invoice_id,
            metadata=_metadata(pi) if pi else _metadata(charge),
            charge_metadata=_metadata(charge),
            invoice_metadata=_metadata(invoice),
            description=source.get("description"),
            settlement_currency=settlement_currency,
            exchange_rate=exchange_rate,
        )

    @activity.defn(name="stripe_invoice_payments")
    def invoice_payments(self, invoice_id: str) -> list[str]:
        """The PaymentIntents that paid an invoice (an invoice event names none in today's API)."""
        listed = self.gateway.call(
            lambda c: c.v1.invoice_payments.list({"invoice": invoice_id, "status": "paid", "limit": 100})
        )
        keys: list[str] = []
        for entry in _dict(listed).get("data", []):
            payment = entry.get("payment") if isinstance(entry, Mapping) else None
            if isinstance(payment, Mapping) and payment.get("type") == "payment_intent":
                if pi := _ref(payment.get("payment_intent")):
                    keys.append(pi)
        return keys

    @activity.defn(name="stripe_customer")
    def customer(self, customer_id: str) -> StripeCustomerInfo:
        obj = _dict(self.gateway.call(lambda c: c.v1.customers.retrieve(customer_id)))
        return StripeCustomerInfo(
            customer_id=customer_id,
            name=str(obj.get("name") or ""),
            email=str(obj.get("email") or ""),
            metadata=_metadata(obj),
        )

    @activity.defn(name="stripe_link_customer_back")
    def link_customer_back(self, inp: CustomerLinkedBack) -> None:
        """Store the QuickBooks ListID on the Stripe customer: the link survives our database."""
        params: CustomerUpdateParams = {
            "metadata": {"qb_list_id": inp.qb_list_id, "qb_company": inp.company_id}
        }
        key = idempotency.key("customer.link", inp.company_id, inp.customer_id, params=params)
        self.gateway.call(
            lambda c: c.v1.customers.update(inp.customer_id, params, options={"idempotency_key": key})
        )

    @activity.defn(name="stripe_mark_payment_posted")
    def mark_payment_posted(self, inp: PaymentPostedBack) -> None:
        """Store the QuickBooks TxnID on the Stripe payment, so support can find it from either side."""
        metadata = {"qb_payment_txn_id": inp.qb_txn_id}
        key = idempotency.key("payment.posted", inp.company_id, inp.payment.payment_id, params=metadata)
        pid = inp.payment.payment_id
        if inp.payment.payment_intent_id:
            pi_params: PaymentIntentUpdateParams = {"metadata": metadata}
            self.gateway.call(
                lambda c: c.v1.payment_intents.update(pid, pi_params, options={"idempotency_key": key})
            )
        else:
            ch_params: ChargeUpdateParams = {"metadata": metadata}
            self.gateway.call(lambda c: c.v1.charges.update(pid, ch_params, options={"idempotency_key": key}))

    @activity.defn(name="stripe_list_payments")
    def list_payments(self, inp: ListPayments) -> PaymentPage:
        """One page of the period's successful payments: PaymentIntents first, then bare charges."""
        configured = [c.id for c in self.settings.companies]
        params = _period_page(inp)
        if inp.phase == "payment_intents":
            pi_params = cast(PaymentIntentListParams, params)
            listed = _dict(self.gateway.call(lambda c: c.v1.payment_intents.list(pi_params)))
        else:
            ch_params = cast(ChargeListParams, params)
            listed = _dict(self.gateway.call(lambda c: c.v1.charges.list(ch_params)))
        data = [e for e in listed.get("data", []) if isinstance(e, Mapping)]
        kind = "payment_intent" if inp.phase == "payment_intents" else "charge"
        refs = [
            PaymentInput(company_for(obj, configured), obj["id"], kind, _ref(obj.get("customer")))
            for obj in data
            if obj.get("status") == "succeeded"
            # a charge made by a PaymentIntent was found in the first phase already
            and (kind == "payment_intent" or _ref(obj.get("payment_intent")) is None)
        ]
        cursor = str(data[-1]["id"]) if data and listed.get("has_more") else None
        return PaymentPage(refs, cursor)


def _period_page(inp: ListPayments) -> dict[str, Any]:
    """What both phases ask Stripe for: the period's window, a page and the cursor (the same keys in both lists)."""
    created: dict[str, int] = {"gte": inp.since}
    if inp.until is not None:
        created["lt"] = inp.until
    params: dict[str, Any] = {"created": created, "limit": PAGE_SIZE}
    if inp.starting_after:
        params["starting_after"] = inp.starting_after
    return params
