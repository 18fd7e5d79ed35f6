"""Making sure the accounts, payment method and items we post to exist in QuickBooks: found or created, once.

``await ensure_in_quickbooks(company, needs)`` is called from inside workflows before they post; it returns
the problems a person must solve (an empty list: everything exists). The story:

1. ``qb_lists_missing``: the needs not yet remembered in ``qb_list_entry``. Usually none, and then not a
   single qbXML request is sent: a payment costs nothing extra.
2. One query per list kind, all queued at once so they ride the same Web Connector round trip:
   AccountQueryRq with every missing FullName (and the parents of ``Parent:Child`` names),
   PaymentMethodQueryRq, ItemQueryRq.
3. The judgement (``ml_connector.ledger.listcheck``): found and usable, to be created, or a problem.
4. The Adds, in waves: top-level accounts and payment methods, then sub-accounts level by level, then
   items (whose income account must exist first). Each Add carries an idempotency key made of the workflow
   id and a deterministic per-call token, so a retried activity finds its queued request instead of
   queueing it twice, and a later call (after a ``forget``) asks QuickBooks afresh.
5. ``qb_lists_remember``: what exists now. Problems are not remembered, so they are checked again.

``EnsureListsWorkflow`` runs the same for operators (and the tests), e.g.::

    temporal workflow start --task-queue ml-connector --type EnsureListsWorkflow \\
      --workflow-id ensure-lists/acme --input '{"company_id": "acme", "needs": [
        {"kind": "account", "name": "Stripe Clearing", "account_type": "Bank"},
        {"kind": "payment_method", "name": "Stripe"},
        {"kind": "item", "name": "Stripe Refund", "item_account": "Stripe Refunds"}]}'

``forget`` names entries to drop from the memory first (e.g. after someone deleted an account), so they
are checked again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.qb_lists import ListCheck, ListEntry, ListForget, ListRemember, QbListActivities
    from ml_connector.ledger import listcheck
    from ml_connector.ledger.listcheck import AddStep, Judgement, Known
    from ml_connector.ledger.setup import ACCOUNT, ITEM, PAYMENT_METHOD, ListNeed
    from ml_connector.qbwc_server.requests import QbRunResult
    from workflows import qb
    from workflows.policies import DB_RETRY, DB_TIMEOUT

CREATED_DESC = "Created by ml-connector for Stripe postings"
# Query answers that carry records: all found, none found, some found (500: "could not be found").
_ANSWERED = (0, 1, 500)


@dataclass(frozen=True)
class EnsureListsInput:
    company_id: str
    needs: list[ListNeed] = field(default_factory=list)
    forget: list[ListNeed] = field(default_factory=list)


@workflow.defn(name="EnsureListsWorkflow")
class EnsureListsWorkflow:
    """Find or create the given accounts, payment methods and items; returns the problems (empty: all exist)."""

    @workflow.run
    async def run(self, inp: EnsureListsInput) -> list[str]:
        if inp.forget:
            await forget_in_quickbooks(inp.company_id, inp.forget)
        return await ensure_in_quickbooks(inp.company_id, inp.needs)


async def forget_in_quickbooks(company_id: str, needs: Sequence[ListNeed]) -> None:
    """Drop these names from the memory (after QuickBooks refused a posting naming them, 3140), so the next
    :func:`ensure_in_quickbooks` checks them in QuickBooks again."""
    for need in needs:
        await workflow.execute_activity_method(
            QbListActivities.forget,
            ListForget(company_id, need.kind, need.name),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )


async def ensure_in_quickbooks(company_id: str, needs: Sequence[ListNeed]) -> list[str]:
    """Make sure every need exists in the company file; the problems a person must solve, in plain words."""
    problems = [p for p in (listcheck.invalid(n) for n in needs) if p]
    wanted = listcheck.expand(needs)
    if not wanted:
        return problems
    missing = await workflow.execute_activity_method(
        QbListActivities.missing,
        ListCheck(company_id, wanted),
        start_to_close_timeout=DB_TIMEOUT,
        retry_policy=DB_RETRY,
    )
    if not missing:
        return problems
    ensure = _Ensure(company_id, workflow.uuid4().hex)
    return problems + await ensure.run(missing)


# What ``_Ensure._run`` answers for a write whose fate the queue could not establish (see workflows/qb.py).
LOST = "QuickBooks' answer to this request was lost; whether it ran is unknown"


class _Ensure:
    """One call's state: what is known to exist, what failed, and the idempotency token of its requests."""

    def __init__(self, company_id: str, token: str) -> None:
        self.company_id = company_id
        self.token = token
        self.known: list[Known] = []
        self.failed: set[str] = set()  # keys of the Adds that did not create anything
        self.problems: list[str] = []

    def _idem_key(self, label: str) -> str:
        return f"qb-lists/{workflow.info().workflow_id[:150]}/{self.token}/{label}"

    async def _run(self, body: str, label: str) -> QbRunResult | str:
        """QuickBooks' answer, or why there is none (a request QuickBooks could not parse fails for good)."""
        try:
            return await qb.run(self.company_id, body, idem_key=self._idem_key(label))
        except ActivityError as exc:
            if qb.is_uncertain(exc):
                return LOST
            return str(exc.cause or exc)

    async def run(self, missing: Sequence[ListNeed]) -> list[str]:
        verdicts = await asyncio.gather(
            self._lookup(ACCOUNT, missing), self._lookup(PAYMENT_METHOD, missing), self._lookup(ITEM, missing)
        )
        adds: list[AddStep] = []
        for verdict in verdicts:
            self.known += verdict.known
            self.problems += verdict.problems
            adds += verdict.adds
        for wave in _waves(adds):
            if wave[0].kind == ITEM:
                wave = self._items_with_accounts(wave, missing)
            await asyncio.gather(*(self._add(step) for step in wave))
        if self.known:
            await workflow.execute_activity_method(
                QbListActivities.remember,
                ListRemember(
                    self.company_id,
                    [ListEntry(k.kind, k.name, k.list_id, k.created_by_us) for k in self.known],
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        return self.problems

    async def _lookup(self, kind: str, missing: Sequence[ListNeed]) -> Judgement:
        needs = [n for n in missing if n.kind == kind]
        if not needs:
            return Judgement()
        body, names = listcheck.lookup_request(kind, needs)
        answer = await self._run(body, f"query/{kind}")
        if isinstance(answer, str):
            return Judgement(problems=[listcheck.lookup_failed(kind, names, -1, answer)])
        if answer.status_code not in _ANSWERED:
            return Judgement(
                problems=[listcheck.lookup_failed(kind, names, answer.status_code, answer.status_message)]
            )
        return listcheck.judge_lookup(kind, needs, answer.response or "")

    def _items_with_accounts(self, items: list[AddStep], missing: Sequence[ListNeed]) -> list[AddStep]:
        """The items whose income account exists now; the others become problems (their account's own
        problem says why)."""
        missing_accounts = {listcheck.key(n.name) for n in missing if n.kind == ACCOUNT}
        available = {listcheck.key(k.name) for k in self.known if k.kind == ACCOUNT}
        ready = []
        for step in items:
            account = listcheck.key(step.item_account)
            if account in missing_accounts and account not in available:
                self.problems.append(
                    f'Item "{step.full_name}" was not created: its account "{step.item_account}" is not '
                    "available in QuickBooks (see the account's problem)"
                )
            else:
                ready.append(step)
        return ready

    async def _add(self, step: AddStep) -> None:
        if step.parent and listcheck.key(step.parent) in self.failed:
            self.failed.add(listcheck.key(step.full_name))
            self.problems.append(
                f'Account "{step.full_name}" was not created: its parent "{step.parent}" could not be created'
            )
            return
        body = listcheck.add_request(step, desc=CREATED_DESC)
        name_hash = hashlib.sha256(listcheck.key(step.full_name).encode()).hexdigest()[:16]
        answer = await self._run(body, f"add/{step.kind}/{name_hash}")
        if answer is LOST:
            # The Add's answer was lost: a read says whether it landed; if not, it is sent once more.
            if await self._created_meanwhile(step):
                return
            answer = await self._run(body, f"add-again/{step.kind}/{name_hash}")
        if isinstance(answer, str):
            self.failed.add(listcheck.key(step.full_name))
            self.problems.append(listcheck.add_failed(step, -1, answer))
            return
        list_id = listcheck.added_list_id(step, answer.response or "") if answer.status_code == 0 else None
        if not list_id and answer.status_code == 3100 and await self._created_meanwhile(step):
            return  # another workflow created it between our lookup and our Add (concurrent payments)
        if not list_id:
            self.failed.add(listcheck.key(step.full_name))
            self.problems.append(listcheck.add_failed(step, answer.status_code, answer.status_message))
            return
        self.known.append(Known(step.kind, step.full_name, list_id, created_by_us=True))


    async def _created_meanwhile(self, step: AddStep) -> bool:
        """After a 3100 on our Add: is the name now an element that does the job? Then it is known, no
        problem — several payments meeting the same missing account at once all try to create it."""
        need = ListNeed(step.kind, step.full_name, step.account_type, step.item_account)
        body, _ = listcheck.lookup_request(step.kind, [need])
        name_hash = hashlib.sha256(listcheck.key(step.full_name).encode()).hexdigest()[:16]
        answer = await self._run(body, f"requery/{step.kind}/{name_hash}")
        if isinstance(answer, str) or answer.status_code != 0:
            return False
        verdict = listcheck.judge_lookup(step.kind, [need], answer.response or "")
        found = [k for k in verdict.known if listcheck.key(k.name) == listcheck.key(step.full_name)]
        if not found or verdict.problems:
            return False
        self.known += found
        return True


def _waves(adds: Sequence[AddStep]) -> list[list[AddStep]]:
    """Adds grouped so that each wave only refers to what earlier waves created: accounts and payment
    methods by level (parents first), items last."""
    levels: dict[int, list[AddStep]] = {}
    for step in adds:
        if step.kind != ITEM:
            levels.setdefault(step.level, []).append(step)
    waves = [levels[level] for level in sorted(levels)]
    items = [step for step in adds if step.kind == ITEM]
    return [*waves, items] if items else waves
