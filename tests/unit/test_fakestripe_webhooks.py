"""Webhook delivery to a real local HTTP receiver, verified with the SDK's own signature check."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import httpx
import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer, signature_header


class Receiver:
    """A tiny webhook endpoint: records what arrives, answers with queued statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.received.append((body, self.headers.get("Stripe-Signature", "")))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stripe/webhook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def events(self, secret: str) -> list[stripe.Event]:
        with self.lock:
            return [stripe.Webhook.construct_event(body, sig, secret) for body, sig in self.received]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient("sk_test_webhooks", base_addresses={"api": server.url}, max_network_retries=0)


def _endpoint(client: stripe.StripeClient, url: str, events: list[str]) -> str:
    created = client.v1.webhook_endpoints.create(params=cast(Any, {"url": url, "enabled_events": events}))
    assert created.secret is not None and created.secret.startswith("whsec_")
    assert "secret" not in client.v1.webhook_endpoints.retrieve(created.id)  # shown only once
    return created.secret


def test_our_signature_matches_the_sdks_reference_signer() -> None:
    payload = '{"id": "evt_1", "object": "event"}'
    expected = stripe.WebhookSignature.generate_signature_header(payload, "whsec_test", timestamp=1_700_000_000)
    assert signature_header(payload.encode(), "whsec_test", 1_700_000_000) == expected


def test_subscribed_events_arrive_signed_and_verifiable(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    secret = _endpoint(client, receiver.url, ["customer.created", "invoice.paid"])
    cust = client.v1.customers.create(params={"email": "hook@acme.test"})
    client.v1.customers.update(cust.id, params={"name": "not subscribed"})
    assert server.fake.webhooks.flush(timeout=5)
    (event,) = receiver.events(secret)
    assert event.type == "customer.created" and event.data.object["id"] == cust.id
    assert client.v1.events.retrieve(event.id).pending_webhooks == 0
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(receiver.received[0][0], receiver.received[0][1], "whsec_wrong")


def test_a_failing_endpoint_is_retried_until_it_answers_2xx(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    secret = _endpoint(client, receiver.url, ["*"])
    server.fake.configure_webhooks(backoff_seconds=0.01)
    receiver.statuses = [500, 503]
    client.v1.customers.create(params={"name": "retry me"})
    assert server.fake.webhooks.flush(timeout=5)
    assert [e.type for e in receiver.events(secret)] == ["customer.created"] * 3
    assert [a.attempt for a in server.fake.webhooks.attempts()] == [1, 2, 3]


def test_duplicated_and_shuffled_delivery_still_delivers_every_event(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    secret = _endpoint(client, receiver.url, ["*"])
    server.fake.configure_webhooks(duplicates=1.0, shuffle=True, seed=7)
    server.fake.webhooks.pause()
    created = [client.v1.customers.create(params={"name": f"c{n}"}).id for n in range(10)]
    assert server.fake.webhooks.pending() == 30
    assert server.fake.webhooks.flush(timeout=0.2) is False  # paused: nothing moves
    server.fake.webhooks.resume()
    assert server.fake.webhooks.flush(timeout=5)
    events = receiver.events(secret)
    per_customer = Counter(e.data.object["id"] for e in events)
    assert per_customer == {cid: 3 for cid in created}
    arrival = list(dict.fromkeys(e.data.object["id"] for e in events))
    assert arrival != created  # out of creation order
    assert all(client.v1.events.retrieve(e.id).pending_webhooks == 0 for e in events[:3])


def test_disabled_and_deleted_endpoints_get_nothing(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    client.v1.customers.create(params={"name": "quiet"})
    client.v1.webhook_endpoints.delete(endpoint.id)
    client.v1.customers.create(params={"name": "quieter"})
    assert server.fake.webhooks.flush(timeout=5)
    assert receiver.received == []
    assert client.v1.webhook_endpoints.list().data == []


def test_the_invoice_payment_story_arrives_with_request_details(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    secret = _endpoint(client, receiver.url, ["invoice.paid", "invoice_payment.paid"])
    cust = client.v1.customers.create(params={"name": "Story"})
    inv = client.v1.invoices.create(params={"customer": cust.id, "collection_method": "send_invoice",
                                            "days_until_due": 10})
    client.v1.invoice_items.create(params={"invoice": inv.id, "amount": 4_200})
    client.v1.invoices.pay(inv.id, params={"payment_method": "pm_card_mastercard"},
                           options={"idempotency_key": "pay-story"})
    assert server.fake.webhooks.flush(timeout=5)
    events = {e.type: e for e in receiver.events(secret)}
    assert set(events) == {"invoice.paid", "invoice_payment.paid"}
    paid = events["invoice.paid"]
    assert paid.data.object["status"] == "paid" and paid.data.object["amount_paid"] == 4_200
    assert paid.request is not None and paid.request.idempotency_key == "pay-story"
    assert events["invoice_payment.paid"].data.object["invoice"] == inv.id
    assert json.loads(receiver.received[0][0])["api_version"] == "2026-10-28.endive"


def test_delivery_can_be_steered_over_http(
    server: FakeStripeServer, client: stripe.StripeClient, receiver: Receiver
) -> None:
    secret = _endpoint(client, receiver.url, ["customer.created"])
    config = httpx.post(f"{server.url}/_fake/webhooks/config", json={"duplicates": 0.5, "seed": 3}).json()
    assert config["duplicates"] == 0.5 and config["seed"] == 3 and config["shuffle"] is False
    assert httpx.post(f"{server.url}/_fake/webhooks/pause").json() == {"paused": True}
    client.v1.customers.create(params={"name": "held"})
    assert httpx.post(f"{server.url}/_fake/webhooks/flush", json={"timeout": 0.1}).json()["idle"] is False
    httpx.post(f"{server.url}/_fake/webhooks/resume")
    assert httpx.post(f"{server.url}/_fake/webhooks/flush", json={"timeout": 5}).json() == {"idle": True,
                                                                                           "pending": 0}
    attempts = httpx.get(f"{server.url}/_fake/webhooks/attempts").json()["attempts"]
    assert attempts and all(a["succeeded"] and a["status_code"] == 200 for a in attempts)
    assert {e.type for e in receiver.events(secret)} == {"customer.created"}
