"""A customer created (or changed) in Stripe, brought into QuickBooks: ``stripe-customer/{company}/{cus_…}``.

Started or signalled (signal-with-start, ``stripe_event``) for every verified ``customer.created`` /
``customer.updated`` / ``customer.deleted`` event. Events only say *that* something changed: each burst of
signals is answered by re-fetching the customer from Stripe, so duplicates and out-of-order deliveries
collapse into one look at the current state. The workflow ends after a quiet period.

What it does, and deliberately does not do:

* a customer whose metadata says it came from QuickBooks (``qb_list_id``), or that is linked with origin
  ``quickbooks``, is never added: QuickBooks is the master of customers it created, so our own creates and
  updates echoing back through webhooks are ignored;
* a new Stripe customer becomes a QuickBooks customer through CustomerAdd, trying ``Name``, ``Name (2)`` …
  on 3100 (names are unique across customers, vendors, employees and other names); names are fitted to 41
  Windows-1252 characters; then linked both ways (the Stripe id into the custom field or Notes, the ListID
  into the Stripe customer's metadata);
* later changes in Stripe update email, phone and address in QuickBooks (CustomerMod with EditSequence
  retry) but never rename: a rename could collide (3100) with a name a bookkeeper chose since;
* a deleted Stripe customer makes its QuickBooks customer inactive (QuickBooks keeps history; nothing is
  deleted there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.links import LinkActivities, LinkInfo, RecordLinkInput
    from activities.stripe_customer import StripeCustomerActivities, StripeCustomerInput, TagCustomerInput
    from activities.sync_pages import WriteBackItem
    from ml_connector.qbwc_server.requests import QbRunResult
    from ml_connector.qbxml.customers import (
        Customer,
        CustomerFields,
        customer_mod,
        customer_query,
        parse_customers,
    )
    from ml_connector.qbxml.errors import StatusClass, classify
    from ml_connector.stripe.events import customer_workflow_id
    from ml_connector.sync.link_field import LinkField
    from ml_connector.sync.stripe_customers import StripeCustomer, name_candidates, qb_fields
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT, STRIPE_CALL, STRIPE_RETRY
    from workflows.qb_customers import add_customer
    from workflows.write_back import ensure_custom_field, sync_config, write_stripe_id

QUIET_PERIOD = timedelta(minutes=10)


def workflow_id(company_id: str, stripe_customer_id: str) -> str:
    """``stripe-customer/{company}/{cus_…}``, spelled once in ``ml_connector.stripe.events``."""
    return customer_workflow_id(company_id, stripe_customer_id)


@dataclass
class StripeCustomerWorkflowInput:
    company_id: str
    stripe_customer_id: str
    pending_events: int = 0
    event_ids: list[str] = field(default_factory=list)  # the last few, for the Web UI


@dataclass
class StripeCustomerResult:
    outcome: str
    qb_list_id: str | None = None
    qb_name: str | None = None


@workflow.defn(name="StripeCustomerWorkflow")
class StripeCustomerWorkflow:
    def __init__(self) -> None:
        self._pending = 0
        self._events: list[str] = []

    @workflow.signal
    def stripe_event(self, event_id: str) -> None:
        self._pending += 1
        self._events = [*self._events[-9:], event_id]

    @workflow.run
    async def run(self, inp: StripeCustomerWorkflowInput) -> StripeCustomerResult:
        self._pending += inp.pending_events
        self._events = [*inp.event_ids, *self._events][-10:]
        link_field = (await sync_config(inp.company_id)).link
        result = StripeCustomerResult("nothing to do")
        while True:
            try:
                await workflow.wait_condition(lambda: self._pending > 0, timeout=QUIET_PERIOD)
            except TimeoutError:
                break
            self._pending = 0
            result = await self._apply(inp, link_field)
            info = workflow.info()
            if info.is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    StripeCustomerWorkflowInput(
                        inp.company_id, inp.stripe_customer_id, self._pending, self._events
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _apply(self, inp: StripeCustomerWorkflowInput, link_field: LinkField) -> StripeCustomerResult:
        ids = StripeCustomerInput(inp.company_id, inp.stripe_customer_id)
        customer: StripeCustomer = await workflow.execute_activity_method(
            StripeCustomerActivities.fetch_stripe_customer,
            ids,
            start_to_close_timeout=STRIPE_CALL,
            retry_policy=STRIPE_RETRY,
        )
        link: LinkInfo | None = await workflow.execute_activity_method(
            LinkActivities.find_customer_link, ids, start_to_close_timeout=DB_TIMEOUT, retry_policy=DB_RETRY
        )
        if link is not None and link.origin != "stripe":
            return StripeCustomerResult("came from QuickBooks: QuickBooks stays its master", link.qb_list_id)
        if customer.deleted:
            if link is None:
                return StripeCustomerResult("deleted in Stripe before it reached QuickBooks")
            await self._modify(inp.company_id, link.qb_list_id, CustomerFields(is_active=False))
            return StripeCustomerResult("deleted in Stripe: made inactive in QuickBooks", link.qb_list_id)
        if link is None:
            if customer.came_from_quickbooks(inp.company_id):
                return StripeCustomerResult("came from QuickBooks: not added again", customer.qb_list_id)
            return await self._add(inp, customer, link_field)
        if link.stripe_fingerprint == customer.fingerprint():
            return StripeCustomerResult("QuickBooks already agrees", link.qb_list_id)
        result = await self._modify(
            inp.company_id, link.qb_list_id, qb_fields(customer, name=None, field=link_field, adding=False)
        )
        if classify(result.status_code) is StatusClass.OK:
            await self._record(inp, link.qb_list_id, customer, written_back=link.written_back)
            return StripeCustomerResult("updated in QuickBooks", link.qb_list_id)
        return StripeCustomerResult(f"QuickBooks refused the update ({result.status_code})", link.qb_list_id)

    async def _add(
        self, inp: StripeCustomerWorkflowInput, customer: StripeCustomer, link_field: LinkField
    ) -> StripeCustomerResult:
        added: Customer | None = None
        last = "no name could be used"
        for name in name_candidates(customer):
            result = await add_customer(
                inp.company_id, qb_fields(customer, name=name, field=link_field, adding=True)
            )
            status = classify(result.status_code)
            if status is StatusClass.OK:
                added = parse_customers(result.response or "")[0]
                break
            last = f"{result.status_code} {result.status_message}"
            if status is not StatusClass.NAME_IN_USE:
                break
            workflow.logger.info("the name %r is taken in QuickBooks (3100); trying the next one", name)
        if added is None:
            workflow.logger.error("could not add Stripe customer %s to QuickBooks: %s", customer.id, last)
            return StripeCustomerResult(f"QuickBooks refused the customer: {last}")
        written = link_field.kind == "notes"
        await self._record(inp, added.list_id, customer, written_back=written, added=added)
        if not written and await ensure_custom_field(inp.company_id, link_field):
            if await write_stripe_id(inp.company_id, WriteBackItem(added.list_id, customer.id), link_field):
                await self._record(inp, added.list_id, customer, written_back=True, added=added)
        await workflow.execute_activity_method(
            StripeCustomerActivities.tag_stripe_customer,
            TagCustomerInput(inp.company_id, customer.id, added.list_id),
            start_to_close_timeout=STRIPE_CALL,
            retry_policy=STRIPE_RETRY,
        )
        return StripeCustomerResult("added to QuickBooks", added.list_id, added.name)

    async def _record(
        self,
        inp: StripeCustomerWorkflowInput,
        list_id: str,
        customer: StripeCustomer,
        *,
        written_back: bool,
        added: Customer | None = None,
    ) -> None:
        await workflow.execute_activity_method(
            LinkActivities.record_customer_link,
            RecordLinkInput(
                company_id=inp.company_id,
                qb_list_id=list_id,
                stripe_customer_id=customer.id,
                qb_edit_sequence=added.edit_sequence if added else "",
                qb_full_name=added.full_name if added else "",
                stripe_fingerprint=customer.fingerprint(),
                written_back=written_back,
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    async def _modify(self, company_id: str, list_id: str, fields: CustomerFields) -> QbRunResult:
        def build(current: QbRunResult) -> str | None:
            found = parse_customers(current.response or "")
            if not found:
                return None
            return customer_mod(list_id, found[0].edit_sequence, fields)

        return await qb.modify(company_id, customer_query(list_ids=[list_id], owner_ids=()), build)
