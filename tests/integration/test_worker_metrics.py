"""A worker process's own /metrics (its counters and Temporal's SDK metrics) and its log lines' workflow context.

The worker runs as `ml-connector worker` runs it (`worker.run_worker`, its own Temporal client and runtime)
against the session's Temporal dev server; the metrics port is a free one.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
import socket
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ml_connector.logs import JsonFormatter, TemporalContextFilter
from ml_connector.worker_metrics import MetricsPortInUse, WorkerMetricsServer
from tests import harness
from tests.conftest import free_port
from worker import run_worker


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        return str(answer.read().decode())


def sdk_lines(text: str, queue: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("temporal_") and f'task_queue="{queue}"' in line]


async def test_a_worker_serves_its_counters_and_the_temporal_sdk_metrics(temporal_env: WorkflowEnvironment, tmp_path):
    gc.collect()  # earlier tests' Stripe gateways (the process-wide counters sum the live ones) are gone
    port = free_port()
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    settings = harness.test_settings(
        f"sqlite:///{tmp_path / 'mlc.db'}",
        MLC_TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        MLC_TASK_QUEUE=queue,
        MLC_WORKER_METRICS_PORT=str(port),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    try:
        text = ""
        for _ in range(200):  # until the worker is up and its pollers have reported
            await asyncio.sleep(0.1)
            if task.done():
                task.result()
            try:
                text = await asyncio.to_thread(scrape, port)
            except OSError:
                continue
            if any(line.startswith("temporal_worker_task_slots_available{") for line in sdk_lines(text, queue)):
                break
        # This process's counters, with no database state (that is the gateway's /metrics' job).
        assert "mlc_stripe_requests_total 0.0" in text and "mlc_stripe_rate_limited_total 0.0" in text
        assert "mlc_qb_requests_queued" not in text and "mlc_payments{" not in text
        # Temporal's SDK metrics of this very worker, counters with _total, labelled with its task queue.
        sdk = sdk_lines(text, queue)
        assert any(line.startswith("temporal_worker_task_slots_available{") for line in sdk), text[-2000:]
        assert any(line.startswith("temporal_request_latency_bucket{") for line in text.splitlines())
        with pytest.raises(OSError):  # only /metrics is served
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/", None, 5)
    finally:
        stop.set()
        await task
    with pytest.raises(OSError):  # closed with the worker
        scrape(port)


def test_a_taken_metrics_port_is_a_setting_to_fix():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortInUse, match="MLC_WORKER_METRICS_PORT: cannot listen on 127.0.0.1:"):
            WorkerMetricsServer("127.0.0.1", port)


plain_log = logging.getLogger("mlc.test.plain")


@activity.defn(name="mlc_test_log_activity")
def log_activity(note: str) -> str:
    plain_log.info("plain logger in an activity: %s", note)
    activity.logger.info("sdk activity logger")
    return note


@workflow.defn(name="MlcTestLogWorkflow")
class LogWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.logger.info("sdk workflow logger")
        return await workflow.execute_activity(
            log_activity, "hello", start_to_close_timeout=timedelta(seconds=30)
        )


async def test_log_lines_carry_workflow_id_run_id_and_activity(temporal_env: WorkflowEnvironment):
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(TemporalContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # logs.configure (run in-process by earlier tests: the demo, the CLI) quiets temporalio.activity to
    # WARNING; this test is about the context on the lines, so it lets the three loggers it reads speak.
    speakers = [logging.getLogger(n) for n in ("temporalio.activity", "temporalio.workflow", "mlc.test.plain")]
    previous = [(lg, lg.level, lg.propagate, lg.disabled) for lg in speakers]
    for lg in speakers:
        lg.setLevel(logging.INFO)
        lg.propagate, lg.disabled = True, False
    queue = f"logs-{uuid.uuid4().hex[:8]}"
    workflow_id = f"log-context-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            temporal_env.client,
            task_queue=queue,
            workflows=[LogWorkflow],
            activities=[log_activity],
            activity_executor=ThreadPoolExecutor(2),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await temporal_env.client.start_workflow(LogWorkflow.run, id=workflow_id, task_queue=queue)
            assert await handle.result() == "hello"
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for lg, level, propagate, disabled in previous:
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
    run_id = handle.result_run_id
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    wf_line = next(line for line in lines if line["message"].startswith("sdk workflow logger"))
    assert wf_line["workflow_id"] == workflow_id and wf_line["run_id"] == run_id
    assert wf_line["workflow_type"] == "MlcTestLogWorkflow"
    for prefix in ("plain logger in an activity: hello", "sdk activity logger"):
        line = next(line for line in lines if line["message"].startswith(prefix))
        assert line["workflow_id"] == workflow_id and line["run_id"] == run_id
        assert line["activity"] == "mlc_test_log_activity" and line["activity_id"] and line["attempt"] == 1
