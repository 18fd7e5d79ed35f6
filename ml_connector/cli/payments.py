"""`ml-connector audit`, `ml-connector replay ID` and `ml-connector backfill payments --since DATE`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, time
from typing import Any

from ml_connector.cli import help as cli_help
from ml_connector.cli import options
from ml_connector.cli.errors import EXIT_OK, CliFailure
from ml_connector.config import ConfigError, Settings


def register(sub: Any) -> None:
    """Add the payment commands to the `ml-connector` parser (``sub`` is its subparsers object)."""
    audit = cli_help.add_command(
        sub,
        "audit",
        help="list what ml-connector did (payments posted, held, failed …), newest first",
        env=cli_help.DATABASE,
    )
    audit.add_argument("--failed", action="store_true", help="only entries that need a person (failed, held, refused)")
    audit.add_argument("--customer", metavar="ID", help="a Stripe customer id (cus_…) or a QuickBooks ListID")
    options.add_day(audit, "--since", help="entries on or after this UTC day (default: all)")
    options.add_company(audit, "only this company id (default: every company)")
    audit.add_argument("--payment", metavar="ID", help="only this Stripe payment (pi_…/ch_…) or event (evt_…)")
    audit.add_argument(
        "--limit",
        type=options.positive,
        default=500,
        metavar="N",
        help="at most N entries, newest first (default: 500)",
    )
    audit.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    audit.set_defaults(handler=cmd_audit)

    replay = cli_help.add_command(
        sub,
        "replay",
        help="re-run a payment by Stripe event id, PaymentIntent or charge id",
        env=(*cli_help.DATABASE, *cli_help.TEMPORAL),
        extra="A payment already in QuickBooks is not posted again (the audit trail says so).",
    )
    replay.add_argument("id", help="evt_…, pi_… or ch_…")
    replay.set_defaults(handler=cmd_replay)

    what = cli_help.add_group(
        sub,
        "backfill",
        help="post Stripe payments of a past period that QuickBooks lacks",
        env=(*cli_help.TEMPORAL, *cli_help.STRIPE),
    )
    payments = cli_help.add_command(
        what,
        "payments",
        help="walk the Stripe payments created in a period and post those QuickBooks lacks",
        description=(
            "Start the backfill workflow (backfill/{company or all}/{since}): it walks Stripe's PaymentIntents and\n"
            "charges created in the period and hands each to the same payment workflow a webhook would, so\n"
            "nothing is posted twice. Without --wait it returns once started."
        ),
        env=(*cli_help.TEMPORAL, *cli_help.STRIPE),
    )
    options.add_day(payments, "--since", required=True, help="first UTC day (required)")
    options.add_day(payments, "--until", help="UTC day the period ends before (default: now)")
    options.add_company(payments, "only payments of this company id (default: every company)")
    payments.add_argument(
        "--wait", action="store_true", help="wait for the backfill to finish, printing progress (default: return)"
    )
    options.add_timeout(
        payments, default=60, help="with --wait: give up waiting after this long; the backfill goes on (default: 60)"
    )
    payments.set_defaults(handler=cmd_backfill_payments)


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.audit import AuditFilter, list_entries, to_json, to_table
    from ml_connector.storage.engine import make_engine, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    entries = list_entries(
        engine,
        AuditFilter(
            failed=args.failed,
            customer=args.customer,
            since=args.since,
            company_id=args.company,
            payment=args.payment,
            limit=args.limit,
        ),
    )
    sys.stdout.write(to_json(entries) + "\n" if args.json else to_table(entries))
    engine.dispose()
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.payments.ids import IdKind, id_kind

    try:
        kind = id_kind(args.id)
    except ValueError as exc:
        print(f"ml-connector: {exc}", file=sys.stderr)
        return 2
    if kind not in (IdKind.EVENT, IdKind.PAYMENT_INTENT, IdKind.CHARGE):
        print(
            "ml-connector: replay takes an event (evt_…), PaymentIntent (pi_…) or charge (ch_…) id",
            file=sys.stderr,
        )
        return 2
    started = asyncio.run(_replay(settings, args.id.strip()))
    if not started:
        print(
            f"ml-connector: nothing known about {args.id}; is it a payment of a configured company?",
            file=sys.stderr,
        )
        return 1
    for workflow_id in started:
        print(f"replaying {workflow_id}")
    return 0


async def _replay(settings: Settings, stripe_id: str) -> list[str]:
    from activities.payment_routing import signal_payment
    from ml_connector.audit import replay_targets
    from ml_connector.cli.temporal import connect
    from ml_connector.payments.model import PaymentSignal
    from ml_connector.storage.engine import make_engine, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    targets = replay_targets(engine, stripe_id, [c.id for c in settings.companies])
    engine.dispose()
    if not targets:
        return []
    client = await connect(settings)
    signal = PaymentSignal(stripe_id if stripe_id.startswith("evt_") else "", "", "replay")
    return [await signal_payment(client, settings.task_queue, target, signal) for target in targets]


def cmd_backfill_payments(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.stripe.configured:
        raise ConfigError("MLC_STRIPE_API_KEY: the backfill reads Stripe; set the API key")
    return asyncio.run(_backfill(settings, args))


async def _backfill(settings: Settings, args: argparse.Namespace) -> int:
    from temporalio.client import WorkflowHandle
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from ml_connector.cli.temporal import connect, follow, where_to_look
    from ml_connector.payments.model import BACKFILL_WORKFLOW
    from workflows.backfill import BackfillInput

    inp = BackfillInput(
        since=_epoch(args.since),
        until=_epoch(args.until) if args.until else None,
        company_id=args.company,
    )
    workflow_id = f"backfill/{args.company or 'all'}/{args.since.isoformat()}"
    client = await connect(settings)
    handle: WorkflowHandle[Any, Any]
    try:
        handle = await client.start_workflow(
            BACKFILL_WORKFLOW,
            inp,
            id=workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        print(f"backfill started: workflow {workflow_id}; follow it at {where_to_look(settings, workflow_id)}")
    except WorkflowAlreadyStartedError:
        if not args.wait:
            raise CliFailure(
                f"a backfill from {args.since.isoformat()} ({workflow_id}) is already running; nothing was started. "
                f"Wait for it with --wait, or follow it at {where_to_look(settings, workflow_id)}"
            ) from None
        handle = client.get_workflow_handle(workflow_id)
        print(f"a backfill from {args.since.isoformat()} is already running ({workflow_id}); waiting for it")
    if not args.wait:
        return EXIT_OK
    routed = await follow(handle, settings, timeout_s=args.timeout * 60, label="backfill")
    print(f"backfill finished: {routed} payment(s) handed to their payment workflows (see `ml-connector audit`)")
    return EXIT_OK
