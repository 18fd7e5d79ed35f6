"""Our webhook endpoint at Stripe: which events it must send, finding it, and creating or repairing it.

The subscribed events are derived from the router table in `ml_connector/stripe/events.py`, never listed by
hand, so an event the router acts on is always one Stripe sends (a hand-kept list once drifted from the table:
`charge.captured` and `charge.refund.updated` were routed but never subscribed). `ml-connector check` reads
these to judge the endpoint, `ml-connector stripe webhook-setup` and the demo to create or repair it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import stripe

from ml_connector.stripe.events import ROUTED_EVENT_TYPES

WEBHOOK_PATH = "/stripe/webhook"
# What the webhook router acts on (ml_connector/stripe/events.py routes these); an endpoint must send them all.
# Every event type the router handles by name (payments, customers, charge refunds): derived, never listed.
REQUIRED_EVENTS: tuple[str, ...] = ROUTED_EVENT_TYPES
# What clearing-account mode posts (the ledger workflow) on top of those.
LEDGER_EVENTS: tuple[str, ...] = (
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
    "payout.paid",
    "payout.failed",
)


def subscribed_events(*, clearing_account: bool) -> tuple[str, ...]:
    """The events the endpoint must send: the routed ones, and the ledger's in clearing-account mode."""
    return REQUIRED_EVENTS + (LEDGER_EVENTS if clearing_account else ())


def missing_events(enabled: Sequence[str], required: Sequence[str] = REQUIRED_EVENTS) -> list[str]:
    """What an endpoint sending `enabled` lacks of `required`, in order (nothing when it sends everything: `*`)."""
    if "*" in enabled:
        return []
    return [e for e in required if e not in enabled]


def find_webhook_endpoint(client: stripe.StripeClient, url: str) -> stripe.WebhookEndpoint | None:
    """The endpoint registered for exactly `url` (an enabled one first), if any."""
    found: list[stripe.WebhookEndpoint] = []
    for endpoint in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
        if endpoint.url.rstrip("/") == url.rstrip("/"):
            found.append(endpoint)
    found.sort(key=lambda e: e.status != "enabled")
    return found[0] if found else None


@dataclass(frozen=True)
class WebhookSetup:
    endpoint_id: str
    url: str
    created: bool
    changed: tuple[str, ...]  # what was changed on an existing endpoint
    secret: str | None  # only when created: Stripe returns it only then


def ensure_webhook_endpoint(
    client: stripe.StripeClient, url: str, events: Sequence[str] = REQUIRED_EVENTS
) -> WebhookSetup:
    """Reuse the endpoint for `url` (enabling it, adding missing events) or create it."""
    existing = find_webhook_endpoint(client, url)
    if existing is None:
        create: dict[str, Any] = {
            "url": url,
            "enabled_events": list(events),
            "description": "ml-connector: payments and customers into QuickBooks Desktop",
            "api_version": stripe.api_version,  # the payload shape this SDK (and our event routing) reads
        }
        created = client.v1.webhook_endpoints.create(create)  # type: ignore[arg-type]
        return WebhookSetup(created.id, url, True, (), created.secret)
    changes: list[str] = []
    params: dict[str, Any] = {}
    missing = missing_events(list(existing.enabled_events), events)
    if missing:
        params["enabled_events"] = sorted(set(existing.enabled_events) | set(missing))
        changes.append("added events " + ", ".join(missing))
    if existing.status != "enabled":
        params["disabled"] = False
        changes.append("enabled it")
    if params:
        client.v1.webhook_endpoints.update(existing.id, params)  # type: ignore[arg-type]
    return WebhookSetup(existing.id, url, False, tuple(changes), None)
