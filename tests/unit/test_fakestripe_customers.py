"""Customers through the real stripe SDK over HTTP against the fake server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import stripe

from ml_connector.fakestripe import FakeStripeServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    server.fake.reset()
    return stripe.StripeClient("sk_test_customers", base_addresses={"api": server.url}, max_network_retries=0)


def test_a_created_customer_can_be_retrieved_with_its_fields(client: stripe.StripeClient) -> None:
    created = client.v1.customers.create(
        params={"email": "ap@acme.test", "name": "Acme", "address": {"city": "Austin", "country": "US"}}
    )
    fetched = client.v1.customers.retrieve(created.id)
    assert created.id.startswith("cus_")
    assert fetched.email == "ap@acme.test"
    assert fetched.name == "Acme"
    assert fetched.address is not None and fetched.address.city == "Austin" and fetched.address.line1 is None
    assert fetched.livemode is False
    assert fetched.invoice_prefix and fetched.next_invoice_sequence == 1


def test_metadata_updates_merge_keys_delete_empty_ones_and_clear_on_empty_string(
    client: stripe.StripeClient,
) -> None:
    cust = client.v1.customers.create(params={"metadata": {"qb_list_id": "80000001", "region": "west"}})
    cust = client.v1.customers.update(cust.id, params={"metadata": {"region": "", "tier": "gold"}})
    assert cust.metadata is not None and cust.metadata.to_dict() == {"qb_list_id": "80000001", "tier": "gold"}
    cust = client.v1.customers.update(cust.id, params={"metadata": ""})
    assert cust.metadata is not None and cust.metadata.to_dict() == {}


def test_updating_a_customer_records_the_previous_values(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"email": "old@acme.test", "metadata": {"a": "1"}})
    client.v1.customers.update(cust.id, params={"email": "new@acme.test", "metadata": {"b": "2"}})
    event = client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert event.data.object["email"] == "new@acme.test"
    assert event.data.previous_attributes is not None
    assert event.data.previous_attributes.to_dict() == {"email": "old@acme.test", "metadata": {"b": None}}


def test_a_deleted_customer_is_retrievable_as_deleted_and_gone_from_lists(client: stripe.StripeClient) -> None:
    cust = client.v1.customers.create(params={"email": "gone@acme.test"})
    deleted = client.v1.customers.delete(cust.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(cust.id).deleted is True
    assert client.v1.customers.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update(cust.id, params={"name": "x"})
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"


def test_list_filters_by_email_and_auto_paginates_over_250_customers(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"email": f"c{n}@acme.test"}).id for n in range(250)]
    client.v1.customers.create(params={"email": "c7@acme.test"})
    seen = [cust.id for cust in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
    assert len(seen) == 251 and len(set(seen)) == 251
    assert seen[1:] == list(reversed(ids))  # newest first
    assert [c.email for c in client.v1.customers.list(params={"email": "c7@acme.test"}).data] == ["c7@acme.test"] * 2


def test_pages_report_has_more_and_can_walk_backwards(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create(params={"name": str(n)}).id for n in range(5)]
    first = client.v1.customers.list(params={"limit": 2})
    assert [c.id for c in first.data] == [ids[4], ids[3]] and first.has_more and first.url == "/v1/customers"
    second = client.v1.customers.list(params={"limit": 2, "starting_after": ids[3]})
    assert [c.id for c in second.data] == [ids[2], ids[1]] and second.has_more
    back = client.v1.customers.list(params={"limit": 2, "ending_before": ids[1]})
    assert [c.id for c in back.data] == [ids[3], ids[2]] and back.has_more


def test_an_unknown_parameter_is_refused_like_stripe_does(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params=cast(Any, {"emial": "typo@acme.test"}))
    assert raised.value.param == "emial" and raised.value.code == "parameter_unknown"


def test_requests_without_a_valid_key_are_rejected_with_401(server: FakeStripeServer) -> None:
    assert httpx.get(f"{server.url}/v1/customers").status_code == 401
    bad = stripe.StripeClient("not_a_key", base_addresses={"api": server.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_live_and_test_mode_are_separate_worlds(server: FakeStripeServer, client: stripe.StripeClient) -> None:
    test_customer = client.v1.customers.create(params={"name": "test"})
    live = stripe.StripeClient("sk_live_customers", base_addresses={"api": server.url}, max_network_retries=0)
    live_customer = live.v1.customers.create(params={"name": "live"})
    assert live_customer.livemode is True
    assert [c.id for c in live.v1.customers.list().data] == [live_customer.id]
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.customers.retrieve(test_customer.id)
