"""QuickBooks customers into Stripe, one stored CustomerQuery page per activity (``sync_customer_page``).

What to do with each customer is decided by ``ml_connector.sync.customers``; this module only reads the page
and its links, asks Stripe what an ADOPT needs to know, pushes creates and updates in parallel, and stores the
links and the write-backs still owed to QuickBooks. See ``activities.sync_pages`` for why a page is the unit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlmodel import Session, col, select
from temporalio import activity

from activities.sync_pages import (
    PageInput,
    PageSummary,
    PageTally,
    PhaseTimer,
    RequestCounter,
    SyncActivityBase,
    WriteBackItem,
    finish_page,
    link_field_of,
    read_page_in,
)
from ml_connector.qbxml.customers import Customer, parse_customers
from ml_connector.storage.models import CustomerLink, utcnow
from ml_connector.stripe.idempotency import key
from ml_connector.sync import customers as rules
from ml_connector.sync.customers import CustomerAction, CustomerDecision, LinkCheck, LinkState
from ml_connector.sync.link_field import stripe_id_on
from ml_connector.sync.totals import PageTotals

log = logging.getLogger(__name__)


class CustomerPageActivities(SyncActivityBase):
    @activity.defn(name="sync_customer_page")
    def sync_customer_page(self, inp: PageInput) -> PageSummary:
        gateway = self.gateway
        counter = RequestCounter(gateway)
        field_ = link_field_of(self.settings)
        company = inp.company_id
        timer = PhaseTimer()

        # Reading the page and its links and storing the creates' intents is one transaction: on SQLite every
        # transaction queues for the single write lock (BEGIN IMMEDIATE) behind the gateway and the
        # write-backs, and each wait here is time the rate limiter may sit idle.
        with Session(self.engine, expire_on_commit=False) as db:
            xml = read_page_in(db, inp.request_id, inp.page_no)
            customers = parse_customers(xml) if xml else []
            if not customers:
                return PageSummary()
            links = _links_in(db, company, [c.list_id for c in customers])
            decisions = {
                c.list_id: rules.decide(c, _link_state(links.get(c.list_id)), company, field_)
                for c in customers
            }
            adopting = any(d.action is CustomerAction.ADOPT for d in decisions.values())
            if not adopting:
                intents = self._store_intents(db, company, rules.create_intents(company, decisions))
                db.commit()
        if adopting:  # asks Stripe, so outside any transaction; rare (a lost database)
            decisions.update(self._resolve_adoptions(customers, decisions, company))
            intents = self._intents(company, rules.create_intents(company, decisions))
        timer.lap("read")

        def push(customer: Customer, decision: CustomerDecision) -> str:
            state = decision.state or {}
            if decision.action is CustomerAction.CREATE:
                create_key = rules.create_key(company, customer.list_id)
                sent = intents[create_key]
                created = gateway.call(
                    lambda c: c.v1.customers.create(sent, options={"idempotency_key": create_key})  # type: ignore[arg-type]
                )
                stripe_id = str(created["id"])
                if sent != rules.create_params(state):
                    self._update_customer(stripe_id, state)  # the intent was older than this read
                return stripe_id
            stripe_id = decision.stripe_customer_id or links[customer.list_id].stripe_customer_id
            self._update_customer(stripe_id, state)
            return stripe_id

        to_push = [
            (c, decisions[c.list_id]) for c in customers if decisions[c.list_id].action in rules.PUSHED
        ]
        outcomes = self._parallel([partial(push, c, d) for c, d in to_push])
        pushed = dict(zip((c.list_id for c, _ in to_push), outcomes, strict=True))
        timer.lap("stripe")

        tally = PageTally("customer", log)
        write_backs: list[WriteBackItem] = []
        created: list[str] = []
        now = utcnow()
        with Session(self.engine) as db:
            for customer, decision, link, outcome in tally.settled(
                customers, lambda c: c.list_id, decisions, links, pushed
            ):
                if decision.action is CustomerAction.SKIP:
                    continue
                if outcome is not None:
                    link = _upsert_link(db, link, company, customer, outcome, decision.fingerprint, now)
                    if decision.action is CustomerAction.CREATE:
                        created.append(rules.create_key(company, customer.list_id))
                elif link is not None:
                    link.qb_edit_sequence = customer.edit_sequence
                    link.qb_full_name = customer.full_name
                    if decision.fingerprint and decision.fingerprint == link.stripe_fingerprint:
                        link.updated_at = now
                    db.add(link)
                if link is None:
                    continue
                held = stripe_id_on(customer, field_)
                check = rules.link_check(held, link.stripe_customer_id)
                link.written_back = check is LinkCheck.WRITTEN
                db.add(link)
                if check is LinkCheck.CONFLICT:
                    tally.totals = tally.totals.combine(PageTotals.counted("link_conflict"))
                    log.warning(
                        "customer %s holds Stripe id %s in QuickBooks but is linked to %s; left for review",
                        customer.list_id,
                        held,
                        link.stripe_customer_id,
                    )
                elif check is LinkCheck.WRITE_BACK:
                    write_backs.append(
                        WriteBackItem(
                            list_id=customer.list_id,
                            stripe_customer_id=link.stripe_customer_id,
                            edit_sequence=customer.edit_sequence,
                            notes=customer.notes if field_.kind == "notes" else None,
                            has_field=field_.dataext_name in customer.data_ext,
                        )
                    )
            self._forget_intents(db, created)
            db.commit()
        timer.lap("store")
        log.info("customer page %d: %s, %d Stripe requests", inp.page_no, timer, counter.used)
        seen = (c.time_modified for c in customers)
        return finish_page(outcomes, tally.totals, seen, counter.used, write_backs)

    def _retrieve_customer(self, stripe_id: str) -> dict[str, Any]:
        found = self.gateway.call(lambda c: c.v1.customers.retrieve(stripe_id))
        return found.to_dict()

    def _update_customer(self, stripe_id: str, state: dict[str, Any] | Any) -> None:
        params = rules.update_params(state)
        update_key = key("customer.update", stripe_id, params=params)
        self.gateway.call(
            lambda c: c.v1.customers.update(stripe_id, params, options={"idempotency_key": update_key})  # type: ignore[arg-type]
        )

    def _resolve_adoptions(
        self, customers: Sequence[Customer], decisions: dict[str, CustomerDecision], company: str
    ) -> dict[str, CustomerDecision]:
        """QuickBooks names a Stripe customer we have no link for: adopt it if Stripe agrees, else create.

        This is what keeps a lost database from duplicating every customer before ``links rebuild`` runs.
        """
        adopt = [c for c in customers if decisions[c.list_id].action is CustomerAction.ADOPT]
        if not adopt:
            return {}
        named = [decisions[c.list_id].stripe_customer_id or "" for c in adopt]
        taken = self._linked_stripe_ids(company, named)
        fetched = self._parallel([partial(self._retrieve_customer, stripe_id) for stripe_id in named])
        out: dict[str, CustomerDecision] = {}
        for customer, stripe_id, found in zip(adopt, named, fetched, strict=True):
            verdict = rules.adoption_verdict(
                customer,
                decisions[customer.list_id],
                None if isinstance(found, BaseException) else found,
                company,
                taken=stripe_id in taken,
            )
            if verdict is not None:
                out[customer.list_id] = verdict
        return out

    def _linked_stripe_ids(self, company: str, stripe_ids: Iterable[str]) -> set[str]:
        with Session(self.engine) as db:
            rows = db.exec(
                select(CustomerLink.stripe_customer_id).where(
                    CustomerLink.company_id == company,
                    col(CustomerLink.stripe_customer_id).in_(list(stripe_ids)),
                )
            ).all()
            return set(rows)


def _links_in(db: Session, company: str, list_ids: Iterable[str]) -> dict[str, CustomerLink]:
    rows = db.exec(
        select(CustomerLink).where(
            CustomerLink.company_id == company, col(CustomerLink.qb_list_id).in_(list(list_ids))
        )
    ).all()
    return {row.qb_list_id: row for row in rows}


def _link_state(link: CustomerLink | None) -> LinkState | None:
    if link is None:
        return None
    return LinkState(link.stripe_customer_id, link.qb_edit_sequence, link.stripe_fingerprint, link.origin)


def _upsert_link(
    db: Session,
    link: CustomerLink | None,
    company: str,
    customer: Customer,
    stripe_id: str,
    fingerprint: str,
    now: datetime,
) -> CustomerLink:
    if link is None:
        link = CustomerLink(company_id=company, qb_list_id=customer.list_id, stripe_customer_id=stripe_id)
    link.stripe_customer_id = stripe_id
    link.qb_edit_sequence = customer.edit_sequence
    link.qb_full_name = customer.full_name
    link.stripe_fingerprint = fingerprint
    link.updated_at = now
    db.add(link)
    return link
