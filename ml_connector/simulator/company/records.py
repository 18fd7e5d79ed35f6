"""What a simulated company file stores, and the status errors its rules raise.

Records are mutable (QuickBooks edits them in place); inputs are frozen value objects. Every list element
and every transaction carries the same identity and change-tracking fields, so they live once in
`ListRecord` and `TxnRecord`; records are built by keyword (``kw_only``), which lets a base class hold
fields without defaults ahead of a subclass's. The JSON codec (`persistence.py`) reads the fields by name,
so their order is free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Clock = Callable[[], datetime]

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
NAME_MAX = 41
ENTITY_KINDS = ("Vendor", "Employee", "OtherName")
ITEM_KINDS = ("ItemService", "ItemNonInventory", "ItemOtherCharge")

UNCHANGED: Any = object()
"""Default of `modify_customer` arguments whose None means "clear": leave the value as it is."""


class StatusError(Exception):
    """A request broke a QuickBooks rule; reported as statusCode/statusMessage on its Rs, not as an hresult."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def money(value: Decimal) -> Decimal:
    """Round to cents the way QuickBooks stores amounts (half up)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def name_in_use(name: str) -> StatusError:
    return StatusError(3100, f'The name "{name}" of the list element is already in use.')


def too_long(value: str, field_name: str) -> StatusError:
    """3070 is QuickBooks' "string too long" status; the wording follows messages seen from real files."""
    return StatusError(3070, f'The string "{value}" in the field "{field_name}" is too long.')


def not_found(object_id: str) -> StatusError:
    return StatusError(3120, f'Object "{object_id}" specified in the request cannot be found.  ')


def missing_element(tag: str) -> StatusError:
    """3150: a required element (or a name) is absent or empty."""
    return StatusError(3150, f'There is a missing element: "{tag}".')


def bad_parent(parent: str) -> StatusError:
    """3130: a ParentRef naming no customer (or one that would make the tree a loop)."""
    return StatusError(
        3130,
        f'There is an invalid reference to a parent "{parent}" in the Customers list.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
    )


def bad_reference(list_name: str, ref: str, txn_name: str) -> StatusError:
    """3140: a transaction refers to a list element the file does not have."""
    return StatusError(
        3140,
        f'There is an invalid reference to QuickBooks {list_name} "{ref}" in the {txn_name}.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list.",
    )


# ----------------------------------------------------------------------------------------------------------
# Records.
# ----------------------------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class ListRecord:
    """Identity and change tracking of every list element (ListID, EditSequence, TimeCreated/Modified)."""

    list_id: str
    name: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    is_active: bool = True


@dataclass(slots=True, kw_only=True)
class Customer(ListRecord):
    full_name: str
    parent_id: str | None = None
    sublevel: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    """Plain text fields by qbXML tag (CompanyName, Email, Phone, AccountNumber, Notes ...)."""
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    """BillAddress / ShipAddress aggregates: tag -> {Addr1, City, ...}."""
    preferred_payment_method_id: str | None = None
    external_guid: str | None = None
    balance: Decimal = ZERO
    """Open invoice balances minus unused payments of this customer or job alone (QuickBooks' Balance)."""
    data_ext: dict[str, dict[str, str]] = field(default_factory=dict)
    """Custom field values: OwnerID ("0" = public) -> DataExtName -> value."""
    currency: str | None = None
    """ISO code of the customer's currency in a multicurrency file; None: the home currency. All of the
    customer's invoices and payments are in it."""


@dataclass(slots=True, kw_only=True)
class OtherEntity(ListRecord):
    """A vendor, employee or other name: here only so customer names can clash with them (3100)."""

    kind: str


@dataclass(slots=True, kw_only=True)
class Account(ListRecord):
    account_type: str
    special_account_type: str | None = None
    account_number: str | None = None
    bank_number: str | None = None
    desc: str | None = None
    parent_id: str | None = None
    """The parent account of a sub-account (FullName ``Parent:Child``)."""


