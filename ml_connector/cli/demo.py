"""`ml-connector demo`: the whole connector on this machine, against a simulated QuickBooks and a fake Stripe.

Nothing here is staged: the real gateway and worker run against a Temporal dev server, a SQLite database, the
QuickBooks simulator (reached only through the simulated Web Connector over HTTP, on a schedule) and the fake
Stripe server on 127.0.0.1 (reached with the real SDK, delivering signed webhooks over HTTP). The story only
does what a person would do — add a customer in Stripe, pay invoices — and switches on a fault; everything
else is the product at work. The summary is read back from the simulated QuickBooks and the fake Stripe
afterwards, so it shows what *is* in both systems, and a part of the story whose workflows are not installed
is reported as skipped rather than imitated.

No network beyond 127.0.0.1 is used; every port is chosen free at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import stripe
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from ml_connector import logs
from ml_connector.cli.devserver import TemporalDevServer
from ml_connector.cli.embedded import EmbeddedServer, free_port
from ml_connector.config import Settings, load_settings
from ml_connector.fakestripe import FakeStripeServer
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.seed import seed_company
from ml_connector.simulator.webconnector import WebConnector
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import AuditEntry, CustomerLink, InvoiceLink, QbBatch, QbRequest
from ml_connector.stripe.endpoints import ensure_webhook_endpoint
from ml_connector.stripe.money import to_minor
from ml_connector.temporal import ensure_search_attributes

log = logging.getLogger(__name__)

DEMO_KEY = "sk_test_mlcdemo"  # the fake Stripe's test-mode key: not a real credential
COMPANY = "demo"
NEW_STRIPE_CUSTOMER = "Zoë's Café & Bäckerei, LLC"
BOOKED_ACTIONS = ("payment.posted", "payment.unapplied", "payment.found_in_quickbooks")
STEP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class DemoOptions:
    keep_running: bool = False
    data_dir: Path | None = None
    port: int = 0
    customers: int = 6
    open_invoices: int = 8
    payments: int = 4
    ui: bool = True
    session_interval_s: float = 1.0
    webhook_duplicates: float = 0.5


@dataclass
class DemoSummary:
    """What the demo found in both systems at the end. Every number is read back, none is assumed."""

    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, "done: …" | "skipped: …")
    qb_customers: int = 0
    stripe_customers: int = 0
    customer_links: int = 0
    invoice_links: int = 0
    new_customer_in_qb: str = ""
    payments: dict[str, Decimal] = field(default_factory=dict)  # Stripe payment id -> amount received
    qb_payments: dict[str, list[Decimal]] = field(default_factory=dict)  # payment id -> ReceivePayment totals
    invoices: list[tuple[str, str, Decimal, str]] = field(
        default_factory=list
    )  # ref, QB TxnID, QB balance, Stripe
    webhook_deliveries: int = 0
    webhook_events: int = 0
    lost_batches: list[tuple[int, bool, int]] = field(
        default_factory=list
    )  # (requests, had writes, writes verified by a read) per lost answer
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, URL)

    @property
    def booked_once(self) -> bool:
        return all(len(self.qb_payments.get(p, [])) == 1 for p in self.payments)

    def render(self) -> str:
        lines = ["", "=== ml-connector demo: summary (read back from QuickBooks and Stripe) ==="]
        for step, outcome in self.steps:
            lines.append(f"  {step}: {outcome}")
        lines += [
            "",
            f"Customers      QuickBooks {self.qb_customers} · Stripe {self.stripe_customers} · "
            f"linked {self.customer_links}",
            f"Invoices       linked QuickBooks ⇄ Stripe: {self.invoice_links}",
        ]
        if self.new_customer_in_qb:
            lines.append(f"Added in Stripe, now in QuickBooks as: {self.new_customer_in_qb}")
        if self.payments:
            stripe_total = sum(self.payments.values(), Decimal(0))
            qb_total = sum((sum(v, Decimal(0)) for v in self.qb_payments.values()), Decimal(0))
            lines.append(
                f"Payments       Stripe {len(self.payments)} totalling {stripe_total:.2f} USD · QuickBooks "
                f"{sum(len(v) for v in self.qb_payments.values())} ReceivePayment(s) totalling {qb_total:.2f} USD"
            )
            lines.append(
                "               each Stripe payment booked exactly once: "
                + ("yes" if self.booked_once else "NO")
            )
            for pid, amount in self.payments.items():
                booked = ", ".join(f"{a:.2f}" for a in self.qb_payments.get(pid, [])) or "not booked"
                lines.append(f"                 {pid}  {amount:.2f} USD → QuickBooks {booked}")
        if self.invoices:
            lines.append("Paid invoices  (QuickBooks RefNumber · TxnID · balance left · Stripe status)")
            for ref, txn, balance, status in self.invoices:
                lines.append(f"                 #{ref}  {txn}  {balance:.2f}  {status}")
        lines.append(
            f"Webhooks       {self.webhook_deliveries} deliveries of {self.webhook_events} events "
            f"({self.webhook_deliveries - self.webhook_events} duplicates, each acted on once)"
        )
        for requests, writes, verified in self.lost_batches:
            how = (
                f"QuickBooks asked with oldMessageSetID; {verified} write(s) it left open checked by a read "
                "before anything was written again"
                if writes
                else "queries simply sent again"
            )
            lines.append(
                f"Lost response  a document of {requests} request(s) ran but its answer was lost: {how}"
            )
        if not self.lost_batches:
            lines.append("Lost response  none happened (the fault was not reached)")
        if self.links:
            lines.append("Workflows in the Temporal Web UI")
            lines += [f"  {label}: {url}" for label, url in self.links]
        return "\n".join(lines)


class Progress:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)


# ---- the sandbox -------------------------------------------------------------------------------------



@dataclass
class Sandbox:
    settings: Settings
    engine: Engine
    client: Client
    company: CompanyFile
    stripe_server: FakeStripeServer
    sdk: stripe.StripeClient
    web_connector: WebConnector
    ui_url: str

    def audit_booked(self) -> dict[str, str]:
        with Session(self.engine) as db:
            rows = db.exec(select(AuditEntry).where(col(AuditEntry.action).in_(BOOKED_ACTIONS))).all()
        return {r.stripe_object_id: r.qb_txn_id for r in rows}


def _settings(
    data_dir: Path, port: int, temporal: str, stripe_url: str, secret: str, ui_url: str
) -> Settings:
    return load_settings(
        {
            "MLC_DATA_DIR": str(data_dir),
            "MLC_PORT": str(port),
            "MLC_TEMPORAL_ADDRESS": temporal,
            "MLC_TEMPORAL_UI_URL": ui_url,
            "MLC_TASK_QUEUE": "ml-connector-demo",
            "MLC_QBWC_USERNAME": "demo-qbwc",
            "MLC_QBWC_PASSWORD": secrets.token_urlsafe(18),
            "MLC_COMPANY_ID": COMPANY,
            "MLC_COMPANY_NAME": "Demo Company (simulated QuickBooks)",
            "MLC_POLL_MINUTES": "1",
            "MLC_LINGER_SECONDS": "2",
            "MLC_BATCH_HOLD_SECONDS": "1",  # a handful of payments: holding documents back only slows the story
            "MLC_STRIPE_API_KEY": DEMO_KEY,
            "MLC_STRIPE_API_BASE": stripe_url,
            "MLC_STRIPE_WEBHOOK_SECRET": secret,
        }
    )


def _quiet_runtime() -> Runtime:
    """Temporal's core logs go to demo.log with the rest, not over the story on the terminal."""
    forward = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filters = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=filters, forwarding=forward)))


