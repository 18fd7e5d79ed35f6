"""What the ledger logic reads: Stripe balance transactions, payouts and disputes as frozen values, the
QuickBooks side of each charge, and the bookkeeping policy.

Amounts stay in Stripe's integer minor units here (``amount``, ``fee``, ``net`` in the *settlement*
currency, i.e. the currency of the Stripe balance) and become ``Decimal`` only in postings. The adapter
functions build these values from the stripe SDK's objects (or the equivalent dicts), so the rest of the
package never touches the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from ml_connector.stripe.money import to_decimal

FeeMode = Literal["per_charge", "per_payout"]
LostDisputePolicy = Literal["reopen", "write_off"]

# reporting_category values (Stripe's accounting classification) the ledger posts.
CHARGE = "charge"
REFUND = "refund"
DISPUTE = "dispute"
DISPUTE_REVERSAL = "dispute_reversal"
FEE = "fee"
PAYOUT = "payout"
PAYOUT_REVERSAL = "payout_reversal"
OTHER_ADJUSTMENT = "other_adjustment"


@dataclass(frozen=True, kw_only=True)
class BalanceTxn:
    """One Stripe balance transaction. ``source_id`` is the ch_/re_/dp_/po_ object that caused it;
    ``charge_id`` the charge a refund or dispute belongs to; ``payout_id`` the payout that swept it (from
    ``/v1/balance_transactions?payout=po_…``), if any yet."""

    id: str
    type: str
    reporting_category: str
    amount: int
    fee: int
    net: int
    currency: str
    created: datetime
    available_on: datetime
    source_id: str | None = None
    charge_id: str | None = None
    payout_id: str | None = None
    exchange_rate: Decimal | None = None
    presentment_currency: str | None = None
    presentment_amount: int | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.created.tzinfo is None or self.available_on.tzinfo is None:
            raise ValueError("balance transaction times must be timezone-aware")
        if self.amount - self.fee != self.net:
            raise ValueError(f"{self.id}: amount - fee != net ({self.amount} - {self.fee} != {self.net})")

    @property
    def txn_date(self) -> date:
        return self.created.astimezone(UTC).date()


PayoutStatus = Literal["pending", "in_transit", "paid", "failed", "canceled"]


@dataclass(frozen=True, kw_only=True)
class Payout:
    """``was_paid`` is true for a payout that reached ``paid`` before it failed (the bank saw the money
    and gave it back): its deposit stays posted and the failure posts a reversal."""

    id: str
    amount: int
    currency: str
    status: PayoutStatus
    arrival_date: date
    was_paid: bool = False

    @property
    def deposit_posted(self) -> bool:
        return self.status == "paid" or (self.status == "failed" and self.was_paid)


DisputeStatus = Literal[
    "warning_needs_response", "warning_under_review", "warning_closed", "needs_response", "under_review",
    "won", "lost", "prevented",
]


@dataclass(frozen=True, kw_only=True)
class Dispute:
    id: str
    charge_id: str
    amount: int
    currency: str
    status: str
    closed_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class ChargeContext:
    """The QuickBooks side of a charge, as the payment workflow recorded it."""

    charge_id: str
    customer_list_id: str
    invoice_txn_id: str | None = None
    invoice_ref_number: str | None = None
    payment_txn_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class LedgerPolicy:
    """How a company wants Stripe money posted. Account and item names are QuickBooks FullNames."""

    clearing_account: str
    bank_account: str
    fees_account: str
    home_currency: str = "usd"
    multicurrency: bool = False
    fee_mode: FeeMode = "per_charge"
    lost_dispute: LostDisputePolicy = "reopen"
    ar_account: str = "Accounts Receivable"
    refund_item: str = "Stripe Refund"
    payment_method: str | None = "Stripe"
    write_off_account: str = "Bad Debt"
    adjustments_account: str | None = None  # other Stripe adjustments; the fees account when not set

    def __post_init__(self) -> None:
        names = {self.clearing_account.casefold(), self.bank_account.casefold()}
        if len(names) != 2:
            raise ValueError("the clearing account and the bank account must be different accounts")
        if self.clearing_account.casefold() == self.fees_account.casefold():
            raise ValueError("the fees account must not be the clearing account")
        if len(self.home_currency) != 3:
            raise ValueError(f"home currency must be an ISO code, got {self.home_currency!r}")


# ------------------------------------------------------------------------------------- adapters


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _id_of(value: Any) -> str | None:
    """An expandable field: an id string, an expanded object, or nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    found = _field(value, "id")
    return str(found) if found else None


def _utc(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def balance_txn_from_stripe(
    obj: Any,
    *,
    charge_id: str | None = None,
    payout_id: str | None = None,
    presentment_currency: str | None = None,
    presentment_amount: int | None = None,
) -> BalanceTxn:
    """Build from an SDK ``BalanceTransaction`` (or its JSON dict).

    The charge a refund or dispute belongs to is not on the balance transaction itself; pass it, or
    expand ``source`` (a refund's ``charge``, a dispute's ``charge``) and it is read from there.
    """
    source = _field(obj, "source")
    source_id = _id_of(source)
    if charge_id is None and source is not None and not isinstance(source, str):
        charge_id = _id_of(_field(source, "charge"))
    if charge_id is None and source_id is not None and source_id.startswith(("ch_", "py_")):
        charge_id = source_id
    if presentment_currency is None and source is not None and not isinstance(source, str):
        if _field(source, "object") == "charge":
            presentment_currency = _field(source, "currency")
            presentment_amount = _field(source, "amount")
    rate = _field(obj, "exchange_rate")
    return BalanceTxn(
        id=str(_field(obj, "id")),
        type=str(_field(obj, "type")),
        reporting_category=str(_field(obj, "reporting_category") or _field(obj, "type")),
        amount=int(_field(obj, "amount")),
        fee=int(_field(obj, "fee") or 0),
        net=int(_field(obj, "net")),
        currency=str(_field(obj, "currency")).lower(),
        created=_utc(_field(obj, "created")),
        available_on=_utc(_field(obj, "available_on")),
        source_id=source_id,
        charge_id=charge_id,
        payout_id=payout_id,
        exchange_rate=Decimal(str(rate)) if rate is not None else None,
        presentment_currency=presentment_currency.lower() if presentment_currency else None,
        presentment_amount=int(presentment_amount) if presentment_amount is not None else None,
        description=_field(obj, "description"),
    )


def payout_from_stripe(obj: Any, *, was_paid: bool = False) -> Payout:
    return Payout(
        id=str(_field(obj, "id")),
        amount=int(_field(obj, "amount")),
        currency=str(_field(obj, "currency")).lower(),
        status=_field(obj, "status"),
        arrival_date=_utc(_field(obj, "arrival_date")).date(),
        was_paid=was_paid,
    )


def dispute_from_stripe(obj: Any) -> Dispute:
    return Dispute(
        id=str(_field(obj, "id")),
        charge_id=str(_id_of(_field(obj, "charge"))),
        amount=int(_field(obj, "amount")),
        currency=str(_field(obj, "currency")).lower(),
        status=str(_field(obj, "status")),
    )


def money(minor: int, currency: str) -> Decimal:
    """Minor units to a Decimal amount in that currency (zero-decimal currencies respected)."""
    return to_decimal(minor, currency)
