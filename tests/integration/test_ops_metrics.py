"""The operator's probes on a live gateway: /readyz, /healthz and /metrics before and after a scenario."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import Session, select

from ml_connector.storage.models import QbRequest
from tests.harness import live_system
from tests.qb_workflows import AddCustomersInput, AddCustomersWorkflow


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _wait_for_pending(engine, count: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    found = 0
    while asyncio.get_running_loop().time() < deadline:
        with Session(engine) as db:
            found = len(db.exec(select(QbRequest).where(QbRequest.status == "pending")).all())
        if found >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {count} queued requests, found {found}")


async def test_metrics_show_the_queue_fill_and_drain_and_the_web_connector_sessions_that_did_it(
    temporal_client, database_url
):
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        before = await asyncio.to_thread(scrape, base)
        assert value(before, "mlc_qb_requests_queued", company="acme", status="pending") == 0

        names = [f"Metrics Customer {i}" for i in range(5)]
        handle = await temporal_client.start_workflow(
            AddCustomersWorkflow.run,
            AddCustomersInput("acme", names),
            id=f"metrics-{uuid.uuid4().hex[:8]}",
            task_queue=system.task_queue,
            execution_timeout=timedelta(minutes=2),
        )
        await _wait_for_pending(system.engine, 5)
        queued = await asyncio.to_thread(scrape, base)
        assert value(queued, "mlc_qb_requests_queued", company="acme", status="pending") == 5
        assert value(queued, "mlc_qb_oldest_request_age_seconds", company="acme") > 0

        await system.run_sessions(system.web_connector())
        await asyncio.wait_for(handle.result(), timeout=60)
        after = await asyncio.to_thread(scrape, base)

    assert value(after, "mlc_qb_requests_queued", company="acme", status="pending") == 0
    assert value(after, "mlc_qb_oldest_request_age_seconds", company="acme") == 0
    sessions = "mlc_qbwc_sessions_total"
    assert value(after, sessions, company="acme", result="work") > value(
        before, sessions, company="acme", result="work"
    )
    trips = "mlc_qbwc_round_trips_total"
    assert value(after, trips, company="acme") >= value(before, trips, company="acme") + 1
    sent = "mlc_qbwc_requests_sent_total"
    assert value(after, sent, company="acme") - value(before, sent, company="acme") == 5
    latency = "mlc_soap_call_seconds_count"
    for operation in ("Authenticate", "SendRequestXML", "ReceiveResponseXML", "CloseConnection"):
        assert value(after, latency, operation=operation) > value(before, latency, operation=operation), (
            operation
        )
    assert ("mlc_payments", (("company", "acme"), ("state", "waiting"))) in after
    assert ("mlc_stripe_requests_total", ()) in after


async def test_readyz_is_ready_when_the_database_is_at_head_and_temporal_answers(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'ready.db'}", temporal_client) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            ready = await http.get("/readyz")
            health = await http.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": "ok", "temporal": "ok"}
    assert health.status_code == 200


async def test_readyz_refuses_traffic_while_the_database_schema_is_behind_this_version(
    temporal_client, tmp_path
):
    async with live_system(f"sqlite:///{tmp_path / 'behind.db'}", temporal_client) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        with system.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            ready = await http.get("/readyz")
            health = await http.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["database"].startswith("schema at 0000, expected ")
    assert ready.json()["temporal"] == "ok"
    assert health.status_code == 200, "alive, just not ready"


async def test_metrics_count_webhooks_received_and_rejected_by_reason(temporal_client, tmp_path):
    import json
    import time

    from ml_connector.fakestripe import signature_header

    secret = "whsec_metrics_test_secret"
    async with live_system(
        f"sqlite:///{tmp_path / 'hooks.db'}", temporal_client, MLC_STRIPE_WEBHOOK_SECRET=secret
    ) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        before = await asyncio.to_thread(scrape, base)
        event = {
            "id": "evt_metrics_1",
            "object": "event",
            "type": "balance.available",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": {"object": "balance"}},
        }
        body = json.dumps(event).encode()
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            good = await http.post(
                "/stripe/webhook",
                content=body,
                headers={"Stripe-Signature": signature_header(body, secret, int(time.time()))},
            )
            forged = await http.post(
                "/stripe/webhook",
                content=body,
                headers={"Stripe-Signature": signature_header(body, "whsec_wrong", int(time.time()))},
            )
            unsigned = await http.post("/stripe/webhook", content=body)
        after = await asyncio.to_thread(scrape, base)

    assert good.status_code == 200 and forged.status_code == 400 and unsigned.status_code == 400
    received = "mlc_webhooks_received_total"
    assert (
        value(after, received, type="balance.available")
        == value(before, received, type="balance.available") + 1
    )
    rejected = "mlc_webhooks_rejected_total"
    for reason in ("signature_mismatch", "signature_missing"):
        assert value(after, rejected, reason=reason) == value(before, rejected, reason=reason) + 1, reason
