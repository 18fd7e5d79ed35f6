"""Webhook verification: what a Stripe delivery must look like before the connector acts on it."""

from __future__ import annotations

import json

import pytest
import stripe

from ml_connector.stripe.webhooks import (
    PayloadInvalid,
    SignatureMalformed,
    SignatureMismatch,
    SignatureMissing,
    TimestampOutsideTolerance,
    WebhookVerificationError,
    parse_secrets,
    sign_payload,
    verify_event,
)

SECRET = "whsec_test_primary_3f9a1c"
OLD_SECRET = "whsec_test_previous_77b2e0"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z

EVENT = {
    "id": "evt_1QxYzA2eZvKYlo2C",
    "object": "event",
    "api_version": "2026-10-28.endive",
    "created": NOW - 2,
    "livemode": False,
    "pending_webhooks": 1,
    "request": {"id": "req_9xQw", "idempotency_key": "mlc:customer.create:acme:80000001-1"},
    "type": "payment_intent.succeeded",
    "data": {"object": {"id": "pi_3QxYz", "object": "payment_intent", "amount": 1250, "currency": "usd"}},
}
# Pretty-printed with non-ASCII text, as Stripe sends it: the signature covers these exact bytes.
BODY = json.dumps({**EVENT, "description": "Café für Über"}, indent=2, ensure_ascii=False).encode()


def test_a_correctly_signed_delivery_yields_the_event() -> None:
    event = verify_event(BODY, sign_payload(BODY, SECRET, NOW), [SECRET], now=NOW)
    assert event["id"] == "evt_1QxYzA2eZvKYlo2C"
    assert event["data"]["object"]["id"] == "pi_3QxYz"
    assert event["description"] == "Café für Über"


def test_a_body_changed_by_one_byte_is_rejected_as_a_mismatch() -> None:
    header = sign_payload(BODY, SECRET, NOW)
    tampered = BODY.replace(b"1250", b"1251")
    with pytest.raises(SignatureMismatch) as caught:
        verify_event(tampered, header, [SECRET], now=NOW)
    assert caught.value.reason == "signature_mismatch"


def test_a_reserialised_body_no_longer_verifies() -> None:
    header = sign_payload(BODY, SECRET, NOW)
    compact = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    with pytest.raises(SignatureMismatch):
        verify_event(compact, header, [SECRET], now=NOW)


def test_a_delivery_signed_with_another_secret_is_rejected() -> None:
    header = sign_payload(BODY, "whsec_someone_else", NOW)
    with pytest.raises(SignatureMismatch):
        verify_event(BODY, header, [SECRET], now=NOW)


def test_during_a_rotation_a_delivery_signed_with_the_second_secret_verifies() -> None:
    header = sign_payload(BODY, OLD_SECRET, NOW)
    assert verify_event(BODY, header, [SECRET, OLD_SECRET], now=NOW)["id"] == EVENT["id"]


def test_any_of_several_v1_signatures_may_match_and_v0_is_ignored() -> None:
    ours = sign_payload(BODY, SECRET, NOW).split(",")[1]
    other = sign_payload(BODY, "whsec_other_endpoint", NOW).split(",")[1]
    header = f"t={NOW},{other},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,{ours}"
    assert verify_event(BODY, header, [SECRET], now=NOW)["id"] == EVENT["id"]


def test_spaces_around_header_elements_are_tolerated() -> None:
    t, v1 = sign_payload(BODY, SECRET, NOW).split(",")
    assert verify_event(BODY, f" {t} , {v1} ", [SECRET], now=NOW)["type"] == "payment_intent.succeeded"


@pytest.mark.parametrize("skew", [301, -301, 86_400, -86_400])
def test_a_genuine_signature_older_or_newer_than_the_tolerance_is_rejected(skew: int) -> None:
    signed_at = NOW - skew
    with pytest.raises(TimestampOutsideTolerance) as caught:
        verify_event(BODY, sign_payload(BODY, SECRET, signed_at), [SECRET], now=NOW)
    assert caught.value.reason == "timestamp_outside_tolerance"


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_timestamps_at_the_edge_of_the_tolerance_are_accepted(skew: int) -> None:
    assert verify_event(BODY, sign_payload(BODY, SECRET, NOW - skew), [SECRET], now=NOW)


def test_a_custom_tolerance_is_honoured() -> None:
    header = sign_payload(BODY, SECRET, NOW - 30)
    with pytest.raises(TimestampOutsideTolerance):
        verify_event(BODY, header, [SECRET], tolerance=10, now=NOW)


