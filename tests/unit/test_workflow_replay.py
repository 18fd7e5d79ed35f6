"""Workflows already running when ml-connector is upgraded carry on with the new worker.

The histories under tests/fixtures/workflow_histories/<Type>/ were recorded from the end-to-end scenarios
(tests/fixtures/record_histories.py; which code recorded them: RECORDED.md there): customer syncs across
continue-as-new runs, the clearing-account ledger through refunds, a dispute, fees and payouts, a Stripe-born
customer, and the invoice readers of the payment scenarios. Several are of workflows still running when
recorded, as a worker picking them up after an upgrade would find them. Today's workflow code must replay every
one of them without a nondeterminism error (PaymentWorkflow has its own: test_payment_workflow_upgrade.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker import WORKFLOWS

ROOT = Path(__file__).parents[1] / "fixtures" / "workflow_histories"
HISTORIES = sorted(ROOT.glob("*/*.json"))
RECORDED = {path: (path.with_suffix(".id").read_text().strip(), path.read_text()) for path in HISTORIES}


def test_each_long_lived_workflow_type_has_recorded_histories() -> None:
    assert {p.parent.name for p in HISTORIES} == {
        "CustomerSyncWorkflow",
        "LedgerWorkflow",
        "StripeCustomerWorkflow",
        "InvoiceReaderWorkflow",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_a_recorded_history_replays_on_todays_worker(path: Path) -> None:
    workflow_id, text = RECORDED[path]
    history = WorkflowHistory.from_json(workflow_id, text)
    assert history.events[0].workflow_execution_started_event_attributes.workflow_type.name == path.parent.name
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.parent.name}/{path.stem}: {result.replay_failure}"
