"""`POST /stripe/webhook`: what Stripe (or an attacker) sees, and what is started."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.event_signals import EventSignaller
from gateway.stripe_webhook import router
from ml_connector.config import load_settings
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import AuditEntry, StripeEvent
from ml_connector.stripe.webhooks import sign_payload

SECRET = "whsec_test_payments"  # noqa: S105 - test secret
OLD_SECRET = "whsec_test_rotated_out"  # noqa: S105


class TemporalUnreachable(Exception):
    pass


@dataclass
class RecordingClient:
    started: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    async def start_workflow(self, workflow: str, arg: Any, **kwargs: Any) -> None:
        if self.down:
            raise TemporalUnreachable("connection refused")
        self.started.append({"workflow": workflow, "arg": arg, **kwargs})


@dataclass
class State:
    settings: Any
    engine: Any
    client: RecordingClient
    signaller: EventSignaller
    webhook_pool: Any = None  # asyncio's default pool
    inbox: Any = None  # straight into stripe_event (the inbox has its own tests)


@pytest.fixture
def gateway(tmp_path: Path) -> tuple[TestClient, State]:
    settings = load_settings(
        {
            "MLC_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
            "MLC_QBWC_USERNAME": "u",
            "MLC_QBWC_PASSWORD": "password1",
            "MLC_COMPANY_ID": "acme",
            "MLC_STRIPE_WEBHOOK_SECRET": f"{SECRET},{OLD_SECRET}",
            "MLC_MAX_BODY_BYTES": str(64 * 1024),
        }
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    app = FastAPI()
    app.include_router(router)
    client = RecordingClient()
    signaller = EventSignaller(client, settings, engine, grace=0)  # type: ignore[arg-type]
    state = State(settings, engine, client, signaller)
    app.state.gw = state
    return TestClient(app), state


def _event(event_id: str = "evt_1", event_type: str = "payment_intent.succeeded", **obj: Any) -> bytes:
    data = {"id": "pi_123", "object": "payment_intent", "customer": "cus_9", **obj}
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": data},
        }
    ).encode()


def _post(client: TestClient, body: bytes, secret: str = SECRET, at: int | None = None) -> Any:
    header = sign_payload(body, secret, at if at is not None else int(time.time()))
    return client.post("/stripe/webhook", content=body, headers={"Stripe-Signature": header})


def test_a_signed_payment_event_is_stored_and_signals_the_payment_workflow(gateway):
    client, state = gateway
    response = _post(client, _event())
    assert response.status_code == 200
    assert response.json()["workflow_id"] == "payment/acme/pi_123"
    (start,) = state.client.started
    assert start["id"] == "payment/acme/pi_123" and start["start_signal"] == "stripe_event"
    with Session(state.engine) as db:
        assert db.get(StripeEvent, "evt_1") is not None


def test_a_charge_and_its_payment_intent_event_reach_the_same_workflow(gateway):
    client, state = gateway
    _post(client, _event("evt_a"))
    _post(client, _event("evt_b", "charge.succeeded", id="ch_1", object="charge", payment_intent="pi_123"))
    assert {s["id"] for s in state.client.started} == {"payment/acme/pi_123"}


def test_a_redelivery_is_counted_not_stored_twice(gateway):
    client, state = gateway
    body = _event()
    _post(client, body)
    _post(client, body)
    with Session(state.engine) as db:
        rows = db.exec(select(StripeEvent)).all()
    assert len(rows) == 1 and rows[0].deliveries == 2


def test_a_secret_being_rotated_out_is_still_accepted(gateway):
    client, _ = gateway
    assert _post(client, _event(), secret=OLD_SECRET).status_code == 200


def test_a_forged_or_stale_signature_is_refused_with_the_reason_and_starts_nothing(gateway):
    client, state = gateway
    forged = _post(client, _event(), secret="whsec_attacker")
    stale = _post(client, _event(), at=int(time.time()) - 3600)
    assert (forged.status_code, forged.json()["error"]) == (400, "signature_mismatch")
    assert (stale.status_code, stale.json()["error"]) == (400, "timestamp_outside_tolerance")
    assert state.client.started == []


def test_bad_json_and_oversized_bodies_are_refused(gateway):
    client, state = gateway
    bad = _post(client, b"{not json")
    big = client.post("/stripe/webhook", content=b"x" * (65 * 1024), headers={"Stripe-Signature": "t=1,v1=0"})
    assert bad.status_code == 400 and bad.json()["error"] == "payload_invalid"
    assert big.status_code == 413
    assert state.client.started == []


def test_event_types_we_do_not_act_on_are_acknowledged_and_ignored(gateway):
    client, state = gateway
    response = _post(client, _event(event_type="customer.subscription.created", object="subscription"))
    assert response.status_code == 200 and "ignored" in response.json()
    assert state.client.started == []


def test_a_payment_event_that_cannot_be_routed_is_parked_in_the_audit_trail(gateway):
    client, state = gateway
    body = json.dumps(
        {"id": "evt_bad", "type": "charge.succeeded", "created": 1, "data": {"object": {"object": "charge"}}}
    ).encode()
    assert _post(client, body).status_code == 200
    with Session(state.engine) as db:
        entry = db.exec(select(AuditEntry)).one()
    assert entry.action == "event.unroutable" and entry.outcome == "failed"


def _signalled_at(state: State, event_id: str) -> Any:
    with Session(state.engine) as db:
        row = db.get(StripeEvent, event_id)
        assert row is not None
        return row.signalled_at


def test_an_event_is_marked_signalled_once_its_workflow_accepted_the_signal(gateway):
    client, state = gateway
    _post(client, _event())
    assert _signalled_at(state, "evt_1") is not None


def test_a_redelivered_event_is_signalled_once(gateway):
    client, state = gateway
    body = _event()
    assert _post(client, body).status_code == 200
    assert _post(client, body).status_code == 200
    assert len(state.client.started) == 1


def test_with_temporal_down_a_stored_event_is_still_acknowledged_and_left_for_the_sweeper(gateway):
    client, state = gateway
    state.client.down = True
    response = _post(client, _event())
    assert response.status_code == 200 and response.json()["workflow_id"] == "payment/acme/pi_123"
    assert state.client.started == []
    assert _signalled_at(state, "evt_1") is None
    assert state.signaller.failed == 1


def test_a_redelivery_of_an_event_whose_signal_failed_signals_it_again(gateway):
    client, state = gateway
    body = _event()
    state.client.down = True
    _post(client, body)
    state.client.down = False
    _post(client, body)
    assert [s["id"] for s in state.client.started] == ["payment/acme/pi_123"]
    assert _signalled_at(state, "evt_1") is not None


async def test_the_sweeper_signals_what_temporal_missed_once_it_is_back_and_then_nothing_more(gateway):
    client, state = gateway
    state.client.down = True
    _post(client, _event("evt_a"))
    _post(client, _event("evt_b", "charge.succeeded", id="ch_1", object="charge", payment_intent="pi_123"))
    _post(client, _event("evt_c", "customer.subscription.created", object="subscription"))
    assert await state.signaller.sweep() == 0  # still down: the backlog is kept
    state.client.down = False
    assert await state.signaller.sweep() == 2
    assert await state.signaller.sweep() == 0
    signals = [(s["id"], s["start_signal_args"][0].event_id) for s in state.client.started]
    assert signals == [("payment/acme/pi_123", "evt_a"), ("payment/acme/pi_123", "evt_b")]
    assert _signalled_at(state, "evt_a") is not None and _signalled_at(state, "evt_b") is not None


async def test_the_sweeper_leaves_events_that_were_never_routed_to_a_workflow_alone(gateway):
    client, state = gateway
    body = json.dumps(
        {"id": "evt_bad", "type": "charge.succeeded", "created": 1, "data": {"object": {"object": "charge"}}}
    ).encode()
    _post(client, body)
    assert await state.signaller.sweep() == 0
    assert state.client.started == []
