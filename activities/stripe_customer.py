"""The Stripe side of a Stripe-born customer (workflows/stripe_customer.py): read it, and tag it with its
QuickBooks ListID once it exists in QuickBooks (the Stripe half of the link)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe
from temporalio import activity

from activities.sync_pages import SyncActivityBase
from ml_connector.stripe.idempotency import key
from ml_connector.sync.stripe_customers import StripeCustomer


@dataclass(frozen=True)
class StripeCustomerInput:
    company_id: str
    stripe_customer_id: str


@dataclass(frozen=True)
class TagCustomerInput(StripeCustomerInput):
    """The customer, and the ListID of its QuickBooks customer to write into its metadata."""

    qb_list_id: str


class StripeCustomerActivities(SyncActivityBase):
    @activity.defn(name="fetch_stripe_customer")
    def fetch_stripe_customer(self, inp: StripeCustomerInput) -> StripeCustomer:
        """Re-fetch the customer: webhook payloads may be stale or arrive out of order."""
        try:
            found = self.gateway.call(lambda c: c.v1.customers.retrieve(inp.stripe_customer_id)).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                return StripeCustomer(id=inp.stripe_customer_id, deleted=True)
            raise
        return StripeCustomer.from_api(found)

    @activity.defn(name="tag_stripe_customer")
    def tag_stripe_customer(self, inp: TagCustomerInput) -> None:
        """Write the QuickBooks ListID into the Stripe customer's metadata (the Stripe half of the link)."""
        params: dict[str, Any] = {"metadata": {"qb_list_id": inp.qb_list_id, "qb_company": inp.company_id}}
        tag_key = key("customer.tag", inp.stripe_customer_id, params=params)
        self.gateway.call(
            lambda c: c.v1.customers.update(
                inp.stripe_customer_id,
                params,  # type: ignore[arg-type]
                options={"idempotency_key": tag_key},
            )
        )
