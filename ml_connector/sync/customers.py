"""A QuickBooks customer as a Stripe customer, and what (if anything) must be sent to make Stripe agree.

Policies decided here, once:

* **Jobs** (sub-customers, ``Sublevel > 0``) are not Stripe customers. A job is how QuickBooks splits one
  client's work; the client is who pays. Invoices of a job bill the top-level customer's Stripe customer
  and carry the job's name in their metadata.
* **Inactive customers** that were never linked are not created in Stripe (nothing will be billed to them).
  A linked customer that becomes inactive stays in Stripe with ``metadata.qb_active = "false"``, and no new
  Stripe invoice is created for it.
* **Stripe-born customers** (created in Stripe, copied into QuickBooks) keep Stripe as their master: a poll
  records their EditSequence but never pushes QuickBooks' fitted name (41 characters, Windows-1252) over
  the original.

"Unchanged" is decided twice, cheaply first: the EditSequence we last saw (no mapping needed at all), then
the fingerprint of the mapped fields we last sent (our own write-back and edits of unmapped fields change the
EditSequence but not what Stripe shows, and cost no request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ml_connector.qbxml.customers import Address, Customer
from ml_connector.stripe.idempotency import key as idempotency_key
from ml_connector.stripe.idempotency import params_fingerprint
from ml_connector.sync.link_field import LinkField, stripe_id_on
from ml_connector.sync.stripe_customers import StripeCustomer

STRIPE_NAME_MAX = 256
STRIPE_PHONE_MAX = 20
STRIPE_METADATA_VALUE_MAX = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRIES = {
    "us": "US", "usa": "US", "u.s.": "US", "u.s.a.": "US", "united states": "US",
    "united states of america": "US", "ca": "CA", "canada": "CA", "uk": "GB", "gb": "GB",
    "united kingdom": "GB", "great britain": "GB", "england": "GB", "au": "AU", "australia": "AU",
    "nz": "NZ", "new zealand": "NZ", "ie": "IE", "ireland": "IE", "mx": "MX", "mexico": "MX",
}  # fmt: skip


class CustomerAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"  # QuickBooks names a Stripe customer we have no link for (e.g. after losing the database)
    UNCHANGED = "unchanged"
    SKIP = "skip"


@dataclass(frozen=True)
class LinkState:
    """What the link table knows about one QuickBooks customer."""

    stripe_customer_id: str
    qb_edit_sequence: str
    stripe_fingerprint: str
    origin: str = "quickbooks"


@dataclass(frozen=True)
class CustomerDecision:
    action: CustomerAction
    reason: str
    state: Mapping[str, Any] | None = None  # the Stripe-side state we want (CREATE/UPDATE/ADOPT)
    fingerprint: str = ""
    stripe_customer_id: str | None = None  # ADOPT: the id QuickBooks holds


def first_email(value: str | None) -> str | None:
    """QuickBooks lets one Email field hold several addresses; Stripe takes one. The first valid one wins."""
    for part in re.split(r"[;,\s]+", value or ""):
        if _EMAIL.match(part):
            return part
    return None


def country_code(value: str | None) -> str | None:
    """A two-letter ISO code for what a bookkeeper typed, or None when we cannot be sure."""
    text = (value or "").strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _COUNTRIES.get(text.lower())


def stripe_address(address: Address | None) -> dict[str, str] | None:
    """BillAddress → Stripe address. Addr1 is the first street line; Addr2-5 become line2."""
    if address is None:
        return None
    out: dict[str, str] = {}
    if address.addr1:
        out["line1"] = address.addr1
    rest = " ".join(a for a in (address.addr2, address.addr3, address.addr4, address.addr5) if a)
    if rest:
        out["line2"] = rest
    for key, value in (
        ("city", address.city),
        ("state", address.state),
        ("postal_code", address.postal_code),
    ):
        if value:
            out[key] = value
    country = country_code(address.country)
    if country:
        out["country"] = country
    return out or None


def _meta(value: str | None) -> str | None:
    return value[:STRIPE_METADATA_VALUE_MAX] if value else None


def desired_state(customer: Customer, company_id: str) -> dict[str, Any]:
    """The Stripe customer we want, with ``None`` for "absent". Its fingerprint is what "unchanged" means."""
    phone = (customer.phone or "").strip() or None
    long_phone = phone if phone is not None and len(phone) > STRIPE_PHONE_MAX else None
    return {
        "name": customer.name[:STRIPE_NAME_MAX],
        "email": first_email(customer.email),
        "phone": None if long_phone else phone,
        "address": stripe_address(customer.bill_address),
        "metadata": {
            "qb_list_id": customer.list_id,
            "qb_company": company_id,
            "qb_active": "true" if customer.is_active else "false",
            "qb_company_name": _meta(customer.company_name),
            "qb_phone": _meta(long_phone),
        },
    }


def create_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """Customer create parameters: absent values are left out."""
    params = {k: v for k, v in state.items() if v is not None and k != "metadata"}
    params["metadata"] = {k: v for k, v in state["metadata"].items() if v is not None}
    return params


def update_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """Customer update parameters: absent values are sent as "" so that Stripe clears them (and deletes
    metadata keys), making the update a full statement of the state rather than a patch."""
    params: dict[str, Any] = {k: ("" if v is None else v) for k, v in state.items() if k != "metadata"}
    params["metadata"] = {k: ("" if v is None else v) for k, v in state["metadata"].items()}
    return params


def decide(customer: Customer, link: LinkState | None, company_id: str, field: LinkField) -> CustomerDecision:
    """What to do in Stripe for one customer read from QuickBooks."""
    if customer.sublevel > 0:
        return CustomerDecision(CustomerAction.SKIP, "job: billed through its top-level customer")
    if link is not None and link.origin == "stripe":
        return CustomerDecision(CustomerAction.UNCHANGED, "created in Stripe: Stripe stays its master")
    if link is not None and link.qb_edit_sequence == customer.edit_sequence:
        return CustomerDecision(CustomerAction.UNCHANGED, "EditSequence unchanged")
    state = desired_state(customer, company_id)
    fingerprint = params_fingerprint(state)
    if link is not None:
        if link.stripe_fingerprint == fingerprint:
            return CustomerDecision(CustomerAction.UNCHANGED, "mapped fields unchanged", state, fingerprint)
        return CustomerDecision(CustomerAction.UPDATE, "changed in QuickBooks", state, fingerprint)
    held = stripe_id_on(customer, field)
    if held is not None:
        return CustomerDecision(
            CustomerAction.ADOPT, "QuickBooks names its Stripe customer", state, fingerprint, held
        )
    if not customer.is_active:
        return CustomerDecision(CustomerAction.SKIP, "inactive and never linked: nothing to bill")
    return CustomerDecision(CustomerAction.CREATE, "new in QuickBooks", state, fingerprint)


def top_level_name(full_name: str | None) -> str | None:
    """``"Acme:Project 1:Phase 2"`` → ``"Acme"``: the customer who pays for a job's invoices."""
    if not full_name:
        return None
    return full_name.split(":", 1)[0]


