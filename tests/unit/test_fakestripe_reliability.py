"""Idempotency keys, rate limits, injected faults and request counting, seen through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import stripe

from ml_connector.fakestripe import ApiRequest, FakeStripe, FakeStripeServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return _client(server, "sk_test_reliability")


def _client(server: FakeStripeServer, key: str, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=retries)


def test_the_same_key_and_parameters_replay_the_first_response(client: stripe.StripeClient) -> None:
    params = {"email": "once@acme.test", "metadata": {"qb": "1"}}
    first = client.v1.customers.create(params=params, options={"idempotency_key": "create-once"})  # type: ignore[arg-type]
    again = client.v1.customers.create(params=params, options={"idempotency_key": "create-once"})  # type: ignore[arg-type]
    assert again.id == first.id
    assert again.last_response is not None and first.last_response is not None
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(client.v1.customers.list().data) == 1


def test_the_same_key_with_other_parameters_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.customers.create(params={"email": "a@acme.test"}, options={"idempotency_key": "k-1"})
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create(params={"email": "b@acme.test"}, options={"idempotency_key": "k-1"})
    assert raised.value.http_status == 400
    assert raised.value.error is not None and raised.value.error.type == "idempotency_error"


def test_keys_are_scoped_to_the_api_key(server: FakeStripeServer, client: stripe.StripeClient) -> None:
    other = _client(server, "sk_test_someone_else")
    mine = client.v1.customers.create(params={"name": "mine"}, options={"idempotency_key": "shared"})
    theirs = other.v1.customers.create(params={"name": "theirs"}, options={"idempotency_key": "shared"})
    assert mine.id != theirs.id and theirs.name == "theirs"


def test_keys_expire_after_24_hours(server: FakeStripeServer, client: stripe.StripeClient) -> None:
    first = client.v1.customers.create(params={"name": "x"}, options={"idempotency_key": "old"})
    server.fake.advance_time(24 * 3600 + 1)
    later = client.v1.customers.create(params={"name": "x"}, options={"idempotency_key": "old"})
    assert later.id != first.id


def test_a_card_decline_is_replayed_but_a_validation_error_is_not_saved(client: stripe.StripeClient) -> None:
    decline = {"amount": 900, "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": True}
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(params=decline, options={"idempotency_key": "pay-1"})  # type: ignore[arg-type]
    assert len(client.v1.payment_intents.list().data) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params=cast(Any, {"nmae": "typo"}), options={"idempotency_key": "fix-me"})
    fixed = client.v1.customers.create(params={"name": "fixed"}, options={"idempotency_key": "fix-me"})
    assert fixed.name == "fixed"


def test_over_the_rate_limit_the_sdk_raises_rate_limit_error(server: FakeStripeServer,
                                                             client: stripe.StripeClient) -> None:
    server.fake.set_rate_limit(3)
    with pytest.raises(stripe.RateLimitError) as raised:
        for _ in range(10):
            client.v1.customers.list()
    assert raised.value.http_status == 429
    assert raised.value.error is not None and raised.value.error.code == "rate_limit"
    assert raised.value.headers is not None and raised.value.headers.get("Stripe-Should-Retry") == "true"


def test_injected_faults_fail_the_next_requests_then_the_sdk_retry_succeeds(server: FakeStripeServer) -> None:
    server.fake.reset()
    server.fake.inject_faults(500, 1)
    retrying = _client(server, "sk_test_retry", retries=2)
    cust = retrying.v1.customers.create(params={"name": "after a 500"})
    assert cust.name == "after a 500"
    assert server.fake.request_counts()["POST /v1/customers"] == 2
    assert len(retrying.v1.customers.list().data) == 1

    server.fake.inject_faults(429, 2)
    with pytest.raises(stripe.RateLimitError):
        _client(server, "sk_test_retry").v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        _client(server, "sk_test_retry").v1.customers.list()
    assert _client(server, "sk_test_retry").v1.customers.list().data


def test_requests_are_counted_per_endpoint_template(server: FakeStripeServer, client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"name": "counted"})
    client.v1.customers.retrieve(cust.id)
    client.v1.customers.retrieve(cust.id)
    counts = httpx.get(f"{server.url}/_fake/requests").json()
    assert counts["counts"] == {"POST /v1/customers": 1, "GET /v1/customers/{id}": 2}
    assert counts["total"] == 3


def test_control_endpoints_switch_behaviour_over_http(server: FakeStripeServer) -> None:
    server.fake.reset()
    assert httpx.post(f"{server.url}/_fake/rate_limit", json={"per_second": 5}).json() == {"per_second": 5}
    assert httpx.post(f"{server.url}/_fake/faults", json={"status": 503, "count": 1}).json() == {"remaining": 1}
    assert httpx.post(f"{server.url}/_fake/faults", json={"status": 418, "count": 1}).status_code == 400
    assert httpx.post(f"{server.url}/_fake/rate_limit", json={"per_second": -1}).status_code == 400
    before = httpx.get(f"{server.url}/_fake/clock").json()["now"]
    after = httpx.post(f"{server.url}/_fake/clock/advance", json={"seconds": 60}).json()["now"]
    assert after >= before + 60
    assert httpx.post(f"{server.url}/_fake/reset").json() == {"reset": True}
    assert httpx.get(f"{server.url}/_fake/rate_limit").json() == {"per_second": None}


def test_the_pipeline_works_in_process_without_http() -> None:
    fake = FakeStripe()
    headers = {"authorization": "Bearer sk_test_inproc", "idempotency-key": "k"}
    first = fake.handle(ApiRequest("POST", "/v1/customers", headers=headers, body=b"name=Direct"))
    again = fake.handle(ApiRequest("POST", "/v1/customers", headers=headers, body=b"name=Direct"))
    assert first.status == 200 and first.json()["name"] == "Direct"
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    missing = fake.handle(ApiRequest("GET", "/v1/nowhere", headers=headers))
    assert missing.status == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    fake.close()
