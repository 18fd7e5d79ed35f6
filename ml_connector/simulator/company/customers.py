"""Customers and jobs, the other names that share their name space, and custom fields (DataExt).

QuickBooks keeps one name space for customers, vendors, employees and other names (3100 on a clash), a
customer tree whose FullName is ``Parent:Child``, and a per-customer currency that is fixed once the customer
has a transaction; those rules live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from ml_connector.simulator.company.core import CompanyCore
from ml_connector.simulator.company.records import (
    ENTITY_KINDS,
    UNCHANGED,
    ZERO,
    Customer,
    DataExtDef,
    OtherEntity,
    StatusError,
    bad_parent,
    not_found,
    too_long,
)


class CustomerBook(CompanyCore):
    """The customer list of a company file (a mixin of `CompanyFile`)."""

    def find_customer(self, list_id: str | None = None, full_name: str | None = None) -> Customer | None:
        if list_id is not None:
            return self.customers.get(list_id)
        if full_name is not None:
            found = self._entity_names.get(full_name.casefold())
            return self.customers.get(found) if found else None
        return None

    def turn_on_multicurrency(self, home_currency: str = "USD") -> None:
        """What a bookkeeper does once in the preferences (QuickBooks cannot turn it off again)."""
        self.multicurrency = True
        self.home_currency = home_currency.upper()

    def set_customer_currency(self, list_id: str, currency: str) -> Customer:
        """Give a customer a foreign currency, as in the customer's edit window (multicurrency on, and before
        the customer has any transaction: QuickBooks refuses to change it afterwards)."""
        customer = self.customers[list_id]
        if not self.multicurrency:
            raise ValueError("turn on multicurrency first: without it every customer is in the home currency")
        if self._invoices_by_customer.get(list_id) or self._payments_by_customer.get(list_id):
            raise ValueError(f"customer {customer.full_name!r} has transactions; its currency cannot change")
        code = currency.upper()
        customer.currency = None if code == self.home_currency else code
        self._touch(customer)
        return customer

    def currency_of(self, customer: Customer) -> str:
        """The ISO code of the customer's currency."""
        return customer.currency or self.home_currency

    def children_of(self, list_id: str) -> list[str]:
        return list(self._children.get(list_id, ()))

    def descendants_of(self, list_id: str) -> list[str]:
        out: list[str] = []
        stack = list(self._children.get(list_id, ()))
        while stack:
            child = stack.pop()
            out.append(child)
            stack.extend(self._children.get(child, ()))
        return out

    def total_balance(self, customer: Customer) -> Decimal:
        """TotalBalance: the customer's own balance plus that of all its jobs."""
        return customer.balance + sum(
            (self.customers[d].balance for d in self.descendants_of(customer.list_id)), ZERO
        )

    def customers_in_order(self) -> list[Customer]:
        """Customers sorted by FullName, the order QuickBooks lists them in (cached: 10,000 is common)."""
        if self._customer_order is None:
            self._customer_order = sorted(
                self.customers, key=lambda i: self.customers[i].full_name.casefold()
            )
        return [self.customers[i] for i in self._customer_order]

    def add_customer(
        self,
        name: str,
        *,
        parent_id: str | None = None,
        is_active: bool = True,
        fields: Mapping[str, str] | None = None,
        addresses: Mapping[str, Mapping[str, str]] | None = None,
        preferred_payment_method_id: str | None = None,
        external_guid: str | None = None,
    ) -> Customer:
        self._check_name(name)
        parent = None
        if parent_id is not None:
            parent = self.customers.get(parent_id)
            if parent is None:
                raise bad_parent(parent_id)
        full_name = f"{parent.full_name}:{name}" if parent else name
        self._claim_entity_name(full_name, None)
        customer = self._new_list_record(
            Customer,
            name=name,
            full_name=full_name,
            parent_id=parent.list_id if parent else None,
            sublevel=parent.sublevel + 1 if parent else 0,
            is_active=is_active,
            fields=dict(fields or {}),
            addresses={k: dict(v) for k, v in (addresses or {}).items()},
            preferred_payment_method_id=preferred_payment_method_id,
            external_guid=external_guid,
        )
        self.customers[customer.list_id] = customer
        self._entity_names[full_name.casefold()] = customer.list_id
        if parent:
            self._children.setdefault(parent.list_id, []).append(customer.list_id)
        self._customer_order = None
        return customer

    def modify_customer(
        self,
        list_id: str,
        *,
        edit_sequence: str | None = None,
        name: str | None = None,
        parent_id: str | None = UNCHANGED,
        is_active: bool | None = None,
        fields: Mapping[str, str] | None = None,
        addresses: Mapping[str, Mapping[str, str]] | None = None,
        preferred_payment_method_id: str | None = UNCHANGED,
    ) -> Customer:
        """Change only what is given. An empty string clears a text field, as in QuickBooks.

        `edit_sequence=None` skips the optimistic-lock check: that is the bookkeeper editing in the UI
        (used by tests to stage a concurrent edit), not a qbXML Mod.
        """
        customer = self.customers.get(list_id)
        if customer is None:
            raise not_found(list_id)
        if edit_sequence is not None and edit_sequence != customer.edit_sequence:
            raise StatusError(3200, f'The provided edit sequence "{edit_sequence}" is out-of-date. ')
        new_name = customer.name if name is None else name
        new_parent_id = customer.parent_id if parent_id is UNCHANGED else parent_id
        if name is not None:
            self._check_name(name)
        parent = None
        if new_parent_id is not None:
            parent = self.customers.get(new_parent_id)
            if parent is None or new_parent_id == list_id or new_parent_id in self.descendants_of(list_id):
                raise bad_parent(new_parent_id)
        new_full_name = f"{parent.full_name}:{new_name}" if parent else new_name
        if new_full_name != customer.full_name:
            self._claim_entity_name(new_full_name, list_id)
        # validated: apply
        if new_parent_id != customer.parent_id:
            if customer.parent_id:
                self._children[customer.parent_id].remove(list_id)
            if new_parent_id:
                self._children.setdefault(new_parent_id, []).append(list_id)
            customer.parent_id = new_parent_id
        customer.name = new_name
        if new_full_name != customer.full_name:
            self._rename_tree(customer, parent)
        if is_active is not None:
            customer.is_active = is_active
        for tag, value in (fields or {}).items():
            if value == "":
                customer.fields.pop(tag, None)
            else:
                customer.fields[tag] = value
        for tag, parts in (addresses or {}).items():
            merged = dict(customer.addresses.get(tag, {}))
            for part, value in parts.items():
                if value == "":
                    merged.pop(part, None)
                else:
                    merged[part] = value
            customer.addresses[tag] = merged
        if preferred_payment_method_id is not UNCHANGED:
            customer.preferred_payment_method_id = preferred_payment_method_id
        self._touch(customer)
        return customer

    def edit_customer(self, list_id: str, **changes: Any) -> Customer:
        """The bookkeeper edits a customer in QuickBooks (no EditSequence check). Keyword arguments are
        those of `modify_customer`; plain qbXML text fields may be given directly: ``Phone="555-0100"``."""
        known = {"name", "parent_id", "is_active", "fields", "addresses", "preferred_payment_method_id"}
        text = {k: str(v) for k, v in changes.items() if k not in known}
        options = {k: v for k, v in changes.items() if k in known}
        if text:
            options["fields"] = {**options.get("fields", {}), **text}
        return self.modify_customer(list_id, **options)

    def _rename_tree(self, customer: Customer, parent: Customer | None) -> None:
        del self._entity_names[customer.full_name.casefold()]
        customer.full_name = f"{parent.full_name}:{customer.name}" if parent else customer.name
        customer.sublevel = parent.sublevel + 1 if parent else 0
        self._entity_names[customer.full_name.casefold()] = customer.list_id
        for child_id in self._children.get(customer.list_id, ()):
            self._rename_tree(self.customers[child_id], customer)
        self._customer_order = None

    # -- other names ----------------------------------------------------------------------------------------

    def add_other_entity(self, kind: str, name: str) -> OtherEntity:
        """A vendor/employee/other name (seeding and tests): shares the name space with customers."""
        if kind not in ENTITY_KINDS:
            raise ValueError(f"kind must be one of {ENTITY_KINDS}")
        self._check_name(name)
        self._claim_entity_name(name, None)
        entity = self._new_list_record(OtherEntity, kind=kind, name=name)
        self.other_entities[entity.list_id] = entity
        self._entity_names[name.casefold()] = entity.list_id
        return entity

    # -- data extensions (custom fields) -------------------------------------------------------------------

    def find_data_ext_def(self, owner_id: str, name: str) -> DataExtDef | None:
        key = name.casefold()
        return next(
            (
                d
                for d in self.data_ext_defs
                if d.owner_id.upper() == owner_id.upper() and d.name.casefold() == key
            ),
            None,
        )

    def add_data_ext_def(
        self, owner_id: str, name: str, data_ext_type: str, assign_to_objects: Sequence[str]
    ) -> DataExtDef:
        if self.find_data_ext_def(owner_id, name):
            raise StatusError(
                3180,
                f'There was an error when saving a data extension named "{name}".  '
                "QuickBooks error message: The data extension already exists.",
            )
        definition = DataExtDef(owner_id, self._data_ext_id, name, data_ext_type, list(assign_to_objects))
        self._data_ext_id += 1
        self.data_ext_defs.append(definition)
        return definition

    def set_customer_data_ext(
        self, definition: DataExtDef, customer: Customer, value: str, *, must_exist: bool
    ) -> None:
        """DataExtAdd (`must_exist=False`: the value must be new, else 3180) or DataExtMod (must exist).

        A public custom field (OwnerID 0) is part of the customer record in the QuickBooks UI, so setting one
        counts as an edit of the customer (new EditSequence); private extensions do not (unconfirmed).
        """
        if "Customer" not in definition.assign_to_objects:
            raise StatusError(
                3210, f'The data extension "{definition.name}" is not assigned to the object type "Customer".'
            )
        _check_data_ext_value(definition, value)
        values = customer.data_ext.setdefault(definition.owner_id, {})
        exists = definition.name in values
        if must_exist and not exists:
            raise not_found(f"{definition.name}")
        if not must_exist and exists:
            raise StatusError(
                3180,
                f'There was an error when saving a data extension value for "{definition.name}" of Customer '
                f'"{customer.full_name}".  QuickBooks error message: The data extension value already exists.',
            )
        values[definition.name] = value
        if definition.owner_id == "0":
            self._touch(customer)


_DATA_EXT_LIMITS = {"STR255TYPE": 255, "STR1024TYPE": 1024}


def _check_data_ext_value(definition: DataExtDef, value: str) -> None:
    limit = _DATA_EXT_LIMITS.get(definition.data_ext_type)
    if limit is not None:
        if len(value) > limit:
            raise too_long(value, "DataExtValue")
        return
    try:
        if definition.data_ext_type == "INTTYPE":
            int(value)
        elif definition.data_ext_type == "DATETIMETYPE":
            datetime.fromisoformat(value)
        else:
            Decimal(value)
    except (ValueError, ArithmeticError):
        raise StatusError(
            3210, f'The value "{value}" is not valid for the data extension "{definition.name}".'
        ) from None