def stripe_state(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a Stripe customer holds, in the shape of :func:`desired_state`: equal fingerprints mean Stripe
    already shows what QuickBooks says (used after ``links rebuild``, so a rebuilt link costs no update)."""
    metadata = obj.get("metadata") or {}
    address = {k: v for k, v in (obj.get("address") or {}).items() if v}
    return {
        "name": obj.get("name") or "",
        "email": obj.get("email") or None,
        "phone": obj.get("phone") or None,
        "address": address or None,
        "metadata": {
            key: metadata.get(key) or None
            for key in ("qb_list_id", "qb_company", "qb_active", "qb_company_name", "qb_phone")
        },
    }


# ---- what a page of decisions costs in Stripe ----------------------------------------------------------------

PUSHED = frozenset({CustomerAction.CREATE, CustomerAction.UPDATE, CustomerAction.ADOPT})


def create_key(company_id: str, list_id: str) -> str:
    """The idempotency key of a customer's create, which also names its stored write intent."""
    return idempotency_key("customer.create", company_id, list_id)


def create_intents(company_id: str, decisions: Mapping[str, CustomerDecision]) -> dict[str, dict[str, Any]]:
    """The create parameters of every CREATE of a page, by idempotency key (to be fixed as write intents)."""
    return {
        create_key(company_id, list_id): create_params(d.state or {})
        for list_id, d in decisions.items()
        if d.action is CustomerAction.CREATE
    }


def adoption_verdict(
    customer: Customer,
    decision: CustomerDecision,
    found: Mapping[str, Any] | None,
    company_id: str,
    *,
    taken: bool,
) -> CustomerDecision | None:
    """An ADOPT checked against Stripe: None when the adoption stands, else what to do instead.

    It stands when Stripe has the customer (not deleted), its metadata names no other QuickBooks customer or
    company, and no other link already holds it (``taken``); otherwise the Stripe id in QuickBooks is stale
    or copied, and the customer is created like a new one (if active).
    """
    ok = found is not None and not found.get("deleted")
    if ok and found is not None:
        snapshot = StripeCustomer.from_api(found)
        ok = snapshot.qb_list_id in (None, customer.list_id) and snapshot.qb_company in (None, company_id)
    if ok and not taken:
        return None
    return CustomerDecision(
        CustomerAction.CREATE if customer.is_active else CustomerAction.SKIP,
        "the Stripe id in QuickBooks does not name this customer in Stripe",
        decision.state,
        decision.fingerprint,
    )


class LinkCheck(StrEnum):
    """Where the Stripe id stands in QuickBooks once a customer is linked."""

    WRITTEN = "written"  # QuickBooks holds the linked id
    WRITE_BACK = "write_back"  # QuickBooks holds nothing: write the id back
    CONFLICT = "conflict"  # QuickBooks holds another Stripe id: never overwritten, left for review


def link_check(held: str | None, linked: str) -> LinkCheck:
    if held == linked:
        return LinkCheck.WRITTEN
    if held is None:
        return LinkCheck.WRITE_BACK
    return LinkCheck.CONFLICT
