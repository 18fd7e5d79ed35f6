"""Decoding Stripe's bracketed form parameters, and the fake's pinned API version."""

from __future__ import annotations

import pytest
import stripe
from stripe._api_version import _ApiVersion
from stripe._encode import _api_encode

from ml_connector.fakestripe import API_VERSION
from ml_connector.fakestripe.errors import StripeError
from ml_connector.fakestripe.forms import parse_form
from ml_connector.fakestripe.params import metadata_update


def test_the_fake_speaks_the_api_version_the_sdk_is_pinned_to() -> None:
    assert API_VERSION == _ApiVersion.CURRENT == stripe.api_version


def test_nested_hashes_and_indexed_arrays_decode_like_stripe() -> None:
    parsed = parse_form("metadata[order]=7&payment[type]=payment_intent&expand[0]=payments&expand[1]=customer"
                        "&items[0][price]=p1&items[1][price]=p2&types[]=a&types[]=b")
    assert parsed == {
        "metadata": {"order": "7"},
        "payment": {"type": "payment_intent"},
        "expand": ["payments", "customer"],
        "items": [{"price": "p1"}, {"price": "p2"}],
        "types": ["a", "b"],
    }


def test_what_the_sdk_encodes_is_what_we_decode() -> None:
    params = {"metadata": {"a": "1", "b": ""}, "expand": ["x", "y"], "created": {"gte": 5}, "confirm": True}
    encoded = "&".join(f"{key}={value}" for key, value in _api_encode(params))
    assert parse_form(encoded) == {
        "metadata": {"a": "1", "b": ""}, "expand": ["x", "y"], "created": {"gte": "5"}, "confirm": "true",
    }


def test_a_name_used_as_both_value_and_hash_is_rejected() -> None:
    with pytest.raises(StripeError) as raised:
        parse_form("a=1&a[b]=2")
    assert raised.value.status == 400


def test_metadata_merges_deletes_and_clears() -> None:
    current = {"keep": "1", "drop": "2"}
    assert metadata_update({"metadata": {"drop": "", "new": "3"}}, current) == {"keep": "1", "new": "3"}
    assert metadata_update({"metadata": ""}, current) == {}
    assert metadata_update({}, current) is None
    with pytest.raises(StripeError):
        metadata_update({"metadata": {"k" * 41: "v"}}, {})
