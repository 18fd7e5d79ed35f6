"""Lists and the session's first questions: HostQuery, CompanyQuery, PreferencesQuery, AccountAdd/Query,
PaymentMethodAdd/Query, ItemQuery and ItemServiceAdd/ItemOtherChargeAdd."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from lxml import etree

from ml_connector.simulator.company import (
    Account,
    Item,
    PaymentMethod,
)
from ml_connector.simulator.queries import (
    L,
    Requests,
    answers,
)
from ml_connector.simulator.wire import (
    _amt,
    _bool,
    _currency_list_id,
    _currency_name,
    _flag,
    _price,
    _ref_element,
    _reject,
    _required,
    _required_text,
    _sub,
    _text,
    _texts,
    _with_ret,
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


def _of_types(
    request: etree._Element, type_tag: str, type_of: Callable[[L], str | None]
) -> Callable[[list[L]], list[L]]:
    """A list query's own filter on the record's type (AccountType, PaymentMethodType): the records of the
    types the request names in ``type_tag`` elements, every record when it names none."""
    types = set(_texts(request, type_tag))
    return lambda matched: [r for r in matched if not types or type_of(r) in types]


class ListRequests(Requests):
    """HostQuery, CompanyQuery, PreferencesQuery and the account, payment-method and item lists."""

    # -- host, company, preferences -----------------------------------------------------------------------

    @answers("HostQueryRq")
    def _host_query(self, request: etree._Element) -> etree._Element:
        host = etree.Element("HostRet")
        _sub(host, "ProductName", "QuickBooks Pro 2024 (ml-connector simulator)")
        _sub(host, "MajorVersion", "34")
        _sub(host, "MinorVersion", "0")
        _sub(host, "Country", "US")
        for version in SUPPORTED_QBXML_VERSIONS:
            _sub(host, "SupportedQBXMLVersion", version)
        _sub(host, "IsAutomaticLogin", "false")
        _sub(host, "QBFileMode", "SingleUser")
        return _with_ret(request, host)

    @answers("CompanyQueryRq")
    def _company_query(self, request: etree._Element) -> etree._Element:
        ret = etree.Element("CompanyRet")
        _sub(ret, "IsSampleCompany", "false")
        _sub(ret, "CompanyName", self.company.name)
        _sub(ret, "LegalCompanyName", self.company.name)
        _sub(ret, "FirstMonthFiscalYear", "January")
        _sub(ret, "FirstMonthIncomeTaxYear", "January")
        _sub(ret, "TaxForm", "OtherOrNone")
        return _with_ret(request, ret)

    @answers("PreferencesQueryRq")
    def _preferences_query(self, request: etree._Element) -> etree._Element:
        ret = etree.Element("PreferencesRet")
        accounting = etree.SubElement(ret, "AccountingPreferences")
        for tag in ("IsUsingAccountNumbers", "IsRequiringAccounts", "IsUsingClassTracking"):
            _sub(accounting, tag, "false")
        _sub(accounting, "IsUsingAuditTrail", "true")
        _sub(accounting, "IsAssigningJournalEntryNumbers", "true")
        multi_currency = etree.SubElement(ret, "MultiCurrencyPreferences")
        _sub(multi_currency, "IsMultiCurrencyOn", _bool(self.company.multicurrency))
        if self.company.multicurrency:
            home = self.company.home_currency
            _ref_element(multi_currency, "HomeCurrencyRef", _currency_list_id(home), _currency_name(home))
        sales = etree.SubElement(ret, "SalesAndCustomersPreferences")
        _sub(sales, "IsTrackingReimbursedExpensesAsIncome", "false")
        _sub(sales, "IsAutoApplyingPayments", "false")
        rights = etree.SubElement(ret, "CurrentAppAccessRights")
        _sub(rights, "IsAutomaticLoginAllowed", "true")
        _sub(rights, "IsPersonalDataAccessAllowed", "false")
        return _with_ret(request, ret)

    # -- accounts -----------------------------------------------------------------------------------------

    @answers("AccountAddRq")
    def _account_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "AccountAdd")
        _reject(
            add,
            "DetailAccountType",
            "OpenBalance",
            "OpenBalanceDate",
            "SalesTaxCodeRef",
            "TaxLineID",
            "CurrencyRef",
        )
        account_type = _required_text(add, "AccountType")
        parent = self._account_ref(add, "ParentRef", "Account")
        account = self.company.add_account(
            _required_text(add, "Name"),
            account_type,
            is_active=_flag(add, "IsActive", default=True),
            special_account_type="AccountsReceivable" if account_type == "AccountsReceivable" else None,
            account_number=_text(add, "AccountNumber"),
            bank_number=_text(add, "BankNumber"),
            desc=_text(add, "Desc"),
            parent_id=parent.list_id if parent else None,
        )
        return _with_ret(request, self._account_ret(account))

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
        _sub(ret, "Name", account.name)
        _sub(ret, "FullName", full_name)
        _sub(ret, "IsActive", _bool(account.is_active))
        if account.parent_id is not None:
            parent = self.company.accounts[account.parent_id]
            _ref_element(ret, "ParentRef", parent.list_id, self.company.account_full_name(parent))
        _sub(ret, "Sublevel", str(full_name.count(":")))
        _sub(ret, "AccountType", account.account_type)
        _sub(ret, "SpecialAccountType", account.special_account_type)
        _sub(ret, "AccountNumber", account.account_number)
        _sub(ret, "BankNumber", account.bank_number)
        _sub(ret, "Desc", account.desc)
        balance = _amt(self.company.account_balance(account))
        _sub(ret, "Balance", balance)
        _sub(ret, "TotalBalance", balance)
        return ret

    @answers("PaymentMethodAddRq")
    def _payment_method_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "PaymentMethodAdd")
        method = self.company.add_payment_method(
            _required_text(add, "Name"),
            _text(add, "PaymentMethodType"),
            is_active=_flag(add, "IsActive", default=True),
        )
        return _with_ret(request, self._payment_method_ret(method))

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
        _sub(ret, "Name", method.name)
        _sub(ret, "IsActive", _bool(method.is_active))
        _sub(ret, "PaymentMethodType", method.payment_method_type)
        return ret

    @answers("ItemQueryRq")
    def _item_query(self, request: etree._Element) -> etree._Element:
        return self._list_query(request, self.company.items, self.company.find_item, self._item_ret)

    @answers("ItemServiceAddRq", "ItemOtherChargeAddRq")
    def _item_add(self, request: etree._Element) -> etree._Element:
        """ItemServiceAdd / ItemOtherChargeAdd, SalesOrPurchase branch; item names are unique across every
        item type (3100)."""
        kind = str(request.tag)[: -len("AddRq")]
        add = _required(request, f"{kind}Add")
        _reject(add, "BarCode", "ClassRef", "ParentRef", "UnitOfMeasureSetRef", "SalesAndPurchase")
        sales = _required(add, "SalesOrPurchase")
        _reject(sales, "PricePercent")
        account = self._account_ref(sales, "AccountRef", kind)
        price = _text(sales, "Price")
        item = self.company.add_item(
            kind,
            _required_text(add, "Name"),
            desc=_text(sales, "Desc"),
            price=Decimal(price) if price else None,
            account_id=account.list_id if account else None,
            is_active=_flag(add, "IsActive", default=True),
        )
        return _with_ret(request, self._item_ret(item))

    def _item_ret(self, item: Item) -> etree._Element:
        ret = etree.Element(f"{item.kind}Ret")
        self._list_core(ret, item)
        _sub(ret, "Name", item.name)
        _sub(ret, "FullName", item.name)
        _sub(ret, "IsActive", _bool(item.is_active))
        _sub(ret, "Sublevel", "0")
        sales = etree.SubElement(ret, "SalesOrPurchase")
        _sub(sales, "Desc", item.desc)
        _sub(sales, "Price", _price(item.price) if item.price is not None else None)
        if item.account_id:
            account = self.company.accounts[item.account_id]
            _ref_element(sales, "AccountRef", account.list_id, self.company.account_full_name(account))
        return ret

    # -- data extensions ----------------------------------------------------------------------------------
