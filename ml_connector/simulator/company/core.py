"""The state of a company file and what every entity shares: the clock, identities, names and indexes.

`CompanyCore` holds all the collections and counters; the entity modules (`customers.py`, `lists.py`,
`transactions.py`) and `persistence.py` are mixins over it, combined into `CompanyFile` in the package's
`__init__`. Creating a record goes through `_new_list_record` / `_new_txn_record` so that ids, EditSequence
and TimeCreated/TimeModified follow the QuickBooks rules (see the package docstring) in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

from ml_connector.simulator.company.records import (
    NAME_MAX,
    Account,
    Clock,
    Customer,
    DataExtDef,
    DeletedTransaction,
    Invoice,
    Item,
    ListRecord,
    OtherEntity,
    PaymentMethod,
    ReceivePayment,
    StatusError,
    StoredMessageSet,
    TxnRecord,
    missing_element,
    name_in_use,
    too_long,
)

L = TypeVar("L", bound=ListRecord)
T = TypeVar("T", bound=TxnRecord)
N = TypeVar("N", bound=ListRecord)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def by_name(records: Iterable[N], name: str | None) -> N | None:
    """The record of that name, compared the way QuickBooks does (case-insensitively)."""
    if name is None:
        return None
    key = name.casefold()
    return next((r for r in records if r.name.casefold() == key), None)


class CompanyCore:
    """One QuickBooks company file. Not thread-safe by itself: callers hold `lock` (the processor does)."""

    _SAVED_COLLECTIONS: ClassVar[tuple[tuple[str, type], ...]] = (
        ("customers", Customer),
        ("other_entities", OtherEntity),
        ("accounts", Account),
        ("payment_methods", PaymentMethod),
        ("items", Item),
        ("invoices", Invoice),
        ("receive_payments", ReceivePayment),
    )
    """The record collections below, by attribute and record type, as `persistence.py` saves them."""

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

    def _take_txn_number(self) -> int:
        number = self._txn_number
        self._txn_number += 1
        return number

    def _new_list_record(self, record_type: type[L], **fields: Any) -> L:
        """A list element created now: a fresh ListID, its first EditSequence, TimeCreated = TimeModified."""
        moment = self.now()
        return record_type(
            list_id=self._new_list_id(moment),
            time_created=moment,
            time_modified=moment,
            edit_sequence=self._next_edit_sequence(moment, None),
            **fields,
        )

    def _new_txn_record(self, record_type: type[T], moment: datetime, **fields: Any) -> T:
        """A transaction created at `moment`: a fresh TxnID and TxnNumber, its first EditSequence."""
        return record_type(
            txn_id=self._new_txn_id(moment),
            txn_number=self._take_txn_number(),
            time_created=moment,
            time_modified=moment,
            edit_sequence=self._next_edit_sequence(moment, None),
            **fields,
        )

    def _touch(self, record: ListRecord | TxnRecord) -> None:
        moment = self.now()
        record.time_modified = max(moment, record.time_modified)
        record.edit_sequence = self._next_edit_sequence(moment, record.edit_sequence)

    def touch(self, object_id: str) -> None:
        """Mark any list or transaction object as edited (new EditSequence), as a bookkeeper's save would."""
        record: ListRecord | TxnRecord | None = (
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
            raise missing_element(field_name)
        if len(name) > limit:
            raise too_long(name, field_name)
        if ":" in name:
            raise StatusError(3210, f'The "{field_name}" field cannot contain a colon (":").')

    def _check_unique_name(self, records: Iterable[ListRecord], name: str) -> None:
        """A list with its own name space (accounts among siblings, payment methods, items): 31 characters."""
        self._check_name(name, limit=31)
        if by_name(records, name):
            raise name_in_use(name)

    def _claim_entity_name(self, full_name: str, owner_id: str | None) -> None:
        holder = self._entity_names.get(full_name.casefold())
        if holder is not None and holder != owner_id:
            raise name_in_use(full_name)

    # -- error recovery -----------------------------------------------------------------------------------

    def remember_message_set(self, message_set_id: str, responses: Sequence[str]) -> None:
        self.last_message_set = StoredMessageSet(message_set_id, tuple(responses))

    def recall_message_set(self, message_set_id: str) -> StoredMessageSet | None:
        stored = self.last_message_set
        return stored if stored is not None and stored.message_set_id == message_set_id else None
