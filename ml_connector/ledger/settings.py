"""Clearing-account mode settings: parsed from ``MLC_*`` variables or a company's TOML table, checked all at once.

The same keys work in both places (``MLC_CLEARING_ACCOUNT`` ↔ ``clearing_account``); a company's TOML keys
override the environment. Setting a clearing account turns the mode on; without one, payments keep going
straight to ``MLC_DEPOSIT_ACCOUNT`` and refunds, disputes, fees and payouts are left to the bookkeeper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ml_connector.ledger.model import FeeMode, LedgerPolicy, LostDisputePolicy

# (TOML key, environment variable, default). A default of None means "required once the mode is on".
KEYS: tuple[tuple[str, str, str | None], ...] = (
    ("clearing_account", "MLC_CLEARING_ACCOUNT", ""),
    ("bank_account", "MLC_BANK_ACCOUNT", None),
    ("stripe_fees_account", "MLC_STRIPE_FEES_ACCOUNT", "Stripe Fees"),
    ("fee_mode", "MLC_FEE_MODE", "per_charge"),
    ("lost_dispute", "MLC_LOST_DISPUTE", "reopen"),
    ("write_off_account", "MLC_WRITE_OFF_ACCOUNT", "Bad Debt"),
    ("refund_item", "MLC_REFUND_ITEM", "Stripe Refund"),
    ("refund_income_account", "MLC_REFUND_INCOME_ACCOUNT", "Stripe Refunds"),
    ("ar_account", "MLC_AR_ACCOUNT", "Accounts Receivable"),
    ("multicurrency", "MLC_MULTICURRENCY", "false"),
    ("ledger_start", "MLC_LEDGER_START", ""),
)
FEE_MODES: tuple[FeeMode, ...] = ("per_charge", "per_payout")
LOST_DISPUTE: tuple[LostDisputePolicy, ...] = ("reopen", "write_off")


@dataclass(frozen=True)
class LedgerSettings:
    """A company's clearing-account bookkeeping, as configured (account and item names are QuickBooks names).

    ``ledger_start``: Stripe balance transactions created before this date are not posted (they were booked
    before the mode was on; the clearing account's opening balance is the bookkeeper's). ``None``: from the
    day before the first payment booked into the clearing account.
    """

    clearing_account: str
    bank_account: str
    fees_account: str = "Stripe Fees"
    fee_mode: FeeMode = "per_charge"
    lost_dispute: LostDisputePolicy = "reopen"
    write_off_account: str = "Bad Debt"
    refund_item: str = "Stripe Refund"
    refund_income_account: str = "Stripe Refunds"
    ar_account: str = "Accounts Receivable"
    multicurrency: bool = False
    ledger_start: date | None = None

    def policy(self, *, home_currency: str, payment_method: str | None) -> LedgerPolicy:
        return LedgerPolicy(
            clearing_account=self.clearing_account,
            bank_account=self.bank_account,
            fees_account=self.fees_account,
            home_currency=home_currency,
            multicurrency=self.multicurrency,
            fee_mode=self.fee_mode,
            lost_dispute=self.lost_dispute,
            ar_account=self.ar_account,
            refund_item=self.refund_item,
            payment_method=payment_method,
            write_off_account=self.write_off_account,
        )


def parse_ledger(
    table: Mapping[str, object], env: Mapping[str, str], where: str, problems: list[str]
) -> LedgerSettings | None:
    """Settings for one company from its TOML ``table`` over ``env``; ``None`` when the mode is off.

    Every problem is appended to ``problems`` naming both spellings of the setting, so one run of
    ``ml-connector check`` shows them all.
    """
    values: dict[str, str] = {}
    for key, variable, default in KEYS:
        raw = table.get(key)
        if raw is None:
            raw = env.get(variable)
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        if raw is not None and not isinstance(raw, str | date):
            problems.append(f"{where}: {key} ({variable}) must be text, got {raw!r}")
            raw = None
        text = str(raw).strip() if raw is not None else ""
        values[key] = text or (default or "")
    if not values["clearing_account"]:
        return None

    def label(key: str) -> str:
        variable = next(v for k, v, _ in KEYS if k == key)
        return f"{where}: {key} ({variable})"

    if not values["bank_account"]:
        problems.append(
            f"{label('bank_account')}: clearing-account mode needs the bank account payouts land in"
        )
    for key in (
        "clearing_account",
        "bank_account",
        "stripe_fees_account",
        "write_off_account",
        "refund_item",
        "refund_income_account",
        "ar_account",
    ):
        if len(values[key]) > 159:
            problems.append(f"{label(key)}: QuickBooks names are at most 159 characters")
    names = {k: values[k].casefold() for k in ("clearing_account", "bank_account", "stripe_fees_account")}
    if names["clearing_account"] in (names["bank_account"], names["stripe_fees_account"]):
        problems.append(
            f"{label('clearing_account')}: must be its own account, not the bank or fees account "
            "(it mirrors the Stripe balance)"
        )
    fee_mode = values["fee_mode"].lower()
    if fee_mode not in FEE_MODES:
        problems.append(f"{label('fee_mode')}: {fee_mode!r} is not one of {', '.join(FEE_MODES)}")
        fee_mode = "per_charge"
    lost = values["lost_dispute"].lower()
    if lost not in LOST_DISPUTE:
        problems.append(f"{label('lost_dispute')}: {lost!r} is not one of {', '.join(LOST_DISPUTE)}")
        lost = "reopen"
    multicurrency = values["multicurrency"].lower()
    if multicurrency not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        problems.append(f"{label('multicurrency')}: {multicurrency!r} is not true or false")
    start: date | None = None
    if values["ledger_start"]:
        try:
            start = date.fromisoformat(values["ledger_start"])
        except ValueError:
            problems.append(
                f"{label('ledger_start')}: {values['ledger_start']!r} is not a date like 2026-11-01"
            )
    return LedgerSettings(
        clearing_account=values["clearing_account"],
        bank_account=values["bank_account"],
        fees_account=values["stripe_fees_account"],
        fee_mode=fee_mode,  # type: ignore[arg-type]
        lost_dispute=lost,  # type: ignore[arg-type]
        write_off_account=values["write_off_account"],
        refund_item=values["refund_item"],
        refund_income_account=values["refund_income_account"],
        ar_account=values["ar_account"],
        multicurrency=multicurrency in ("1", "true", "yes", "on"),
        ledger_start=start,
    )