def _log_to_file(path: Path) -> None:
    """The product logs go to a file: the terminal is for the story."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(logs.RedactingFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("uvicorn.access", "temporalio.activity", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.asynccontextmanager
async def sandbox(options: DemoOptions, data_dir: Path, progress: Progress) -> Any:
    from gateway.app import create_app
    from worker import build_worker

    temporal_dir = data_dir / "temporal"
    server = TemporalDevServer(temporal_dir, port=free_port(), ui_port=free_port(), ui=options.ui)
    progress.say("starting the Temporal dev server …")
    await asyncio.to_thread(server.start)
    ui_url = f"http://127.0.0.1:{server.ui_port}" if options.ui else ""
    company = CompanyFile()
    seed_company(company, customers=options.customers, open_invoices=options.open_invoices)
    stripe_server = FakeStripeServer(api_keys={DEMO_KEY}).start()
    stripe_server.fake.configure_webhooks(duplicates=options.webhook_duplicates, shuffle=True, seed=11)
    engine: Engine | None = None
    try:
        sdk = stripe.StripeClient(DEMO_KEY, base_addresses={"api": stripe_server.url}, max_network_retries=0)
        port = options.port or free_port()
        setup = ensure_webhook_endpoint(sdk, f"http://127.0.0.1:{port}/stripe/webhook")
        assert setup.secret is not None, "a fresh fake Stripe has no endpoint yet"
        settings = _settings(data_dir, port, server.address, stripe_server.url, setup.secret, ui_url)
        logs.register_secret(settings.companies[0].qbwc_password)
        logs.register_secret(setup.secret)
        engine = make_engine(settings.database_url)
        await asyncio.to_thread(migrate, engine)
        client = await Client.connect(
            settings.temporal_target, namespace=settings.temporal_namespace, runtime=_quiet_runtime()
        )
        await ensure_search_attributes(client, settings.temporal_namespace)
        app = create_app(settings, client=client, engine=engine)
        gateway = EmbeddedServer(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
        gateway_task = asyncio.create_task(gateway.serve(), name="demo-gateway")
        while not gateway.started:
            if gateway_task.done():
                raise RuntimeError(f"the gateway could not start on 127.0.0.1:{port}")
            await asyncio.sleep(0.05)
        worker = build_worker(client, settings, engine)
        worker_task = asyncio.create_task(worker.run(), name="demo-worker")
        wc = WebConnector(
            settings.qbwc_url,
            settings.companies[0].qbwc_username,
            settings.companies[0].qbwc_password,
            QuickBooksProcessor(company),
            noop_wait_seconds=0.2,
        )
        progress.say(
            f"sandbox up: gateway {settings.public_url} (status page {settings.public_url}/), fake Stripe "
            f"{stripe_server.url}" + (f", Temporal Web UI {ui_url}" if ui_url else "")
        )
        try:
            yield Sandbox(settings, engine, client, company, stripe_server, sdk, wc, ui_url)
        finally:
            wc.close()
            await worker.shutdown()
            with contextlib.suppress(Exception):
                await worker_task
            gateway.should_exit = True
            await gateway_task
    finally:
        stripe_server.stop()
        if engine is not None:
            engine.dispose()
        await asyncio.to_thread(server.stop)


# ---- the story ---------------------------------------------------------------------------------------


async def _sessions_until(
    box: Sandbox, done: Callable[[], Awaitable[bool]], interval: float, what: str, progress: Progress
) -> int:
    """The Web Connector's schedule: a session every `interval` seconds until `done()` holds."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    sessions = 0
    while not await done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not finished after {STEP_TIMEOUT_S:.0f} s ({sessions} sessions)")
        await asyncio.to_thread(box.web_connector.run_session)
        sessions += 1
        await asyncio.sleep(interval)
    return sessions


