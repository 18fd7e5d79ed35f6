"""The reconciliation report of one company, read from Stripe and our database (I/O; no CLI, no HTTP).

Used by ``ml-connector reconcile`` and the gateway's ``/reconcile`` page. It plans from exactly the
inputs the ledger workflow plans from (:func:`ml_connector.ledger.io.inputs.gather`), so the posting keys
match and a "missing" row is precisely something the workflow has not posted (yet), and it compares
with what QuickBooks answered for each posting (the ``ledger_posting`` rows), never with our own plan.

Calls Stripe synchronously through :class:`StripeLedgerReader`: async callers run it in a thread.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import stripe
from sqlalchemy import Engine

from ml_connector.ledger.io import store
from ml_connector.ledger.io.inputs import gather, merge
from ml_connector.ledger.io.stripe_reader import StripeLedgerReader
from ml_connector.ledger.model import BalanceTxn, money
from ml_connector.ledger.reconcile import ReconReport, for_dates, for_payout, reconcile
from ml_connector.ledger.settings import LedgerSettings
from ml_connector.stripe.client import StripeGateway, StripeSettings
from ml_connector.stripe.shared_limit import limiter_for

if TYPE_CHECKING:  # only names its callers' types: the ledger imports no configuration at run time
    from ml_connector.config import CompanyConfig, Settings


class ReconcileError(ValueError):
    """The report cannot be made as asked (the caller's input or configuration); the message says why.

    ``not_found`` marks a payout Stripe does not know, so the web page can answer 404 instead of 400.
    """

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


CLEARING_OFF = (
    "clearing-account mode is off for {company}: the report compares Stripe's balance transactions with the "
    "Stripe clearing account in QuickBooks. Set MLC_CLEARING_ACCOUNT and MLC_BANK_ACCOUNT (or clearing_account "
    "and bank_account in the company's TOML table) to turn it on."
)


def stripe_reader(settings: Settings) -> StripeLedgerReader:
    """A reader on the account-wide rate limit, with its own retries; the caller checks
    ``settings.stripe.configured``."""
    cfg = settings.stripe
    return StripeLedgerReader(
        StripeGateway.from_settings(
            StripeSettings(api_key=cfg.api_key, api_base=cfg.api_base, rate_per_s=cfg.rate_per_s),
            limiter=limiter_for(
                settings.database_url, cfg.api_key, rate_per_s=cfg.rate_per_s, account_id=cfg.account_id
            ),
        )
    )


def clearing_company(settings: Settings, company_id: str | None) -> CompanyConfig:
    """The company to report on: the one named, else the only one in clearing-account mode."""
    if company_id:
        try:
            company = settings.company(company_id)
        except KeyError:
            known = ", ".join(c.id for c in settings.companies) or "none"
            raise ReconcileError(f"unknown company {company_id!r}; configured: {known}") from None
        if company.ledger is None:
            raise ReconcileError(CLEARING_OFF.format(company=company.id))
        return company
    clearing = [c for c in settings.companies if c.ledger is not None]
    if len(clearing) == 1:
        return clearing[0]
    if not clearing:
        names = ", ".join(c.id for c in settings.companies)
        raise ReconcileError(CLEARING_OFF.format(company=f"every configured company ({names or 'none'})"))
    raise ReconcileError("several companies are in clearing-account mode: choose one with --company ID")


def day_bounds(start: date, end: date) -> tuple[int, int]:
    """Unix seconds from ``start`` 00:00:00 to ``end`` 23:59:59 UTC, both inclusive (Stripe's ``created``)."""
    first = datetime.combine(start, time.min, tzinfo=UTC)
    last = datetime.combine(end, time(23, 59, 59), tzinfo=UTC)
    return int(first.timestamp()), int(last.timestamp())


def check_request(
    payout_id: str | None,
    start: date | None,
    end: date | None,
    names: tuple[str, str, str] = ("payout", "from", "to"),
) -> None:
    """Exactly one of a payout or a full date range, the range in order; raises :class:`ReconcileError`.

    ``names`` are how the caller spells the three inputs (``--payout`` on the command line).
    """
    payout, first, last = names
    if payout_id is not None and (start is not None or end is not None):
        raise ReconcileError(f"give either {payout} or {first}/{last}, not both")
    if payout_id is None:
        if start is None and end is None:
            raise ReconcileError(
                f"say what to reconcile: {payout} po_… (one payout) or {first} and {last} (a range of days)"
            )
        if start is None or end is None:
            raise ReconcileError(f"a date range needs both {first} (its first day) and {last} (its last day)")
        if end < start:
            raise ReconcileError(
                f"{last} {end.isoformat()} is before {first} {start.isoformat()}: the range would be empty"
            )
        return
    if not payout_id.startswith("po_") or payout_id != payout_id.strip():
        raise ReconcileError(f"{payout_id!r} is not a Stripe payout id (po_…)")


def build_report(
    settings: Settings,
    engine: Engine,
    reader: StripeLedgerReader,
    company_id: str,
    *,
    payout_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> ReconReport:
    """Every balance transaction of one payout, or created from ``start`` to ``end`` (UTC days), next to
    the QuickBooks transaction it became.

    Raises :class:`ReconcileError` for a request that cannot be answered (clearing mode off, bad range,
    a payout Stripe does not know); other Stripe failures propagate as the SDK's errors.
    """
    check_request(payout_id, start, end)
    company = clearing_company(settings, company_id)
    ledger = company.ledger
    assert ledger is not None  # clearing_company refuses the others
    if payout_id is not None:
        txns = _payout_txns(reader, payout_id)
        scope = f"payout {payout_id}"
    else:
        assert start is not None and end is not None
        created_gte, created_lte = day_bounds(start, end)
        txns = reader.balance_txns(created_gte=created_gte, created_lte=created_lte)
        scope = f"{start.isoformat()} to {end.isoformat()} (UTC)"
    inputs = gather(reader, engine, company.id, txns, payout_ids=[payout_id] if payout_id else [])
    # The ledger workflow plans only what was created from its start on (activities/ledger.py): plan the
    # same, or a fee group per payout that spans the start would differ from what was posted.
    cut, why = ledger_start(engine, company.id, ledger)
    kept = tuple(t for t in inputs.txns if cut is None or t.txn_date >= cut)
    inputs = replace(inputs, txns=kept)
    plan = inputs.plan(
        ledger.policy(
            home_currency=settings.posting.home_currency, payment_method=settings.posting.payment_method
        )
    )
    if payout_id is not None:
        selected = for_payout(payout_id, merge(txns, inputs.txns))
        payout = inputs.payouts.get(payout_id)
        if payout is not None:
            amount = money(payout.amount, payout.currency)
            scope += (
                f" ({payout.status}, {amount:f} {payout.currency.upper()}, arrival {payout.arrival_date})"
            )
    else:
        assert start is not None and end is not None
        selected = for_dates(start, end, merge(txns, inputs.txns))
    before = [t for t in selected if cut is not None and t.txn_date < cut]
    title = f"Stripe ⇄ QuickBooks reconciliation of {scope} for company {company.display_name}"
    if before:
        title += (
            f"; {len(before)} balance transaction(s) created before the ledger start {cut} ({why}) are "
            "left out: they were booked before clearing-account mode"
        )
    in_scope = [t for t in selected if cut is None or t.txn_date >= cut]
    return reconcile(title, in_scope, plan, store.posted(engine, company.id))


def ledger_start(engine: Engine, company_id: str, ledger: LedgerSettings) -> tuple[date | None, str]:
    """The first UTC day the ledger posts, and where it comes from, as the ledger workflow decides it:
    ``ledger_start`` when configured, else the day before the first payment booked into the clearing
    account (the booked date is company-local, UTC may be a day off), else no limit yet."""
    if ledger.ledger_start is not None:
        return ledger.ledger_start, "MLC_LEDGER_START"
    first = store.first_payment_date(engine, company_id)
    if first is None:
        return None, ""
    return first - timedelta(days=1), "the day before the first payment booked into the clearing account"


def _payout_txns(reader: StripeLedgerReader, payout_id: str) -> list[BalanceTxn]:
    """What the payout swept and its own transaction; Stripe's 404 or refusal becomes a clear message."""
    try:
        return reader.payout_txns(payout_id)
    except stripe.InvalidRequestError as exc:
        message = exc.user_message or str(exc)
        if exc.http_status == 404:
            raise ReconcileError(f"Stripe has no payout {payout_id}: {message}", not_found=True) from None
        raise ReconcileError(f"Stripe refused to list payout {payout_id}: {message}") from None
