"""Naming a QuickBooks customer created for a Stripe customer that has no link yet.

QuickBooks customer names are unique across customers, vendors and employees (3100 "name in use"), and are
limited to 41 characters; a second attempt therefore uses a variant that carries part of the Stripe id, so
the name stays recognisable and the retry does not collide again.
"""

from __future__ import annotations

from ml_connector.qbxml.customers import CustomerFields, customer_external_guid
from ml_connector.qbxml.text import fit_name, unique_name_variant


def new_customer_fields(customer_id: str, name: str, email: str, attempt: int) -> CustomerFields:
    """The CustomerAdd fields for try number ``attempt`` (1 = the plain name, 2… = numbered variants)."""
    base = fit_name(name or email or customer_id, fallback=customer_id)
    chosen = base if attempt <= 1 else unique_name_variant(base, attempt)
    return CustomerFields(name=chosen, email=email or None, external_guid=customer_external_guid(customer_id))
