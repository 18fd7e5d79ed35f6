"""Customers and their data extensions: CustomerQuery/Add/Mod, DataExtDefAdd/Query, DataExtAdd/Mod."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ml_connector.simulator import wire
from ml_connector.simulator.company.records import (
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
        owners = wire.texts_of(request, "OwnerID")

        def by_balance(matched: list[Customer]) -> list[Customer]:
            balance_match = wire.amount_matcher(request.find("TotalBalanceFilter"))
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
        changes = self._customer_changes(wire.required(request, "CustomerAdd"), "Customer")
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
        return wire.with_ret(request, self._customer_ret(customer, ()))

    @answers("CustomerModRq")
    def _customer_mod(self, request: etree._Element) -> etree._Element:
        mod = wire.required(request, "CustomerMod")
        list_id = wire.required_text(mod, "ListID")
        if list_id not in self.company.customers:
            raise not_found(list_id)
        self._before_write(list_id, "Customer list", is_mod=True)
        changes = self._customer_changes(mod, "Customer")
        customer = self.company.modify_customer(
            list_id,
            edit_sequence=wire.required_text(mod, "EditSequence"),
            name=changes.name,
            parent_id=changes.parent_id,
            is_active=changes.is_active,
            fields=changes.fields,
            addresses=changes.addresses,
            preferred_payment_method_id=changes.preferred_payment_method_id,
        )
        return wire.with_ret(request, self._customer_ret(customer, ()))

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
                is_active = wire.parse_bool(value)
            elif tag == "ParentRef":
                list_id, full_name = wire.ref_of(element, "ParentRef")
                parent = self.company.find_customer(list_id, full_name)
                if parent is None:
                    raise bad_parent(str(list_id or full_name))
                parent_id = parent.list_id
            elif tag in _CUSTOMER_TEXT_FIELDS:
                fields[tag] = wire.normalise_field(tag, value)
            elif tag in ("BillAddress", "ShipAddress"):
                addresses[tag] = {str(part.tag): part.text or "" for part in child}
            elif tag == "PreferredPaymentMethodRef":
                method = self._payment_method_ref(element, tag, txn_name)
                preferred = method.list_id if method else None
            elif tag == "ExternalGUID":
                external_guid = value
            else:
                raise wire.unsupported(f"{element.tag}/{tag}")
        return _CustomerChanges(name, is_active, parent_id, fields, addresses, preferred, external_guid)

    def _customer_ret(self, customer: Customer, owners: Sequence[str]) -> etree._Element:
        company = self.company
        ret = etree.Element("CustomerRet")
        self._list_core(ret, customer)
        wire.sub(ret, "Name", customer.name)
        wire.sub(ret, "FullName", customer.full_name)
        wire.sub(ret, "IsActive", wire.bool_text(customer.is_active))
        if customer.parent_id:
            parent = company.customers[customer.parent_id]
            wire.add_ref(ret, "ParentRef", parent.list_id, parent.full_name)
        wire.sub(ret, "Sublevel", str(customer.sublevel))
        for tag in _CUSTOMER_NAME_FIELDS:
            wire.sub(ret, tag, customer.fields.get(tag))
        for tag in ("BillAddress", "ShipAddress"):
            wire.add_address(ret, tag, customer.addresses.get(tag))
        for tag in _CUSTOMER_COMM_FIELDS:
            wire.sub(ret, tag, customer.fields.get(tag))
        wire.sub(ret, "Balance", wire.amount_text(customer.balance))
        wire.sub(ret, "TotalBalance", wire.amount_text(company.total_balance(customer)))
        for tag in _CUSTOMER_TAX_FIELDS:
            wire.sub(ret, tag, customer.fields.get(tag))
        if customer.preferred_payment_method_id:
            method = company.payment_methods.get(customer.preferred_payment_method_id)
            if method:
                wire.add_ref(ret, "PreferredPaymentMethodRef", method.list_id, method.name)
        for tag in _CUSTOMER_JOB_FIELDS:
            wire.sub(ret, tag, customer.fields.get(tag))
        wire.sub(ret, "ExternalGUID", customer.external_guid)
        wire.sub(ret, "TaxRegistrationNumber", customer.fields.get("TaxRegistrationNumber"))
        if company.multicurrency:
            code = company.currency_of(customer)
            wire.add_ref(ret, "CurrencyRef", wire.currency_list_id(code), wire.currency_name(code))
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
        add = wire.required(request, "DataExtDefAdd")
        wire.reject(add, "DataExtListRequire", "DataExtTxnRequire", "DataExtFormatString")
        definition = self.company.add_data_ext_def(
            wire.required_text(add, "OwnerID"),
            wire.required_text(add, "DataExtName"),
            wire.required_text(add, "DataExtType"),
            wire.texts_of(add, "AssignToObject"),
        )
        return wire.with_ret(request, _data_ext_def_ret(definition))

    @answers("DataExtDefQueryRq")
    def _data_ext_def_query(self, request: etree._Element) -> etree._Element:
        owners = {o.upper() for o in wire.texts_of(request, "OwnerID")}
        objects = set(wire.texts_of(request, "AssignToObject"))
        matched = [
            d
            for d in self.company.data_ext_defs
            if (not owners or d.owner_id.upper() in owners)
            and (not objects or objects.intersection(d.assign_to_objects))
        ]
        if not matched:
            return wire.response(request, 1, wire.NO_MATCH)
        rs = wire.response(request)
        rs.set("retCount", str(len(matched)))
        for definition in matched:
            rs.append(_data_ext_def_ret(definition))
        return rs

    @answers("DataExtAddRq")
    def _data_ext_add(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, wire.required(request, "DataExtAdd"), must_exist=False)

    @answers("DataExtModRq")
    def _data_ext_mod(self, request: etree._Element) -> etree._Element:
        return self._data_ext_write(request, wire.required(request, "DataExtMod"), must_exist=True)

    def _data_ext_write(
        self, request: etree._Element, body: etree._Element, *, must_exist: bool
    ) -> etree._Element:
        wire.reject(body, "TxnDataExtType", "OtherDataExtType")
        list_type = wire.required_text(body, "ListDataExtType")
        if list_type != "Customer":
            raise wire.unsupported(f"data extensions on {list_type}")
        owner = wire.required_text(body, "OwnerID")
        name = wire.required_text(body, "DataExtName")
        definition = self.company.find_data_ext_def(owner, name)
        if definition is None:
            raise not_found(name)
        customer = self._customer_ref(body, "ListObjRef", "DataExt")
        self._before_write(customer.list_id, "Customer list", is_mod=must_exist)
        value = wire.text_of(body, "DataExtValue") or ""
        self.company.set_customer_data_ext(definition, customer, value, must_exist=must_exist)
        rs = wire.response(request)
        self._data_ext_ret(rs, definition, value)
        return rs

    @staticmethod
    def _data_ext_ret(parent: etree._Element, definition: DataExtDef, value: str) -> None:
        ret = etree.SubElement(parent, "DataExtRet")
        wire.sub(ret, "OwnerID", definition.owner_id)
        wire.sub(ret, "DataExtName", definition.name)
        wire.sub(ret, "DataExtType", definition.data_ext_type)
        wire.sub(ret, "DataExtValue", value)


def _data_ext_def_ret(definition: DataExtDef) -> etree._Element:
    ret = etree.Element("DataExtDefRet")
    wire.sub(ret, "OwnerID", definition.owner_id)
    wire.sub(ret, "DataExtID", str(definition.data_ext_id))
    wire.sub(ret, "DataExtName", definition.name)
    wire.sub(ret, "DataExtType", definition.data_ext_type)
    for target in definition.assign_to_objects:
        wire.sub(ret, "AssignToObject", target)
    wire.sub(ret, "DataExtListRequire", "false")
    wire.sub(ret, "DataExtTxnRequire", "false")
    wire.sub(ret, "DataExtFormatString", "")
    return ret
