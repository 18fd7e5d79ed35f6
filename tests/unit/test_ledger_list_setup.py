"""Which accounts, payment method and items a configuration needs in QuickBooks, and how QuickBooks' answers
are judged: found and usable, to be created (parents first), or a problem a person can act on."""

from __future__ import annotations

from ml_connector.ledger.listcheck import (
    AddStep,
    add_failed,
    add_request,
    added_list_id,
    expand,
    invalid,
    judge_accounts,
    judge_items,
    judge_lookup,
    judge_payment_methods,
    lookup_request,
)
from ml_connector.ledger.settings import LedgerSettings
from ml_connector.ledger.setup import (
    ACCOUNT,
    ITEM,
    PAYMENT_METHOD,
    ListNeed,
    ledger_needs,
    needs_named_in,
    payment_needs,
)
from ml_connector.qbxml.accounts import Account, Item, PaymentMethod
from ml_connector.qbxml.envelope import RequestItem, build_message_set, parse_response
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from tests.qbxml_schema import assert_valid_qbxml


def _account(full_name: str, account_type: str, *, active: bool = True, list_id: str = "") -> Account:
    return Account(
        list_id=list_id or f"id-{full_name}",
        edit_sequence="1",
        name=full_name.rsplit(":", 1)[-1],
        full_name=full_name,
        is_active=active,
        account_type=account_type,
        special_account_type=None,
        account_number=None,
        balance=None,
    )


def _names(needs: list[ListNeed]) -> list[tuple[str, str, str, bool]]:
    return [(n.kind, n.name, n.account_type or n.item_account, n.create) for n in needs]


# ----------------------------------------------------------------------------- what a setting needs


def test_payments_to_undeposited_funds_need_only_the_payment_method() -> None:
    assert _names(payment_needs("Stripe", "Undeposited Funds")) == [(PAYMENT_METHOD, "Stripe", "", True)]
    assert _names(payment_needs("Stripe", "undeposited funds")) == [(PAYMENT_METHOD, "Stripe", "", True)]


def test_payments_to_another_account_need_it_as_a_holding_account() -> None:
    assert _names(payment_needs("Stripe", "Stripe Holding")) == [
        (PAYMENT_METHOD, "Stripe", "", True),
        (ACCOUNT, "Stripe Holding", "OtherCurrentAsset", True),
    ]


def test_clearing_account_mode_needs_its_accounts_the_refund_item_and_the_payment_method() -> None:
    settings = LedgerSettings(clearing_account="Stripe Clearing", bank_account="Checking")
    assert _names(ledger_needs(settings, "Stripe")) == [
        (ACCOUNT, "Stripe Clearing", "Bank", True),
        (ACCOUNT, "Checking", "Bank", False),
        (ACCOUNT, "Stripe Fees", "Expense", True),
        (ACCOUNT, "Accounts Receivable", "AccountsReceivable", False),
        (ACCOUNT, "Stripe Refunds", "Income", True),
        (ITEM, "Stripe Refund", "Stripe Refunds", True),
        (PAYMENT_METHOD, "Stripe", "", True),
    ]


def test_the_write_off_account_is_needed_only_when_lost_disputes_are_written_off() -> None:
    reopen = LedgerSettings(clearing_account="Clearing", bank_account="Checking", lost_dispute="reopen")
    write_off = LedgerSettings(clearing_account="Clearing", bank_account="Checking", lost_dispute="write_off")
    assert "Bad Debt" not in [n.name for n in ledger_needs(reopen, "Stripe")]
    assert (ACCOUNT, "Bad Debt", "Expense", True) in _names(ledger_needs(write_off, "Stripe"))


def test_a_refused_reference_names_the_need_to_forget() -> None:
    needs = payment_needs("Stripe", "Stripe Holding")
    message = (
        'There is an invalid reference to QuickBooks Payment Method "stripe" in the ReceivePayment.  '
        "QuickBooks error message: Invalid argument."
    )
    assert needs_named_in(message, needs) == [needs[0]]
    unknown = 'There is an invalid reference to QuickBooks Account "Elsewhere" in the JournalEntry.'
    assert needs_named_in(unknown, needs) == [needs[1]], (
        "an unknown account name: every account is re-checked"
    )
    assert needs_named_in("Object not found", needs) == needs


