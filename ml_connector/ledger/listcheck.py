"""Judging QuickBooks' answers about the lists we need: found and usable, to be created, or a problem.

Pure functions over :class:`ListNeed` and the parsed qbXML records, used by ``workflows/qb_setup.py`` between
its queries and its adds. The rules:

- Names are matched like QuickBooks matches them: the whole FullName, case-insensitively.
- An existing account of another type than we would create is accepted when it can do the job (a clearing
  account must hold money: Bank or OtherCurrentAsset; fees and write-offs: an expense type; refunds: an
  income type); otherwise the problem names the account, its type and what it is for.
- An inactive record is reported (QuickBooks refuses postings to it) and not remembered, so it is checked
  again once someone reactivates it.
- ``Parent:Child`` accounts are found by FullName; a missing one is created under its parent, creating the
  parents first with the same type (QuickBooks wants a sub-account to share its parent's type). Sub-items
  are only found: a missing one is a problem, because we cannot tell what kind its parent should be.
- A name that would not survive QuickBooks' rules unchanged (over 31 characters a level, characters
  outside Windows-1252, a colon in a payment method) is never created under a different name: that is a
  problem for a person, since every posting refers to the configured name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from ml_connector.ledger.setup import ACCOUNT, ITEM, KINDS, PAYMENT_METHOD, ListNeed
from ml_connector.qbxml import accounts as lists
from ml_connector.qbxml.accounts import LIST_NAME_MAX_LEN, Account, AccountType, Item, PaymentMethod
from ml_connector.qbxml.text import fit_name

# Account types that can stand in for the one we would create.
_BALANCE = frozenset({"Bank", "OtherCurrentAsset"})
_EXPENSE = frozenset({"Expense", "OtherExpense", "CostOfGoodsSold"})
_INCOME = frozenset({"Income", "OtherIncome"})
_COMPATIBLE: dict[str, frozenset[str]] = {
    "Bank": _BALANCE,
    "OtherCurrentAsset": _BALANCE,
    "Expense": _EXPENSE,
    "OtherExpense": _EXPENSE,
    "CostOfGoodsSold": _EXPENSE,
    "Income": _INCOME,
    "OtherIncome": _INCOME,
}
_Found = TypeVar("_Found", Account, PaymentMethod, Item)

# Item kinds a credit-memo line cannot carry an amount on.
_UNUSABLE_ITEMS = frozenset(
    {"ItemSubtotal", "ItemGroup", "ItemPayment", "ItemSalesTax", "ItemSalesTaxGroup", "ItemDiscount"}
)


def key(name: str) -> str:
    return name.strip().casefold()


def usable_type(wanted: str, actual: str | None) -> bool:
    if not wanted:
        return True
    return actual in _COMPATIBLE.get(wanted, frozenset({wanted}))


def _allowed(wanted: str) -> str:
    return " or ".join(sorted(_COMPATIBLE.get(wanted, frozenset({wanted}))))


def invalid(need: ListNeed) -> str:
    """Why a need cannot be checked at all (it came from a person, e.g. on the ``temporal`` command line)."""
    if need.kind not in KINDS:
        return f'Unknown list kind {need.kind!r} for "{need.name}": use one of {", ".join(KINDS)}'
    if not need.name.strip():
        return f"A {need.kind} need has an empty name"
    return ""


def expand(needs: Iterable[ListNeed]) -> list[ListNeed]:
    """The valid needs once each (first wins), with each item's account added as an Income account need
    before the items, unless it is already there."""
    out: dict[tuple[str, str], ListNeed] = {}
    for need in needs:
        if not invalid(need):
            out.setdefault((need.kind, key(need.name)), need)
    for need in list(out.values()):
        if need.kind == ITEM and need.item_account:
            out.setdefault(
                (ACCOUNT, key(need.item_account)),
                ListNeed(ACCOUNT, need.item_account, "Income", purpose=f'the account of item "{need.name}"'),
            )
    return sorted(out.values(), key=lambda n: n.kind == ITEM)


def ancestors(full_name: str) -> list[str]:
    """``"A:B:C"`` → ``["A", "A:B"]``."""
    parts = full_name.split(":")
    return [":".join(parts[:i]) for i in range(1, len(parts))]


def account_query_names(missing: Sequence[ListNeed]) -> list[str]:
    """Every FullName one AccountQueryRq must ask for: the missing accounts and their parents."""
    names: dict[str, str] = {}
    for need in missing:
        if need.kind == ACCOUNT:
            for name in (*ancestors(need.name), need.name):
                names.setdefault(key(name), name)
    return list(names.values())


def creatable_name(name: str) -> bool:
    """True when QuickBooks would store this leaf name exactly as written."""
    try:
        return bool(name) and fit_name(name, max_len=LIST_NAME_MAX_LEN) == name
    except ValueError:
        return False


@dataclass(frozen=True)
class Known:
    """A list element that exists in QuickBooks and can be posted to: remembered in ``qb_list_entry``."""

    kind: str
    name: str
    list_id: str
    created_by_us: bool = False


@dataclass(frozen=True)
class AddStep:
    """One Add request: ``full_name`` under ``parent`` (empty for a top-level element)."""

    kind: str
    full_name: str
    account_type: str = ""
    item_account: str = ""

    @property
    def leaf(self) -> str:
        return self.full_name.rsplit(":", 1)[-1]

    @property
    def parent(self) -> str:
        return self.full_name.rsplit(":", 1)[0] if ":" in self.full_name else ""

    @property
    def level(self) -> int:
        return self.full_name.count(":")


@dataclass
class Judgement:
    known: list[Known] = field(default_factory=list)
    adds: list[AddStep] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def missing(
        self,
        kind: str,
        needs: Sequence[ListNeed],
        by_name: Mapping[str, _Found],
        found_problem: Callable[[ListNeed, _Found], str],
    ) -> Iterator[ListNeed]:
        """The needs of ``kind`` QuickBooks does not have, in order. Each one it has is judged on the way:
        known, unless ``found_problem`` says why it cannot be used."""
        for need in needs:
            if need.kind != kind:
                continue
            found = by_name.get(key(need.name))
            if found is None:
                yield need
            elif problem := found_problem(need, found):
                self.problems.append(problem)
            else:
                self.known.append(Known(kind, need.name, found.list_id))


def judge_accounts(needs: Sequence[ListNeed], accounts: Sequence[Account]) -> Judgement:
    """The account needs against what one AccountQueryRq found (the needs and their parents)."""
    by_name = {key(a.full_name): a for a in accounts}
    verdict = Judgement()
    planned: dict[str, AddStep] = {}
    for need in verdict.missing(ACCOUNT, needs, by_name, _account_problem):
        if not need.create:
            verdict.problems.append(
                f"{_cap(need.label)} does not exist in QuickBooks: create it there, or set the name of "
                "an existing account"
            )
            continue
        if not need.account_type:
            verdict.problems.append(f"{_cap(need.label)} does not exist in QuickBooks: create it there")
            continue
        chain = [*ancestors(need.name), need.name]
        steps: list[AddStep] = []
        problem = ""
        for name in chain:
            existing = by_name.get(key(name))
            if existing is not None:
                if name != need.name and existing.account_type != need.account_type:
                    problem = (
                        f'{_cap(need.label)} cannot be created under "{existing.full_name}", '
                        f"{_a(existing.account_type)} account: QuickBooks wants a sub-account to have its parent's "
                        f"type ({need.account_type}); create it in QuickBooks or choose another name"
                    )
                    break
                if not existing.is_active:
                    problem = (
                        f'{_cap(need.label)} cannot be created: its parent "{existing.full_name}" is '
                        "inactive in QuickBooks; make it active"
                    )
                    break
                continue
            leaf = name.rsplit(":", 1)[-1]
            if not creatable_name(leaf):
                problem = _uncreatable(need, leaf)
                break
            steps.append(planned.get(key(name)) or AddStep(ACCOUNT, name, need.account_type))
        if problem:
            verdict.problems.append(problem)
            continue
        for step in steps:
            if key(step.full_name) not in planned:
                planned[key(step.full_name)] = step
                verdict.adds.append(step)
    verdict.adds.sort(key=lambda s: s.level)
    return verdict


def _account_problem(need: ListNeed, account: Account) -> str:
    if not account.is_active:
        return f"{_cap(need.label)} is inactive in QuickBooks: make it active so postings can use it"
    if not usable_type(need.account_type, account.account_type):
        return (
            f"{_cap(need.label)} is {_a(account.account_type)} account in QuickBooks; it must be "
            f"{_allowed(need.account_type)}: change its type or set the name of another account"
        )
    return ""


def judge_payment_methods(needs: Sequence[ListNeed], methods: Sequence[PaymentMethod]) -> Judgement:
    def found_problem(need: ListNeed, method: PaymentMethod) -> str:
        if method.is_active:
            return ""
        return f"{_cap(need.label)} is inactive in QuickBooks: make it active so payments can use it"

    def creation_problem(need: ListNeed) -> str:
        return "" if creatable_name(need.name) else _uncreatable(need, need.name)

    return _judge_top_level(
        PAYMENT_METHOD, needs, {key(m.name): m for m in methods}, found_problem, creation_problem,
        lambda need: AddStep(PAYMENT_METHOD, need.name),
    )


def judge_items(needs: Sequence[ListNeed], items: Sequence[Item]) -> Judgement:
    def found_problem(need: ListNeed, item: Item) -> str:
        if not item.is_active:
            return f"{_cap(need.label)} is inactive in QuickBooks: make it active"
        if item.kind in _UNUSABLE_ITEMS:
            return (
                f"{_cap(need.label)} is {_a(item.kind[len('Item') :])} item in QuickBooks, which cannot "
                "carry an amount on a credit memo: set the name of a service or other-charge item"
            )
        return ""

    def creation_problem(need: ListNeed) -> str:
        if ":" in need.name:
            return (
                f"{_cap(need.label)} does not exist in QuickBooks; a sub-item is not created "
                "automatically: create it there or choose a top-level name"
            )
        if not creatable_name(need.name):
            return _uncreatable(need, need.name)
        if not need.item_account:
            return f"{_cap(need.label)} cannot be created without an income account"
        return ""

    return _judge_top_level(
        ITEM, needs, {key(i.full_name): i for i in items}, found_problem, creation_problem,
        lambda need: AddStep(ITEM, need.name, item_account=need.item_account),
    )


def _judge_top_level(
    kind: str,
    needs: Sequence[ListNeed],
    by_name: Mapping[str, _Found],
    found_problem: Callable[[ListNeed, _Found], str],
    creation_problem: Callable[[ListNeed], str],
    add_step: Callable[[ListNeed], AddStep],
) -> Judgement:
    """Payment methods and items, which are created one name at a time (no parent chain, unlike accounts):
    a found one is known unless ``found_problem`` objects; a missing one is added when the need allows
    creating it and ``creation_problem`` has nothing against it."""
    verdict = Judgement()
    for need in verdict.missing(kind, needs, by_name, found_problem):
        if not need.create:
            verdict.problems.append(f"{_cap(need.label)} does not exist in QuickBooks: create it there")
        elif problem := creation_problem(need):
            verdict.problems.append(problem)
        else:
            verdict.adds.append(add_step(need))
    return verdict


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(word: str | None) -> str:
    return f"an {word}" if word and word[0] in "AEIOU" else f"a {word}"


def _uncreatable(need: ListNeed, leaf: str) -> str:
    return (
        f'{_cap(need.label)} does not exist in QuickBooks and cannot be created as written: "{leaf}" '
        f"is not a valid QuickBooks name (at most {LIST_NAME_MAX_LEN} characters, Windows-1252 characters, "
        "no colon); create it there or choose another name"
    )


def lookup_failed(kind: str, names: Sequence[str], code: int, message: str) -> str:
    what = {ACCOUNT: "accounts", PAYMENT_METHOD: "payment methods", ITEM: "items"}[kind]
    listed = ", ".join(f'"{n}"' for n in names)
    return f"Could not look up the {what} {listed} in QuickBooks: status {code}: {message}"


def add_failed(step: AddStep, code: int, message: str) -> str:
    what = {ACCOUNT: "account", PAYMENT_METHOD: "payment method", ITEM: "item"}[step.kind]
    if code == 3100:
        return (
            f'Could not create the {what} "{step.full_name}": QuickBooks says the name is already in use '
            f"(3100) by another list element; rename that one or choose another name"
        )
    return f'Could not create the {what} "{step.full_name}": status {code}: {message}'


# ------------------------------------------------------------------------------ the requests


def lookup_request(kind: str, needs: Sequence[ListNeed]) -> tuple[str, list[str]]:
    """The one query for the missing needs of ``kind`` and the names it asks for."""
    if kind == ACCOUNT:
        names = account_query_names(needs)
        return lists.account_query(full_names=names), names
    names = [n.name for n in needs if n.kind == kind]
    if kind == PAYMENT_METHOD:
        return lists.payment_method_query(full_names=names), names
    return lists.item_query(full_names=names), names


def judge_lookup(kind: str, needs: Sequence[ListNeed], rs_xml: str) -> Judgement:
    """The needs of ``kind`` against the records of an answered query (an empty ``rs_xml``: none found)."""
    if kind == ACCOUNT:
        return judge_accounts(needs, lists.parse_accounts(rs_xml) if rs_xml else [])
    if kind == PAYMENT_METHOD:
        return judge_payment_methods(needs, lists.parse_payment_methods(rs_xml) if rs_xml else [])
    return judge_items(needs, lists.parse_items(rs_xml) if rs_xml else [])


def add_request(step: AddStep, *, desc: str) -> str:
    """The Add for one step. A payment method is an OtherCreditCard (Stripe takes cards); the refund item
    is an Other Charge item posting to its income account, so a credit memo on it reduces that income."""
    if step.kind == ACCOUNT:
        return lists.account_add(
            step.leaf, cast(AccountType, step.account_type), parent_full_name=step.parent or None, desc=desc
        )
    if step.kind == PAYMENT_METHOD:
        return lists.payment_method_add(step.full_name, "OtherCreditCard")
    return lists.item_other_charge_add(step.full_name, account_name=step.item_account, desc=desc)


def added_list_id(step: AddStep, rs_xml: str) -> str | None:
    """The ListID of what an Add created, from its ``*AddRs``."""
    if not rs_xml:
        return None
    records: Sequence[Account | PaymentMethod | Item]
    if step.kind == ACCOUNT:
        records = lists.parse_accounts(rs_xml)
    elif step.kind == PAYMENT_METHOD:
        records = lists.parse_payment_methods(rs_xml)
    else:
        records = lists.parse_items(rs_xml)
    return records[0].list_id if records and records[0].list_id else None
