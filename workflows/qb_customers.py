"""Adding a customer to QuickBooks exactly once, even when the answer to the CustomerAdd is lost.

Every CustomerAdd the connector sends carries an ExternalGUID derived from the Stripe customer id
(:func:`ml_connector.qbxml.customers.customer_external_guid`). When the queue reports the add *uncertain*
(its answer was lost and QuickBooks' error recovery did not say what ran), the name is looked up: a customer
of that name with our GUID is the one the add created; one without it holds the name already (answered as
QuickBooks would have, 3100); no customer means the add did not run, and it is sent once more.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.customers import CustomerFields, customer_add, customer_query, parse_customers
    from workflows import qb

# An add whose answer is lost is verified and sent again at most this often before the workflow gives up
# (the ActivityError reaches the caller, which holds the payment or reports the customer as not added).
MAX_UNCERTAIN_ADDS = 3
NAME_IN_USE = 3100


async def add_customer(
    company_id: str,
    fields: CustomerFields,
    *,
    idem_key: str | None = None,
    attempt: timedelta = qb.ATTEMPT_TIMEOUT,
) -> QbRunResult:
    """CustomerAdd; on an uncertain outcome the answer comes from a read of the name (see the module doc)."""
    if fields.name is None or fields.external_guid is None:
        raise ValueError("a verified CustomerAdd needs a name and an ExternalGUID")
    for round_no in range(MAX_UNCERTAIN_ADDS + 1):
        key = idem_key if idem_key is None or round_no == 0 else f"{idem_key}/again-{round_no}"
        try:
            return await qb.run(company_id, customer_add(fields), idem_key=key, attempt=attempt)
        except ActivityError as exc:
            if not qb.is_uncertain(exc) or round_no == MAX_UNCERTAIN_ADDS:
                raise
        workflow.logger.info("CustomerAdd %r: answer lost; looking the name up before adding again", fields.name)
        found = await qb.run(company_id, customer_query(full_names=[fields.name], owner_ids=()), attempt=attempt)
        customers = parse_customers(found.response or "") if found.ok else []
        if any((c.external_guid or "").upper() == fields.external_guid.upper() for c in customers):
            return found  # our add ran: the query's CustomerRet is the customer it created
        if customers:
            return dataclasses.replace(
                found,
                status_code=NAME_IN_USE,
                status_severity="Error",
                status_message=f'The name "{fields.name}" is already in use (found while verifying a lost add).',
            )
    raise AssertionError("unreachable: the last round re-raises")