def test_needs_are_checked_once_each_and_an_items_account_comes_with_it() -> None:
    needs = [
        ListNeed(ITEM, "Stripe Refund", item_account="Stripe Refunds"),
        ListNeed(PAYMENT_METHOD, "Stripe"),
        ListNeed(PAYMENT_METHOD, "STRIPE"),
        ListNeed("vendor", "Stripe"),
    ]
    assert _names(expand(needs)) == [
        (PAYMENT_METHOD, "Stripe", "", True),
        (ACCOUNT, "Stripe Refunds", "Income", True),
        (ITEM, "Stripe Refund", "Stripe Refunds", True),
    ]
    assert "vendor" in invalid(needs[3])


# -------------------------------------------------------------------------------- judging answers


def test_an_account_of_a_compatible_type_is_accepted_and_a_wrong_one_is_explained() -> None:
    needs = [
        ListNeed(ACCOUNT, "Stripe Clearing", "Bank", purpose="clearing account"),
        ListNeed(ACCOUNT, "Stripe Fees", "Expense"),
        ListNeed(ACCOUNT, "Refunds", "Income"),
    ]
    verdict = judge_accounts(
        needs,
        [
            _account("stripe clearing", "OtherCurrentAsset"),
            _account("Stripe Fees", "OtherExpense"),
            _account("Refunds", "Expense"),
        ],
    )
    assert [k.name for k in verdict.known] == ["Stripe Clearing", "Stripe Fees"]
    assert verdict.adds == []
    [problem] = verdict.problems
    assert '"Refunds"' in problem and "an Expense account" in problem and "Income or OtherIncome" in problem


def test_a_clearing_account_that_cannot_hold_money_is_a_problem() -> None:
    need = ListNeed(ACCOUNT, "Stripe Clearing", "Bank", purpose="clearing account (MLC_CLEARING_ACCOUNT)")
    [problem] = judge_accounts([need], [_account("Stripe Clearing", "Expense")]).problems
    assert "clearing account (MLC_CLEARING_ACCOUNT)" in problem and "Bank or OtherCurrentAsset" in problem


def test_missing_accounts_are_created_unless_they_belong_to_the_bookkeeper() -> None:
    needs = [
        ListNeed(ACCOUNT, "Stripe Fees", "Expense"),
        ListNeed(ACCOUNT, "Checking", "Bank", create=False, purpose="bank account (MLC_BANK_ACCOUNT)"),
    ]
    verdict = judge_accounts(needs, [])
    assert verdict.adds == [AddStep(ACCOUNT, "Stripe Fees", "Expense")]
    [problem] = verdict.problems
    assert "MLC_BANK_ACCOUNT" in problem and "does not exist" in problem


def test_an_inactive_account_is_reported_not_remembered() -> None:
    verdict = judge_accounts(
        [ListNeed(ACCOUNT, "Stripe Fees", "Expense")], [_account("Stripe Fees", "Expense", active=False)]
    )
    assert verdict.known == [] and verdict.adds == []
    assert "inactive" in verdict.problems[0]


def test_a_sub_account_is_created_after_its_missing_parents_with_the_same_type() -> None:
    verdict = judge_accounts(
        [
            ListNeed(ACCOUNT, "Expenses:Stripe:Fees", "Expense"),
            ListNeed(ACCOUNT, "Expenses:Stripe:Disputes", "Expense"),
        ],
        [_account("Expenses", "Expense")],
    )
    assert verdict.problems == []
    assert verdict.adds == [
        AddStep(ACCOUNT, "Expenses:Stripe", "Expense"),
        AddStep(ACCOUNT, "Expenses:Stripe:Fees", "Expense"),
        AddStep(ACCOUNT, "Expenses:Stripe:Disputes", "Expense"),
    ]
    assert [(s.parent, s.leaf, s.level) for s in verdict.adds[:2]] == [
        ("Expenses", "Stripe", 1),
        ("Expenses:Stripe", "Fees", 2),
    ]


def test_a_sub_account_under_a_parent_of_another_type_is_a_problem() -> None:
    verdict = judge_accounts(
        [ListNeed(ACCOUNT, "Income:Stripe Fees", "Expense")], [_account("Income", "Income")]
    )
    assert verdict.adds == []
    assert '"Income", an Income account' in verdict.problems[0]


def test_a_name_quickbooks_would_change_is_not_created_under_another_name() -> None:
    long_name = "Stripe Clearing Account For All Card Payments"
    verdict = judge_accounts([ListNeed(ACCOUNT, long_name, "Bank")], [])
    assert verdict.adds == []
    assert "at most 31 characters" in verdict.problems[0]
    assert judge_payment_methods([ListNeed(PAYMENT_METHOD, "Stripe: cards")], []).problems


