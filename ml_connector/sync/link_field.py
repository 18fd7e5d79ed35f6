"""Where the Stripe customer id is kept on the QuickBooks customer, and how it is written there.

Two homes, chosen by ``MLC_CUSTOMER_LINK_FIELD``:

* ``dataext`` (default): a public custom field (``StripeCustomerId``, OwnerID 0) that ml-connector defines
  once per company file. Writing it (DataExtAdd/DataExtMod) changes nothing else on the customer and needs no
  EditSequence, so it can never clobber a bookkeeper's edit.
* ``notes``: a line ``Stripe customer: cus_…`` at the end of the customer's Notes, for files where custom
  fields are not wanted. The write is a CustomerMod carrying the EditSequence we read; the bookkeeper's own
  text is kept as it is, only our line is replaced or appended.

Both are read back by ``links rebuild``, which is why the format is fixed and documented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ml_connector.qbxml.customers import Customer, CustomerFields, customer_mod
from ml_connector.qbxml.dataext import data_ext_add, data_ext_mod

LinkFieldKind = Literal["dataext", "notes"]

NOTES_LABEL = "Stripe customer:"
NOTES_MAX_LEN = 4095
_STRIPE_CUSTOMER_ID = re.compile(r"^cus_[A-Za-z0-9]{4,250}$")
_NOTES_LINE = re.compile(r"^[ \t]*Stripe customer:[ \t]*(cus_[A-Za-z0-9]+)[ \t]*$", re.MULTILINE)


class NotesFull(ValueError):
    """The bookkeeper's Notes leave no room for our line; we never cut their text to make room."""


@dataclass(frozen=True)
class LinkField:
    kind: LinkFieldKind = "dataext"
    dataext_name: str = "StripeCustomerId"

    @property
    def owner_ids(self) -> tuple[str, ...]:
        """OwnerIDs a CustomerQuery must ask for so that the custom field comes back (none for Notes)."""
        return ("0",) if self.kind == "dataext" else ()


def is_stripe_customer_id(value: str) -> bool:
    return bool(_STRIPE_CUSTOMER_ID.match(value))


def stripe_id_on(customer: Customer, field: LinkField) -> str | None:
    """The Stripe customer id QuickBooks holds for this customer, if any (ignoring anything malformed)."""
    if field.kind == "dataext":
        value = (customer.data_ext.get(field.dataext_name) or "").strip()
        return value if is_stripe_customer_id(value) else None
    found = _NOTES_LINE.findall(customer.notes or "")
    return found[-1] if found else None


def notes_with_stripe_id(notes: str | None, stripe_customer_id: str) -> str:
    """The Notes text with exactly one ``Stripe customer:`` line, ours, at the end; the rest untouched."""
    kept = _NOTES_LINE.sub("", notes or "").rstrip()
    kept = re.sub(r"\n{3,}", "\n\n", kept)
    line = f"{NOTES_LABEL} {stripe_customer_id}"
    text = f"{kept}\n{line}" if kept else line
    if len(text) > NOTES_MAX_LEN:
        raise NotesFull(
            f"the customer's Notes are {len(kept)} characters long; adding the Stripe id would pass "
            f"QuickBooks' {NOTES_MAX_LEN}-character limit"
        )
    return text


def write_back_request(customer: Customer, stripe_customer_id: str, field: LinkField) -> str | None:
    """The one request that stores the Stripe id on ``customer`` as read, or None when it is already there.

    Built from what was just read, so after a conflict (3200) the caller re-reads and calls this again: the
    bookkeeper's new Notes are kept and only our line is re-applied.
    """
    if stripe_id_on(customer, field) == stripe_customer_id:
        return None
    if field.kind == "dataext":
        if field.dataext_name in customer.data_ext:
            return data_ext_mod(customer.list_id, field.dataext_name, stripe_customer_id)
        return data_ext_add(customer.list_id, field.dataext_name, stripe_customer_id)
    notes = notes_with_stripe_id(customer.notes, stripe_customer_id)
    return customer_mod(customer.list_id, customer.edit_sequence, CustomerFields(notes=notes))


def write_back_from_snapshot(
    list_id: str,
    edit_sequence: str,
    stripe_customer_id: str,
    field: LinkField,
    *,
    notes: str | None,
    has_field: bool,
) -> str:
    """The write built from what the poll just read, saving a re-read. Stale data only costs a conflict
    (3200, or 3180/3120 for the custom field), after which the caller re-reads and uses
    :func:`write_back_request`."""
    if field.kind == "dataext":
        if has_field:
            return data_ext_mod(list_id, field.dataext_name, stripe_customer_id)
        return data_ext_add(list_id, field.dataext_name, stripe_customer_id)
    text = notes_with_stripe_id(notes, stripe_customer_id)
    return customer_mod(list_id, edit_sequence, CustomerFields(notes=text))
