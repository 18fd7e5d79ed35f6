"""Which company file a Stripe object belongs to.

Stripe objects that ml-connector creates carry our metadata ``qb_company``. A single-company install needs
nothing more: every payment is that company's. With several companies and no metadata, the answer lives in
the database (the customer link), and the request path must not wait for a database search: the event goes
to a workflow under the placeholder company :data:`UNRESOLVED`, which looks the customer up and hands the
payment over to the right company's workflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

COMPANY_METADATA_KEY = "qb_company"
UNRESOLVED = "unresolved"


def company_for(obj: Mapping[str, Any], configured: Sequence[str]) -> str:
    """The company id for a Stripe object (an event's ``data.object``), or :data:`UNRESOLVED`."""
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping):
        named = metadata.get(COMPANY_METADATA_KEY)
        if isinstance(named, str) and named in configured:
            return named
    if len(configured) == 1:
        return configured[0]
    return UNRESOLVED