def test_payment_methods_are_found_by_name_or_created() -> None:
    method = PaymentMethod("pm-1", "1", "stripe", True, "OtherCreditCard")
    found = judge_payment_methods([ListNeed(PAYMENT_METHOD, "Stripe")], [method])
    assert [(k.name, k.list_id) for k in found.known] == [("Stripe", "pm-1")]
    assert judge_payment_methods([ListNeed(PAYMENT_METHOD, "Stripe")], []).adds == [
        AddStep(PAYMENT_METHOD, "Stripe")
    ]


def test_an_existing_item_is_used_whatever_its_account_unless_it_cannot_carry_an_amount() -> None:
    need = ListNeed(ITEM, "Stripe Refund", item_account="Stripe Refunds")
    service = Item("ItemService", "i-1", "1", "Stripe Refund", "Stripe Refund", True, "Sales")
    assert [k.list_id for k in judge_items([need], [service]).known] == ["i-1"]
    subtotal = Item("ItemSubtotal", "i-2", "1", "Stripe Refund", "Stripe Refund", True)
    assert "Subtotal item" in judge_items([need], [subtotal]).problems[0]
    assert judge_items([need], []).adds == [AddStep(ITEM, "Stripe Refund", item_account="Stripe Refunds")]
    sub_item = ListNeed(ITEM, "Stripe:Refund", item_account="Stripe Refunds")
    assert "sub-item" in judge_items([sub_item], []).problems[0]


# ------------------------------------------------------------------- the requests, against the simulator


def test_lookups_and_adds_are_valid_qbxml_and_create_what_was_missing() -> None:
    company = CompanyFile("Setup Co")
    company.add_account("Expenses", "Expense")
    company.add_account("Checking", "Bank")
    qb = QuickBooksProcessor(company)

    def run(fragment: str) -> tuple[int, str]:
        doc = build_message_set([RequestItem("1", fragment)], on_error="stopOnError")
        assert_valid_qbxml(doc)
        answer = qb.process(doc)
        assert_valid_qbxml(answer)
        [item] = parse_response(answer).items
        return item.status_code, item.xml

    needs = expand(
        [
            ListNeed(ACCOUNT, "Checking", "Bank", create=False),
            ListNeed(ACCOUNT, "Expenses:Stripe:Fees", "Expense"),
            ListNeed(PAYMENT_METHOD, "Stripe"),
            ListNeed(ITEM, "Stripe Refund", item_account="Stripe Refunds"),
        ]
    )
    verdicts = []
    for kind in (ACCOUNT, PAYMENT_METHOD, ITEM):
        body, _ = lookup_request(kind, needs)
        status, xml = run(body)
        assert status in (0, 1, 500)
        verdicts.append(judge_lookup(kind, needs, xml))
    assert [k.name for v in verdicts for k in v.known] == ["Checking"]
    steps = [s for v in verdicts for s in v.adds]
    assert [s.full_name for s in steps] == [
        "Stripe Refunds",
        "Expenses:Stripe",
        "Expenses:Stripe:Fees",
        "Stripe",
        "Stripe Refund",
    ]
    for step in sorted(steps, key=lambda s: (s.kind == ITEM, s.level)):
        status, xml = run(add_request(step, desc="Created by ml-connector"))
        assert status == 0 and added_list_id(step, xml)

    assert company.find_account(full_name="Expenses:Stripe:Fees") is not None
    refund = company.find_item(full_name="Stripe Refund")
    assert refund is not None and refund.kind == "ItemOtherCharge"
    assert refund.account_id == company.find_account(full_name="Stripe Refunds").list_id  # type: ignore[union-attr]
    method = company.find_payment_method(full_name="Stripe")
    assert method is not None and method.payment_method_type == "OtherCreditCard"


def test_a_name_in_use_elsewhere_is_a_problem_that_names_it() -> None:
    problem = add_failed(AddStep(ITEM, "Stripe Refund", item_account="Stripe Refunds"), 3100, "in use")
    assert '"Stripe Refund"' in problem and "already in use" in problem
    other = add_failed(AddStep(ACCOUNT, "Stripe Fees", "Expense"), 3140, "parent missing")
    assert '"Stripe Fees"' in other and "3140" in other and "parent missing" in other
