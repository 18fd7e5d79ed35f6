"""Benchmark: Stripe webhook answers while the Web Connector endpoint is under attack.

The gateway runs as `ml-connector gateway` in its own process (as in production). For `--seconds` (default 30)
this process, on loopback only:

- posts signed `payment_intent.succeeded` webhooks at `--rate` per second (default 25), one connection each,
  and times every answer;
- floods `/qbwc` with logins from `--login-workers` threads (default 32): wrong passwords for the real Web
  Connector user from 127.0.0.2, and a spray of random user names from 127.0.0.3;
- posts oversized bodies from `--bomb-workers` threads (default 4): 16 MiB of `<a/>` as receiveResponseXML
  and as authenticate, 16 MiB of text as receiveResponseXML with a made-up ticket, 1 MiB logins;
- half-way through, runs the owner's Web Connector session (from 127.0.0.1) with one queued qbXML request.

Prints webhook ack p50/p99/max, the gateway's RSS (at start, peak from /proc VmHWM, at the end), what the attack
traffic got back, and whether the owner's session completed. The load is bounded in count and time.

Run: `.venv/bin/python bench/gateway_under_attack.py [--database sqlite|postgresql] [--seconds 30]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.support import drop_scratch_database, percentile, scratch_database  # noqa: E402
from ml_connector.cli.embedded import free_port  # noqa: E402
from ml_connector.fakestripe import signature_header  # noqa: E402
from ml_connector.qbwc_server.queue import RequestQueue  # noqa: E402
from ml_connector.qbwc_server.requests import QbRunInput  # noqa: E402
from ml_connector.qbxml.customers import CustomerFields, customer_add  # noqa: E402
from ml_connector.simulator.company import CompanyFile  # noqa: E402
from ml_connector.simulator.processor import QuickBooksProcessor  # noqa: E402
from ml_connector.simulator.soap_client import build_authenticate  # noqa: E402
from ml_connector.simulator.webconnector import SessionOutcome, WebConnector  # noqa: E402
from ml_connector.storage.engine import make_engine, migrate  # noqa: E402
from ml_connector.temporal import SEARCH_ATTRIBUTES, temporal_binary  # noqa: E402

USER = "owner-qbwc"
PASSWORD = "the owner's long password"  # noqa: S105 - bench credential
SECRET = "whsec_bench_under_attack"  # noqa: S105
MIB = 1024 * 1024
WARM_UP = 3.0  # seconds of attack before the webhook clock starts
SOAP = {"Content-Type": "text/xml; charset=utf-8"}


def _rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of ``pid`` in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def _bomb(operation: str, size: int) -> bytes:
    head = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><{operation} xmlns="http://developer.intuit.com/"><ticket>t</ticket><response>'
    ).encode()
    return head + b"<a/>" * ((size - len(head)) // 4)


def _text_bomb(size: int) -> bytes:
    head = (
        b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soap:Body><receiveResponseXML xmlns="http://developer.intuit.com/"><ticket>made-up</ticket><response>'
    )
    tail = b"</response><hresult/><message/></receiveResponseXML></soap:Body></soap:Envelope>"
    return head + b"x" * (size - len(head) - len(tail)) + tail


class Attack:
    """Threads that hammer /qbwc until ``stop`` is set; counts what they got back."""

    def __init__(self, url: str, login_workers: int, bomb_workers: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.answers: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.bodies = [
            _bomb("receiveResponseXML", 16 * MIB),
            _bomb("authenticate", 16 * MIB),
            _text_bomb(16 * MIB - 1024),
            build_authenticate(USER, "p" * MIB).body,
        ]
        self.threads = [
            threading.Thread(target=self._logins, args=(i,), daemon=True) for i in range(login_workers)
        ] + [threading.Thread(target=self._bombs, args=(i,), daemon=True) for i in range(bomb_workers)]

    def _count(self, what: str) -> None:
        with self.lock:
            self.answers[what] += 1

    def _logins(self, index: int) -> None:
        source = "127.0.0.2" if index % 2 == 0 else "127.0.0.3"
        transport = httpx.HTTPTransport(local_address=source)
        with httpx.Client(transport=transport, timeout=60) as http:
            while not self.stop.is_set():
                user = USER if source == "127.0.0.2" else f"guess-{secrets.token_hex(4)}"
                body = build_authenticate(user, secrets.token_hex(8)).body
                try:
                    response = http.post(self.url, content=body, headers=SOAP)
                    answer = "nvu" if b">nvu<" in response.content else str(response.status_code)
                    self._count(f"login {source}: {answer}")
                except httpx.HTTPError as exc:
                    self._count(f"login {source}: {type(exc).__name__}")

    def _bombs(self, index: int) -> None:
        names = [
            "<a/> x 4M as receiveResponseXML",
            "<a/> x 4M as authenticate",
            "16 MiB text",
            "1 MiB password",
        ]
        with httpx.Client(timeout=60) as http:
            turn = index
            while not self.stop.is_set():
                kind = turn % len(self.bodies)
                turn += 1
                try:
                    response = http.post(self.url, content=self.bodies[kind], headers=SOAP)
                    self._count(f"{names[kind]}: {response.status_code}")
                except httpx.HTTPError as exc:
                    self._count(f"{names[kind]}: {type(exc).__name__}")

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)


def attack_main(url: str, login_workers: int, bomb_workers: int, seconds: float, results: Any) -> None:
    """The attacking process: runs the threads for ``seconds`` (plus the second of warm-up), reports counts."""
    attack = Attack(url, login_workers, bomb_workers)
    attack.start()
    results.put("started")
    time.sleep(seconds + WARM_UP)
    attack.finish()
    results.put(attack.answers)


def owner_main(url: str, engine_url: str, delay: float, results: Any) -> None:
    """The owner's Web Connector, in its own process (the simulator's XSD checks must not slow the clock)."""
    time.sleep(delay)
    results.put(owner_session(url, engine_url))


async def send_webhooks(
    url: str, rate: float, seconds: float, slow: list[tuple[float, float]] | None = None
) -> tuple[list[float], Counter[str]]:
    """Webhooks at ``rate``/s for ``seconds``; ack latencies (ms). ``slow`` gets (sent at s, ms) of acks > 100 ms."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def send(i: int) -> None:
            event = {
                "id": f"evt_bench_{i}_{uuid.uuid4().hex[:8]}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": int(time.time()),
                "livemode": False,
                "data": {"object": {"id": f"pi_bench_{i}", "object": "payment_intent", "customer": "cus_b"}},
            }
            body = json.dumps(event).encode()
            headers = {"Stripe-Signature": signature_header(body, SECRET, int(time.time()))}
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                statuses[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            took = (time.perf_counter() - began) * 1000
            latencies.append(took)
            if slow is not None and took > 100:
                slow.append((i / rate, took))

        tasks = []
        i = 0
        while loop.time() - start < seconds:
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
            i += 1
        await asyncio.gather(*tasks)
    return latencies, statuses


def owner_session(url: str, engine_url: str) -> tuple[str, float]:
    engine = make_engine(engine_url)
    RequestQueue(engine).enqueue(
        QbRunInput("bench", customer_add(CustomerFields(name="Owner's customer"))),
        idem_key="owner",
        task_token=None,
    )
    engine.dispose()
    company = CompanyFile()
    wc = WebConnector(url, USER, PASSWORD, QuickBooksProcessor(company), noop_wait_seconds=0.2)
    began = time.perf_counter()
    report = wc.run_session()
    took = time.perf_counter() - began
    ok = report.outcome is SessionOutcome.COMPLETED and len(company.customers) == 1
    return f"{report.outcome.value}{' (the request ran)' if ok else ''}", took


def _start_gateway(env: dict[str, str], tmp: Path, base: str) -> subprocess.Popen[bytes]:
    """`ml-connector gateway` in its own process, as in production; returns once /healthz answers 200."""
    log = (tmp / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "ml_connector.cli", "gateway"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    gateway.kill()
    raise SystemExit(f"the gateway did not start; see {tmp / 'gateway.log'}")


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mlc-attack-"))
    db_url, pg_name = scratch_database(args.database, tmp, "attack")
    migrate_engine = make_engine(db_url)
    migrate(migrate_engine)
    migrate_engine.dispose()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()), search_attributes=list(SEARCH_ATTRIBUTES), ui=False
    )
    port = free_port()
    gateway_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLC_DATABASE_URL": db_url,
        "MLC_DATA_DIR": str(tmp),
        "MLC_PORT": str(port),
        "MLC_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "MLC_QBWC_USERNAME": USER,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": "bench",
        "MLC_LINGER_SECONDS": "0",
        "MLC_BATCH_HOLD_SECONDS": "0",
        "MLC_STRIPE_WEBHOOK_SECRET": SECRET,
        "MLC_LOG_LEVEL": "ERROR",
    }
    base = f"http://127.0.0.1:{port}"
    gateway = await asyncio.to_thread(_start_gateway, gateway_env, tmp, base)
    try:
        rss_start, _ = _rss_mib(gateway.pid)
        quiet, _ = await send_webhooks(f"{base}/stripe/webhook", args.rate, 5)

        # The attack runs in its own process: its threads must not slow down this process's webhook clock.
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        attacker = context.Process(
            target=attack_main,
            args=(f"{base}/qbwc", args.login_workers, args.bomb_workers, args.seconds, results),
        )
        attacker.start()
        assert await asyncio.to_thread(results.get, True, 120) == "started"
        await asyncio.sleep(WARM_UP)  # measure the steady attack, not the first connection burst
        owner_results = context.Queue()
        owner = context.Process(
            target=owner_main, args=(f"{base}/qbwc", db_url, args.seconds / 2, owner_results)
        )
        owner.start()
        samples: list[float] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                samples.append(_rss_mib(gateway.pid)[0])
                sampling.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        slow: list[tuple[float, float]] = []
        hooks = asyncio.create_task(send_webhooks(f"{base}/stripe/webhook", args.rate, args.seconds, slow))
        latencies, statuses = await hooks
        owner_outcome, owner_took = await asyncio.to_thread(owner_results.get, True, 120)
        await asyncio.to_thread(owner.join, 30)
        answers: Counter[str] = await asyncio.to_thread(results.get, True, 120)
        await asyncio.to_thread(attacker.join, 30)
        sampling.set()
        sampler.join()
        rss_end, rss_peak = _rss_mib(gateway.pid)
    finally:
        gateway.terminate()
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        await env.shutdown()
        drop_scratch_database(pg_name)

    print(f"database: {args.database}; {args.seconds:.0f} s under attack; gateway pid {gateway.pid}")
    print(
        f"webhook ack, quiet (5 s): p50 {percentile(quiet, 50):.1f} ms, p99 {percentile(quiet, 99):.1f} ms "
        f"({len(quiet)} webhooks)"
    )
    print(
        f"webhook ack under attack: p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
        f"max {max(latencies, default=float('nan')):.1f} ms, mean {statistics.fmean(latencies):.1f} ms "
        f"({len(latencies)} answered; statuses {dict(statuses)})"
    )
    print(
        f"gateway RSS: {rss_start:.0f} MiB at start, {max(samples, default=0):.0f} MiB highest sample, "
        f"{rss_peak:.0f} MiB peak (VmHWM), {rss_end:.0f} MiB at the end"
    )
    print(f"owner's Web Connector session during the attack: {owner_outcome} in {owner_took:.2f} s")
    seconds_slow = Counter(int(at) for at, _ in slow)
    print(f"acks over 100 ms: {len(slow)}, by second of the attack: {dict(sorted(seconds_slow.items()))}")
    print("attack traffic and its answers:")
    for what, count in sorted(answers.items()):
        print(f"  {count:6d}  {what}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--login-workers", type=int, default=32)
    parser.add_argument("--bomb-workers", type=int, default=4)
    args = parser.parse_args()
    if args.seconds > 300 or args.login_workers > 128 or args.bomb_workers > 16:
        raise SystemExit("the attack is bounded: at most 300 s, 128 login workers, 16 bomb workers")
    asyncio.run(main(args))


if __name__ == "__main__":
    cli()
