"""Payments already under way when ml-connector is upgraded carry on with the new worker.

The histories under tests/fixtures/payment_histories were recorded by the release before the payment
workflow's database steps became local activities: payments posted (in full, in part, through a Stripe
invoice) and payments still waiting for a person (no invoice under the hold policy, one after creating the
QuickBooks customer). A held payment is retried weeks later by a worker running today's code, so today's
workflow must replay every one of them without a nondeterminism error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.payment import PaymentWorkflow

HISTORIES = sorted((Path(__file__).parents[1] / "fixtures" / "payment_histories").glob("*.json"))
RECORDED = {path.stem: path.read_text() for path in HISTORIES}


def test_the_recorded_histories_cover_posted_and_waiting_payments() -> None:
    assert {p.stem for p in HISTORIES} >= {"full", "partial", "invoiced", "held", "new_customer_held"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_a_payment_recorded_by_the_previous_release_replays_on_todays_worker(path: Path) -> None:
    history = WorkflowHistory.from_json(f"payment/acme/{path.stem}", RECORDED[path.stem])
    result = await Replayer(workflows=[PaymentWorkflow]).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure}"
