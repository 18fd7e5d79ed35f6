"""A customer created in Stripe, as QuickBooks can store it.

QuickBooks is stricter than Stripe: a Name has at most 41 Windows-1252 characters, no colon (it separates
job levels), and must be unique across customers, vendors, employees and other names (status 3100). Stripe
allows 256 characters of anything, and the same name twice. So:

* the Name is Stripe's name, else the email, else the Stripe id, fitted by ``qbxml.text.fit_name``
  (transliterated, emoji dropped, cut to 41); the untouched original stays in Stripe;
* on 3100 the next candidate is ``Name (2)``, ``Name (3)`` … (the base is shortened, never the suffix), and
  after that the Stripe id itself, which cannot clash with a person's name;
* a customer whose metadata says it came from QuickBooks (``qb_list_id``) is never added again: that is our
  own customer echoing back through ``customer.created``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ml_connector.qbxml.customers import Address, CustomerFields, customer_external_guid
from ml_connector.qbxml.text import fit_name, unique_name_variant
from ml_connector.stripe.idempotency import params_fingerprint
from ml_connector.sync.link_field import LinkField, notes_with_stripe_id

MAX_NAME_VARIANTS = 9


@dataclass(frozen=True)
class StripeCustomer:
    """The fields of a Stripe customer that matter to QuickBooks (read from the API, never from a webhook)."""

    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    qb_list_id: str | None = None
    qb_company: str | None = None
    deleted: bool = False

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> StripeCustomer:
        if obj.get("deleted"):
            return cls(id=str(obj["id"]), deleted=True)
        address = obj.get("address") or {}
        metadata = obj.get("metadata") or {}

        def text(mapping: Mapping[str, Any], key: str) -> str | None:
            value = mapping.get(key)
            return str(value) if value not in (None, "") else None

        return cls(
            id=str(obj["id"]),
            name=text(obj, "name"),
            email=text(obj, "email"),
            phone=text(obj, "phone"),
            line1=text(address, "line1"),
            line2=text(address, "line2"),
            city=text(address, "city"),
            state=text(address, "state"),
            postal_code=text(address, "postal_code"),
            country=text(address, "country"),
            qb_list_id=text(metadata, "qb_list_id"),
            qb_company=text(metadata, "qb_company"),
        )

    def fingerprint(self) -> str:
        """What QuickBooks was last told; an event that changes none of it (our own metadata tag) is a no-op."""
        return params_fingerprint(
            {
                "name": self.name, "email": self.email, "phone": self.phone, "line1": self.line1,
                "line2": self.line2, "city": self.city, "state": self.state, "postal_code": self.postal_code,
                "country": self.country,
            }
        )  # fmt: skip

    def came_from_quickbooks(self, company_id: str) -> bool:
        return self.qb_list_id is not None and self.qb_company in (None, company_id)


def base_name(customer: StripeCustomer) -> str:
    """The QuickBooks Name to try first."""
    for candidate in (customer.name, customer.email, customer.id):
        if candidate:
            try:
                return fit_name(candidate)
            except ValueError:
                continue
    return fit_name(customer.id)


def name_candidates(customer: StripeCustomer) -> Iterator[str]:
    """Names to try in order until QuickBooks stops answering 3100."""
    base = base_name(customer)
    yield base
    for attempt in range(2, MAX_NAME_VARIANTS + 1):
        yield unique_name_variant(base, attempt)
    yield fit_name(customer.id)


def qb_fields(
    customer: StripeCustomer, *, name: str | None, field: LinkField, adding: bool
) -> CustomerFields:
    """CustomerAdd/CustomerMod fields; in Notes mode the Stripe id travels in the Add itself."""
    address = None
    if any(
        (
            customer.line1,
            customer.line2,
            customer.city,
            customer.state,
            customer.postal_code,
            customer.country,
        )
    ):
        address = Address(
            addr1=customer.line1 or "",
            addr2=customer.line2 or "",
            city=customer.city or "",
            state=customer.state or "",
            postal_code=customer.postal_code or "",
            country=customer.country or "",
        )
    return CustomerFields(
        name=name,
        email=customer.email or "",
        phone=customer.phone or "",
        bill_address=address,
        notes=notes_with_stripe_id(None, customer.id) if field.kind == "notes" and adding else None,
        # On an Add: lets a CustomerAdd whose answer was lost be found again (workflows/qb_customers.py).
        external_guid=customer_external_guid(customer.id) if adding else None,
    )
