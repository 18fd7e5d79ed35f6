"""Timeouts and retry policies shared by the workflows, each defined once with the reason for its value.

Workflow-specific waits (a ledger pass period, a customer's quiet period) stay with their workflow; what is
here is what several workflows must agree on. Changing a value changes no workflow command, so running
workflows replay unchanged.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Our own database: a step that takes longer than this is stuck, and a retry within 30 s is cheap.
DB_TIMEOUT = timedelta(seconds=30)
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# A waiting QuickBooks attempt (`qb.run`) is renewed this often on the paths where a request lost with a
# crashed worker must reappear soon (payments, ledger postings, invoice reads): one row update a minute.
QB_ATTEMPT = timedelta(minutes=1)
