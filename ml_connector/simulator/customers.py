"""Customers and their data extensions: CustomerQuery/Add/Mod, DataExtDefAdd/Query, DataExtAdd/Mod."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ml_connector.simulator.company import (
    UNCHANGED,
    Customer,
    DataExtDef,
    bad_parent,
    not_found,
)
from ml_connector.simulator.queries import (
    Requests,
    answers,
)
from ml_connector.simulator.wire import (
    _NO_MATCH,
    _address,
    _amount_matcher,
    _amt,
    _bool,
    _currency_list_id,
    _currency_name,
    _normalise_field,
    _ref,
    _ref_element,
    _reject,
    _required,
    _required_text,
    _rs,
    _sub,
    _text,
    _texts,
    _to_bool,
    _unsupported,
    _with_ret,
)


@dataclass(frozen=True, slots=True)
class _CustomerChanges:
    name: str | None
    is_active: bool | None
    parent_id: Any
    fields: dict[str, str]
    addresses: dict[str, dict[str, str]]
    preferred_payment_method_id: Any
    external_guid: str | None


_CUSTOMER_NAME_FIELDS = (
    "CompanyName",
    "Salutation",
    "FirstName",
    "MiddleName",
    "LastName",
    "Suffix",
    "JobTitle",
)
_CUSTOMER_COMM_FIELDS = (
    "PrintAs",
    "Phone",
    "Mobile",
    "Pager",
    "AltPhone",
    "Fax",
    "Email",
    "Cc",
    "Contact",
    "AltContact",
)
_CUSTOMER_TAX_FIELDS = ("SalesTaxCountry", "ResaleNumber", "AccountNumber", "CreditLimit")
_CUSTOMER_JOB_FIELDS = (
    "JobStatus",
    "JobStartDate",
    "JobProjectedEndDate",
    "JobEndDate",
    "JobDesc",
    "Notes",
    "IsStatementWithParent",
    "DeliveryMethod",
    "PreferredDeliveryMethod",
)
_CUSTOMER_TEXT_FIELDS = frozenset(
    _CUSTOMER_NAME_FIELDS
    + _CUSTOMER_COMM_FIELDS
    + _CUSTOMER_TAX_FIELDS
    + _CUSTOMER_JOB_FIELDS
    + ("TaxRegistrationNumber",)
)


class CustomerRequests(Requests):
    """CustomerQuery/Add/Mod and the data extensions on customers."""

    @answers("CustomerQueryRq")
    def _customer_query(self, request: etree._Element) -> etree._Element:
        company = self.company
        owners = _texts(request, "OwnerID")

        def by_balance(matched: list[Customer]) -> list[Customer]:
            balance_match = _amount_matcher(request.find("TotalBalanceFilter"))
            return [c for c in matched if balance_match(company.total_balance(c))]

        return self._list_query(
            request,
            company.customers,
            company.find_customer,
            lambda customer: self._customer_ret(customer, owners),
            ordered=company.customers_in_order,
            name=lambda c: c.full_name,
            unsupported=("CurrencyFilter", "ClassFilter"),
            narrow=by_balance,
        )

    @answers("CustomerAddRq")
    def _customer_add(self, request: etree._Element) -> etree._Element:
        changes = self._customer_changes(_required(request, "CustomerAdd"), "Customer")
        customer = self.company.add_customer(
            changes.name or "",
            parent_id=None if changes.parent_id is UNCHANGED else changes.parent_id,
            is_active=True if changes.is_active is None else changes.is_active,
            fields=changes.fields,
            addresses=changes.addresses,
            preferred_payment_method_id=(
                None
                if changes.preferred_payment_method_id is UNCHANGED
                else changes.preferred_payment_method_id
            ),
            external_guid=changes.external_guid,
        )
        return _with_ret(request, self._customer_ret(customer, ()))

    @answers("CustomerModRq")
    def _customer_mod(self, request: etree._Element) -> etree._Element:
        mod = _required(request, "CustomerMod")
        list_id = _required_text(mod, "ListID")
        if list_id not in self.company.customers:
            raise not_found(list_id)
        self._before_write(list_id, "Customer list", is_mod=True)
        changes = self._customer_changes(mod, "Customer")
        customer = self.company.modify_customer(
            list_id,
            edit_sequence=_required_text(mod, "EditSequence"),
            name=changes.name,
            parent_id=changes.parent_id,
            is_active=changes.is_active,
            fields=changes.fields,
            addresses=changes.addresses,
            preferred_payment_method_id=changes.preferred_payment_method_id,
        )
        return _with_ret(request, self._customer_ret(customer, ()))

    def _customer_changes(self, element: etree._Element, txn_name: str) -> _CustomerChanges:
        name: str | None = None
        is_active: bool | None = None
        parent_id: Any = UNCHANGED
        preferred: Any = UNCHANGED
        external_guid: str | None = None
        fields: dict[str, str] = {}
        addresses: dict[str, dict[str, str]] = {}
        for child in element:
            tag = str(child.tag)
            value = child.text or ""
            if tag in ("ListID", "EditSequence"):
                continue
            if tag == "Name":
                name = value
            elif tag == "IsActive":
                is_active = _to_bool(value)
            elif tag == "ParentRef":
                list_id, full_name = _ref(element, "ParentRef")
                parent = self.company.find_customer(list_id, full_name)
                if parent is None:
                    raise bad_parent(str(list_id or full_name))
                parent_id = parent.list_id
            elif tag in _CUSTOMER_TEXT_FIELDS:
                fields[tag] = _normalise_field(tag, value)
            elif tag in ("BillAddress", "ShipAddress"):
                addresses[tag] = {str(part.tag): part.text or "" for part in child}
            elif tag == "PreferredPaymentMethodRef":
                method = self._payment_method_ref(element, tag, txn_name)
                preferred = method.list_id if method else None
            elif tag == "ExternalGUID":
                external_guid = value
            else:
                raise _unsupported(f"{element.tag}/{tag}")
        return _CustomerChanges(name, is_active, parent_id, fields, addresses, preferred, external_guid)

    def _customer_ret(self, customer: Customer, owners: Sequence[str]) -> etree._Element:
        company = self.company
        ret = etree.Element("CustomerRet")
        self._list_core(ret, customer)
        _sub(ret, "Name", customer.name)
        _sub(ret, "FullName", customer.full_name)
        _sub(ret, "IsActive", _bool(customer.is_active))
        if customer.parent_id:
            parent = company.customers[customer.parent_id]
            _ref_element(ret, "ParentRef", parent.list_id, parent.full_name)
        _sub(ret, "Sublevel", str(customer.sublevel))
        for tag in _CUSTOMER_NAME_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        for tag in ("BillAddress", "ShipAddress"):
            _address(ret, tag, customer.addresses.get(tag))
        for tag in _CUSTOMER_COMM_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        _sub(ret, "Balance", _amt(customer.balance))
        _sub(ret, "TotalBalance", _amt(company.total_balance(customer)))
        for tag in _CUSTOMER_TAX_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        if customer.preferred_payment_method_id:
            method = company.payment_methods.get(customer.preferred_payment_method_id)
            if method:
                _ref_element(ret, "PreferredPaymentMethodRef", method.list_id, method.name)
        for tag in _CUSTOMER_JOB_FIELDS:
            _sub(ret, tag, customer.fields.get(tag))
        _sub(ret, "ExternalGUID", customer.external_guid)
        _sub(ret, "TaxRegistrationNumber", customer.fields.get("TaxRegistrationNumber"))
        if company.multicurrency:
            code = company.currency_of(customer)
            _ref_element(ret, "CurrencyRef", _currency_list_id(code), _currency_name(code))
        for owner in owners:
            for definition in company.data_ext_defs:
                if definition.owner_id.upper() != owner.upper():
                    continue
                value = customer.data_ext.get(definition.owner_id, {}).get(definition.name)
                if value is not None:
                    self._data_ext_ret(ret, definition, value)
        return ret

    @answers("DataExtDefAddRq")
    def _data_ext_def_add(self, request: etree._Element) -> etree._Element:
        add = _required(request, "DataExtDefAdd")
        _reject(add, "DataExtListRequire", "DataExtTxnRequire", "DataExtFormatString")
        definition = self.company.add_data_ext_def(
            _required_text(add, "OwnerID"),
            _required_text(add, "DataExtName"),
            _required_text(add, "DataExtType"),
            _texts(add, "AssignToObject"),
        )
        return _with_ret(request, _data_ext_def_ret(definition))

    @answers("DataExtDefQueryRq")
    def _data_ext_def_query(self, request: etree._Element) -> etree._Element:
        owners = {o.upper() for o in _texts(request, "OwnerID")}
        objects = set(_texts(request, "AssignToObject"))
        matched = [
            d
            for d in self.company.data_ext_defs
            if (not owners or d.owner_id.upper() in owners)
            and (not objects or objects.intersection(d.assign_to_objects))
        ]
        if not matched:
            return _rs(request, 1, _NO_MATCH)
        rs = _rs(request)
        rs.set("retCount", str(len(matched)))
        for definition in matched:
            rs.append(_data_ext_def_ret(definition))
        return rs

    @answers("DataExtAddRq")
    def _data_ext_add(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, _required(request, "DataExtAdd"), must_exist=False)

    @answers("DataExtModRq")
    def _data_ext_mod(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, _required(request, "DataExtMod"), must_exist=True)

    def _data_ext_write(
        self, request: etree._Element, body: etree._Element, *, must_exist: bool
    ) -> etree._Element:
        _reject(body, "TxnDataExtType", "OtherDataExtType")
        list_type = _required_text(body, "ListDataExtType")
        if list_type != "Customer":
            raise _unsupported(f"data extensions on {list_type}")
        owner = _required_text(body, "OwnerID")
        name = _required_text(body, "DataExtName")
        definition = self.company.find_data_ext_def(owner, name)
        if definition is None:
            raise not_found(name)
        customer = self._customer_ref(body, "ListObjRef", "DataExt")
        self._before_write(customer.list_id, "Customer list", is_mod=must_exist)
        value = _text(body, "DataExtValue") or ""
        self.company.set_customer_data_ext(definition, customer, value, must_exist=must_exist)
        rs = _rs(request)
        self._data_ext_ret(rs, definition, value)
        return rs

    @staticmethod
    def _data_ext_ret(parent: etree._Element, definition: DataExtDef, value: str) -> None:
        ret = etree.SubElement(parent, "DataExtRet")
        _sub(ret, "OwnerID", definition.owner_id)
        _sub(ret, "DataExtName", definition.name)
        _sub(ret, "DataExtType", definition.data_ext_type)
        _sub(ret, "DataExtValue", value)


def _data_ext_def_ret(definition: DataExtDef) -> etree._Element:
    ret = etree.Element("DataExtDefRet")
    _sub(ret, "OwnerID", definition.owner_id)
    _sub(ret, "DataExtID", str(definition.data_ext_id))
    _sub(ret, "DataExtName", definition.name)
    _sub(ret, "DataExtType", definition.data_ext_type)
    for target in definition.assign_to_objects:
        _sub(ret, "AssignToObject", target)
    _sub(ret, "DataExtListRequire", "false")
    _sub(ret, "DataExtTxnRequire", "false")
    _sub(ret, "DataExtFormatString", "")
    return ret
