"""Reads what the ledger posts from the Stripe API: balance transactions, payouts and disputes.

Shared by the ledger activities (which post) and ``ml-connector reconcile`` (which reports), so both see
Stripe through the same calls: every list is walked to its end with ``starting_after``, balance
transactions come with their ``source`` expanded (a refund's or dispute's charge, a charge's presentment
currency), and everything goes through the rate-limited, retrying :class:`StripeGateway`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from typing import Any

import stripe

from ml_connector.ledger.model import (
    BalanceTxn,
    Dispute,
    Payout,
    balance_txn_from_stripe,
    dispute_from_stripe,
    payout_from_stripe,
)
from ml_connector.stripe.client import StripeGateway

PAGE = 100


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    result: dict[str, Any] = obj.to_dict()
    return result


def _range(field: str, gte: int | None, lte: int | None) -> dict[str, Any]:
    """Stripe's range filter (``created[gte]=…``), or nothing when both ends are open."""
    bounds = {k: v for k, v in (("gte", gte), ("lte", lte)) if v is not None}
    return {field: bounds} if bounds else {}


class StripeLedgerReader:
    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway

    def _walk(
        self, lister: Callable[[stripe.StripeClient, dict[str, Any]], Any], params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            page_params = dict(params, limit=PAGE)
            if after:
                page_params["starting_after"] = after
            page = _plain(self.gateway.call(lambda c, p=page_params: lister(c, p)))  # type: ignore[misc]
            data = [_plain(item) for item in page.get("data") or []]
            yield from data
            if not page.get("has_more") or not data:
                return
            after = str(data[-1]["id"])

    def balance_txns(
        self, *, created_gte: int | None = None, created_lte: int | None = None
    ) -> list[BalanceTxn]:
        """Every balance transaction created in the range (Unix seconds, inclusive), oldest first."""
        params: dict[str, Any] = {"expand": ["data.source"], **_range("created", created_gte, created_lte)}
        found = [
            balance_txn_from_stripe(item)
            for item in self._walk(lambda c, p: c.v1.balance_transactions.list(p), params)  # type: ignore[arg-type]
        ]
        return sorted(found, key=lambda t: (t.created, t.id))

    def payout_txns(self, payout_id: str) -> list[BalanceTxn]:
        """What a payout swept, plus its own transaction, each tagged with the payout."""
        params: dict[str, Any] = {"payout": payout_id, "expand": ["data.source"]}
        return [
            balance_txn_from_stripe(item, payout_id=payout_id)
            for item in self._walk(lambda c, p: c.v1.balance_transactions.list(p), params)  # type: ignore[arg-type]
        ]

    def payout(self, payout_id: str, *, was_paid: bool = False) -> Payout:
        return payout_from_stripe(
            _plain(self.gateway.call(lambda c: c.v1.payouts.retrieve(payout_id))), was_paid=was_paid
        )

    def payouts(self, *, arrival_gte: int | None = None, arrival_lte: int | None = None) -> list[Payout]:
        params: dict[str, Any] = _range("arrival_date", arrival_gte, arrival_lte)
        return [
            payout_from_stripe(item)
            for item in self._walk(lambda c, p: c.v1.payouts.list(p), params)  # type: ignore[arg-type]
        ]

    def dispute(self, dispute_id: str, *, closed_on: date | None = None) -> Dispute:
        found = dispute_from_stripe(_plain(self.gateway.call(lambda c: c.v1.disputes.retrieve(dispute_id))))
        return found if closed_on is None else replace(found, closed_on=closed_on)