def _count_links(engine: Engine) -> tuple[int, int]:
    with Session(engine) as db:
        customers = len(db.exec(select(CustomerLink.id)).all())
        invoices = len(db.exec(select(InvoiceLink.id)).all())
    return customers, invoices


def _installed() -> set[str]:
    from worker import WORKFLOWS

    return {w.__name__ for w in WORKFLOWS}


async def play(options: DemoOptions, box: Sandbox, progress: Progress) -> DemoSummary:
    summary = DemoSummary()
    installed = _installed()
    interval = options.session_interval_s
    sdk = box.sdk
    active = [c for c in box.company.customers.values() if c.sublevel == 0 and c.is_active]

    # 1. QuickBooks customers and open invoices → Stripe (the sync workflow, started by the Web Connector).
    if "CustomerSyncWorkflow" in installed:
        progress.say(f"1/4 QuickBooks → Stripe: {len(active)} customers and their open invoices")

        with box.company.lock:
            open_invoices = sum(1 for i in box.company.invoices.values() if i.balance_remaining > 0)

        async def synced() -> bool:
            customers, invoices = await asyncio.to_thread(_count_links, box.engine)
            return customers >= len(active) and invoices >= open_invoices

        sessions = await _sessions_until(box, synced, interval, "customer and invoice sync", progress)
        customers, invoices = await asyncio.to_thread(_count_links, box.engine)
        progress.say(f"    {customers} customers and {invoices} invoices linked after {sessions} session(s)")
        summary.steps.append(
            ("customers and invoices to Stripe", f"done in {sessions} Web Connector session(s)")
        )
    else:
        summary.steps.append(
            ("customers and invoices to Stripe", "skipped: the sync workflow is not installed")
        )

    # 2. A customer added in Stripe appears in QuickBooks (customer.created webhook).
    if "StripeCustomerWorkflow" in installed:
        progress.say(f"2/4 a customer is added in Stripe: {NEW_STRIPE_CUSTOMER!r}")
        created = await asyncio.to_thread(
            lambda: sdk.v1.customers.create({"name": NEW_STRIPE_CUSTOMER, "email": "hallo@zoes.example.com"})
        )

        async def arrived() -> bool:
            with box.company.lock:
                return any(
                    c.name.startswith("Zo") and "Caf" in c.name for c in box.company.customers.values()
                )

        sessions = await _sessions_until(box, arrived, interval, "customer from Stripe", progress)
        with box.company.lock:
            summary.new_customer_in_qb = next(
                c.name for c in box.company.customers.values() if c.name.startswith("Zo") and "Caf" in c.name
            )
        progress.say(f"    in QuickBooks as {summary.new_customer_in_qb!r} ({created.id})")
        summary.steps.append(("customer added in Stripe", f"done: in QuickBooks after {sessions} session(s)"))
    else:
        summary.steps.append(
            ("customer added in Stripe", "skipped: the Stripe→QuickBooks customer workflow is missing")
        )

    # 3. Payments by card on the mirrored invoices; signed webhooks, some duplicated; one response is lost.
    if "PaymentWorkflow" in installed and summary.steps[0][1].startswith("done"):
        paid = await asyncio.to_thread(_pay_invoices, box, options.payments)
        progress.say(f"3/4 {len(paid)} invoices paid in Stripe; webhooks on their way (some twice)")
        # The answer to the first document of payments never reaches us: the Web Connector dies right after
        # QuickBooks ran it. ml-connector asks QuickBooks (oldMessageSetID) and verifies what stays uncertain.
        faults = box.web_connector.faults
        faults.lose_write_documents, faults.lose_writes_min = 1, 1
        faults.lose_writes_of, faults.lose_response_mode = "ReceivePaymentAddRq", "die"
        progress.say("    the Web Connector will die after QuickBooks runs the first payments (response lost)")
        wanted = {pi for pi, _ in paid}

        async def booked() -> bool:
            return wanted <= set(await asyncio.to_thread(box.audit_booked))

        sessions = await _sessions_until(box, booked, interval, "payments", progress)
        progress.say(f"    all {len(wanted)} payments booked in QuickBooks after {sessions} session(s)")
        lost = "one document of payments lost on the way" if not faults.lose_write_documents else "none lost"
        summary.steps.append(("payments by webhook", f"done in {sessions} session(s), {lost}"))
        await asyncio.to_thread(_read_back_payments, box, paid, summary)
    else:
        summary.steps.append(
            ("payments by webhook", "skipped: the payment workflow or the synced invoices are missing")
        )

    # 4. Read everything back.
    progress.say("4/4 reading back QuickBooks and Stripe")
    await asyncio.to_thread(box.stripe_server.fake.webhooks.flush, 30)
    await asyncio.to_thread(_read_back, box, summary)
    return summary


