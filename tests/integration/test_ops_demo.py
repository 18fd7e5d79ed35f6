"""`ml-connector demo`, short: the summary a person reads matches the simulated QuickBooks and the fake Stripe."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from ml_connector.cli.demo import DemoOptions, DemoSummary, Sandbox, demo_main
from ml_connector.qbxml.payments import external_guid_for

pytestmark = pytest.mark.slow


async def test_the_demo_story_lands_every_payment_once_and_its_summary_matches_both_systems(tmp_path):
    checked: dict[str, object] = {}

    def verify(box: Sandbox, summary: DemoSummary) -> None:
        """Independent of the demo's own read-back: look into both systems directly."""
        company = box.company
        sdk = box.sdk
        with company.lock:
            active = [c for c in company.customers.values() if c.sublevel == 0 and c.is_active]
            receive = list(company.receive_payments.values())
            assert summary.qb_customers == len(active)
            assert summary.new_customer_in_qb in {c.name for c in active}
            for pi, amount in summary.payments.items():
                mine = [p for p in receive if p.external_guid == external_guid_for(pi)]
                assert len(mine) == 1, f"{pi} booked {len(mine)} times"
                intent = sdk.v1.payment_intents.retrieve(pi)
                assert intent.status == "succeeded"
                assert mine[0].total_amount == amount == Decimal(intent.amount_received) / 100
            for _ref, txn, balance, status in summary.invoices:
                assert company.invoices[txn].balance_remaining == balance == Decimal("0.00")
                assert status.startswith("paid")
        stripe_customers = list(sdk.v1.customers.list({"limit": 100}).auto_paging_iter())
        assert summary.stripe_customers == len(stripe_customers) == len(active)
        assert summary.webhook_deliveries > summary.webhook_events, "some webhooks came twice"
        checked["ok"] = True

    out = io.StringIO()
    summary, problems = await demo_main(
        DemoOptions(data_dir=tmp_path / "demo", ui=False, customers=5, open_invoices=6, payments=3),
        out,
        inspect=verify,
    )
    text = out.getvalue()

    assert checked.get("ok") is True
    assert problems == []
    assert [outcome.startswith("done") for _, outcome in summary.steps] == [True, True, True], summary.steps
    assert len(summary.payments) == 3 and summary.booked_once
    assert [writes for _, writes, _ in summary.lost_batches] == [True], "a document of payments lost its answer"
    assert "each Stripe payment booked exactly once: yes" in text
    assert "Everything landed once, to the cent." in text
    total = sum(summary.payments.values(), Decimal(0))
    assert f"Stripe 3 totalling {total:.2f} USD · QuickBooks 3 ReceivePayment(s) totalling {total:.2f} USD" in text
    assert "Lost response  a document of" in text
    assert (tmp_path / "demo" / "demo.log").stat().st_size > 0, "the product's logs went to the file"
