"""The compose topology as processes on this machine: gateways and workers started as `ml-connector gateway` /
`ml-connector worker` with the environment docker-compose.yml gives them, on one database and one Temporal.

What compose sets per service (`x-mlc` plus the service's own `environment:`) and what its `.env` holds is
mirrored by :func:`compose_env`; only the addresses differ (loopback ports instead of service names), and each
worker gets a metrics port of its own, as processes on one host need (compose containers each have 9464).
"""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_connector.fakestripe.api import ApiRequest, ApiResponse, FakeStripe
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]

# Waits for a common start instant, then runs the CLI exactly as its console script does.
_AT_INSTANT = """
import sys, time
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.002)
from ml_connector.cli import run
sys.argv = ["ml-connector", *sys.argv[2:]]
run()
"""


def compose_env(
    *,
    database_url: str,
    temporal_address: str,
    data_dir: Path,
    public_url: str,
    dotenv: Mapping[str, str],
) -> dict[str, str]:
    """`x-mlc`'s environment, over the `.env` (compose's `env_file`), over this process's own environment."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLC_", "TEMPORAL_"))}
    env.update(dotenv)
    env.update(
        {
            "MLC_DATABASE_URL": database_url,
            "MLC_TEMPORAL_ADDRESS": temporal_address,
            "MLC_TEMPORAL_NAMESPACE": "default",
            "MLC_PUBLIC_URL": public_url,
            "MLC_DATA_DIR": str(data_dir),
            "MLC_TEMPORAL_UI_URL": "http://127.0.0.1:8233",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int  # the gateway's HTTP port, or the worker's metrics port

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@dataclass
class Fleet:
    """Processes started with :meth:`start`; :meth:`stop` ends every one it started."""

    base_env: dict[str, str]
    logs: Path
    procs: list[Proc] = field(default_factory=list)

    def run_once(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ml_connector.cli", *args],
            env=self.base_env, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT,
        )

    def start(self, role: str, *, at: float | None = None, env: Mapping[str, str] | None = None) -> Proc:
        """``ml-connector gateway`` or ``ml-connector worker``; with ``at``, exactly at that wall-clock time."""
        port = free_port()
        own = dict(self.base_env)
        if role == "gateway":
            own.update({"MLC_HOST": "127.0.0.1", "MLC_PORT": str(port)})
        else:
            own.update({"MLC_WORKER_METRICS_HOST": "127.0.0.1", "MLC_WORKER_METRICS_PORT": str(port)})
        own.update(env or {})
        log = self.logs / f"{role}-{len(self.procs) + 1}.log"
        command = (
            [sys.executable, "-c", _AT_INSTANT, str(at), role]
            if at is not None
            else [sys.executable, "-m", "ml_connector.cli", role]
        )
        with open(log, "wb") as out:
            popen = subprocess.Popen(command, env=own, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        proc = Proc(role, popen, log, port)
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: Proc, timeout: float = 90) -> None:
        """A gateway answers /readyz 200 (database at head, Temporal reachable); a worker serves /metrics
        (it migrated, connected and built its worker)."""
        path = "/readyz" if proc.role == "gateway" else "/metrics"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise AssertionError(f"{proc.role} exited with {proc.popen.returncode}:\n{proc.output()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{proc.port}{path}", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{proc.role} not ready in {timeout}s:\n{proc.output()}")

    def kill(self, proc: Proc) -> None:
        """As a crash would: SIGKILL, nothing finished or flushed."""
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)


class RecordingStripe(FakeStripe):
    """The fake Stripe API noting when each request of one API key arrived (the key ml-connector uses)."""

    def __init__(self, *, api_keys: set[str], watched_key: str) -> None:
        super().__init__(api_keys=api_keys)
        self.watched = f"bearer {watched_key}".lower()
        self.arrivals: list[float] = []
        self._arrivals_lock = threading.Lock()

    def handle(self, request: ApiRequest) -> ApiResponse:
        if request.headers.get("authorization", "").lower() == self.watched:
            with self._arrivals_lock:
                self.arrivals.append(time.monotonic())
        return super().handle(request)

    def watched_arrivals(self) -> list[float]:
        with self._arrivals_lock:
            return sorted(self.arrivals)


def busiest_second(arrivals: list[float]) -> int:
    """The most requests any one-second window (sliding, as the fake's own gate counts) held."""
    times = sorted(arrivals)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def schedule_lateness(arrivals: list[float], rate: float) -> float:
    """How late (in seconds) the latest request would have to be for the arrivals to fit an evenly spaced
    schedule at ``rate``: the smallest ``J`` with ``(j - i) / rate <= (t_j - t_i) + J`` for every pair of
    arrivals ``i < j``. 0 for arrivals never closer than the limit allows; ``J`` for a schedule kept exactly
    whose requests reached the server up to ``J`` late (network, a descheduled process); and growing with
    the run's length for anything over the limit (two processes each at the limit: half the run).
    Equivalently, the arrivals pass a token bucket of ``rate`` per second holding ``rate * J`` tokens."""
    worst = 0.0
    lowest: float | None = None
    for k, t in enumerate(sorted(arrivals)):
        a = k / rate - t
        if lowest is not None:
            worst = max(worst, a - lowest)
        lowest = a if lowest is None else min(lowest, a)
    return worst


def procs_of(fleet: Fleet, role: str) -> Iterator[Proc]:
    return (p for p in fleet.procs if p.role == role)
