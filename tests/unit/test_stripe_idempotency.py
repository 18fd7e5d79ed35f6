"""Deterministic idempotency keys: one operation always sends one key, a different one never does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ml_connector.stripe.idempotency import MAX_LENGTH, key, params_fingerprint


def test_a_create_key_names_the_operation_company_and_object() -> None:
    assert key("customer.create", "acme", "80000001-1234567890") == (
        "mlc:customer.create:acme:80000001-1234567890"
    )


def test_the_same_operation_gets_the_same_key_in_any_process() -> None:
    assert key("payment.record", "acme", "pi_3Qx", 2) == key("payment.record", "acme", "pi_3Qx", 2)


def test_parts_cannot_be_shifted_between_positions_to_collide() -> None:
    assert key("customer.create", "a:b", "c") != key("customer.create", "a", "b:c")
    assert key("customer.create", "a~b", "c") != key("customer.create", "a", "b~c")


def test_keys_are_printable_ascii_whatever_the_names_contain() -> None:
    k = key("customer.create", "Bäckerei Müller & Söhne", "id with spaces\n")
    assert k.isascii() and k.isprintable() and " " not in k
    assert k.startswith("mlc:customer.create:B%C3%A4ckerei%20M%C3%BCller")


def test_long_keys_are_cut_to_255_with_a_hash_of_the_whole() -> None:
    long_a = key("customer.create", "acme", "x" * 400 + "a")
    long_b = key("customer.create", "acme", "x" * 400 + "b")
    assert len(long_a) == MAX_LENGTH == len(long_b)
    assert long_a != long_b
    assert long_a.startswith("mlc:customer.create:acme:xxxx")
    assert long_a == key("customer.create", "acme", "x" * 400 + "a")


def test_a_key_at_exactly_the_limit_is_kept_verbatim() -> None:
    prefix = "mlc:c:"
    k = key("c", "y" * (MAX_LENGTH - len(prefix)))
    assert len(k) == MAX_LENGTH and "~" not in k


def test_the_same_update_replays_but_a_different_update_gets_a_new_key() -> None:
    first = key("customer.update", "acme", "cus_1", params={"email": "a@example.com", "name": "A"})
    again = key("customer.update", "acme", "cus_1", params={"name": "A", "email": "a@example.com"})
    changed = key("customer.update", "acme", "cus_1", params={"name": "A", "email": "b@example.com"})
    assert first == again
    assert first != changed
    assert first.startswith("mlc:customer.update:acme:cus_1:p")


def test_fingerprints_see_nested_changes_and_handle_decimals_and_aware_times() -> None:
    base = {
        "metadata": {"qb_txn": "1A-2"},
        "amount": Decimal("12.50"),
        "at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert params_fingerprint(base) == params_fingerprint(dict(base))
    assert params_fingerprint(base) != params_fingerprint({**base, "metadata": {"qb_txn": "1A-3"}})


def test_fingerprints_refuse_naive_times_and_unknown_objects() -> None:
    with pytest.raises(ValueError):
        params_fingerprint({"at": datetime(2026, 1, 1)})
    with pytest.raises(TypeError):
        params_fingerprint({"x": object()})


@pytest.mark.parametrize("action", ["", "Customer.Create", "customer create", "mlc:x"])
def test_actions_must_be_lowercase_dotted_names(action: str) -> None:
    with pytest.raises(ValueError):
        key(action, "acme", "1")


def test_a_missing_part_is_refused_rather_than_colliding() -> None:
    with pytest.raises(ValueError):
        key("customer.create", "acme", "")
    with pytest.raises(ValueError):
        key("customer.create")
    with pytest.raises(TypeError):
        key("customer.create", "acme", None)  # type: ignore[arg-type]
