"""The simulated QuickBooks company file: lists, transactions, and the bookkeeping rules QuickBooks enforces.

This module knows nothing about qbXML. It is the "database" behind the request processor
(`processor.py`), kept separate so tests and the seeder can build and inspect a company directly
(`company.customers[list_id].balance`) and so the rules (unique names, balances, payment application)
live in one place instead of being smeared across XML handling.

Rules are reported by raising `StatusError(code, message)`, which the processor turns into the
statusCode/statusMessage of one `*Rs` -- exactly how QuickBooks reports a business-rule failure (the
request processor itself keeps running).

Identity and time behave like QuickBooks Desktop:
- ListID / TxnID are ``<hex counter>-<unix seconds>``; lists share one counter starting at 0x80000001
  (so an id never names two objects, which the fault switches rely on), transactions and their lines share
  another, written without padding as QuickBooks does (``1A2B-1710000000``).
- EditSequence is a numeric string (unix seconds of the change), forced to grow on every modification so
  two edits within one second still invalidate older copies.
- TimeCreated/TimeModified are written in the company's local time zone with the *standard-time* offset,
  even in summer (QuickBooks' DST quirk, see PROTOCOL.md section 10); date filters compare wall-clock times.
- The clock is injectable so tests and the seeder are deterministic.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
NAME_MAX = 41
ENTITY_KINDS = ("Vendor", "Employee", "OtherName")


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


# ----------------------------------------------------------------------------------------------------------
# Records. They are mutable (QuickBooks edits them in place); only inputs below are frozen value objects.
# ----------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Customer:
    list_id: str
    name: str
    full_name: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    parent_id: str | None = None
    sublevel: int = 0
    is_active: bool = True
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


@dataclass(slots=True)
class OtherEntity:
    """A vendor, employee or other name: here only so customer names can clash with them (3100)."""

    list_id: str
    kind: str
    name: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    is_active: bool = True


@dataclass(slots=True)
class Account:
    list_id: str
    name: str
    account_type: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    is_active: bool = True
    special_account_type: str | None = None
    account_number: str | None = None
    bank_number: str | None = None
    desc: str | None = None
    parent_id: str | None = None
    """The parent account of a sub-account (FullName ``Parent:Child``)."""


@dataclass(slots=True)
class PaymentMethod:
    list_id: str
    name: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    is_active: bool = True
    payment_method_type: str | None = None


@dataclass(slots=True)
class Item:
    list_id: str
    kind: str
    """qbXML item type: "ItemService", "ItemNonInventory" or "ItemOtherCharge"."""
    name: str
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    is_active: bool = True
    desc: str | None = None
    price: Decimal | None = None
    account_id: str | None = None


@dataclass(slots=True)
class DataExtDef:
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


@dataclass(slots=True)
class Invoice:
    txn_id: str
    txn_number: int
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    customer_id: str
    ar_account_id: str
    txn_date: date
    ref_number: str | None
    due_date: date
    subtotal: Decimal
    lines: list[InvoiceLine] = field(default_factory=list)
    applied_amount: Decimal = ZERO
    """Payments and discounts applied, as a positive number (rendered negative, as QuickBooks does)."""
    payments: dict[str, Decimal] = field(default_factory=dict)
    """ReceivePayment TxnID -> amount (payment + discount) it applied here, for LinkedTxn."""
    po_number: str | None = None
    memo: str | None = None
    external_guid: str | None = None
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


@dataclass(slots=True)
class ReceivePayment:
    txn_id: str
    txn_number: int
    time_created: datetime
    time_modified: datetime
    edit_sequence: str
    customer_id: str
    ar_account_id: str
    txn_date: date
    total_amount: Decimal
    deposit_to_account_id: str
    ref_number: str | None = None
    payment_method_id: str | None = None
    memo: str | None = None
    external_guid: str | None = None
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


UNCHANGED: Any = object()
"""Default of `modify_customer` arguments whose None means "clear": leave the value as it is."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CompanyFile:
    """One QuickBooks company file. Not thread-safe by itself: callers hold `lock` (the processor does)."""

    def __init__(
        self,
        name: str = "Sandbox Company",
        *,
        time_zone: str = "America/New_York",
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.time_zone = time_zone
        self.zone = ZoneInfo(time_zone)
        self.clock: Clock = clock or _utc_now
        self.lock = threading.RLock()
        self.customers: dict[str, Customer] = {}
        self.other_entities: dict[str, OtherEntity] = {}
        self.accounts: dict[str, Account] = {}
        self.payment_methods: dict[str, PaymentMethod] = {}
        self.items: dict[str, Item] = {}
        self.data_ext_defs: list[DataExtDef] = []
        self.invoices: dict[str, Invoice] = {}
        self.receive_payments: dict[str, ReceivePayment] = {}
        self.deleted_transactions: list[DeletedTransaction] = []
        self.last_message_set: StoredMessageSet | None = None
        # Multicurrency (Edit > Preferences > Multiple Currencies): off by default, as in a new company file.
        self.multicurrency = False
        self.home_currency = "USD"
        self._list_seq = 0x80000001
        self._txn_seq = 0x100
        self._txn_number = 1
        self._data_ext_id = 1
        self._rebuild_indexes()

    # -- indexes ------------------------------------------------------------------------------------------

    def _rebuild_indexes(self) -> None:
        """Derived lookups; never saved, rebuilt after load so the JSON stays the single source of truth."""
        self._entity_names: dict[str, str] = {}
        self._children: dict[str, list[str]] = {}
        self._invoices_by_customer: dict[str, list[str]] = {}
        self._payments_by_customer: dict[str, list[str]] = {}
        self._customer_order: list[str] | None = None
        self._max_invoice_number: int | None = None
        for c in self.customers.values():
            self._entity_names[c.full_name.casefold()] = c.list_id
            if c.parent_id:
                self._children.setdefault(c.parent_id, []).append(c.list_id)
        for e in self.other_entities.values():
            self._entity_names[e.name.casefold()] = e.list_id
        for inv in self.invoices.values():
            self._invoices_by_customer.setdefault(inv.customer_id, []).append(inv.txn_id)
        for p in self.receive_payments.values():
            self._payments_by_customer.setdefault(p.customer_id, []).append(p.txn_id)

    # -- time and identity --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The clock, in UTC, truncated to whole seconds (QuickBooks keeps no fractions)."""
        moment = self.clock()
        if moment.tzinfo is None:
            raise ValueError("the company clock must return timezone-aware datetimes")
        return moment.astimezone(UTC).replace(microsecond=0)

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def local_wall_time(self, moment: datetime) -> datetime:
        """The naive local clock reading QuickBooks shows for `moment`; what date filters compare against."""
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def format_datetime(self, moment: datetime) -> str:
        """Local wall-clock time with the standard-time offset, even during DST (QuickBooks' quirk)."""
        local = moment.astimezone(self.zone)
        offset = (local.utcoffset() or timedelta(0)) - (local.dst() or timedelta(0))
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{local.replace(tzinfo=None).isoformat(timespec='seconds')}{sign}{hours:02d}:{mins:02d}"

    @contextmanager
    def clock_override(self, clock: Clock) -> Iterator[None]:
        """Run with another clock (the seeder backdates records); restores the original afterwards."""
        original = self.clock
        self.clock = clock
        try:
            yield
        finally:
            self.clock = original

    def _new_list_id(self, moment: datetime) -> str:
        list_id = f"{self._list_seq:08X}-{int(moment.timestamp())}"
        self._list_seq += 1
        return list_id

    def _new_txn_id(self, moment: datetime) -> str:
        txn_id = f"{self._txn_seq:X}-{int(moment.timestamp())}"
        self._txn_seq += 1
        return txn_id

    @staticmethod
    def _next_edit_sequence(moment: datetime, previous: str | None) -> str:
        stamp = int(moment.timestamp())
        if previous is not None and previous.isdigit():
            stamp = max(stamp, int(previous) + 1)
        return str(stamp)

    def _touch(self, record: Customer | Invoice | ReceivePayment | Account | PaymentMethod | Item) -> None:
        moment = self.now()
        record.time_modified = max(moment, record.time_modified)
        record.edit_sequence = self._next_edit_sequence(moment, record.edit_sequence)

    def touch(self, object_id: str) -> None:
        """Mark any list or transaction object as edited (new EditSequence), as a bookkeeper's save would."""
        record = (
            self.customers.get(object_id)
            or self.invoices.get(object_id)
            or self.receive_payments.get(object_id)
            or self.accounts.get(object_id)
            or self.payment_methods.get(object_id)
            or self.items.get(object_id)
        )
        if record is None:
            raise KeyError(object_id)
        self._touch(record)

    # -- names --------------------------------------------------------------------------------------------

    def _check_name(self, name: str, field_name: str = "Name", limit: int = NAME_MAX) -> None:
        if not name.strip():
            raise StatusError(3150, f'There is a missing element: "{field_name}".')
        if len(name) > limit:
            raise too_long(name, field_name)
        if ":" in name:
            raise StatusError(3210, f'The "{field_name}" field cannot contain a colon (":").')

    def _claim_entity_name(self, full_name: str, owner_id: str | None) -> None:
        holder = self._entity_names.get(full_name.casefold())
        if holder is not None and holder != owner_id:
            raise name_in_use(full_name)

    # -- customers ----------------------------------------------------------------------------------------

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
                raise StatusError(3130, _parent_message(parent_id))
        full_name = f"{parent.full_name}:{name}" if parent else name
        self._claim_entity_name(full_name, None)
        moment = self.now()
        customer = Customer(
            list_id=self._new_list_id(moment),
            name=name,
            full_name=full_name,
            time_created=moment,
            time_modified=moment,
            edit_sequence=self._next_edit_sequence(moment, None),
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
                raise StatusError(3130, _parent_message(new_parent_id))
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

    def _recompute_balance(self, customer_id: str) -> None:
        open_total = sum(
            (self.invoices[t].balance_remaining for t in self._invoices_by_customer.get(customer_id, ())),
            ZERO,
        )
        unused = sum(
            (
                self.receive_payments[t].unused_payment
                for t in self._payments_by_customer.get(customer_id, ())
            ),
            ZERO,
        )
        self.customers[customer_id].balance = open_total - unused

    # -- other names, accounts, payment methods, items ----------------------------------------------------

    def add_other_entity(self, kind: str, name: str) -> OtherEntity:
        """A vendor/employee/other name (seeding and tests): shares the name space with customers."""
        if kind not in ENTITY_KINDS:
            raise ValueError(f"kind must be one of {ENTITY_KINDS}")
        self._check_name(name)
        self._claim_entity_name(name, None)
        moment = self.now()
        entity = OtherEntity(
            self._new_list_id(moment), kind, name, moment, moment, self._next_edit_sequence(moment, None)
        )
        self.other_entities[entity.list_id] = entity
        self._entity_names[name.casefold()] = entity.list_id
        return entity

    def find_account(self, list_id: str | None = None, full_name: str | None = None) -> Account | None:
        if list_id is not None:
            return self.accounts.get(list_id)
        if full_name is None:
            return None
        key = full_name.casefold()
        return next((a for a in self.accounts.values() if self.account_full_name(a).casefold() == key), None)

    def account_full_name(self, account: Account) -> str:
        """``Parent:Child`` for a sub-account, the name for a top-level one."""
        names = [account.name]
        parent_id = account.parent_id
        while parent_id is not None:
            parent = self.accounts[parent_id]
            names.append(parent.name)
            parent_id = parent.parent_id
        return ":".join(reversed(names))

    def add_account(
        self,
        name: str,
        account_type: str,
        *,
        is_active: bool = True,
        special_account_type: str | None = None,
        account_number: str | None = None,
        bank_number: str | None = None,
        desc: str | None = None,
        parent_id: str | None = None,
    ) -> Account:
        """A sub-account when ``parent_id`` is given; names are unique among an account's siblings."""
        self._check_name(name, limit=31)
        siblings = (a for a in self.accounts.values() if a.parent_id == parent_id)
        if _by_name(siblings, name):
            raise name_in_use(name)
        moment = self.now()
        account = Account(
            self._new_list_id(moment),
            name,
            account_type,
            moment,
            moment,
            self._next_edit_sequence(moment, None),
            is_active=is_active,
            special_account_type=special_account_type,
            account_number=account_number,
            bank_number=bank_number,
            desc=desc,
            parent_id=parent_id,
        )
        self.accounts[account.list_id] = account
        return account

    def account_balance(self, account: Account) -> Decimal:
        """Derived from the transactions: AR carries open invoices less unused payments; a deposit account
        carries the payments deposited into it, at their home-currency value (TotalAmount × ExchangeRate).
        Other accounts have no postings in this simulator. Not modelled: QuickBooks' separate A/R account per
        foreign currency (here A/R adds each customer's amounts as they are) and exchange gains/losses."""
        if account.account_type == "AccountsReceivable":
            invoices = sum(
                (i.balance_remaining for i in self.invoices.values() if i.ar_account_id == account.list_id),
                ZERO,
            )
            unused = sum(
                (
                    p.unused_payment
                    for p in self.receive_payments.values()
                    if p.ar_account_id == account.list_id
                ),
                ZERO,
            )
            return invoices - unused
        return sum(
            (
                p.home_amount
                for p in self.receive_payments.values()
                if p.deposit_to_account_id == account.list_id
            ),
            ZERO,
        )

    def default_ar_account(self) -> Account | None:
        return next((a for a in self.accounts.values() if a.account_type == "AccountsReceivable"), None)

    def undeposited_funds(self) -> Account | None:
        return next((a for a in self.accounts.values() if a.special_account_type == "UndepositedFunds"), None)

    def find_payment_method(
        self, list_id: str | None = None, full_name: str | None = None
    ) -> PaymentMethod | None:
        if list_id is not None:
            return self.payment_methods.get(list_id)
        return _by_name(self.payment_methods.values(), full_name)

    def add_payment_method(
        self, name: str, payment_method_type: str | None = None, *, is_active: bool = True
    ) -> PaymentMethod:
        self._check_name(name, limit=31)
        if _by_name(self.payment_methods.values(), name):
            raise name_in_use(name)
        moment = self.now()
        method = PaymentMethod(
            self._new_list_id(moment),
            name,
            moment,
            moment,
            self._next_edit_sequence(moment, None),
            is_active=is_active,
            payment_method_type=payment_method_type,
        )
        self.payment_methods[method.list_id] = method
        return method

    def find_item(self, list_id: str | None = None, full_name: str | None = None) -> Item | None:
        if list_id is not None:
            return self.items.get(list_id)
        return _by_name(self.items.values(), full_name)

    def add_item(
        self,
        kind: str,
        name: str,
        *,
        desc: str | None = None,
        price: Decimal | None = None,
        account_id: str | None = None,
        is_active: bool = True,
    ) -> Item:
        if kind not in ("ItemService", "ItemNonInventory", "ItemOtherCharge"):
            raise ValueError("kind must be ItemService, ItemNonInventory or ItemOtherCharge")
        self._check_name(name, limit=31)
        if _by_name(self.items.values(), name):
            raise name_in_use(name)
        moment = self.now()
        item = Item(
            self._new_list_id(moment),
            kind,
            name,
            moment,
            moment,
            self._next_edit_sequence(moment, None),
            is_active=is_active,
            desc=desc,
            price=price,
            account_id=account_id,
        )
        self.items[item.list_id] = item
        return item

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

    # -- invoices -----------------------------------------------------------------------------------------

    def invoices_of(self, customer_id: str) -> list[Invoice]:
        return [self.invoices[t] for t in self._invoices_by_customer.get(customer_id, ())]

    def payments_of(self, customer_id: str) -> list[ReceivePayment]:
        return [self.receive_payments[t] for t in self._payments_by_customer.get(customer_id, ())]

    def _next_invoice_number(self) -> str:
        """QuickBooks numbers a new invoice one above the highest numeric RefNumber so far."""
        if self._max_invoice_number is None:
            numbers = (
                int(i.ref_number) for i in self.invoices.values() if i.ref_number and i.ref_number.isdigit()
            )
            self._max_invoice_number = max(numbers, default=1000)
        return str(self._max_invoice_number + 1)

    def add_invoice(
        self,
        customer_id: str,
        lines: Sequence[NewInvoiceLine],
        *,
        ar_account_id: str | None = None,
        txn_date: date | None = None,
        ref_number: str | None = None,
        due_date: date | None = None,
        po_number: str | None = None,
        memo: str | None = None,
        external_guid: str | None = None,
        is_pending: bool = False,
        is_to_be_printed: bool = False,
        is_to_be_emailed: bool = False,
        bill_address: Mapping[str, str] | None = None,
        ship_address: Mapping[str, str] | None = None,
    ) -> Invoice:
        customer = self.customers[customer_id]
        ar_account = self.accounts[ar_account_id] if ar_account_id else self.default_ar_account()
        if ar_account is None:
            raise StatusError(3140, _ref_message("Account", "Accounts Receivable", "Invoice"))
        moment = self.now()
        built: list[InvoiceLine] = []
        for line in lines:
            item = self.items.get(line.item_id) if line.item_id else None
            rate = line.rate if line.rate is not None else (item.price if item else None)
            if line.amount is not None:
                amount = money(line.amount)
            elif rate is not None:
                amount = money(rate * (line.quantity if line.quantity is not None else Decimal(1)))
            else:
                amount = ZERO
            built.append(
                InvoiceLine(
                    txn_line_id=self._new_txn_id(moment),
                    item_id=line.item_id,
                    desc=line.desc if line.desc is not None else (item.desc if item else None),
                    quantity=line.quantity,
                    rate=rate,
                    amount=amount,
                )
            )
        the_date = txn_date or moment.astimezone(self.zone).date()
        invoice = Invoice(
            txn_id=self._new_txn_id(moment),
            txn_number=self._take_txn_number(),
            time_created=moment,
            time_modified=moment,
            edit_sequence=self._next_edit_sequence(moment, None),
            customer_id=customer.list_id,
            ar_account_id=ar_account.list_id,
            txn_date=the_date,
            ref_number=ref_number if ref_number is not None else self._next_invoice_number(),
            due_date=due_date or the_date,
            subtotal=sum((line.amount for line in built), ZERO),
            lines=built,
            po_number=po_number,
            memo=memo,
            external_guid=external_guid,
            is_pending=is_pending,
            is_to_be_printed=is_to_be_printed,
            is_to_be_emailed=is_to_be_emailed,
            bill_address=dict(
                bill_address if bill_address is not None else customer.addresses.get("BillAddress", {})
            ),
            ship_address=dict(
                ship_address if ship_address is not None else customer.addresses.get("ShipAddress", {})
            ),
        )
        self.invoices[invoice.txn_id] = invoice
        if self._max_invoice_number is not None and invoice.ref_number and invoice.ref_number.isdigit():
            self._max_invoice_number = max(self._max_invoice_number, int(invoice.ref_number))
        self._invoices_by_customer.setdefault(customer.list_id, []).append(invoice.txn_id)
        self._recompute_balance(customer.list_id)
        return invoice

    def _payment_rate(self, customer: Customer, rate: Decimal | None) -> Decimal | None:
        if rate is not None and not self.multicurrency:
            raise StatusError(
                3250, "This feature is not enabled or not available in this version of QuickBooks."
            )
        if rate is not None and rate <= ZERO:
            raise StatusError(3210, f'The exchange rate "{rate}" is not valid. It must be greater than zero.')
        if customer.currency is None:
            if rate is not None and rate != 1:
                raise StatusError(
                    3210,
                    f'The exchange rate "{rate}" is not valid for customer "{customer.full_name}", whose '
                    f"currency is the home currency {self.home_currency}: it is always 1.",
                )
            return None
        if rate is None:
            raise StatusError(3150, 'There is a missing element: "ExchangeRate".')
        return rate

    def _take_txn_number(self) -> int:
        number = self._txn_number
        self._txn_number += 1
        return number

    # -- payments -----------------------------------------------------------------------------------------

    def add_receive_payment(
        self,
        customer_id: str,
        *,
        total_amount: Decimal | None,
        applications: Sequence[NewApplication] = (),
        auto_apply: bool = False,
        ar_account_id: str | None = None,
        deposit_to_account_id: str | None = None,
        txn_date: date | None = None,
        ref_number: str | None = None,
        payment_method_id: str | None = None,
        memo: str | None = None,
        external_guid: str | None = None,
        exchange_rate: Decimal | None = None,
    ) -> ReceivePayment:
        """Record a payment and apply it.

        Explicit applications must name open invoices of this customer and may not exceed what is due
        (3210). `auto_apply` spends TotalAmount on the customer's open invoices, oldest first. Whatever is
        not applied stays on the customer as an unused payment (a credit).

        Amounts are in the customer's currency. ``exchange_rate`` (home units per unit of it) needs
        multicurrency (3250 otherwise) and must be positive; a home-currency customer only takes 1. A
        foreign-currency customer's payment needs one: this simulator has no currency list with stored
        rates to fall back on (QuickBooks would use the rate of the payment date from it).
        """
        customer = self.customers[customer_id]
        exchange_rate = self._payment_rate(customer, exchange_rate)
        ar_account = self.accounts[ar_account_id] if ar_account_id else self.default_ar_account()
        deposit = self.accounts[deposit_to_account_id] if deposit_to_account_id else self.undeposited_funds()
        if ar_account is None:
            raise StatusError(3140, _ref_message("Account", "Accounts Receivable", "ReceivePayment"))
        if deposit is None:
            raise StatusError(3140, _ref_message("Account", "Undeposited Funds", "ReceivePayment"))
        planned: dict[str, NewApplication] = {}
        for app in applications:
            if app.amount < ZERO or app.discount_amount < ZERO:
                raise StatusError(3210, "A payment amount cannot be negative.")
            invoice = self.invoices.get(app.invoice_txn_id)
            if invoice is None or invoice.customer_id != customer.list_id:
                raise not_found(app.invoice_txn_id)
            earlier = planned.get(invoice.txn_id)
            if earlier:
                app = NewApplication(
                    invoice.txn_id,
                    earlier.amount + app.amount,
                    earlier.discount_amount + app.discount_amount,
                    app.discount_account_id or earlier.discount_account_id,
                )
            if money(app.amount + app.discount_amount) > invoice.balance_remaining:
                raise StatusError(
                    3210,
                    f'There was an error when saving the payment applied to transaction "{invoice.txn_id}".  '
                    "QuickBooks error message: You cannot pay more than the amount due.",
                )
            planned[invoice.txn_id] = app
        applied = sum((money(a.amount) for a in planned.values()), ZERO)
        total = money(total_amount) if total_amount is not None else applied
        if total < ZERO:
            raise StatusError(3210, "The payment amount cannot be negative.")
        if applied > total:
            raise StatusError(
                3210,
                f"The amount applied to transactions ({applied}) is more than the amount of the payment ({total}).",
            )
        if auto_apply:
            remaining = total
            open_invoices = sorted(
                (i for i in self.invoices_of(customer.list_id) if i.balance_remaining > ZERO),
                key=lambda i: (i.txn_date, i.txn_number),
            )
            for invoice in open_invoices:
                if remaining <= ZERO:
                    break
                share = min(remaining, invoice.balance_remaining)
                planned[invoice.txn_id] = NewApplication(invoice.txn_id, share)
                remaining -= share
        moment = self.now()
        payment = ReceivePayment(
            txn_id=self._new_txn_id(moment),
            txn_number=self._take_txn_number(),
            time_created=moment,
            time_modified=moment,
            edit_sequence=self._next_edit_sequence(moment, None),
            customer_id=customer.list_id,
            ar_account_id=ar_account.list_id,
            txn_date=txn_date or moment.astimezone(self.zone).date(),
            total_amount=total,
            deposit_to_account_id=deposit.list_id,
            ref_number=ref_number,
            payment_method_id=payment_method_id,
            memo=memo,
            external_guid=external_guid,
            exchange_rate=exchange_rate,
            applications=[
                Application(
                    a.invoice_txn_id, money(a.amount), money(a.discount_amount), a.discount_account_id
                )
                for a in planned.values()
            ],
        )
        for made in payment.applications:
            invoice = self.invoices[made.invoice_txn_id]
            invoice.applied_amount += made.amount + made.discount_amount
            invoice.payments[payment.txn_id] = made.amount + made.discount_amount
            self._touch(invoice)
        self.receive_payments[payment.txn_id] = payment
        self._payments_by_customer.setdefault(customer.list_id, []).append(payment.txn_id)
        self._recompute_balance(customer.list_id)
        return payment

    def delete_transaction(self, txn_id: str) -> Invoice | ReceivePayment:
        """TxnDel. Deleting a payment reopens the invoices it paid; deleting an invoice leaves the payments
        that were applied to it as unused credit on the customer (both as QuickBooks does). The deletion is
        remembered with its time, for TxnDeletedQuery."""
        deleted = self._delete_transaction(txn_id)
        self.deleted_transactions.append(
            DeletedTransaction(
                "ReceivePayment" if isinstance(deleted, ReceivePayment) else "Invoice",
                deleted.txn_id,
                deleted.time_created,
                self.now(),
                deleted.ref_number,
            )
        )
        return deleted

    def _delete_transaction(self, txn_id: str) -> Invoice | ReceivePayment:
        if txn_id in self.receive_payments:
            payment = self.receive_payments.pop(txn_id)
            for app in payment.applications:
                invoice = self.invoices.get(app.invoice_txn_id)
                if invoice is not None:
                    invoice.applied_amount -= app.amount + app.discount_amount
                    invoice.payments.pop(payment.txn_id, None)
                    self._touch(invoice)
            self._payments_by_customer[payment.customer_id].remove(txn_id)
            self._recompute_balance(payment.customer_id)
            return payment
        if txn_id in self.invoices:
            invoice = self.invoices.pop(txn_id)
            for payment_id in invoice.payments:
                payment = self.receive_payments[payment_id]
                payment.applications = [a for a in payment.applications if a.invoice_txn_id != txn_id]
                self._touch(payment)
            self._invoices_by_customer[invoice.customer_id].remove(txn_id)
            self._recompute_balance(invoice.customer_id)
            return invoice
        raise not_found(txn_id)

    # -- error recovery -----------------------------------------------------------------------------------

    def remember_message_set(self, message_set_id: str, responses: Sequence[str]) -> None:
        self.last_message_set = StoredMessageSet(message_set_id, tuple(responses))

    def recall_message_set(self, message_set_id: str) -> StoredMessageSet | None:
        stored = self.last_message_set
        return stored if stored is not None and stored.message_set_id == message_set_id else None

    # -- persistence --------------------------------------------------------------------------------------

    _SAVED_COLLECTIONS: tuple[tuple[str, type], ...] = (
        ("customers", Customer),
        ("other_entities", OtherEntity),
        ("accounts", Account),
        ("payment_methods", PaymentMethod),
        ("items", Item),
        ("invoices", Invoice),
        ("receive_payments", ReceivePayment),
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "ml-connector-qb-simulator/1",
            "name": self.name,
            "time_zone": self.time_zone,
            "multicurrency": self.multicurrency,
            "home_currency": self.home_currency,
            "counters": {
                "list_seq": self._list_seq,
                "txn_seq": self._txn_seq,
                "txn_number": self._txn_number,
                "data_ext_id": self._data_ext_id,
            },
            **{
                attr: [_encode(record) for record in getattr(self, attr).values()]
                for attr, _ in self._SAVED_COLLECTIONS
            },
            "data_ext_defs": [_encode(d) for d in self.data_ext_defs],
            "deleted_transactions": [_encode(d) for d in self.deleted_transactions],
            "last_message_set": _encode(self.last_message_set) if self.last_message_set else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, clock: Clock | None = None) -> CompanyFile:
        company = cls(str(data["name"]), time_zone=str(data["time_zone"]), clock=clock)
        company.multicurrency = bool(data.get("multicurrency", False))
        company.home_currency = str(data.get("home_currency", "USD"))
        counters = data["counters"]
        company._list_seq = int(counters["list_seq"])
        company._txn_seq = int(counters["txn_seq"])
        company._txn_number = int(counters["txn_number"])
        company._data_ext_id = int(counters["data_ext_id"])
        for attr, record_type in cls._SAVED_COLLECTIONS:
            target = getattr(company, attr)
            for raw in data[attr]:
                record = _decode(record_type, raw)
                target[getattr(record, "txn_id", None) or record.list_id] = record
        company.data_ext_defs = [_decode(DataExtDef, d) for d in data["data_ext_defs"]]
        company.deleted_transactions = [
            _decode(DeletedTransaction, d) for d in data.get("deleted_transactions", [])
        ]
        stored = data.get("last_message_set")
        company.last_message_set = _decode(StoredMessageSet, stored) if stored else None
        company._rebuild_indexes()
        return company

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename) so a crash never leaves half a company file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        with self.lock:
            payload = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        tmp.write_text(payload, encoding="utf-8")
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path, *, clock: Clock | None = None) -> CompanyFile:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")), clock=clock)


