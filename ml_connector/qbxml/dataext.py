"""Custom fields (data extensions) on customers: where the Stripe customer id can live in QuickBooks.

A definition is created once per company file (DataExtDefAdd, AssignToObject Customer) and then a value
is set per customer (DataExtAdd the first time, DataExtMod afterwards). OwnerID ``0`` makes it a public
custom field a QuickBooks user can see and edit; an application GUID would hide it. Values come back on
customer queries that carry the same OwnerID (``customers.customer_query(owner_ids=("0",))``).

Re-adding an existing definition or value fails (integrators report 3180 for it); callers treat that as
"already exists" and switch to a Mod rather than retrying the Add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict, Unpack

from ml_connector.qbxml import nodes

DataExtType = Literal[
    "AMTTYPE", "DATETIMETYPE", "INTTYPE", "PERCENTTYPE", "PRICETYPE", "QUANTYPE", "STR1024TYPE", "STR255TYPE"
]
ListDataExtType = Literal["Account", "Customer", "Employee", "Item", "OtherName", "Vendor"]

PUBLIC_OWNER_ID = "0"
DATA_EXT_NAME_MAX_LEN = 31
_VALUE_MAX_LEN: dict[str, int] = {"STR255TYPE": 255, "STR1024TYPE": 1024}


def _check_name(name: str) -> str:
    """A custom-field name is an identifier we look values up by, so it is checked, never cut."""
    nodes.check_id(name, "DataExtName", DATA_EXT_NAME_MAX_LEN)
    if name.encode("cp1252", errors="replace").decode("cp1252") != name:
        raise ValueError(f"DataExtName must be Windows-1252 text: {name!r}")
    return name


def data_ext_def_query(*, owner_ids: Sequence[str] = (), assign_to_objects: Sequence[str] = ()) -> str:
    """A DataExtDefQueryRq, filtered by owner or by the object type the fields belong to (not both)."""
    if owner_ids and assign_to_objects:
        raise ValueError("filter custom-field definitions by owner or by object type, not both")
    request = nodes.new_request("DataExtDefQueryRq")
    nodes.add_owner_ids(request, owner_ids)
    for object_type in assign_to_objects:
        nodes.sub(request, "AssignToObject", object_type)
    return nodes.to_text(request)


def data_ext_def_add(
    name: str,
    *,
    data_ext_type: DataExtType = "STR255TYPE",
    assign_to_objects: Sequence[str] = ("Customer",),
    owner_id: str = PUBLIC_OWNER_ID,
) -> str:
    """A DataExtDefAddRq defining a custom field (by default a public text field on customers)."""
    request = nodes.new_request("DataExtDefAddRq")
    add = nodes.sub(request, "DataExtDefAdd")
    nodes.sub(add, "OwnerID", nodes.check_guid(owner_id))
    nodes.sub(add, "DataExtName", _check_name(name))
    nodes.sub(add, "DataExtType", data_ext_type)
    for object_type in assign_to_objects:
        nodes.sub(add, "AssignToObject", object_type)
    return nodes.to_text(request)


class ListDataExtOptions(TypedDict, total=False):
    """Whose field, on which list, and how long a value may be (default: public, customers, STR255TYPE)."""

    owner_id: str
    list_type: ListDataExtType
    value_max_len: int | None


def _list_data_ext(
    tag: str,
    list_id: str,
    name: str,
    value: str,
    *,
    owner_id: str = PUBLIC_OWNER_ID,
    list_type: ListDataExtType = "Customer",
    value_max_len: int | None = _VALUE_MAX_LEN["STR255TYPE"],
) -> str:
    request = nodes.new_request(f"{tag}Rq")
    body = nodes.sub(request, tag)
    nodes.sub(body, "OwnerID", nodes.check_guid(owner_id))
    nodes.sub(body, "DataExtName", _check_name(name))
    nodes.sub(body, "ListDataExtType", list_type)
    nodes.add_ref(body, "ListObjRef", list_id=list_id)
    nodes.add_text(body, "DataExtValue", value, value_max_len, keep_empty=True)
    return nodes.to_text(request)


def data_ext_add(list_id: str, name: str, value: str, **options: Unpack[ListDataExtOptions]) -> str:
    """A DataExtAddRq setting custom field ``name`` on the list object ``list_id`` (a customer)."""
    return _list_data_ext("DataExtAdd", list_id, name, value, **options)


def data_ext_mod(list_id: str, name: str, value: str, **options: Unpack[ListDataExtOptions]) -> str:
    """A DataExtModRq changing custom field ``name`` on ``list_id``. No EditSequence is involved."""
    return _list_data_ext("DataExtMod", list_id, name, value, **options)


@dataclass(frozen=True)
class DataExtDef:
    owner_id: str | None
    data_ext_id: int | None
    name: str
    data_ext_type: str | None
    assign_to_objects: tuple[str, ...]

    @property
    def is_public(self) -> bool:
        return self.owner_id in (None, "", PUBLIC_OWNER_ID)


@dataclass(frozen=True)
class DataExtValue:
    owner_id: str | None
    name: str
    data_ext_type: str | None
    value: str


def parse_data_ext_defs(rs_xml: str) -> list[DataExtDef]:
    """Every DataExtDefRet in a DataExtDefQueryRs/AddRs."""
    return [
        DataExtDef(
            owner_id=nodes.text_of(ret, "OwnerID"),
            data_ext_id=nodes.int_of(ret, "DataExtID"),
            name=nodes.text_of(ret, "DataExtName") or "",
            data_ext_type=nodes.text_of(ret, "DataExtType"),
            assign_to_objects=tuple((e.text or "").strip() for e in ret.findall("AssignToObject")),
        )
        for ret in nodes.rets(rs_xml, "DataExtDefRet")
    ]


def parse_data_ext_values(rs_xml: str) -> list[DataExtValue]:
    """The DataExtRet of a DataExtAddRs/ModRs (what QuickBooks stored)."""
    return [
        DataExtValue(
            owner_id=nodes.text_of(ret, "OwnerID"),
            name=nodes.text_of(ret, "DataExtName") or "",
            data_ext_type=nodes.text_of(ret, "DataExtType"),
            value=nodes.text_of(ret, "DataExtValue") or "",
        )
        for ret in nodes.rets(rs_xml, "DataExtRet")
    ]
