"""Customers: create, retrieve, update, delete, list (``email`` filter), with Stripe's metadata rules."""

from __future__ import annotations

import re
import secrets

from ml_connector.fakestripe import objects
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import invalid
from ml_connector.fakestripe.listing import page
from ml_connector.fakestripe.money import resolve_payment_method
from ml_connector.fakestripe.params import (
    Params,
    created_filter,
    in_bounds,
    integer,
    mapping,
    metadata_update,
    nullable_string,
    reject_unknown,
    string,
    string_list,
)
from ml_connector.fakestripe.resources import addressed, apply_metadata, matches, record_update
from ml_connector.fakestripe.resources import delete as delete_resource
from ml_connector.fakestripe.store import Obj

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_PREFIX = re.compile(r"^[A-Z0-9]{3,12}$")
_EDITABLE = {
    "address", "balance", "description", "email", "invoice_prefix", "invoice_settings", "metadata", "name",
    "phone", "preferred_locales",
}


def create(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, _EDITABLE | {"payment_method"})
    store = call.store
    prefix = string(params, "invoice_prefix") or secrets.token_hex(4).upper()
    _check_prefix(prefix)
    cust = objects.customer(
        store.new_id("customer"), call.now(), call.livemode,
        email=string(params, "email", max_length=512),
        name=string(params, "name", max_length=256),
        description=string(params, "description"),
        phone=string(params, "phone", max_length=20),
        metadata=metadata_update(params, {}) or {},
        address=_address(params),
        invoice_prefix=prefix,
        balance=integer(params, "balance") or 0,
        preferred_locales=string_list(params, "preferred_locales") or [],
        default_payment_method=None,
    )
    attached = string(params, "payment_method")
    if attached is not None:
        pm = resolve_payment_method(call, attached, "payment_method")
        pm["customer"] = cust["id"]
    _apply_invoice_settings(call, cust, params)
    store.add(cust)
    store.record_event("customer.created", cust, call.info)
    return store.present(cust)


def retrieve(call: Call) -> Obj:
    reject_unknown(call.params, ())
    cust = call.store.get("customer", call.path["id"], call.livemode, deleted_ok=True)
    if call.store.is_deleted(cust["id"]):
        return objects.deleted("customer", cust["id"])  # Stripe still answers for deleted customers
    return call.store.present(cust)


def update(call: Call) -> Obj:
    params = call.params
    store = call.store
    cust = addressed(call, "customer", _EDITABLE)
    before = store.present(cust)
    for name, limit in (("email", 512), ("name", 256), ("description", 5000), ("phone", 20)):
        given, value = nullable_string(params, name)
        if given:
            if value is not None and len(value) > limit:
                raise invalid(f"Invalid string: {name} must be at most {limit} characters", param=name)
            cust[name] = value
    if "address" in params:
        cust["address"] = _address(params)
    if "balance" in params:
        cust["balance"] = integer(params, "balance", required=True)
    if "invoice_prefix" in params:
        prefix = string(params, "invoice_prefix", required=True)
        assert prefix is not None
        _check_prefix(prefix)
        cust["invoice_prefix"] = prefix
    if "preferred_locales" in params:
        cust["preferred_locales"] = string_list(params, "preferred_locales") or []
    apply_metadata(params, cust)
    _apply_invoice_settings(call, cust, params)
    record_update(call, cust, before, "customer.updated")
    return store.present(cust)


def delete(call: Call) -> Obj:
    return delete_resource(call, "customer", event="customer.deleted")


def list_customers(call: Call) -> Obj:
    params = call.params
    reject_unknown(params, {"created", "email", "ending_before", "limit", "starting_after", "test_clock"})
    email = string(params, "email", max_length=512)
    bounds = created_filter(params)
    items = [
        cust
        for cust in call.store.all("customer", call.livemode)
        if matches(cust, email=email) and in_bounds(cust["created"], bounds)
    ]
    return page(call.store, items, params, "/v1/customers", "customer")


def _address(params: Params) -> Obj | None:
    if params.get("address") == "":
        return None
    given = mapping(params, "address")
    if given is None:
        return None
    for key in given:
        if key not in _ADDRESS_KEYS:
            raise invalid(f"Received unknown parameter: address[{key}]", param=f"address[{key}]")
    address = objects.empty_address()
    for key in _ADDRESS_KEYS:
        value = given.get(key)
        address[key] = value if isinstance(value, str) and value != "" else None
    return address


def _apply_invoice_settings(call: Call, cust: Obj, params: Params) -> None:
    settings = mapping(params, "invoice_settings")
    if settings is None:
        return
    for key in settings:
        if key not in {"default_payment_method", "footer"}:
            raise invalid(
                f"Received unknown parameter: invoice_settings[{key}]", param=f"invoice_settings[{key}]"
            )
    if "footer" in settings:
        cust["invoice_settings"]["footer"] = settings["footer"] or None
    if "default_payment_method" in settings:
        value = settings["default_payment_method"]
        if not value:
            cust["invoice_settings"]["default_payment_method"] = None
        else:
            pm = resolve_payment_method(call, str(value), "invoice_settings[default_payment_method]")
            pm["customer"] = cust["id"]
            cust["invoice_settings"]["default_payment_method"] = pm["id"]


def _check_prefix(prefix: str) -> None:
    if not _PREFIX.match(prefix):
        raise invalid(
            "Invoice prefix must be 3 to 12 uppercase letters or numbers.", param="invoice_prefix"
        )
