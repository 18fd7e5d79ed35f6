"""Builders for new Stripe objects in the exact JSON shape of API version 2026-10-28.endive.

Field names and nesting follow the installed SDK's resource classes (``stripe/_invoice.py`` …):
every top-level field the SDK declares is present, with Stripe's defaults for the ones this fake does
not model (tax, discounts, Connect). Decimal fields are strings, as Stripe serialises them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ml_connector.fakestripe.cards import CardSpec
from ml_connector.fakestripe.store import Obj, random_token

ACCOUNT_NAME = "ml-connector fake Stripe"


def empty_address() -> Obj:
    return {"city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None}


def customer(
    object_id: str, created: int, livemode: bool, *, email: str | None, name: str | None,
    description: str | None, phone: str | None, metadata: dict[str, str], address: Obj | None,
    invoice_prefix: str, balance: int, preferred_locales: list[str],
    default_payment_method: str | None,
) -> Obj:
    return {
        "id": object_id,
        "object": "customer",
        "address": address,
        "balance": balance,
        "business_name": None,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "individual_name": None,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": default_payment_method,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": livemode,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": preferred_locales,
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def deleted(kind: str, object_id: str) -> Obj:
    return {"id": object_id, "object": kind, "deleted": True}


def invoice(
    object_id: str, created: int, livemode: bool, *, cust: Obj, currency: str, collection_method: str,
    auto_advance: bool, due_date: int | None, description: str | None, metadata: dict[str, str],
    footer: str | None, statement_descriptor: str | None, default_payment_method: str | None,
) -> Obj:
    return {
        "id": object_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": ACCOUNT_NAME,
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None, "enabled": False, "liability": None, "provider": None, "status": None,
        },
        "automatically_finalizes_at": created + 3600 if auto_advance else None,
        "billing_reason": "manual",
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": cust["id"],
        "customer_account": None,
        "customer_address": cust["address"],
        "customer_email": cust["email"],
        "customer_name": cust["name"],
        "customer_phone": cust["phone"],
        "customer_shipping": cust["shipping"],
        "customer_tax_exempt": cust["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": due_date,
        "effective_at": None,
        "ending_balance": None,
        "footer": footer,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": f"/v1/invoices/{object_id}/lines"},
        "livemode": livemode,
        "metadata": metadata,
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": cust["balance"],
        "statement_descriptor": statement_descriptor,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None, "marked_uncollectible_at": None, "paid_at": None, "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def invoice_item(
    object_id: str, created: int, livemode: bool, *, customer_id: str, invoice_id: str | None,
    currency: str, amount: int, quantity_decimal: str, unit_amount_decimal: str,
    description: str | None, metadata: dict[str, str], period: Obj, discountable: bool,
) -> Obj:
    return {
        "id": object_id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": created,
        "description": description,
        "discountable": discountable,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": livemode,
        "metadata": metadata,
        "net_amount": amount,
        "parent": None,
        "period": period,
        "pricing": {"price_details": None, "type": "price_details", "unit_amount_decimal": unit_amount_decimal},
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": int(Decimal(quantity_decimal)),
        "quantity_decimal": quantity_decimal,
        "tax_rates": [],
        "test_clock": None,
    }


def line_item(object_id: str, item: Obj, invoice_id: str) -> Obj:
    """The invoice's view of an invoice item (``invoice.lines.data[]``)."""
    return {
        "id": object_id,
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": invoice_id,
        "livemode": item["livemode"],
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": dict(item["pricing"]),
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
    }


def invoice_payment(
    object_id: str, created: int, livemode: bool, *, invoice_id: str, payment_intent_id: str,
    amount_requested: int, currency: str,
) -> Obj:
    return {
        "id": object_id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": amount_requested,
        "created": created,
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": livemode,
        "payment": {"type": "payment_intent", "payment_intent": payment_intent_id},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def payment_intent(
    object_id: str, created: int, livemode: bool, *, amount: int, currency: str, customer_id: str | None,
    description: str | None, metadata: dict[str, str], receipt_email: str | None,
    statement_descriptor: str | None, payment_method_types: list[str],
) -> Obj:
    return {
        "id": object_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{object_id}_secret_{random_token(25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"installments": None, "mandate_options": None, "network": None,
                     "request_three_d_secure": "automatic"},
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": statement_descriptor,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_method(object_id: str, created: int, livemode: bool, card: CardSpec, exp_year: int) -> Obj:
    return {
        "id": object_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": empty_address(), "email": None, "name": None, "phone": None, "tax_id": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "unchecked"},
            "country": card.country,
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": exp_year,
            "fingerprint": f"fp{card.last4}{card.brand[:4]}",
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": livemode,
        "metadata": {},
        "type": "card",
    }


def charge(
    object_id: str, created: int, livemode: bool, *, pi: Obj, pm: Obj, succeeded: bool,
    failure_code: str | None, failure_message: str | None, decline_code: str | None,
) -> Obj:
    card: Any = pm["card"]
    amount = pi["amount"]
    return {
        "id": object_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "authorization_code": random_token(6).upper() if succeeded else None,
        "balance_transaction": None,
        "billing_details": dict(pm["billing_details"]),
        "calculated_statement_descriptor": "ML-CONNECTOR FAKE",
        "captured": succeeded,
        "created": created,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": failure_message,
        "fraud_details": {},
        "livemode": livemode,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None if succeeded else "try_again_later",
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else decline_code,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete." if succeeded else "The bank did not return any further details "
            "with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": amount if succeeded else None,
                "authorization_code": None,
                "brand": card["brand"],
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": random_token(15) if succeeded else None,
                "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "radar_options": {},
        "receipt_email": pi["receipt_email"],
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{random_token(40)}" if succeeded else None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def balance_transaction(
    object_id: str, created: int, *, amount: int, fee: int, currency: str, description: str | None,
    source: str, txn_type: str, available_on: int, livemode: bool, exchange_rate: Decimal | None = None,
) -> Obj:
    """``exchange_rate``: set when the money was converted (Stripe sends it as a JSON number)."""
    fee_details = (
        [{"amount": fee, "application": None, "currency": currency, "description": "Stripe processing fees",
          "type": "stripe_fee"}]
        if fee
        else []
    )
    return {
        "id": object_id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": float(exchange_rate) if exchange_rate is not None else None,
        "fee": fee,
        "fee_details": fee_details,
        "livemode": livemode,
        "net": amount - fee,
        "reporting_category": txn_type,
        "source": source,
        "status": "pending",
        "type": txn_type,
    }


def refund(
    object_id: str, created: int, livemode: bool, *, amount: int, ch: Obj, reason: str | None,
    metadata: dict[str, str], balance_transaction_id: str,
) -> Obj:
    return {
        "id": object_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction_id,
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "customer": ch["customer"],
        "customer_account": None,
        "description": None,
        "destination_details": {
            "card": {"reference_status": "pending", "reference_type": "acquirer_reference_number",
                     "type": "refund"},
            "type": "card",
        },
        "failure_balance_transaction": None,
        "failure_reason": None,
        "instructions_email": None,
        "livemode": livemode,
        "metadata": metadata,
        "next_action": None,
        "payment_intent": ch["payment_intent"],
        "payment_method": ch["payment_method"],
        "pending_reason": None,
        "presentment_details": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def webhook_endpoint(
    object_id: str, created: int, livemode: bool, *, url: str, enabled_events: list[str],
    description: str | None, metadata: dict[str, str], api_version: str | None,
) -> Obj:
    return {
        "id": object_id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": livemode,
        "metadata": metadata,
        "status": "enabled",
        "url": url,
    }
