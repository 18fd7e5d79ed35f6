"""The lists a payment refers to: accounts (deposit-to, A/R, clearing, fees), payment methods, and items (for
seeding invoice lines, and the refund item credit memos are written on).

The connector refers to these by FullName (what a bookkeeper configures, e.g. "Stripe Clearing"), so the
usual sequence is: query by FullName, and add it if it is missing. Account and payment-method names are
limited to 31 characters, item names to 31 as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypedDict, Unpack

from ml_connector.qbxml import nodes
from ml_connector.qbxml.customers import ActiveStatus
from ml_connector.qbxml.text import fit_name
from ml_connector.qbxml.values import format_quantity

AccountType = Literal[
    "AccountsPayable",
    "AccountsReceivable",
    "Bank",
    "CostOfGoodsSold",
    "CreditCard",
    "Equity",
    "Expense",
    "FixedAsset",
    "Income",
    "LongTermLiability",
    "NonPosting",
    "OtherAsset",
    "OtherCurrentAsset",
    "OtherCurrentLiability",
    "OtherExpense",
    "OtherIncome",
]
PaymentMethodType = Literal[
    "AmericanExpress",
    "Cash",
    "Check",
    "DebitCard",
    "Discover",
    "ECheck",
    "GiftCard",
    "MasterCard",
    "Other",
    "OtherCreditCard",
    "Visa",
]

LIST_NAME_MAX_LEN = 31  # Account, PaymentMethod and Item names
FULL_NAME_MAX_LEN = 159  # colon-joined path of an account or item


class ListWhere(TypedDict, total=False):
    """How a list query selects: by ListIDs, by FullNames, or a listing by active status (a schema choice)."""

    full_names: Sequence[str]
    list_ids: Sequence[str]
    active_status: ActiveStatus | None


def _list_query(
    tag: str,
    *,
    list_ids: Sequence[str] = (),
    full_names: Sequence[str] = (),
    active_status: ActiveStatus | None = None,
) -> nodes.Element:
    if list_ids and full_names:
        raise ValueError("select by ids or by names, not both (the schema makes them a choice)")
    if active_status is not None and (list_ids or full_names):
        raise ValueError("active_status filters a listing; it cannot be combined with ids or names")
    request = nodes.new_request(tag)
    for list_id in list_ids:
        nodes.add_id(request, "ListID", list_id)
    for full_name in full_names:
        nodes.add_text(request, "FullName", full_name, FULL_NAME_MAX_LEN)
    if active_status is not None:
        nodes.sub(request, "ActiveStatus", active_status)
    return request


# ------------------------------------------------------------------------------------ accounts


def account_query(*, account_types: Sequence[AccountType] = (), **where: Unpack[ListWhere]) -> str:
    """An AccountQueryRq by FullName or ListID, or all accounts of some types."""
    if account_types and (where.get("full_names") or where.get("list_ids")):
        raise ValueError("account_types filters a listing; it cannot be combined with ids or names")
    request = _list_query("AccountQueryRq", **where)
    for account_type in account_types:
        nodes.sub(request, "AccountType", account_type)
    return nodes.to_text(request)


def _list_add(kind: str, name: str) -> tuple[nodes.Element, nodes.Element]:
    """A ``{kind}AddRq`` and its ``{kind}Add``, begun with the leaf Name fitted as QuickBooks stores list names."""
    request = nodes.new_request(f"{kind}AddRq")
    add = nodes.sub(request, f"{kind}Add")
    nodes.sub(add, "Name", fit_name(name, max_len=LIST_NAME_MAX_LEN))
    return request, add


def account_add(
    name: str,
    account_type: AccountType,
    *,
    parent_full_name: str | None = None,
    account_number: str | None = None,
    desc: str | None = None,
) -> str:
    """An AccountAddRq (e.g. a "Stripe Clearing" OtherCurrentAsset account to deposit payments to)."""
    request, add = _list_add("Account", name)
    nodes.add_account_ref(add, "ParentRef", parent_full_name)
    nodes.sub(add, "AccountType", account_type)
    nodes.add_text(add, "AccountNumber", account_number, 7)
    nodes.add_text(add, "Desc", desc, 200)
    return nodes.to_text(request)


@dataclass(frozen=True)
class Account:
    list_id: str
    edit_sequence: str
    name: str
    full_name: str
    is_active: bool
    account_type: str | None
    special_account_type: str | None
    account_number: str | None
    balance: Decimal | None


def read_account(ret: nodes.Element) -> Account:
    return Account(
        **nodes.list_header(ret),
        account_type=nodes.text_of(ret, "AccountType"),
        special_account_type=nodes.text_of(ret, "SpecialAccountType"),
        account_number=nodes.text_of(ret, "AccountNumber"),
        balance=nodes.amount_of(ret, "Balance"),
    )


def parse_accounts(rs_xml: str) -> list[Account]:
    """Every AccountRet in an AccountQueryRs/AddRs."""
    return [read_account(ret) for ret in nodes.rets(rs_xml, "AccountRet")]


# ------------------------------------------------------------------------------ payment methods


def payment_method_query(**where: Unpack[ListWhere]) -> str:
    """A PaymentMethodQueryRq by FullName or ListID, or a listing by active status."""
    return nodes.to_text(_list_query("PaymentMethodQueryRq", **where))


def payment_method_add(name: str, payment_method_type: PaymentMethodType | None = None) -> str:
    """A PaymentMethodAddRq (e.g. "Stripe", type OtherCreditCard)."""
    request, add = _list_add("PaymentMethod", name)
    if payment_method_type is not None:
        nodes.sub(add, "PaymentMethodType", payment_method_type)
    return nodes.to_text(request)


@dataclass(frozen=True)
class PaymentMethod:
    list_id: str
    edit_sequence: str
    name: str
    is_active: bool
    payment_method_type: str | None


def parse_payment_methods(rs_xml: str) -> list[PaymentMethod]:
    """Every PaymentMethodRet in a PaymentMethodQueryRs/AddRs."""
    return [
        PaymentMethod(
            list_id=nodes.text_of(ret, "ListID") or "",
            edit_sequence=nodes.text_of(ret, "EditSequence") or "",
            name=nodes.text_of(ret, "Name") or "",
            is_active=nodes.bool_of(ret, "IsActive") is not False,
            payment_method_type=nodes.text_of(ret, "PaymentMethodType"),
        )
        for ret in nodes.rets(rs_xml, "PaymentMethodRet")
    ]


# -------------------------------------------------------------------------------------- items


def item_query(**where: Unpack[ListWhere]) -> str:
    """An ItemQueryRq; it answers with every item kind (ItemServiceRet, ItemNonInventoryRet, …)."""
    return nodes.to_text(_list_query("ItemQueryRq", **where))


def item_service_add(
    name: str,
    *,
    income_account_name: str,
    desc: str | None = None,
    price: Decimal | None = None,
    parent_full_name: str | None = None,
) -> str:
    """An ItemServiceAddRq (SalesOrPurchase branch) for seeding invoice lines in tests and the sandbox."""
    return _sales_item_add(
        "ItemService", name, account_name=income_account_name, desc=desc, price=price, parent=parent_full_name
    )


def item_other_charge_add(
    name: str,
    *,
    account_name: str,
    desc: str | None = None,
    parent_full_name: str | None = None,
) -> str:
    """An ItemOtherChargeAddRq (SalesOrPurchase branch): an item that is not a product or a service, such as
    the refund item whose credit-memo lines take a card refund out of ``account_name`` (an income account)."""
    return _sales_item_add(
        "ItemOtherCharge", name, account_name=account_name, desc=desc, parent=parent_full_name
    )


def _sales_item_add(
    kind: str,
    name: str,
    *,
    account_name: str,
    desc: str | None,
    price: Decimal | None = None,
    parent: str | None,
) -> str:
    request, add = _list_add(kind, name)
    nodes.add_ref(add, "ParentRef", full_name=parent, full_name_max=FULL_NAME_MAX_LEN)
    sales = nodes.sub(add, "SalesOrPurchase")
    nodes.add_text(sales, "Desc", desc, 4095, multiline=True)
    if price is not None:
        nodes.sub(sales, "Price", format_quantity(price))
    nodes.add_account_ref(sales, "AccountRef", account_name)
    return nodes.to_text(request)


@dataclass(frozen=True)
class Item:
    """Any item kind; ``kind`` is the Ret element without ``Ret`` (``ItemService``, ``ItemInventory`` …)."""

    kind: str
    list_id: str
    edit_sequence: str
    name: str
    full_name: str
    is_active: bool
    account_full_name: str | None = None
    """The account its sales post to (SalesOrPurchase/AccountRef or SalesAndPurchase/IncomeAccountRef)."""


_ITEM_RETS = (
    "ItemServiceRet",
    "ItemNonInventoryRet",
    "ItemOtherChargeRet",
    "ItemInventoryRet",
    "ItemInventoryAssemblyRet",
    "ItemFixedAssetRet",
    "ItemSubtotalRet",
    "ItemDiscountRet",
    "ItemPaymentRet",
    "ItemSalesTaxRet",
    "ItemSalesTaxGroupRet",
    "ItemGroupRet",
)


def parse_items(rs_xml: str) -> list[Item]:
    """Every item Ret in an ItemQueryRs or Item*AddRs, in document order."""
    root = nodes.parse_xml(rs_xml, "response element")
    elements = [root] if root.tag in _ITEM_RETS else [child for child in root if child.tag in _ITEM_RETS]
    return [
        Item(**nodes.list_header(ret), kind=str(ret.tag)[: -len("Ret")], account_full_name=_item_account(ret))
        for ret in elements
    ]


def _item_account(ret: nodes.Element) -> str | None:
    for branch, tag in (("SalesOrPurchase", "AccountRef"), ("SalesAndPurchase", "IncomeAccountRef")):
        element = ret.find(branch)
        if element is not None:
            return nodes.ref_of(element, tag)[1]
    return None
