"""The fake Stripe's money movements through the real SDK: balance, refunds, disputes and automatic
payouts, with the balance transactions and events a reconciliation reads."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.fakestripe.money import processing_fee

DAY = 86400


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient("sk_test_balance", base_addresses={"api": server.url}, max_network_retries=0)


def _control(server: FakeStripeServer, path: str, body: dict[str, object] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/_fake{path}", json=body or {}, timeout=10)


def _charge(client: stripe.StripeClient, amount: int) -> stripe.Charge:
    pi = client.v1.payment_intents.create(params={
        "amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True})
    return client.v1.charges.retrieve(str(pi.latest_charge))


def _balance(client: stripe.StripeClient) -> tuple[int, int]:
    balance = client.v1.balance.retrieve()
    assert balance.object == "balance"
    return balance.available[0].amount, balance.pending[0].amount


def _events(server: FakeStripeServer, prefix: str) -> list[str]:
    return [e["type"] for e in reversed(server.fake.store.all("event", False)) if e["type"].startswith(prefix)]


def test_payments_are_pending_then_available_net_of_fees(client: stripe.StripeClient,
                                                        server: FakeStripeServer) -> None:
    _charge(client, 10_000)
    _charge(client, 2_000)
    net = 10_000 - processing_fee(10_000) + 2_000 - processing_fee(2_000)
    assert _balance(client) == (0, net)
    server.fake.advance_time(3 * DAY)
    assert _balance(client) == (net, 0)


def test_refunds_are_negative_balance_transactions_and_partials_add_up(client: stripe.StripeClient) -> None:
    charge = _charge(client, 9_000)
    first = client.v1.refunds.create(params={"charge": charge.id, "amount": 3_000})
    second = client.v1.refunds.create(params={"charge": charge.id, "amount": 6_000})
    txns = [client.v1.balance_transactions.retrieve(str(r.balance_transaction)) for r in (first, second)]
    assert [(t.type, t.reporting_category, t.amount, t.fee, t.source) for t in txns] == [
        ("refund", "refund", -3_000, 0, first.id), ("refund", "refund", -6_000, 0, second.id)]
    assert client.v1.charges.retrieve(charge.id).refunded


def test_a_dispute_withdraws_the_amount_and_a_fee_and_a_won_one_returns_the_amount(
    client: stripe.StripeClient, server: FakeStripeServer,
) -> None:
    charge = _charge(client, 5_000)
    opened = _control(server, "/disputes", {"charge": charge.id})
    assert opened.status_code == 200, opened.text
    dispute = client.v1.disputes.retrieve(opened.json()["id"])
    assert (dispute.status, dispute.amount, dispute.charge) == ("needs_response", 5_000, charge.id)
    [withdrawal] = dispute.balance_transactions
    assert (withdrawal.type, withdrawal.reporting_category, withdrawal.amount, withdrawal.fee, withdrawal.net) == (
        "adjustment", "dispute", -5_000, 1_500, -6_500)
    assert _control(server, "/disputes", {"charge": charge.id}).status_code == 400  # already disputed
    closed = _control(server, f"/disputes/{dispute.id}/close", {"outcome": "won"})
    assert closed.json()["status"] == "won"
    reinstated = client.v1.disputes.retrieve(dispute.id).balance_transactions[1]
    assert (reinstated.reporting_category, reinstated.amount, reinstated.fee) == ("dispute_reversal", 5_000, 0)
    assert _events(server, "charge.dispute.") == [
        "charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
        "charge.dispute.updated", "charge.dispute.closed"]
    assert [d.id for d in client.v1.disputes.list(params={"charge": charge.id}).data] == [dispute.id]


def test_a_lost_dispute_keeps_the_money_and_closes_without_reinstatement(
    client: stripe.StripeClient, server: FakeStripeServer,
) -> None:
    charge = _charge(client, 5_000)
    dispute_id = _control(server, "/disputes", {"charge": charge.id}).json()["id"]
    assert _control(server, f"/disputes/{dispute_id}/close", {"outcome": "lost"}).json()["status"] == "lost"
    assert len(client.v1.disputes.retrieve(dispute_id).balance_transactions) == 1
    assert "charge.dispute.funds_reinstated" not in _events(server, "charge.dispute.")
    assert _control(server, f"/disputes/{dispute_id}/close", {"outcome": "won"}).status_code == 400


def test_an_automatic_payout_sweeps_the_available_balance_and_lists_what_it_contains(
    client: stripe.StripeClient, server: FakeStripeServer,
) -> None:
    first = _charge(client, 10_000)
    refund = client.v1.refunds.create(params={"charge": first.id, "amount": 1_000})
    server.fake.advance_time(3 * DAY)
    later = _charge(client, 7_000)  # still pending: not in this payout
    assert _control(server, "/payouts/run").status_code == 200
    [payout] = client.v1.payouts.list().data
    expected = 10_000 - processing_fee(10_000) - 1_000
    assert (payout.amount, payout.status, payout.automatic) == (expected, "pending", True)
    contained = client.v1.balance_transactions.list(params={"payout": payout.id, "limit": 100}).data
    assert sorted(str(t.source) for t in contained) == sorted([first.id, refund.id, payout.id])
    assert later.id not in {t.source for t in contained}
    assert sum(t.net for t in contained) == 0  # a payout empties exactly what it swept
    assert _balance(client) == (0, 7_000 - processing_fee(7_000))
    assert _control(server, "/payouts/run").status_code == 400  # nothing available any more
    assert _control(server, f"/payouts/{payout.id}/status", {"status": "in_transit"}).status_code == 200
    paid = _control(server, f"/payouts/{payout.id}/status", {"status": "paid"}).json()
    assert paid["status"] == "paid"
    assert _events(server, "payout.") == ["payout.created", "payout.updated", "payout.updated", "payout.paid"]


def test_a_failed_payout_returns_its_money_to_the_balance(client: stripe.StripeClient,
                                                         server: FakeStripeServer) -> None:
    _charge(client, 10_000)
    server.fake.advance_time(3 * DAY)
    payout_id = _control(server, "/payouts/run").json()["id"]
    failed = _control(server, f"/payouts/{payout_id}/status", {"status": "failed"}).json()
    assert failed["failure_code"] == "account_closed"
    back = client.v1.balance_transactions.retrieve(failed["failure_balance_transaction"])
    assert (back.type, back.reporting_category, back.amount) == ("payout_failure", "payout_reversal",
                                                                  10_000 - processing_fee(10_000))
    assert _balance(client) == (10_000 - processing_fee(10_000), 0)
    assert "payout.failed" in _events(server, "payout.")
    assert _control(server, f"/payouts/{payout_id}/status", {"status": "paid"}).status_code == 400