# ----------------------------------------------------------------------------------------------------------


def _by_name(records: Any, name: str | None) -> Any:
    if name is None:
        return None
    key = name.casefold()
    return next((r for r in records if r.name.casefold() == key), None)


def _parent_message(parent: str) -> str:
    return (
        f'There is an invalid reference to a parent "{parent}" in the Customers list.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
    )


def _ref_message(list_name: str, ref: str, txn_name: str) -> str:
    return (
        f'There is an invalid reference to QuickBooks {list_name} "{ref}" in the {txn_name}.  '
        "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
    )


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


# JSON codec driven by the dataclass annotations, so adding a field never needs codec changes.


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal | datetime | date):
        return value.isoformat() if not isinstance(value, Decimal) else str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(annotation: Any, raw: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        inner = next(a for a in get_args(annotation) if a is not type(None))
        return _decode(inner, raw)
    if annotation is Decimal:
        return Decimal(raw)
    if annotation is datetime:
        return datetime.fromisoformat(raw)
    if annotation is date:
        return date.fromisoformat(raw)
    if origin is list:
        (inner,) = get_args(annotation)
        return [_decode(inner, v) for v in raw]
    if origin is tuple:
        inner = get_args(annotation)[0]
        return tuple(_decode(inner, v) for v in raw)
    if origin is dict:
        _, inner = get_args(annotation)
        return {k: _decode(inner, v) for k, v in raw.items()}
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = get_type_hints(annotation)
        # A field added after the file was saved keeps its default.
        return annotation(
            **{
                f.name: _decode(hints[f.name], raw[f.name])
                for f in dataclasses.fields(annotation)
                if f.name in raw
            }
        )
    return raw
