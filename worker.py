"""The Temporal worker: registers every workflow and activity of ml-connector once.

`ml-connector worker` runs it for real deployments; `ml-connector dev` runs it beside the gateway.
"""

from __future__ import annotations

import asyncio
import compileall
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

import workflows
from activities.audit import AuditActivities
from activities.customer_pages import CustomerPageActivities
from activities.invoice_pages import InvoicePageActivities
from activities.invoice_reading import InvoiceReadingActivities
from activities.ledger import LedgerActivities
from activities.links import LinkActivities
from activities.payment_routing import RoutingActivities
from activities.qb_lists import QbListActivities
from activities.qb_queue import QbActivities
from activities.stripe_customer import StripeCustomerActivities
from activities.stripe_side import StripeActivities
from ml_connector.config import Settings
from ml_connector.metrics import track_stripe_gateway
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.stripe.client import StripeGateway, StripeSettings
from ml_connector.stripe.shared_limit import limiter_for
from ml_connector.temporal import connect, ensure_search_attributes
from ml_connector.worker_metrics import WorkerMetricsServer, free_loopback_port, temporal_runtime
from workflows.backfill import PaymentBackfillWorkflow
from workflows.customer_sync import CustomerSyncWorkflow
from workflows.invoice_reader import InvoiceReaderWorkflow
from workflows.ledger import LedgerWorkflow
from workflows.links_rebuild import LinksRebuildWorkflow
from workflows.payment import PaymentWorkflow
from workflows.qb_setup import EnsureListsWorkflow
from workflows.stripe_customer import StripeCustomerWorkflow

log = logging.getLogger(__name__)

# Every product workflow, registered once.
WORKFLOWS: list[type[Any]] = [
    PaymentWorkflow,
    InvoiceReaderWorkflow,
    PaymentBackfillWorkflow,
    CustomerSyncWorkflow,
    StripeCustomerWorkflow,
    LinksRebuildWorkflow,
    EnsureListsWorkflow,
    LedgerWorkflow,
]


def stripe_gateway(settings: Settings) -> StripeGateway | None:
    """One gateway (on the account-wide rate limit) for every Stripe activity of this process; None until
    Stripe is configured."""
    if not settings.stripe.configured:
        return None
    stripe_settings = StripeSettings(
        settings.stripe.api_key, settings.stripe.api_base, settings.stripe.rate_per_s
    )
    # The account-wide limit (25/s test mode, 100/s live, or MLC_STRIPE_RATE_LIMIT), shared with every other
    # gateway and worker through the database; evenly spaced requests, no burst.
    limiter = limiter_for(
        settings.database_url,
        settings.stripe.api_key,
        rate_per_s=settings.stripe.rate_per_s,
        account_id=settings.stripe.account_id,
    )
    return track_stripe_gateway(StripeGateway.from_settings(stripe_settings, limiter=limiter))