def _pay_invoices(box: Sandbox, count: int) -> list[tuple[str, str]]:
    """Pay `count` open Stripe invoices mirrored from QuickBooks in full by card: [(PaymentIntent, QB TxnID)]."""
    sdk = box.sdk
    with Session(box.engine) as db:
        links = list(db.exec(select(InvoiceLink).order_by(col(InvoiceLink.id))).all())
    paid: list[tuple[str, str]] = []
    for link in links:
        if len(paid) >= count:
            break
        invoice = sdk.v1.invoices.retrieve(link.stripe_invoice_id)
        if invoice.status != "open" or not invoice.amount_due:
            continue
        invoice_id = str(invoice.id)
        sdk.v1.invoices.pay(invoice_id, {"payment_method": "pm_card_visa"})
        payment = sdk.v1.invoice_payments.list({"invoice": invoice_id}).data[0].payment
        pi = payment.payment_intent
        assert pi is not None
        paid.append((pi if isinstance(pi, str) else str(pi.id), link.qb_txn_id))
    return paid


def _read_back_payments(box: Sandbox, paid: list[tuple[str, str]], summary: DemoSummary) -> None:
    sdk = box.sdk
    with box.company.lock:
        by_guid: dict[str | None, list[Decimal]] = {}
        for p in box.company.receive_payments.values():
            by_guid.setdefault(p.external_guid, []).append(p.total_amount)
        for pi, txn in paid:
            intent = sdk.v1.payment_intents.retrieve(pi)
            summary.payments[pi] = Decimal(intent.amount_received) / 100
            summary.qb_payments[pi] = list(by_guid.get(external_guid_for(pi), []))
            invoice = box.company.invoices[txn]
            link_status = _stripe_invoice_status(box, txn)
            summary.invoices.append((invoice.ref_number or "", txn, invoice.balance_remaining, link_status))


