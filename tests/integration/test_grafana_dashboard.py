"""deploy/grafana/ml-connector.json asks only for metrics ml-connector and its Temporal workers really export.

Every Prometheus expression in the dashboard is parsed for metric names. The ``mlc_*`` ones must be families
of the gateway's `/metrics` (process counters and the state read from the database); the ``temporal_*`` ones
must be families a worker's `/metrics` serves once it has run a workflow whose activity failed once (the SDK
exports a series only after its first observation).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlmodel import Session
from starlette.responses import JSONResponse, Response
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from gateway.stripe_webhook import stripe_webhook
from ml_connector import metrics
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import Company
from ml_connector.worker_metrics import WorkerMetricsServer, free_loopback_port, temporal_runtime

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "ml-connector.json"
NAME = re.compile(r"\b((?:mlc|temporal)_[a-z0-9_]+)\b")
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created")


def expressions() -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(DASHBOARD.read_text()))
    return found


def referenced(prefix: str) -> set[str]:
    return {name for expr in expressions() for name in NAME.findall(expr) if name.startswith(prefix)}


def families(exposition: str) -> set[str]:
    """Every sample name the exposition can carry: each ``# TYPE`` family with its kind's suffixes."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            names.add(family)
            if kind == "counter":
                names.add(family if family.endswith("_total") else family + "_total")
            if kind == "histogram":
                names.update(family + suffix for suffix in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def test_the_dashboard_covers_what_an_operator_watches():
    exprs = " ".join(expressions())
    for metric in (
        "mlc_webhook_ack_seconds_bucket",  # webhook ack latency
        "mlc_payments",  # payments by status
        "mlc_qb_requests_queued",  # queue depth
        "mlc_qb_oldest_request_age_seconds",  # queue age
        "mlc_qbwc_last_contact_timestamp_seconds",  # Web Connector last contact
        "mlc_stripe_rate_limited_total",  # Stripe 429s
    ):
        assert metric in exprs, metric
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "ml-connector" and board["panels"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))


def test_every_mlc_metric_in_the_dashboard_is_exported(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'mlc.db'}")
    migrate(engine)
    with Session(engine) as db:
        db.add(
            Company(
                id="acme", qbwc_username="acme-qbwc", password_hash="x", owner_id="o", file_id="f",
                last_contact_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            )
        )
        db.commit()
    exposition = metrics.render(engine, ["acme"]).decode()
    engine.dispose()
    exported = families(exposition)
    missing = referenced("mlc_") - exported
    assert not missing, f"the dashboard asks for metrics nobody exports: {sorted(missing)}"
    # The Web Connector's last contact, as Unix time per company.
    contact = [line for line in exposition.splitlines() if line.startswith("mlc_qbwc_last_contact_timestamp_seconds{")]
    assert contact == ['mlc_qbwc_last_contact_timestamp_seconds{company="acme"} 1.7961174e+09']  # 2026-12-01 09:30Z


def test_the_webhook_handler_is_timed_with_its_answers_status():
    assert inspect.unwrap(stripe_webhook) is not stripe_webhook  # the real route carries the timing decorator

    @metrics.timed_webhook
    async def handler(request: Request) -> Response:
        return JSONResponse({"path": request.url.path}, status_code=202)

    app = FastAPI()
    app.post("/hook")(handler)
    count = _count("202")
    with TestClient(app) as client:
        answer = client.post("/hook")
    assert answer.status_code == 202 and answer.json() == {"path": "/hook"}  # Request still injected
    assert _count("202") == count + 1


def _count(status: str) -> float:
    for family in metrics.REGISTRY.collect():
        if family.name == "mlc_webhook_ack_seconds":
            for sample in family.samples:
                if sample.name.endswith("_count") and sample.labels.get("status") == status:
                    return sample.value
    return 0.0


_attempts: dict[str, int] = {}


@activity.defn(name="mlc_test_flaky")
def flaky(key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] == 1:
        raise RuntimeError("first attempt fails on purpose")
    return "ok"


@workflow.defn(name="MlcTestDashboardWorkflow")
class FlakyWorkflow:
    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            flaky,
            key,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )


async def test_every_temporal_metric_in_the_dashboard_is_exported_by_a_worker(temporal_env: WorkflowEnvironment):
    sdk_port = free_loopback_port()
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host, runtime=temporal_runtime(sdk_port)
    )
    server = WorkerMetricsServer("127.0.0.1", 0, sdk_url=f"http://127.0.0.1:{sdk_port}/metrics").start()
    queue = f"dashboard-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[FlakyWorkflow],
            activities=[flaky],
            activity_executor=ThreadPoolExecutor(2),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            assert await client.execute_workflow(FlakyWorkflow.run, queue, id=queue, task_queue=queue) == "ok"
            wanted = referenced("temporal_")
            exported: set[str] = set()
            for _ in range(100):  # the SDK publishes its observations within a moment
                exported = families(await asyncio.to_thread(_scrape, server.port))
                if wanted <= exported:
                    break
                await asyncio.sleep(0.1)
    finally:
        server.stop()
    assert wanted, "the dashboard shows the Temporal workers too"
    missing = wanted - exported
    assert not missing, f"the dashboard asks for Temporal metrics the SDK does not export: {sorted(missing)}"


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())
