"""`ml-connector links rebuild [--company ID]` and `ml-connector sync now [--company ID]`.

``links rebuild`` reconstructs the customer and invoice link table from the two systems alone (Stripe
metadata + the Stripe id stored on each QuickBooks customer), e.g. after restoring an old database backup or
losing it. It runs as a workflow because QuickBooks can only be read through the Web Connector: the command
waits (or, with ``--no-wait``, returns) while the next Web Connector session brings the customers.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from ml_connector.cli import help as cli_help
from ml_connector.cli import options
from ml_connector.config import ConfigError, Settings


def register(sub: Any) -> None:
    """Add the link and sync commands to the `ml-connector` parser (``sub`` is its subparsers object)."""
    what = cli_help.add_group(
        sub, "links", help="the QuickBooks ⇄ Stripe customer and invoice links", env=cli_help.TEMPORAL
    )
    rebuild = cli_help.add_command(
        what,
        "rebuild",
        help="rebuild the links from QuickBooks' Stripe ids and Stripe's metadata alone",
        description=(
            "Start links-rebuild/{company}: it reads every Stripe customer and invoice whose metadata names the\n"
            "company file, then, with the next Web Connector session, every QuickBooks customer's stored Stripe\n"
            "id. Waits for the result, printing what it is doing, unless --no-wait."
        ),
        env=(*cli_help.TEMPORAL, *cli_help.STRIPE, *cli_help.COMPANIES),
    )
    options.add_company(rebuild, "company id (default: every configured company)")
    rebuild.add_argument("--no-wait", action="store_true", help="start the rebuild and return at once")
    options.add_timeout(
        rebuild,
        default=30,
        help="give up waiting after this long (the rebuild goes on); exit 3 if QuickBooks' answer is what "
        "is missing (default: 30; the Web Connector comes every MLC_POLL_MINUTES)",
    )
    rebuild.set_defaults(handler=cmd_links_rebuild)

    sync_what = cli_help.add_group(sub, "sync", help="the customer and invoice sync", env=cli_help.TEMPORAL)
    now = cli_help.add_command(
        sync_what,
        "now",
        help="poll QuickBooks now instead of waiting for MLC_POLL_MINUTES",
        description="Signal customer-sync/{company} to poll; the poll runs with the next Web Connector session.",
        env=(*cli_help.TEMPORAL, *cli_help.COMPANIES),
    )
    options.add_company(now, "company id (default: every configured company)")
    now.set_defaults(handler=cmd_sync_now)


def _companies(settings: Settings, company_id: str | None) -> list[str]:
    known = [c.id for c in settings.companies]
    if not known:
        raise ConfigError("no company file is configured (MLC_QBWC_USERNAME / MLC_CONFIG)")
    if company_id is None:
        return known
    if company_id not in known:
        raise ConfigError(f"unknown company {company_id!r}; configured: {', '.join(known)}")
    return [company_id]


def cmd_links_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.stripe.configured:
        raise ConfigError("links rebuild reads Stripe: set MLC_STRIPE_API_KEY")
    companies = _companies(settings, args.company)
    return asyncio.run(_rebuild(settings, companies, wait=not args.no_wait, timeout_s=args.timeout * 60))


async def _rebuild(settings: Settings, companies: list[str], *, wait: bool, timeout_s: float = 1800) -> int:
    from temporalio.client import WorkflowHandle
    from temporalio.common import WorkflowIDConflictPolicy

    from ml_connector.cli.temporal import connect, follow, where_to_look
    from workflows.links_rebuild import (
        LinksRebuildInput,
        LinksRebuildResult,
        LinksRebuildWorkflow,
        workflow_id,
    )

    client = await connect(settings)
    handles: list[tuple[str, WorkflowHandle[Any, LinksRebuildResult]]] = []
    for company in companies:
        handle = await client.start_workflow(
            LinksRebuildWorkflow.run,
            LinksRebuildInput(company),
            id=workflow_id(company),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        handles.append((company, handle))
        print(f"{company}: links rebuild running: {where_to_look(settings, workflow_id(company))}")
    if not wait:
        return 0
    print("reading Stripe now; QuickBooks customers come with the next Web Connector session …", flush=True)
    deadline = time.monotonic() + timeout_s
    for company, handle in handles:
        left = max(deadline - time.monotonic(), 1.0)
        result: LinksRebuildResult = await follow(handle, settings, timeout_s=left, label=company)
        print(f"{company}: from Stripe     {_counts(result.stripe)}")
        print(f"{company}: from QuickBooks {_counts(result.quickbooks)}")
    return 0


def cmd_sync_now(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_sync_now(settings, _companies(settings, args.company)))


async def _sync_now(settings: Settings, companies: list[str]) -> int:
    from ml_connector.cli.temporal import connect
    from workflows.customer_sync import TASK_TIMEOUT, CustomerSyncInput, CustomerSyncWorkflow, workflow_id

    client = await connect(settings)
    for company in companies:
        await client.start_workflow(
            CustomerSyncWorkflow.run,
            CustomerSyncInput(company),
            id=workflow_id(company),
            task_queue=settings.task_queue,
            start_signal="poll_now",
            task_timeout=TASK_TIMEOUT,
        )
        print(f"{company}: a poll starts now; it runs with the next Web Connector session")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "nothing found"