def _stripe_invoice_status(box: Sandbox, txn: str) -> str:
    with Session(box.engine) as db:
        link = db.exec(select(InvoiceLink).where(InvoiceLink.qb_txn_id == txn)).first()
    if link is None:
        return "not linked"
    invoice = box.sdk.v1.invoices.retrieve(link.stripe_invoice_id)
    return f"{invoice.status}, {invoice.amount_paid / 100:.2f} paid"


def _read_back(box: Sandbox, summary: DemoSummary) -> None:
    with box.company.lock:
        summary.qb_customers = sum(
            1 for c in box.company.customers.values() if c.sublevel == 0 and c.is_active
        )
    summary.stripe_customers = sum(1 for _ in box.sdk.v1.customers.list({"limit": 100}).auto_paging_iter())
    summary.customer_links, summary.invoice_links = _count_links(box.engine)
    attempts = [a for a in box.stripe_server.fake.webhooks.attempts() if a.succeeded]
    summary.webhook_deliveries = len(attempts)
    summary.webhook_events = len(Counter(a.event_id for a in attempts))
    with Session(box.engine) as db:
        lost = db.exec(
            select(QbBatch).where(col(QbBatch.recovers).is_(None), QbBatch.status == "recovered")
        ).all()
        uncertain = db.exec(select(QbRequest.batch_id).where(QbRequest.status == "uncertain")).all()
        summary.lost_batches = [(b.request_count, b.has_writes, uncertain.count(b.id)) for b in lost]
    if box.ui_url:
        from gateway.status import workflow_url

        summary.links.append(("sync workflow", workflow_url(box.settings, f"customer-sync/{COMPANY}")))
        for pi in summary.payments:
            summary.links.append((pi, workflow_url(box.settings, f"payment/{COMPANY}/{pi}")))


def check_amounts(summary: DemoSummary) -> list[str]:
    """Problems a person would see in the summary (empty when everything landed once, to the cent)."""
    problems: list[str] = []
    for pid, amount in summary.payments.items():
        booked = summary.qb_payments.get(pid, [])
        if len(booked) != 1:
            problems.append(f"{pid}: {len(booked)} ReceivePayment(s) in QuickBooks")
        elif to_minor(booked[0], "usd") != to_minor(amount, "usd"):
            problems.append(f"{pid}: {amount} in Stripe, {booked[0]} in QuickBooks")
    for ref, _txn, balance, _status in summary.invoices:
        if balance != 0:
            problems.append(f"invoice #{ref}: {balance} still open")
    return problems


# ---- entry point -------------------------------------------------------------------------------------


async def demo_main(
    options: DemoOptions,
    out: TextIO = sys.stdout,
    *,
    inspect: Callable[[Sandbox, DemoSummary], None] | None = None,
) -> tuple[DemoSummary, list[str]]:
    """Run the sandbox and the story; `inspect` sees both systems before they are torn down (tests)."""
    owned = options.data_dir is None
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="mlc-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(out)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    _log_to_file(data_dir / "demo.log")
    progress.say(f"ml-connector demo; files and logs in {data_dir}")
    try:
        async with sandbox(options, data_dir, progress) as box:
            summary = await play(options, box, progress)
            problems = check_amounts(summary)
            if inspect is not None:
                await asyncio.to_thread(inspect, box, summary)
            print(summary.render(), file=out, flush=True)
            print(
                "\nEverything landed once, to the cent."
                if not problems
                else "\nPROBLEMS:\n  " + "\n  ".join(problems),
                file=out,
                flush=True,
            )
            if options.keep_running:
                print(
                    f"\nThe sandbox keeps running (Web Connector every {options.session_interval_s:.0f} s). "
                    f"Status page: {box.settings.public_url}/ · Ctrl-C to stop.",
                    file=out,
                    flush=True,
                )
                await _keep_running(box, options)
            return summary, problems
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        if owned and not options.keep_running:
            shutil.rmtree(data_dir, ignore_errors=True)


async def _keep_running(box: Sandbox, options: DemoOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        await asyncio.to_thread(box.web_connector.run_session)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(options.session_interval_s, 1.0))


def run_demo(options: DemoOptions) -> int:
    try:
        _summary, problems = asyncio.run(demo_main(options))
    except KeyboardInterrupt:
        return 130
    except TimeoutError as exc:
        print(f"ml-connector demo: {exc}. See demo.log in the data directory.", file=sys.stderr)
        return 1
    return 0 if not problems else 1
