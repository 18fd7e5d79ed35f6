"""Timeouts and retry policies shared by the workflows, each defined once with the reason for its value.

Workflow-specific waits (a ledger pass period, a customer's quiet period) stay with their workflow; what is
here is what several workflows must agree on. Changing a value changes no workflow command, so running
workflows replay unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio.common import RetryPolicy

# Our own database: a step that takes longer than this is stuck, and a retry within 30 s is cheap.
DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A waiting QuickBooks attempt (`qb.run`) is renewed this often on the paths where a request lost with a
# crashed worker must reappear soon (payments, ledger postings, invoice reads): one row update a minute.
QB_ATTEMPT = timedelta(minutes=1)

# One Stripe request through `StripeGateway`, the gateway's own bounded retries (stripe/retry.py) included.
# A call still running after two minutes hangs on a dead connection: the activity's next attempt starts a
# fresh one, and every Stripe write carries an idempotency key, so a write tried twice is still one write.
STRIPE_CALL = timedelta(minutes=2)
# Once the gateway has given up (an outage, a rate limit longer than a minute): back off to five minutes, so
# the retries add little to a limit Stripe is already enforcing. Unbounded on purpose for the background syncs
# (customers, ledger, link rebuild): they must catch up once Stripe is back, and meanwhile the Web UI shows
# the pending activity with its attempt count and last error.
STRIPE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5))
# Where a person waits on the outcome (a payment, a backfill), the retries end after 20 attempts (about an
# hour of waiting) and the failure is shown instead of retried out of sight: a payment is held as failed
# when Stripe cannot be read (`Action.STRIPE_UNREACHABLE`), a backfill fails in the Web UI.
STRIPE_RETRY_BOUNDED = replace(STRIPE_RETRY, maximum_attempts=20)
