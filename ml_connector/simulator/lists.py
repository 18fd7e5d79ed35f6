"""Lists and the session's first questions: HostQuery, CompanyQuery, PreferencesQuery, AccountAdd/Query,
PaymentMethodAdd/Query, ItemQuery and ItemServiceAdd/ItemOtherChargeAdd."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from lxml import etree

from ml_connector.simulator import wire
from ml_connector.simulator.company.records import (
    Account,
    Item,
    PaymentMethod,
)
from ml_connector.simulator.queries import (
    L,
    Requests,
    answers,
)

SUPPORTED_QBXML_VERSIONS = (
    "1.0",
    "1.1",
    "2.0",
    "2.1",
    "3.0",
    "4.0",
    "4.1",
    "5.0",
    "6.0",
    "7.0",
    "8.0",
    "9.0",
    "10.0",
    "11.0",
    "12.0",
    "13.0",
)

# The constant parts of the first answers of a session, as (tag, text) pairs in schema order (XSD sequences).
_HOST_RET = (
    ("ProductName", "QuickBooks Pro 2024 (ml-connector simulator)"),
    ("MajorVersion", "34"),
    ("MinorVersion", "0"),
    ("Country", "US"),
    *(("SupportedQBXMLVersion", version) for version in SUPPORTED_QBXML_VERSIONS),
    ("IsAutomaticLogin", "false"),
    ("QBFileMode", "SingleUser"),
)
# CompanyRet after the company's names: a calendar fiscal and tax year, no tax form.
_COMPANY_YEAR = (
    ("FirstMonthFiscalYear", "January"),
    ("FirstMonthIncomeTaxYear", "January"),
    ("TaxForm", "OtherOrNone"),
)
# PreferencesRet's groups but MultiCurrencyPreferences, which follows the company.
_ACCOUNTING_PREFERENCES = (
    ("IsUsingAccountNumbers", "false"),
    ("IsRequiringAccounts", "false"),
    ("IsUsingClassTracking", "false"),
    ("IsUsingAuditTrail", "true"),
    ("IsAssigningJournalEntryNumbers", "true"),
)
_SALES_AND_CUSTOMERS_PREFERENCES = (
    ("IsTrackingReimbursedExpensesAsIncome", "false"),
    ("IsAutoApplyingPayments", "false"),
)
_APP_ACCESS_RIGHTS = (
    ("IsAutomaticLoginAllowed", "true"),
    ("IsPersonalDataAccessAllowed", "false"),
)


def _sub_each(parent: etree._Element, fields: Iterable[tuple[str, str]]) -> etree._Element:
    """One child element per (tag, text) pair, in order; returns `parent`."""
    for tag, text in fields:
        wire.sub(parent, tag, text)
    return parent


def _of_types(
    request: etree._Element, type_tag: str, type_of: Callable[[L], str | None]
) -> Callable[[list[L]], list[L]]:
    """A list query's own filter on the record's type (AccountType, PaymentMethodType): the records of the
    types the request names in ``type_tag`` elements, every record when it names none."""
    types = set(wire.texts_of(request, type_tag))
    return lambda matched: [r for r in matched if not types or type_of(r) in types]


class ListRequests(Requests):
    """HostQuery, CompanyQuery, PreferencesQuery and the account, payment-method and item lists."""

    # -- host, company, preferences -----------------------------------------------------------------------

    @answers("HostQueryRq")
    def _host_query(self, request: etree._Element) -> etree._Element:
        return wire.with_ret(request, _sub_each(etree.Element("HostRet"), _HOST_RET))

    @answers("CompanyQueryRq")
    def _company_query(self, request: etree._Element) -> etree._Element:
        ret = etree.Element("CompanyRet")
        wire.sub(ret, "IsSampleCompany", "false")
        wire.sub(ret, "CompanyName", self.company.name)
        wire.sub(ret, "LegalCompanyName", self.company.name)
        return wire.with_ret(request, _sub_each(ret, _COMPANY_YEAR))

    @answers("PreferencesQueryRq")
    def _preferences_query(self, request: etree._Element) -> etree._Element:
        ret = etree.Element("PreferencesRet")
        _sub_each(etree.SubElement(ret, "AccountingPreferences"), _ACCOUNTING_PREFERENCES)
        multi_currency = etree.SubElement(ret, "MultiCurrencyPreferences")
        wire.sub(multi_currency, "IsMultiCurrencyOn", wire.bool_text(self.company.multicurrency))
        if self.company.multicurrency:
            home = self.company.home_currency
            wire.add_ref(
                multi_currency, "HomeCurrencyRef", wire.currency_list_id(home), wire.currency_name(home)
            )
        _sub_each(etree.SubElement(ret, "SalesAndCustomersPreferences"), _SALES_AND_CUSTOMERS_PREFERENCES)
        _sub_each(etree.SubElement(ret, "CurrentAppAccessRights"), _APP_ACCESS_RIGHTS)
        return wire.with_ret(request, ret)

    # -- accounts -----------------------------------------------------------------------------------------

    @answers("AccountAddRq")
    def _account_add(self, request: etree._Element) -> etree._Element:
        add = wire.required(request, "AccountAdd")
        wire.reject(
            add,
            "DetailAccountType",
            "OpenBalance",
            "OpenBalanceDate",
            "SalesTaxCodeRef",
            "TaxLineID",
            "CurrencyRef",
        )
        account_type = wire.required_text(add, "AccountType")
        parent = self._account_ref(add, "ParentRef", "Account")
        account = self.company.add_account(
            wire.required_text(add, "Name"),
            account_type,
            is_active=wire.flag_of(add, "IsActive", default=True),
            special_account_type="AccountsReceivable" if account_type == "AccountsReceivable" else None,
            account_number=wire.text_of(add, "AccountNumber"),
            bank_number=wire.text_of(add, "BankNumber"),
            desc=wire.text_of(add, "Desc"),
            parent_id=parent.list_id if parent else None,
        )
        return wire.with_ret(request, self._account_ret(account))

    @answers("AccountQueryRq")
    def _account_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        return self._list_query(
            request, company.accounts, company.find_account, self._account_ret,
            unsupported=("CurrencyFilter",),
            narrow=_of_types(request, "AccountType", lambda a: a.account_type),
        )

    def _account_ret(self, account: Account) -> etree._Element:
        ret = etree.Element("AccountRet")
        self._list_core(ret, account)
        full_name = self.company.account_full_name(account)
        wire.sub(ret, "Name", account.name)
        wire.sub(ret, "FullName", full_name)
        wire.sub(ret, "IsActive", wire.bool_text(account.is_active))
        if account.parent_id is not None:
            parent = self.company.accounts[account.parent_id]
            wire.add_ref(ret, "ParentRef", parent.list_id, self.company.account_full_name(parent))
        wire.sub(ret, "Sublevel", str(full_name.count(":")))
        wire.sub(ret, "AccountType", account.account_type)
        wire.sub(ret, "SpecialAccountType", account.special_account_type)
        wire.sub(ret, "AccountNumber", account.account_number)
        wire.sub(ret, "BankNumber", account.bank_number)
        wire.sub(ret, "Desc", account.desc)
        balance = wire.amount_text(self.company.account_balance(account))
        wire.sub(ret, "Balance", balance)
        wire.sub(ret, "TotalBalance", balance)
        return ret

    @answers("PaymentMethodAddRq")
    def _payment_method_add(self, request: etree._Element) -> etree._Element:
        add = wire.required(request, "PaymentMethodAdd")
        method = self.company.add_payment_method(
            wire.required_text(add, "Name"),
            wire.text_of(add, "PaymentMethodType"),
            is_active=wire.flag_of(add, "IsActive", default=True),
        )
        return wire.with_ret(request, self._payment_method_ret(method))

    @answers("PaymentMethodQueryRq")
    def _payment_method_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        return self._list_query(
            request, company.payment_methods, company.find_payment_method, self._payment_method_ret,
            narrow=_of_types(request, "PaymentMethodType", lambda m: m.payment_method_type),
        )

    def _payment_method_ret(self, method: PaymentMethod) -> etree._Element:
        ret = etree.Element("PaymentMethodRet")
        self._list_core(ret, method)
        wire.sub(ret, "Name", method.name)
        wire.sub(ret, "IsActive", wire.bool_text(method.is_active))
        wire.sub(ret, "PaymentMethodType", method.payment_method_type)
        return ret

    @answers("ItemQueryRq")
    def _item_query(self, request: etree._Element) -> etree._Element:
        return self._list_query(request, self.company.items, self.company.find_item, self._item_ret)

    @answers("ItemServiceAddRq", "ItemOtherChargeAddRq")
    def _item_add(self, request: etree._Element) -> etree._Element:
        """ItemServiceAdd / ItemOtherChargeAdd, SalesOrPurchase branch; item names are unique across every
        item type (3100)."""
        kind = str(request.tag)[: -len("AddRq")]
        add = wire.required(request, f"{kind}Add")
        wire.reject(add, "BarCode", "ClassRef", "ParentRef", "UnitOfMeasureSetRef", "SalesAndPurchase")
        sales = wire.required(add, "SalesOrPurchase")
        wire.reject(sales, "PricePercent")
        account = self._account_ref(sales, "AccountRef", kind)
        price = wire.text_of(sales, "Price")
        item = self.company.add_item(
            kind,
            wire.required_text(add, "Name"),
            desc=wire.text_of(sales, "Desc"),
            price=Decimal(price) if price else None,
            account_id=account.list_id if account else None,
            is_active=wire.flag_of(add, "IsActive", default=True),
        )
        return wire.with_ret(request, self._item_ret(item))

    def _item_ret(self, item: Item) -> etree._Element:
        ret = etree.Element(f"{item.kind}Ret")
        self._list_core(ret, item)
        wire.sub(ret, "Name", item.name)
        wire.sub(ret, "FullName", item.name)
        wire.sub(ret, "IsActive", wire.bool_text(item.is_active))
        wire.sub(ret, "Sublevel", "0")
        sales = etree.SubElement(ret, "SalesOrPurchase")
        wire.sub(sales, "Desc", item.desc)
        wire.sub(sales, "Price", wire.price_text(item.price) if item.price is not None else None)
        if item.account_id:
            account = self.company.accounts[item.account_id]
            wire.add_ref(sales, "AccountRef", account.list_id, self.company.account_full_name(account))
        return ret

    # -- data extensions ----------------------------------------------------------------------------------