def test_a_forged_old_timestamp_reports_mismatch_not_staleness() -> None:
    header = sign_payload(BODY, "whsec_attacker", NOW - 10_000)
    with pytest.raises(SignatureMismatch):
        verify_event(BODY, header, [SECRET], now=NOW)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_delivery_without_a_signature_header_is_rejected_as_missing(header: str | None) -> None:
    with pytest.raises(SignatureMissing) as caught:
        verify_event(BODY, header, [SECRET], now=NOW)
    assert caught.value.reason == "signature_missing"


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=" + "a" * 64,  # no timestamp
        f"t={NOW}",  # no v1 signature
        f"t={NOW},v0=" + "a" * 64,  # only the legacy scheme
        "t=yesterday,v1=" + "a" * 64,
        f"t={NOW},t={NOW + 1},v1=" + "a" * 64,
        f"t={NOW},,v1=" + "a" * 64,
        f"t={NOW},v1=",
        "t=-5,v1=" + "a" * 64,
    ],
)
def test_an_unparseable_signature_header_is_rejected_as_malformed(header: str) -> None:
    with pytest.raises(SignatureMalformed) as caught:
        verify_event(BODY, header, [SECRET], now=NOW)
    assert caught.value.reason == "signature_malformed"


def test_a_v1_value_that_is_not_a_hex_digest_never_matches() -> None:
    with pytest.raises(SignatureMismatch):
        verify_event(BODY, f"t={NOW},v1=not-hex", [SECRET], now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[1, 2, 3]",
        b'{"id": "evt_1", "type": "charge.succeeded"}',
        b'{"id": "evt_1", "type": "charge.succeeded", "data": {}}',
        b'{"type": "charge.succeeded", "data": {"object": {"id": "ch_1"}}}',
        b'{"id": "evt_1", "data": {"object": {"id": "ch_1"}}}',
        b'{"id": "evt_1", "type": "x", "data": {"object": {"id": "ch_1", "amount": NaN}}}',
        b'{"id": "evt_1", "object": "v2.core.event", "type": "x", "data": {"object": {}}}',
    ],
)
def test_a_correctly_signed_body_that_is_not_an_event_is_rejected(body: bytes) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        verify_event(body, sign_payload(body, SECRET, NOW), [SECRET], now=NOW)
    assert caught.value.reason == "payload_invalid"


def test_every_failure_has_a_distinct_reason_and_never_mentions_a_secret() -> None:
    attempts = [
        (BODY, None),
        (BODY, "t=1"),
        (BODY, sign_payload(BODY, "whsec_nope", NOW)),
        (BODY, sign_payload(BODY, SECRET, NOW - 1000)),
        (b"nope", sign_payload(b"nope", SECRET, NOW)),
    ]
    reasons = set()
    for body, header in attempts:
        with pytest.raises(WebhookVerificationError) as caught:
            verify_event(body, header, [SECRET, OLD_SECRET], now=NOW)
        text = f"{caught.value} {caught.value!r}"
        assert SECRET not in text and OLD_SECRET not in text and "whsec_nope" not in text
        reasons.add(caught.value.reason)
    assert len(reasons) == len(attempts)


def test_verifying_without_any_configured_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        verify_event(BODY, sign_payload(BODY, SECRET, NOW), [], now=NOW)


def test_payloads_signed_by_stripes_own_helper_verify_with_ours() -> None:
    text = BODY.decode()
    header = stripe.WebhookSignature.generate_signature_header(text, SECRET, timestamp=NOW)
    assert verify_event(BODY, header, [SECRET], now=NOW)["id"] == EVENT["id"]


def test_headers_from_sign_payload_pass_stripes_construct_event() -> None:
    import time

    now = int(time.time())
    header = sign_payload(BODY, SECRET, now)
    event = stripe.Webhook.construct_event(BODY, header, SECRET)
    assert event.id == EVENT["id"]
    assert event.data.object["id"] == "pi_3QxYz"


def test_a_secret_list_can_be_comma_or_whitespace_separated() -> None:
    assert parse_secrets(f" {SECRET},{OLD_SECRET}\n{SECRET} ") == [SECRET, OLD_SECRET]
    assert parse_secrets(f"{SECRET}\t{OLD_SECRET}") == [SECRET, OLD_SECRET]


@pytest.mark.parametrize("value", ["", " , ", "sk_test_123", f"{SECRET},whsec_", f"{SECRET} not_a_secret"])
def test_a_secret_list_with_anything_but_signing_secrets_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_secrets(value)
    assert SECRET not in str(caught.value) and "sk_test_123" not in str(caught.value)
