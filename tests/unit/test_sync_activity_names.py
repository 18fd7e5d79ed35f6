"""The sync's activities keep the names Temporal knows them by, wherever their code lives.

Recorded histories and running workflows schedule activities by name; the split of the old
``activities/stripe_sync.py`` into one module per resource moved the code, never the names.
"""

from __future__ import annotations

from temporalio.activity import _Definition

from activities.customer_pages import CustomerPageActivities
from activities.invoice_pages import InvoicePageActivities
from activities.stripe_customer import StripeCustomerActivities


def test_the_sync_activities_keep_the_names_recorded_histories_use():
    registered = {
        _Definition.must_from_callable(fn).name
        for fn in (
            CustomerPageActivities.sync_customer_page,
            InvoicePageActivities.sync_invoice_page,
            InvoicePageActivities.sync_deleted_invoices,
            StripeCustomerActivities.fetch_stripe_customer,
            StripeCustomerActivities.tag_stripe_customer,
        )
    }
    assert registered == {
        "sync_customer_page",
        "sync_invoice_page",
        "sync_deleted_invoices",
        "fetch_stripe_customer",
        "tag_stripe_customer",
    }
