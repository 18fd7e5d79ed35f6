"""Benchmark: 1,000 queued qbXML requests through the live gateway and the simulated Web Connector.

Prints qbXML requests per Web Connector round trip and the gateway's time per SOAP call (p50/p95/max per
operation). Run: `.venv/bin/python bench/qbwc_throughput.py [--requests 1000] [--database sqlite|postgresql]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.support import drop_scratch_database, percentile, scratch_database  # noqa: E402
from gateway.app import create_app  # noqa: E402
from ml_connector.cli.embedded import EmbeddedServer, free_port  # noqa: E402
from ml_connector.config import load_settings  # noqa: E402
from ml_connector.qbwc_server.queue import RequestQueue  # noqa: E402
from ml_connector.qbwc_server.requests import QbRunInput  # noqa: E402
from ml_connector.qbxml.customers import CustomerFields, customer_add  # noqa: E402
from ml_connector.simulator.company import CompanyFile  # noqa: E402
from ml_connector.simulator.processor import QuickBooksProcessor  # noqa: E402
from ml_connector.simulator.webconnector import WebConnector  # noqa: E402
from ml_connector.storage.engine import make_engine, migrate  # noqa: E402
from ml_connector.temporal import SEARCH_ATTRIBUTES, temporal_binary  # noqa: E402


async def main(requests: int, database: str, qb_latency_ms: float) -> None:
    tmp = tempfile.mkdtemp(prefix="mlc-bench-")
    url, pg_name = scratch_database(database, tmp, "bench")
    port = free_port()
    settings = load_settings(
        {
            "MLC_DATABASE_URL": url,
            "MLC_PORT": str(port),
            "MLC_QBWC_USERNAME": "bench",
            "MLC_QBWC_PASSWORD": "bench-password",
            "MLC_COMPANY_ID": "bench",
            "MLC_LINGER_SECONDS": "0",
            "MLC_TEMPORAL_ADDRESS": "bench",
        }
    )
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), search_attributes=list(SEARCH_ATTRIBUTES), ui=False
    )
    engine = make_engine(url)
    migrate(engine)
    queue = RequestQueue(engine, max_requests=settings.batch_max_requests, max_bytes=settings.batch_max_bytes)
    for i in range(requests):
        queue.enqueue(
            QbRunInput(
                "bench",
                customer_add(CustomerFields(name=f"Bench Customer {i:05d}", email=f"c{i}@example.com")),
            ),
            idem_key=f"bench-{i}",
            task_token=None,
        )
    server = EmbeddedServer(
        uvicorn.Config(
            create_app(settings, client=env.client, engine=engine),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)

    company = CompanyFile()
    processor = QuickBooksProcessor(company, validate_schema=False)
    processor.latency_seconds = qb_latency_ms / 1000
    wc = WebConnector(
        f"http://127.0.0.1:{port}/qbwc", "bench", "bench-password", processor, noop_wait_seconds=0.1
    )
    started = time.perf_counter()
    reports = await asyncio.to_thread(wc.run_until_idle)
    elapsed = time.perf_counter() - started

    timings: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        for timing in report.timings:
            timings[timing.operation].append(timing.seconds * 1000)
    round_trips = sum(r.round_trips for r in reports)
    run = sum(r.requests_run for r in reports)
    print(
        f"database: {database}; queued requests: {requests}; simulated QuickBooks latency: {qb_latency_ms} ms/request"
    )
    print(f"customers created in QuickBooks: {len(company.customers)}")
    print(f"Web Connector sessions: {len(reports)}; round trips: {round_trips}; qbXML requests run: {run}")
    print(f"qbXML requests per round trip: {run / max(1, round_trips):.1f}")
    print(f"wall time for the whole queue: {elapsed:.2f} s ({run / elapsed:.0f} requests/s)")
    print("gateway time per SOAP call (ms, measured at the Web Connector):")
    print(f"  {'operation':<22}{'calls':>7}{'p50':>9}{'p95':>9}{'max':>9}")
    for op, values in sorted(timings.items()):
        print(
            f"  {op:<22}{len(values):>7}{statistics.median(values):>9.1f}"
            f"{percentile(values, 95):>9.1f}{max(values):>9.1f}"
        )

    server.should_exit = True
    await task
    wc.close()
    engine.dispose()
    await env.shutdown()
    drop_scratch_database(pg_name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--qb-latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.database, args.qb_latency_ms))
    sys.stdout.flush()
    os._exit(0)  # temporalio/sdk-python#300: do not let SDK threads race interpreter shutdown
