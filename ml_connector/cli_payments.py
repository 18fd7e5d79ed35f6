"""`ml-connector audit`, `ml-connector replay ID` and `ml-connector backfill payments --since DATE`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, time
from typing import Any

from ml_connector.config import ConfigError, Settings


def register(sub: Any) -> None:
    """Add the payment commands to the `ml-connector` parser (``sub`` is its subparsers object)."""
    audit = sub.add_parser("audit", help="list what ml-connector did (payments posted, held, failed …)")
    audit.add_argument("--failed", action="store_true", help="only entries that need a person")
    audit.add_argument("--customer", help="a Stripe customer id (cus_…) or a QuickBooks ListID")
    audit.add_argument("--since", type=_date, help="entries on or after this date (YYYY-MM-DD, UTC)")
    audit.add_argument("--company", help="only this company id")
    audit.add_argument("--payment", help="only this Stripe payment (pi_…/ch_…) or event (evt_…)")
    audit.add_argument("--limit", type=int, default=500, help="at most this many entries (newest first)")
    audit.add_argument("--json", action="store_true", help="print a JSON array")
    audit.set_defaults(handler=cmd_audit)

    replay = sub.add_parser("replay", help="re-run a payment by Stripe event id, PaymentIntent or charge id")
    replay.add_argument("id", help="evt_…, pi_… or ch_…")
    replay.set_defaults(handler=cmd_replay)

    backfill = sub.add_parser("backfill", help="post Stripe payments of a past period that QuickBooks lacks")
    what = backfill.add_subparsers(dest="what", required=True)
    payments = what.add_parser("payments", help="walk the Stripe payments created since DATE")
    payments.add_argument("--since", type=_date, required=True, help="YYYY-MM-DD (UTC)")
    payments.add_argument("--until", type=_date, help="YYYY-MM-DD (UTC, exclusive); default: now")
    payments.add_argument("--company", help="only payments of this company id")
    payments.set_defaults(handler=cmd_backfill_payments)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-01-31") from exc


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
    from ml_connector.payments.model import PaymentInput, PaymentSignal
    from ml_connector.storage.engine import make_engine, migrate
    from ml_connector.temporal import connect

    engine = make_engine(settings.database_url)
    migrate(engine)
    targets = replay_targets(engine, stripe_id, [c.id for c in settings.companies])
    engine.dispose()
    if not targets:
        return []
    client = await connect(settings)
    signal = PaymentSignal(stripe_id if stripe_id.startswith("evt_") else "", "", "replay")
    return [
        await signal_payment(
            client, settings.task_queue, PaymentInput(t.company_id, t.key, t.key_kind, t.customer_id), signal
        )
        for t in targets
    ]


def cmd_backfill_payments(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.stripe.configured:
        raise ConfigError("MLC_STRIPE_API_KEY: the backfill reads Stripe; set the API key")
    workflow_id = asyncio.run(_start_backfill(settings, args))
    print(f"backfill started: workflow {workflow_id} (follow it in the Temporal Web UI)")
    return 0


async def _start_backfill(settings: Settings, args: argparse.Namespace) -> str:
    from temporalio.common import WorkflowIDReusePolicy

    from ml_connector.payments.model import BACKFILL_WORKFLOW
    from ml_connector.temporal import connect
    from workflows.backfill import BackfillInput

    inp = BackfillInput(
        since=_epoch(args.since),
        until=_epoch(args.until) if args.until else None,
        company_id=args.company,
    )
    workflow_id = f"backfill/{args.company or 'all'}/{args.since.isoformat()}"
    client = await connect(settings)
    await client.start_workflow(
        BACKFILL_WORKFLOW,
        inp,
        id=workflow_id,
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    return workflow_id