@dataclass(slots=True, kw_only=True)
class PaymentMethod(ListRecord):
    payment_method_type: str | None = None


@dataclass(slots=True, kw_only=True)
class Item(ListRecord):
    kind: str
    """qbXML item type: one of `ITEM_KINDS`."""
    desc: str | None = None
    price: Decimal | None = None
    account_id: str | None = None


@dataclass(slots=True)
class DataExtDef:
    """A data extension as DataExtDefAdd defined it. ``owner_id`` "0" is a public one, the "custom field" a
    user sees in QuickBooks; ``assign_to_objects`` names the records it may be set on (``Customer`` …)."""

    owner_id: str
    data_ext_id: int
    name: str
    data_ext_type: str
    assign_to_objects: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InvoiceLine:
    txn_line_id: str
    item_id: str | None
    desc: str | None
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal


@dataclass(slots=True, kw_only=True)
class TxnRecord:
    """Identity, change tracking and the customer/A/R/date every transaction of this simulator carries."""

    txn_id: str
    txn_number: int
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    customer_id: str
    ar_account_id: str
    txn_date: date
    ref_number: str | None = None
    memo: str | None = None
    external_guid: str | None = None


@dataclass(slots=True, kw_only=True)
class Invoice(TxnRecord):
    due_date: date
    subtotal: Decimal
    lines: list[InvoiceLine] = field(default_factory=list)
    applied_amount: Decimal = ZERO
    """Payments and discounts applied, as a positive number (rendered negative, as QuickBooks does)."""
    payments: dict[str, Decimal] = field(default_factory=dict)
    """ReceivePayment TxnID -> amount (payment + discount) it applied here, for LinkedTxn."""
    po_number: str | None = None
    is_pending: bool = False
    is_to_be_printed: bool = False
    is_to_be_emailed: bool = False
    bill_address: dict[str, str] = field(default_factory=dict)
    ship_address: dict[str, str] = field(default_factory=dict)

    @property
    def balance_remaining(self) -> Decimal:
        return self.subtotal - self.applied_amount

    @property
    def is_paid(self) -> bool:
        return self.balance_remaining <= ZERO


@dataclass(slots=True)
class Application:
    invoice_txn_id: str
    amount: Decimal
    discount_amount: Decimal = ZERO
    discount_account_id: str | None = None


@dataclass(slots=True, kw_only=True)
class ReceivePayment(TxnRecord):
    total_amount: Decimal
    deposit_to_account_id: str
    payment_method_id: str | None = None
    applications: list[Application] = field(default_factory=list)
    exchange_rate: Decimal | None = None
    """Home-currency units per unit of the customer's currency (multicurrency files; None: home currency)."""

    @property
    def applied_total(self) -> Decimal:
        return sum((a.amount for a in self.applications), ZERO)

    @property
    def home_amount(self) -> Decimal:
        """TotalAmountInHomeCurrency: what the deposit is worth in the home currency (TotalAmount × rate)."""
        return self.total_amount if self.exchange_rate is None else money(self.total_amount * self.exchange_rate)

    @property
    def unused_payment(self) -> Decimal:
        return self.total_amount - self.applied_total


# ----------------------------------------------------------------------------------------------------------
# Inputs (value objects).
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewInvoiceLine:
    item_id: str | None = None
    desc: str | None = None
    quantity: Decimal | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class NewApplication:
    invoice_txn_id: str
    amount: Decimal
    discount_amount: Decimal = ZERO
    discount_account_id: str | None = None


@dataclass(frozen=True, slots=True)
class DeletedTransaction:
    """A TxnDel QuickBooks remembers, for TxnDeletedQuery: the deleted record is gone from every other query."""

    txn_type: str
    txn_id: str
    time_created: datetime
    time_deleted: datetime
    ref_number: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessageSet:
    """The Rs elements (serialised) of the last message set sent with a newMessageSetID."""

    message_set_id: str
    responses: tuple[str, ...]