def build_activities(settings: Settings, engine: Engine, client: Client) -> list[Any]:
    """The activity objects hold their clients (database, queue, Stripe); one of each per worker process."""
    queue = RequestQueue(engine, max_requests=settings.batch_max_requests, max_bytes=settings.batch_max_bytes)
    qb = QbActivities(queue)
    activities: list[Any] = [qb.qb_run, qb.qb_forget_pages]
    # One Stripe gateway (one rate limiter, one retry policy, one set of counters) for every activity.
    gateway = stripe_gateway(settings)
    clearing = {c.id: c.ledger.clearing_account for c in settings.companies if c.ledger is not None}
    multicurrency = {c.id: c.ledger.multicurrency for c in settings.companies if c.ledger is not None}
    audit = AuditActivities(engine, settings.posting, clearing, multicurrency)
    stripe_side = StripeActivities(settings, gateway)
    routing = RoutingActivities(client, settings.posting.home_currency)
    reading = InvoiceReadingActivities(queue)
    activities += [
        audit.payment_config,
        audit.record,
        audit.payment_history,
        audit.customer_link,
        audit.save_customer_link,
        audit.invoice_link,
        audit.company_of_customer,
        stripe_side.fetch_payment,
        stripe_side.invoice_payments,
        stripe_side.customer,
        stripe_side.link_customer_back,
        stripe_side.mark_payment_posted,
        stripe_side.list_payments,
        routing.route_payments,
        routing.request_invoices,
        reading.read_invoices,
    ]
    customer_pages = CustomerPageActivities(settings, engine, gateway)
    invoice_pages = InvoicePageActivities(settings, engine, gateway, pool=customer_pages.pool)
    stripe_customer = StripeCustomerActivities(settings, engine, gateway, pool=customer_pages.pool)
    links = LinkActivities(settings, engine, gateway)
    activities += [
        customer_pages.sync_customer_page,
        invoice_pages.sync_invoice_page,
        invoice_pages.sync_deleted_invoices,
        stripe_customer.fetch_stripe_customer,
        stripe_customer.tag_stripe_customer,
        links.customer_sync_config,
        links.pending_write_backs,
        links.mark_written_back,
        links.find_customer_link,
        links.record_customer_link,
        links.rebuild_links_from_stripe,
        links.rebuild_links_from_qb_page,
    ]
    # Which accounts, payment methods and items exist in QuickBooks (workflows/qb_setup.py).
    lists = QbListActivities(engine)
    activities += [lists.missing, lists.remember, lists.forget]
    ledger = LedgerActivities(settings, engine, client, gateway)
    activities += [ledger.plan_pass, ledger.record, ledger.failed, ledger.record_charge]
    return activities


def compile_workflow_modules() -> None:
    """Write the workflow modules' bytecode once, when Python was told not to (PYTHONDONTWRITEBYTECODE).

    Temporal's sandbox imports every workflow module afresh for each workflow run it starts or replays, and
    without a cached .pyc each such import compiles the source again: measured at about a sixth of the
    worker's CPU while payments arrive by the dozen per second (bench/payments_throughput.py). A read-only
    install simply keeps compiling (compileall fails quietly); pip-installed images already carry bytecode.
    """
    if not sys.dont_write_bytecode:
        return  # the first import writes it
    for path in workflows.__path__:
        compileall.compile_dir(path, maxlevels=0, quiet=2)


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    task_queue: str | None = None,
    extra_workflows: list[type[Any]] | None = None,
    extra_activities: list[Any] | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    """Activities are synchronous (database I/O) and run on a thread pool sized for many waiting requests."""
    compile_workflow_modules()
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[*WORKFLOWS, *(extra_workflows or [])],
        activities=[*build_activities(settings, engine, client), *(extra_activities or [])],
        activity_executor=executor or ThreadPoolExecutor(max_workers=32, thread_name_prefix="mlc-activity"),
        max_concurrent_activities=32,
    )


async def run_worker(
    settings: Settings, stop: asyncio.Event, *, client: Client | None = None, serve_metrics: bool = True
) -> None:
    """Run until ``stop``. With ``serve_metrics`` and ``MLC_WORKER_METRICS_PORT`` set (the default), the
    process serves its own ``/metrics`` with Temporal's SDK metrics (``ml_connector/worker_metrics.py``);
    ``ml-connector dev`` turns that off, its gateway's ``/metrics`` already shows the shared process."""
    metrics_server: WorkerMetricsServer | None = None
    overrides: dict[str, Any] = {}
    if serve_metrics and settings.worker_metrics_port:
        sdk_port = free_loopback_port()
        metrics_server = WorkerMetricsServer(
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            sdk_url=None if client is not None else f"http://127.0.0.1:{sdk_port}/metrics",
        )
        if client is None:
            overrides["runtime"] = temporal_runtime(sdk_port)
    engine = make_engine(settings.database_url)
    try:
        await asyncio.to_thread(migrate, engine)
        client = client or await connect(settings, **overrides)
        await ensure_search_attributes(client, settings.temporal_namespace)
        worker = build_worker(client, settings, engine)
        if metrics_server is not None:
            metrics_server.start()
        log.info("worker: polling task queue %s", settings.task_queue)
        async with worker:
            await stop.wait()
    finally:
        if metrics_server is not None:
            metrics_server.stop()
        engine.dispose()
