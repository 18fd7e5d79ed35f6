"""The simulated QuickBooks answers the list requests that make sure our accounts and items exist:
sub-accounts by FullName, service and other-charge items with their account, and 3100 for a name in use."""

from __future__ import annotations

import json

from ml_connector.qbxml.accounts import (
    account_add,
    account_query,
    item_other_charge_add,
    item_query,
    item_service_add,
    parse_accounts,
    parse_items,
)
from ml_connector.qbxml.envelope import RequestItem, ResponseItem, build_message_set, parse_response
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from tests.qbxml_schema import assert_valid_qbxml


def _run(processor: QuickBooksProcessor, fragment: str) -> ResponseItem:
    answer = processor.process(build_message_set([RequestItem("1", fragment)], on_error="stopOnError"))
    assert_valid_qbxml(answer)
    [item] = parse_response(answer).items
    return item


def _books() -> tuple[CompanyFile, QuickBooksProcessor]:
    company = CompanyFile("Lists Co")
    company.add_account("Income", "Income")
    return company, QuickBooksProcessor(company)


def test_a_sub_account_is_created_under_its_parent_and_found_by_its_full_name() -> None:
    company, qb = _books()
    added = _run(qb, account_add("Stripe Refunds", "Income", parent_full_name="Income"))
    assert added.status_code == 0
    [account] = parse_accounts(added.xml)
    assert (account.name, account.full_name) == ("Stripe Refunds", "Income:Stripe Refunds")

    found = _run(qb, account_query(full_names=["income:stripe refunds", "Stripe Refunds"]))
    assert found.status_code == 500, "the top-level name does not exist: a partial answer"
    assert [a.list_id for a in parse_accounts(found.xml)] == [account.list_id]
    assert company.find_account(full_name="Income:Stripe Refunds") is company.accounts[account.list_id]


def test_the_same_name_may_live_under_two_parents_but_not_twice_under_one() -> None:
    _, qb = _books()
    _run(qb, account_add("Expenses", "Expense"))
    assert _run(qb, account_add("Fees", "Expense", parent_full_name="Expenses")).status_code == 0
    assert _run(qb, account_add("Fees", "Expense")).status_code == 0
    again = _run(qb, account_add("fees", "Expense", parent_full_name="Expenses"))
    assert again.status_code == 3100 and "fees" in again.status_message


def test_an_account_under_a_missing_parent_is_an_invalid_reference() -> None:
    _, qb = _books()
    answer = _run(qb, account_add("Fees", "Expense", parent_full_name="Nowhere"))
    assert answer.status_code == 3140 and "Nowhere" in answer.status_message


def test_other_charge_and_service_items_are_added_with_their_account() -> None:
    _, qb = _books()
    refund = _run(qb, item_other_charge_add("Stripe Refund", account_name="Income", desc="Card refunds"))
    assert refund.status_code == 0
    [item] = parse_items(refund.xml)
    assert (item.kind, item.account_full_name) == ("ItemOtherCharge", "Income")
    service = _run(qb, item_service_add("Setup", income_account_name="Income"))
    assert service.status_code == 0

    found = _run(qb, item_query(full_names=["Stripe Refund", "Setup"]))
    assert [i.kind for i in parse_items(found.xml)] == ["ItemOtherCharge", "ItemService"]


def test_item_names_are_unique_across_item_types() -> None:
    _, qb = _books()
    _run(qb, item_service_add("Stripe Refund", income_account_name="Income"))
    clash = _run(qb, item_other_charge_add("STRIPE REFUND", account_name="Income"))
    assert clash.status_code == 3100


def test_an_item_on_a_missing_account_is_an_invalid_reference() -> None:
    _, qb = _books()
    answer = _run(qb, item_other_charge_add("Stripe Refund", account_name="Stripe Refunds"))
    assert answer.status_code == 3140


def test_a_company_file_saved_before_sub_accounts_still_loads() -> None:
    company = CompanyFile("Old Co")
    company.add_account("Checking", "Bank")
    saved = company.to_json()
    for raw in saved["accounts"]:
        del raw["parent_id"]
    loaded = CompanyFile.from_json(json.loads(json.dumps(saved)))
    [account] = loaded.accounts.values()
    assert account.parent_id is None and loaded.account_full_name(account) == "Checking"
