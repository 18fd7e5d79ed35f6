"""Benchmark: the first customer sync of a company file into Stripe, at two sizes.

For each size it seeds a simulated company, runs the gateway and the fake Stripe server in this process and
the worker as its own process (``ml-connector worker``, so its memory is measured alone), and plays Web
Connector sessions until the first poll is finished. It prints:

* Stripe requests per customer (every attempt the fake server saw, retries included);
* the share of the configured Stripe rate limit actually used while the sync talked to Stripe
  (requests ÷ (rate × seconds from the first to the last Stripe request));
* Web Connector round trips (sendRequestXML/receiveResponseXML pairs) and sessions;
* the worker's peak resident memory (VmHWM), which should stay flat as the company grows.

The fake Stripe server enforces the same rate limit as the client (``--rate``), so a 429 would show as extra
requests. Each run prints the machine's 1-minute load average at its start and end (other work on the box
steals the cores the worker, gateway and Temporal need). Run:
``.venv/bin/python bench/customer_sync.py [--sizes 2000 10000] [--rate 100] [--database sqlite|postgresql]
[--runs 2]``; ``BENCH_WORKER_LOG_LEVEL=INFO`` prints each customer page's timings from the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.support import drop_scratch_database, scratch_database  # noqa: E402
from gateway.app import create_app  # noqa: E402
from ml_connector.cli.embedded import EmbeddedServer, free_port  # noqa: E402
from ml_connector.config import load_settings  # noqa: E402
from ml_connector.fakestripe import FakeStripeServer  # noqa: E402
from ml_connector.fakestripe.api import ApiRequest, ApiResponse, FakeStripe  # noqa: E402
from ml_connector.simulator.company import CompanyFile  # noqa: E402
from ml_connector.simulator.processor import QuickBooksProcessor  # noqa: E402
from ml_connector.simulator.seed import seed_company  # noqa: E402
from ml_connector.simulator.webconnector import WebConnector  # noqa: E402
from ml_connector.storage.engine import make_engine, migrate  # noqa: E402
from ml_connector.temporal import SEARCH_ATTRIBUTES, temporal_binary  # noqa: E402
from workflows.customer_sync import CustomerSyncWorkflow, workflow_id  # noqa: E402

API_KEY = "sk_test_bench_customer_sync"
PASSWORD = "bench-password"
# The fake server counts a strict sliding second; real Stripe's limiter tolerates the jitter of requests sent
# at exactly the limit. The server allows 10% more than the client's configured rate, which is what we measure.
SERVER_HEADROOM = 1.1
# The worker's log level: INFO shows where each customer page's time went (queued, read, Stripe, store).
LOG_LEVEL = os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING")


class _TimedFake(FakeStripe):
    """The fake Stripe, noting when every API request arrived (the first, the last, and the gaps between)."""

    def __init__(self) -> None:
        super().__init__(api_keys={API_KEY})
        self.arrivals: list[float] = []
        self._clock_lock = threading.Lock()

    @property
    def first(self) -> float | None:
        return self.arrivals[0] if self.arrivals else None

    @property
    def last(self) -> float | None:
        return self.arrivals[-1] if self.arrivals else None

    def handle(self, request: ApiRequest) -> ApiResponse:
        now = time.monotonic()
        with self._clock_lock:
            self.arrivals.append(now)
        return super().handle(request)

    def gaps(self, at_least: float) -> list[tuple[float, float]]:
        """(seconds since the first request, length) of every pause of at least ``at_least`` seconds."""
        times = sorted(self.arrivals)
        return [(a - times[0], b - a) for a, b in zip(times, times[1:], strict=False) if b - a >= at_least]


@dataclass
class Result:
    customers: int
    synced: int
    requests: int
    stripe_seconds: float
    rate: float
    round_trips: int
    sessions: int
    wall_seconds: float
    worker_peak_mib: float
    load: tuple[float, float]  # 1-minute load average at the start and the end of the run
    gaps: list[tuple[float, float]]  # pauses of 0.5 s or more without a Stripe request: (at, length)
    runs: list[float]  # when each run of the sync workflow (continue-as-new) started, seconds since the first request


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def run_size(env: WorkflowEnvironment, customers: int, rate: float, database: str, run: int) -> Result:
    tmp = tempfile.mkdtemp(prefix="mlc-bench-sync-")
    load_start = _load()
    database_url, scratch = scratch_database(database, tmp, "bench_sync")
    company = CompanyFile()
    seed_company(company, customers=customers, open_invoices=0)
    fake = _TimedFake()
    fake.set_rate_limit(rate * SERVER_HEADROOM)
    with FakeStripeServer(fake) as stripe_server:
        port = free_port()
        task_queue = f"bench-sync-{customers}-{run}"
        company_id = f"bench-{customers}-{run}"  # one sync workflow per run: the earlier one's worker is gone
        env_vars = {
            "MLC_DATABASE_URL": database_url,
            "MLC_PORT": str(port),
            "MLC_QBWC_USERNAME": "bench",
            "MLC_QBWC_PASSWORD": PASSWORD,
            "MLC_COMPANY_ID": company_id,
            "MLC_LINGER_SECONDS": "3",
            "MLC_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
            "MLC_TASK_QUEUE": task_queue,
            "MLC_STRIPE_API_KEY": API_KEY,
            "MLC_STRIPE_API_BASE": stripe_server.url,
            "MLC_STRIPE_RATE_LIMIT": str(rate),
            "MLC_LOG_LEVEL": LOG_LEVEL,
        }
        settings = load_settings(env_vars)
        engine = make_engine(settings.database_url)
        migrate(engine)
        worker = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
            [sys.executable, "-m", "ml_connector.cli", "worker"],
            env={**os.environ, **env_vars, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
        server = EmbeddedServer(uvicorn.Config(create_app(settings, client=env.client, engine=engine), host="127.0.0.1",
                                        port=port, log_config=None, access_log=False))  # fmt: skip
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        wc = WebConnector(
            f"http://127.0.0.1:{port}/qbwc",
            "bench",
            PASSWORD,
            QuickBooksProcessor(company),
            noop_wait_seconds=0.2,
        )
        round_trips = sessions = 0
        started = time.monotonic()
        try:
            while True:
                report = await asyncio.to_thread(wc.run_session)
                round_trips += report.round_trips
                sessions += 1
                with contextlib.suppress(Exception):
                    status = await env.client.get_workflow_handle(workflow_id(company_id)).query(
                        CustomerSyncWorkflow.status
                    )
                    if status.polls >= 1 and not status.polling:
                        summary = status.last_summary
                        break
                await asyncio.sleep(0.1)
            wall = time.monotonic() - started
            peak = _peak_rss_mib(worker.pid)
            runs = await _run_starts(env, workflow_id(company_id), fake.first)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # measured already; do not let a slow shutdown lose the numbers
                worker.kill()
                worker.wait(30)
            server.should_exit = True
            await serving
            engine.dispose()
            drop_scratch_database(scratch)
    counts = fake.request_counts()
    synced = summary.customers.get("create", 0) if summary else 0
    return Result(
        customers=customers,
        synced=synced,
        requests=sum(counts.values()),
        stripe_seconds=(fake.last or 0) - (fake.first or 0),
        rate=rate,
        round_trips=round_trips,
        sessions=sessions,
        wall_seconds=wall,
        worker_peak_mib=peak,
        load=(load_start, _load()),
        gaps=fake.gaps(0.5),
        runs=runs,
    )


async def _run_starts(env: WorkflowEnvironment, sync_id: str, first_request: float | None) -> list[float]:
    """When each run of the sync workflow started, on the fake server's clock (seconds since its first request).

    A pause without Stripe requests that lines up with a run boundary points at continue-as-new."""
    if first_request is None:
        return []
    offset = time.time() - time.monotonic()  # workflow start times are wall-clock; the fake's are monotonic
    starts = [w.start_time.timestamp() async for w in env.client.list_workflows(f"WorkflowId = '{sync_id}'")]
    return sorted(t - offset - first_request for t in starts)


async def main(sizes: list[int], rate: float, database: str, runs: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        ui=False,
    )
    try:
        results = [await run_size(env, n, rate, database, run) for n in sizes for run in range(runs)]
    finally:
        await env.shutdown()
    print(
        f"\nFirst customer sync, client Stripe rate limit {rate:g}/s (fake server {rate * SERVER_HEADROOM:g}/s), "
        f"custom-field links, {database}"
    )
    print(f"{'customers':>10} {'in Stripe':>10} {'req/cust':>9} {'retried':>8} {'rate used':>10} {'Stripe s':>9} "
          f"{'RTs':>6} {'sessions':>9} {'wall s':>8} {'worker peak MiB':>16} {'load':>11}")  # fmt: skip
    for r in results:
        # Useful throughput: requests that did work (one per customer), not the retried ones.
        used = r.synced / (r.rate * r.stripe_seconds) if r.stripe_seconds > 0 else float("nan")
        print(
            f"{r.customers:>10} {r.synced:>10} {r.requests / max(r.synced, 1):>9.3f} {r.requests - r.synced:>8} "
            f"{used:>10.1%} {r.stripe_seconds:>9.1f} {r.round_trips:>6} {r.sessions:>9} {r.wall_seconds:>8.1f} "
            f"{r.worker_peak_mib:>16.1f} {r.load[0]:>5.1f}→{r.load[1]:<5.1f}"
        )
    for r in results:
        pauses = ", ".join(f"{length:.1f} s at {at:.1f} s" for at, length in r.gaps) or "none"
        print(f"{r.customers:>10}: pauses of 0.5 s or more without a Stripe request: {pauses}")
        print(f"{'':>10}  sync workflow runs started at (s): {', '.join(f'{t:.1f}' for t in r.runs)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--rate", type=float, default=100.0, help="Stripe requests per second")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--runs", type=int, default=1, help="runs of each size, one after the other")
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.rate, args.database, args.runs))
