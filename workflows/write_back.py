"""Storing a Stripe customer id on a QuickBooks customer, from workflow code, without clobbering anything.

The first attempt is built from what the poll just read (no extra QuickBooks round trip). If the customer
changed meanwhile (3200 for Notes; 3180/3120 when the custom field appeared or vanished), the customer is
re-read and only our field is re-applied through ``qb.modify``, so whatever the bookkeeper typed stays.
A customer whose QuickBooks field already names a *different* Stripe customer is never overwritten.
"""

from __future__ import annotations

from functools import partial

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.links import LinkActivities, SyncConfig
    from activities.sync_pages import WriteBackItem
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.customers import customer_query, parse_customers
    from ml_connector.qbxml.dataext import data_ext_def_add, data_ext_def_query, parse_data_ext_defs
    from ml_connector.qbxml.errors import StatusClass, classify
    from ml_connector.sync.link_field import (
        LinkField,
        NotesFull,
        stripe_id_on,
        write_back_from_snapshot,
        write_back_request,
    )
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT

# 3180: the custom field value already exists (add raced another add); 3120: the value to modify is gone.
_RETRY_BY_REREAD = {3180, 3120}
ALREADY_DEFINED = 3180
# A DataExtDefAdd whose answer was lost is verified by a DataExtDefQuery and sent again at most this often.
MAX_UNCERTAIN_DEFINES = 3



async def sync_config(company_id: str) -> SyncConfig:
    """The company's sync settings, read at the start of each run so that a change applies to the next one."""
    return await workflow.execute_activity_method(
        LinkActivities.customer_sync_config, company_id, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
    )


async def ensure_custom_field(company_id: str, field: LinkField) -> bool:
    """Define our public custom field on customers once per company file (no-op in Notes mode)."""
    if field.kind != "dataext":
        return True
    for _ in range(MAX_UNCERTAIN_DEFINES):
        found = await qb.run(company_id, data_ext_def_query(assign_to_objects=["Customer"]))
        defs = parse_data_ext_defs(found.response or "") if found.ok else []
        if any(d.name.casefold() == field.dataext_name.casefold() and d.is_public for d in defs):
            return True
        try:
            added = await qb.run(company_id, data_ext_def_add(field.dataext_name))
        except ActivityError as exc:
            if not qb.is_uncertain(exc):
                raise
            continue  # the answer was lost: the query above tells whether the definition landed
        break
    else:
        workflow.logger.error("could not establish whether the custom field %s was defined", field.dataext_name)
        return False
    if added.ok or added.status_code == ALREADY_DEFINED:
        return True
    workflow.logger.error(
        "could not define the custom field %s: %s %s",
        field.dataext_name,
        added.status_code,
        added.status_message,
    )
    return False


async def write_stripe_id(company_id: str, target: WriteBackItem, field: LinkField) -> bool:
    """True once QuickBooks holds the target's Stripe id. A target with an ``edit_sequence`` says "this is
    what the poll read": try a blind write first."""
    list_id, stripe_customer_id = target.list_id, target.stripe_customer_id
    try:
        if target.edit_sequence is not None:
            try:
                first = write_back_from_snapshot(
                    list_id,
                    target.edit_sequence,
                    stripe_customer_id,
                    field,
                    notes=target.notes,
                    has_field=target.has_field,
                )
            except NotesFull as exc:
                workflow.logger.warning("customer %s: %s", list_id, exc)
                return False
            try:
                result = await qb.run(company_id, first)
            except ActivityError as exc:
                if not qb.is_uncertain(exc):
                    raise
                result = None  # the answer was lost: the re-read below tells whether the write landed
            if result is not None and classify(result.status_code) is StatusClass.OK:
                return True
            if (
                result is not None
                and classify(result.status_code) is not StatusClass.EDIT_SEQUENCE
                and result.status_code not in _RETRY_BY_REREAD
            ):
                _log_failure(list_id, result)
                return False
        for _ in range(2):
            verdict = _Verdict()
            result = await qb.modify(
                company_id,
                customer_query(list_ids=[list_id], owner_ids=field.owner_ids),
                partial(_rebuild, stripe_customer_id=stripe_customer_id, field=field, verdict=verdict),
            )
            if verdict.refused:
                return False
            if classify(result.status_code) is StatusClass.OK:
                return True
            if result.status_code not in _RETRY_BY_REREAD:
                _log_failure(list_id, result)
                return False
    except (ActivityError, ApplicationError) as exc:
        workflow.logger.warning("customer %s: writing the Stripe id failed: %s", list_id, exc)
    return False


class _Verdict:
    refused: bool = False


def _rebuild(
    current: QbRunResult, stripe_customer_id: str, field: LinkField, verdict: _Verdict
) -> str | None:
    customers = parse_customers(current.response or "")
    if not customers:
        verdict.refused = True
        return None
    customer = customers[0]
    held = stripe_id_on(customer, field)
    if held is not None and held != stripe_customer_id:
        workflow.logger.warning(
            "customer %s already names Stripe customer %s; not overwriting it with %s",
            customer.list_id,
            held,
            stripe_customer_id,
        )
        verdict.refused = True
        return None
    try:
        return write_back_request(customer, stripe_customer_id, field)
    except NotesFull as exc:
        workflow.logger.warning("customer %s: %s", customer.list_id, exc)
        verdict.refused = True
        return None


def _log_failure(list_id: str, result: QbRunResult) -> None:
    workflow.logger.warning(
        "customer %s: QuickBooks refused the Stripe id (%s %s)",
        list_id,
        result.status_code,
        result.status_message,
    )
