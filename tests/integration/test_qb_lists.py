"""The accounts, payment method and items we post to are found or created in QuickBooks once, then
remembered: through the live gateway, the simulated Web Connector and QuickBooks, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import asdict

import pytest
from sqlmodel import Session, col, select

from activities.qb_lists import ListCheck, ListEntry, ListForget, ListRemember, QbListActivities
from ml_connector.ledger.settings import LedgerSettings
from ml_connector.ledger.setup import ACCOUNT, ITEM, PAYMENT_METHOD, ListNeed, ledger_needs
from ml_connector.simulator.company import CompanyFile
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import QbListEntry, QbRequest
from tests.harness import LiveSystem, live_system
from workflows.qb_setup import EnsureListsInput, EnsureListsWorkflow

pytestmark = pytest.mark.slow

COMPANY = "acme"  # the harness's company id


def _company() -> CompanyFile:
    company = CompanyFile("Lists Co")
    company.add_account(
        "Accounts Receivable", "AccountsReceivable", special_account_type="AccountsReceivable"
    )
    company.add_account("Undeposited Funds", "OtherCurrentAsset", special_account_type="UndepositedFunds")
    company.add_account("Checking", "Bank")
    return company


def _requests(system: LiveSystem) -> list[str]:
    """The names of every qbXML request queued for the company so far, in order."""
    with Session(system.engine) as db:
        rows = db.exec(
            select(QbRequest).where(QbRequest.company_id == COMPANY).order_by(col(QbRequest.id))
        ).all()
    return [row.name for row in rows]


def _accounts(company: CompanyFile) -> list[str]:
    with company.lock:
        return sorted(company.account_full_name(a) for a in company.accounts.values())


async def _ensure(
    system: LiveSystem, needs: Sequence[ListNeed], *, forget: Sequence[ListNeed] = (), as_cli: bool = False
) -> list[str]:
    """Run EnsureListsWorkflow while the Web Connector keeps coming, as its scheduler would. ``as_cli``:
    started by name with the JSON an operator types on the ``temporal`` command line (defaults left out)."""
    wid = f"ensure-lists-{uuid.uuid4().hex[:8]}"
    if as_cli:
        typed = [{k: v for k, v in asdict(n).items() if v != "" and v is not True} for n in needs]
        handle = await system.client.start_workflow(
            "EnsureListsWorkflow",
            {"company_id": COMPANY, "needs": typed},
            id=wid,
            task_queue=system.task_queue,
            result_type=list[str],
        )
    else:
        handle = await system.client.start_workflow(
            EnsureListsWorkflow.run,
            EnsureListsInput(COMPANY, list(needs), list(forget)),
            id=wid,
            task_queue=system.task_queue,
        )
    result = asyncio.ensure_future(handle.result())
    wc = system.web_connector()
    for _ in range(60):
        if result.done():
            break
        await system.run_sessions(wc)
        await asyncio.wait([result], timeout=0.3)
    return await asyncio.wait_for(result, timeout=30)


CLEARING = LedgerSettings(
    clearing_account="Stripe Clearing",
    bank_account="Checking",
    fees_account="Operating Expenses:Stripe Fees",
    lost_dispute="write_off",
)


async def test_missing_accounts_item_and_payment_method_are_created_once_then_cost_nothing(
    temporal_client, database_url
):
    company = _company()
    async with live_system(database_url, temporal_client, company=company) as system:
        problems = await _ensure(system, ledger_needs(CLEARING, "Stripe"))
        first = _requests(system)

        assert problems == []
        assert _accounts(company) == [
            "Accounts Receivable",
            "Bad Debt",
            "Checking",
            "Operating Expenses",
            "Operating Expenses:Stripe Fees",
            "Stripe Clearing",
            "Stripe Refunds",
            "Undeposited Funds",
        ]
        types = {company.account_full_name(a): a.account_type for a in company.accounts.values()}
        assert types["Stripe Clearing"] == "Bank" and types["Stripe Refunds"] == "Income"
        assert types["Operating Expenses"] == types["Operating Expenses:Stripe Fees"] == "Expense"
        refund = company.find_item(full_name="Stripe Refund")
        assert refund is not None and refund.kind == "ItemOtherCharge"
        assert refund.account_id == company.find_account(full_name="Stripe Refunds").list_id  # type: ignore[union-attr]
        assert company.find_payment_method(full_name="Stripe") is not None
        assert sorted(first) == sorted(
            ["AccountQueryRq", "PaymentMethodQueryRq", "ItemQueryRq"]
            + ["AccountAddRq"] * 5
            + ["PaymentMethodAddRq", "ItemOtherChargeAddRq"]
        ), "one query per list kind, one Add per missing element"

        again = await _ensure(system, ledger_needs(CLEARING, "Stripe"))
        assert again == []
        assert _requests(system) == first, "everything is remembered: the second run sends no qbXML at all"
        assert len(company.accounts) == 8 and len(company.items) == 1 and len(company.payment_methods) == 1

        with Session(system.engine) as db:
            remembered = db.exec(select(QbListEntry).where(QbListEntry.company_id == COMPANY)).all()
        created = {(r.kind, r.name) for r in remembered if r.created_by_us}
        assert (ACCOUNT, "Stripe Clearing") in created and (ITEM, "Stripe Refund") in created
        assert (ACCOUNT, "Checking") in {(r.kind, r.name) for r in remembered if not r.created_by_us}

        # A bookkeeper deletes the clearing account; a posting is refused (3140) and the name is forgotten.
        with company.lock:
            clearing = company.find_account(full_name="Stripe Clearing")
            assert clearing is not None
            del company.accounts[clearing.list_id]
        before = len(_requests(system))
        rechecked = await _ensure(
            system, ledger_needs(CLEARING, "Stripe"), forget=[ListNeed(ACCOUNT, "stripe clearing")]
        )
        assert rechecked == []
        assert _requests(system)[before:] == ["AccountQueryRq", "AccountAddRq"]
        assert company.find_account(full_name="Stripe Clearing") is not None


async def test_existing_elements_are_found_not_duplicated_and_unusable_ones_are_reported(
    temporal_client, database_url
):
    company = _company()
    company.add_account("Stripe Clearing", "OtherCurrentAsset")
    expenses = company.add_account("Expenses", "Expense")
    company.add_account("Stripe Fees", "Expense", parent_id=expenses.list_id)
    company.add_account("Stripe Refunds", "Expense")
    company.add_payment_method("stripe", "Visa")
    settings = LedgerSettings(
        clearing_account="Stripe Clearing", bank_account="Operating Bank", fees_account="expenses:stripe fees"
    )
    async with live_system(database_url, temporal_client, company=company) as system:
        accounts_before = _accounts(company)
        problems = await _ensure(system, ledger_needs(settings, "Stripe"))

        assert _accounts(company) == accounts_before, "nothing found was created again"
        assert company.items == {} and len(company.payment_methods) == 1
        assert sorted(_requests(system)) == ["AccountQueryRq", "ItemQueryRq", "PaymentMethodQueryRq"]
        assert len(problems) == 3, problems
        bank, refunds, item = problems
        assert '"Operating Bank"' in bank and "MLC_BANK_ACCOUNT" in bank and "does not exist" in bank
        assert '"Stripe Refunds"' in refunds and "an Expense account" in refunds and "Income" in refunds
        assert '"Stripe Refund"' in item and "not created" in item

        # What exists is remembered; what has a problem is asked again next time, and only that.
        before = len(_requests(system))
        again = await _ensure(system, ledger_needs(settings, "Stripe"), as_cli=True)
        assert again == problems
        assert sorted(_requests(system)[before:]) == ["AccountQueryRq", "ItemQueryRq"]


def test_the_memory_is_per_company_case_insensitive_first_writer_wins_and_forgettable(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    lists = QbListActivities(engine)
    fees = ListNeed(ACCOUNT, "Stripe Fees", "Expense")
    method = ListNeed(PAYMENT_METHOD, "Stripe")
    try:
        assert lists.missing(ListCheck("co-1", [fees, method])) == [fees, method]
        added = lists.remember(
            ListRemember("co-1", [ListEntry(ACCOUNT, "stripe fees", "80000001-1", created_by_us=True)])
        )
        assert added == 1
        assert lists.remember(ListRemember("co-1", [ListEntry(ACCOUNT, "Stripe Fees", "other")])) == 0
        assert lists.missing(ListCheck("co-1", [fees, method])) == [method]
        assert lists.missing(ListCheck("co-2", [fees])) == [fees], "another company file knows nothing yet"
        with Session(engine) as db:
            [row] = db.exec(select(QbListEntry)).all()
        assert (row.list_id, row.created_by_us) == ("80000001-1", True), "the first writer wins"

        assert lists.forget(ListForget("co-1", ACCOUNT, "STRIPE FEES")) == 1
        assert lists.missing(ListCheck("co-1", [fees])) == [fees]
        assert lists.forget(ListForget("co-1", ACCOUNT, "Stripe Fees")) == 0
    finally:
        engine.dispose()
