"""The ledger workflow's name, id and messages, shared by the gateway, the activities and the workflow.

One ledger workflow per company (``ledger/{company}``) posts every refund, dispute, fee and payout in
clearing-account mode. Webhooks and booked payments only *signal* it that something happened; each pass
re-reads Stripe's balance transactions, so a duplicated, late or out-of-order event changes nothing but
when the next pass runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_connector.stripe.events import ledger_workflow_id

__all__ = [
    "LEDGER_RESCAN_SIGNAL",
    "LEDGER_RETRY_SIGNAL",
    "LEDGER_SIGNAL",
    "LEDGER_WORKFLOW",
    "LedgerInput",
    "LedgerSignal",
    "ledger_workflow_id",
]

LEDGER_WORKFLOW = "LedgerWorkflow"
LEDGER_SIGNAL = "ledger_event"
LEDGER_RETRY_SIGNAL = "retry"
LEDGER_RESCAN_SIGNAL = "rescan"


@dataclass
class LedgerSignal:
    """Something moved money at Stripe: ``object_id`` is the refund, dispute, payout or charge concerned."""

    event_id: str = ""
    event_type: str = ""
    object_id: str = ""


@dataclass
class LedgerInput:
    company_id: str
    since: int = 0  # Unix seconds: balance transactions created from here (minus an overlap) are read
    payout_ids: list[str] = field(default_factory=list)  # payouts still on their way to the bank
    dispute_ids: list[str] = field(default_factory=list)
    passes: int = 0
