"""Benchmark: 1,000 Stripe payments booked into a QuickBooks that takes 50 ms per request.

Deployed the way production is deployed, one process per role, so that each number measures its own part:

- **gateway**: ``ml-connector gateway`` in its own process (webhooks and the Web Connector endpoint over HTTP);
- **worker**: ``ml-connector worker`` in its own process;
- **load generator**: a process of its own (this script, ``--send``) posting every payment event Stripe
  recorded to ``/stripe/webhook`` at a steady rate, concurrently (open loop: a slow answer does not delay the
  next send), each signed like Stripe signs them; it times each answer — the webhook ack latency;
- **this process**: the Temporal dev server (a child process), the fake Stripe API the worker re-fetches
  payments from, and the simulated Web Connector + QuickBooks (50 ms per request). The Web Connector polls on
  a schedule (``--poll-seconds``, the "every N minutes" of the .qwc file, in seconds here) and, as QBWC does,
  waits 5 s after a NoOp; a session that is still running when the next poll is due delays that poll.

The payments are made in Stripe first (with no webhook endpoint, so nothing is delivered by the fake), and
the company's first customer/invoice sync runs to the end (``--no-first-sync`` skips that); then the clock
starts. The customer sync's periodic poll is set to hourly (``--sync-poll-minutes``) so it stays out of the
window too. All processes share one SQLite file (``--database-url`` for PostgreSQL) and one Temporal.

Printed: webhook ack latency p50/p99/max, Web Connector sessions and round trips, qbXML requests per payment,
payments per round trip, and the time from the last webhook to the last posted payment. Nothing is asserted.

Run: ``.venv/bin/python bench/payments_throughput.py [--payments 1000] [--rate 25] [--poll-seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(ROOT))

import stripe  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlmodel import Session, col, func, select  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from activities.audit import FOUND, POSTED, UNAPPLIED  # noqa: E402
from bench.support import percentile  # noqa: E402
from ml_connector.cli.embedded import free_port  # noqa: E402
from ml_connector.fakestripe import FakeStripeServer  # noqa: E402
from ml_connector.simulator.processor import QuickBooksProcessor  # noqa: E402
from ml_connector.simulator.webconnector import SessionReport, WebConnector  # noqa: E402
from ml_connector.storage.engine import make_engine, migrate  # noqa: E402
from ml_connector.storage.models import AuditEntry, CustomerLink, QbBatch, QbRequest  # noqa: E402
from ml_connector.stripe.webhooks import sign_payload  # noqa: E402
from ml_connector.temporal import SEARCH_ATTRIBUTES, temporal_binary  # noqa: E402
from tests.payments_support import API_KEY, PAYMENT_EVENTS, Books, StripeSide  # noqa: E402

CUSTOMERS = 50
COMPANY = "bench"
USERNAME = "bench-qbwc"
PASSWORD = "bench password 2024"  # noqa: S105 - benchmark-only credential
WEBHOOK_SECRET = "whsec_bench_payments"  # noqa: S105 - benchmark-only secret, passed to children by env
SECRET_ENV = "MLC_BENCH_WEBHOOK_SECRET"  # noqa: S105 - the variable's name
QBWC_NOOP_WAIT_SECONDS = 5.0  # what the real Web Connector waits after a NoOp


# ---- the load generator (its own process) ---------------------------------------------------------------


async def send_steadily(url: str, secret: str, bodies: list[bytes], rate: float) -> dict[str, object]:
    """POST body *i* at ``start + i/rate`` without waiting for earlier answers; time each answer."""
    latencies: list[float] = [0.0] * len(bodies)
    statuses: list[int] = [0] * len(bodies)
    # A connection per delivery, as Stripe makes them (and no race with the server closing idle keep-alives).
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def send(i: int, body: bytes) -> None:
            header = sign_payload(body, secret, int(time.time()))
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers={"Stripe-Signature": header})
            except httpx.TransportError:
                statuses[i] = -1  # reported as not answered; Stripe would redeliver
            else:
                statuses[i] = response.status_code
            latencies[i] = (time.perf_counter() - began) * 1000

        tasks = []
        for i, body in enumerate(bodies):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, body)))
        await asyncio.gather(*tasks)
    return {"latencies_ms": latencies, "statuses": statuses, "last_ack_epoch": time.time()}


def load_generator_main(bodies_path: Path, url: str, rate: float, out: Path) -> None:
    secret = os.environ[SECRET_ENV]
    bodies = [line.encode() for line in bodies_path.read_text().splitlines() if line]
    first = time.time()
    result = asyncio.run(send_steadily(url, secret, bodies, rate))
    out.write_text(json.dumps({**result, "first_send_epoch": first}))


# ---- the simulated Web Connector on its schedule -----------------------------------------------------------


@dataclass
class Poller:
    """Starts a Web Connector session every ``interval`` seconds, never two at once (QBWC does not overlap)."""

    wc: WebConnector
    interval: float

    def __post_init__(self) -> None:
        self.reports: list[SessionReport] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="web-connector-schedule", daemon=True)

    def _run(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            self.reports.append(self.wc.run_session())
            due += self.interval
            now = time.monotonic()
            if due < now:  # the session outlasted the interval: the next poll starts right away
                due = now
            self.stop.wait(due - now)


# ---- the benchmark ----------------------------------------------------------------------------------------


def _spawn(role: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{role}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ml_connector.cli", role],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _documents(engine: Engine, since_epoch: float, clock_start: float) -> list[str]:
    """One line per qbXML document sent: when, how long QuickBooks took to answer, and what it carried.

    The composition (invoice reads vs payment adds vs other requests) is what decides payments per round trip:
    a document that carries only a read, or only a few adds, is a round trip spent on few payments.
    """
    with Session(engine) as db:
        batches = db.exec(
            select(QbBatch).where(QbBatch.company_id == COMPANY).order_by(col(QbBatch.created_at))
        ).all()
        names = db.exec(select(QbRequest.batch_id, QbRequest.name)).all()
    kinds: dict[str, dict[str, int]] = {}
    for batch_id, name in names:
        if batch_id is None:
            continue
        kind = "read" if name == "InvoiceQueryRq" else "add" if name == "ReceivePaymentAddRq" else "other"
        counts = kinds.setdefault(batch_id, {"read": 0, "add": 0, "other": 0})
        counts[kind] += 1
    lines = []
    for batch in batches:
        sent = batch.created_at if batch.created_at.tzinfo else batch.created_at.replace(tzinfo=UTC)
        if sent.timestamp() < clock_start:
            continue  # the first sync, before the clock started
        answered = batch.answered_at
        took = ""
        if answered is not None:
            answered = answered if answered.tzinfo else answered.replace(tzinfo=UTC)
            took = f"{(answered - sent).total_seconds():5.1f} s"
        counts = kinds.get(batch.id, {"read": 0, "add": 0, "other": 0})
        recovery = " (recovery)" if batch.recovers else ""
        lines.append(
            f"  {sent.timestamp() - since_epoch:7.1f} s  answered after {took or '   — '}  "
            f"reads {counts['read']:3d}  adds {counts['add']:3d}  other {counts['other']:3d}{recovery}"
        )
    return lines


def _booked(engine: Engine) -> tuple[set[str], float | None]:
    """Stripe payment ids booked so far, and when the last one was booked (epoch seconds)."""
    with Session(engine) as db:
        rows = db.exec(
            select(AuditEntry.stripe_object_id, AuditEntry.at).where(
                col(AuditEntry.action).in_([POSTED, UNAPPLIED, FOUND])
            )
        ).all()
    last = max(
        (at if at.tzinfo else at.replace(tzinfo=UTC) for _, at in rows), default=None
    )  # SQLite: naive UTC
    return {pid for pid, _ in rows}, (last.timestamp() if last is not None else None)


async def bench(args: argparse.Namespace) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_binary()),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_log_level="error",
        ui=False,
    )
    tmp = Path(tempfile.mkdtemp(prefix="mlc-bench-payments-"))
    try:
        with FakeStripeServer(api_keys={API_KEY}) as server:
            await _run(args, env, server, tmp)
    finally:
        await env.shutdown()


async def _run(
    args: argparse.Namespace, env: WorkflowEnvironment, server: FakeStripeServer, tmp: Path
) -> None:
    payments: int = args.payments
    port = free_port()
    database_url = args.database_url or f"sqlite:///{tmp}/bench.db"
    settings_env = {
        "MLC_DATABASE_URL": database_url,
        "MLC_PORT": str(port),
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": COMPANY,
        "MLC_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "MLC_TASK_QUEUE": "bench-payments",
        "MLC_STRIPE_API_KEY": API_KEY,
        "MLC_STRIPE_API_BASE": server.url,
        "MLC_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # The fake Stripe has no rate limit; the connector's own limiter defaults to Stripe's test-mode 25/s.
        "MLC_STRIPE_RATE_LIMIT": "1000",
        "MLC_LOG_LEVEL": "WARNING",
        "MLC_LINGER_SECONDS": str(args.linger_seconds),
        # The customer sync's periodic poll is not payment traffic either (its iterator pages are round trips
        # of their own); by default it stays out of the window, like the first sync.
        "MLC_POLL_MINUTES": str(args.sync_poll_minutes),
    }
    engine = make_engine(database_url)
    migrate(engine)
    books = Books.fresh()
    sdk = stripe.StripeClient(API_KEY, base_addresses={"api": server.url}, max_network_retries=0)
    side = StripeSide(sdk, server)

    print(f"setting up {payments} payments on {payments} invoices of {CUSTOMERS} customers …", flush=True)

    def make() -> tuple[list[str], list[bytes]]:
        customers = []
        with Session(engine) as db:
            for i in range(CUSTOMERS):
                with books.company.lock:
                    qb = books.company.add_customer(f"Bench Customer {i:02d}").list_id
                cus = side.customer(f"Bench Customer {i:02d}")
                db.add(
                    CustomerLink(company_id=COMPANY, qb_list_id=qb, stripe_customer_id=cus, written_back=True)
                )
                customers.append((cus, qb))
            db.commit()
        made = []
        for n in range(payments):
            cus, qb = customers[n % CUSTOMERS]
            amount = Decimal(50 + n % 400) + Decimal(n % 100) / 100
            txn = books.invoice(qb, amount)
            made.append(side.pay(cus, int(amount * 100), {"qb_txn_id": txn}))
        bodies = [
            json.dumps(e.to_dict()).encode()
            for e in sdk.v1.events.list({"limit": 100}).auto_paging_iter()
            if e.type in PAYMENT_EVENTS
        ]
        bodies.reverse()  # oldest first, as Stripe sends them
        return made, bodies

    pis, bodies = await asyncio.to_thread(make)
    bodies_path = tmp / "events.jsonl"
    bodies_path.write_text("\n".join(b.decode() for b in bodies) + "\n")

    gateway = _spawn("gateway", settings_env, tmp)
    worker = _spawn("worker", settings_env, tmp)
    poller: Poller | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(400):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the gateway did not come up; see {tmp}/gateway.log")

        processor = QuickBooksProcessor(books.company, recovery_answer=args.recovery_answer)
        processor.latency_seconds = args.latency_ms / 1000
        wc = WebConnector(
            f"{base}/qbwc", USERNAME, PASSWORD, processor, noop_wait_seconds=QBWC_NOOP_WAIT_SECONDS
        )
        first_request = 0
        if args.first_sync:
            # A company taking payments synced its customers and invoices long ago; the first sync of the
            # 1,000 fresh invoices (ten iterator pages, the link write-backs, the Stripe side) is not payment
            # traffic, so it runs to the end before the clock starts.
            print("first customer and invoice sync, before the clock starts …", flush=True)
            warm = await asyncio.to_thread(wc.run_until_idle, 100)
            print(
                f"  done in {len(warm)} sessions, {sum(r.round_trips for r in warm)} round trips", flush=True
            )
            with Session(engine) as db:
                first_request = int(db.exec(select(func.max(QbRequest.id))).one() or 0)
        # Lost answers (--lose-documents): the next N documents of at least 20 ReceivePaymentAdds run in
        # QuickBooks and the Web Connector dies before their answers reach us (armed after the first sync).
        wc.faults.lose_write_documents = args.lose_documents
        wc.faults.lose_writes_min, wc.faults.lose_writes_of = 20, "ReceivePaymentAddRq"
        poller = Poller(wc, args.poll_seconds)
        out = tmp / "acks.json"
        print(
            f"posting {len(bodies)} webhooks at {args.rate:g}/s from a load-generator process; "
            f"Web Connector polls every {args.poll_seconds:g} s …",
            flush=True,
        )
        clock_start = time.time()
        poller.thread.start()
        sender = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--send",
            str(bodies_path),
            "--url",
            f"{base}/stripe/webhook",
            "--rate",
            str(args.rate),
            "--out",
            str(out),
            env={**os.environ, SECRET_ENV: WEBHOOK_SECRET, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
        if await sender.wait() != 0:
            raise RuntimeError("the load generator failed")
        acks = json.loads(out.read_text())
        wanted = set(pis)
        while True:
            booked, last_booked = await asyncio.to_thread(_booked, engine)
            if wanted <= booked:
                break
            for role, proc in (("gateway", gateway), ("worker", worker)):
                if proc.poll() is not None:
                    raise RuntimeError(f"the {role} exited; see {tmp}/{role}.log")
            await asyncio.sleep(0.5)
        poller.stop.set()
        await asyncio.to_thread(poller.thread.join)
    finally:
        if poller is not None:
            poller.stop.set()
        _stop(worker)
        _stop(gateway)

    latencies: list[float] = acks["latencies_ms"]
    statuses: list[int] = acks["statuses"]
    with Session(engine) as db:
        measured = col(QbRequest.id) > first_request
        requests = db.exec(select(func.count()).select_from(QbRequest).where(measured)).one()
        by_name = db.exec(select(QbRequest.name, func.count()).where(measured).group_by(QbRequest.name)).all()
        uncertain = db.exec(
            select(func.count()).select_from(QbRequest).where(measured, QbRequest.status == "uncertain")
        ).one()
        status_checks = db.exec(
            select(func.count()).select_from(QbBatch).where(col(QbBatch.recovers).is_not(None))
        ).one()
    documents = _documents(engine, acks["first_send_epoch"], clock_start) if args.documents else []
    engine.dispose()
    payment_requests = sum(
        c for n, c in by_name if n.startswith(("Invoice", "ReceivePayment", "CustomerAdd"))
    )
    reports = poller.reports
    round_trips = sum(r.round_trips for r in reports)
    assert last_booked is not None
    print()
    print(f"payments booked                      {len(books.company.receive_payments)} (of {payments})")
    print(f"webhooks sent / answered 200         {len(latencies)} / {statuses.count(200)}")
    print(
        f"webhook ack latency p50 / p99 / max  {statistics.median(latencies):.1f} / "
        f"{percentile(latencies, 99):.1f} / {max(latencies):.1f} ms"
    )
    print(f"Web Connector sessions / round trips {len(reports)} / {round_trips}")
    print(
        f"qbXML requests for payments          {payment_requests} ({payment_requests / payments:.3f} per payment)"
    )
    print(f"qbXML requests, all workflows        {requests}")
    print(f"  by request                         {', '.join(f'{n} {c}' for n, c in sorted(by_name))}")
    print(f"payments per round trip              {payments / max(1, round_trips):.1f}")
    lost = args.lose_documents - wc.faults.lose_write_documents
    if lost:
        checks = dict(by_name).get("ReceivePaymentQueryRq", 0)
        print(
            f"lost documents ({args.recovery_answer} reading)   {lost}: {status_checks} oldMessageSetID status "
            f"check(s), {uncertain} write(s) left uncertain, {checks} ReceivePaymentQuery verification(s)"
        )
    print(f"webhooks sent over                   {acks['last_ack_epoch'] - acks['first_send_epoch']:.1f} s")
    print(f"last webhook -> last payment posted  {last_booked - acks['last_ack_epoch']:.1f} s")
    print(f"whole run (first webhook -> done)    {last_booked - acks['first_send_epoch']:.1f} s")
    if documents:
        print("documents (time since the first webhook; InvoiceQuery reads, ReceivePaymentAdd adds, other):")
        print("\n".join(documents))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=50, help="simulated QuickBooks time per request")
    parser.add_argument("--rate", type=float, default=25.0, help="webhooks per second sent to the gateway")
    parser.add_argument("--poll-seconds", type=float, default=10.0, help="Web Connector schedule (wall time)")
    parser.add_argument(
        "--linger-seconds",
        type=int,
        default=10,
        help="MLC_LINGER_SECONDS (product default 10; 0: end sessions at once)",
    )
    parser.add_argument(
        "--sync-poll-minutes",
        type=int,
        default=60,
        help="MLC_POLL_MINUTES, the customer sync's schedule (product default 5; 60 keeps it out of the run)",
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument(
        "--lose-documents", type=int, default=0, help="lose the answers to this many documents of payments"
    )
    parser.add_argument(
        "--recovery-answer",
        default="last",
        choices=["last", "nothing", "600", "all"],
        help="what QuickBooks answers an oldMessageSetID status check (simulator setting)",
    )
    parser.add_argument(
        "--first-sync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the company's first customer/invoice sync before the clock starts (default: yes)",
    )
    parser.add_argument(
        "--documents", action="store_true", help="also list every qbXML document sent and what it carried"
    )
    parser.add_argument("--send", type=Path, help=argparse.SUPPRESS)  # the load-generator process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send is not None:
        load_generator_main(args.send, args.url, args.rate, args.out)
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
