"""`ml-connector reconcile`: Stripe's balance transactions next to the QuickBooks transactions they became.

Exit status follows ``diff``: 0 when every difference is 0.00, 1 when some row differs (something is
missing, different, waiting or refused), 2 when no report could be made (bad input, clearing-account
mode off, Stripe not configured or refusing, an unknown payout). A script or a monitoring job can run it
after every payout and alert on anything but 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import stripe

from ml_connector import logs
from ml_connector.cli import options
from ml_connector.config import ConfigError, Settings

FORMATS = ("table", "csv", "json")
EXIT_BALANCED, EXIT_DIFFERENT, EXIT_NO_REPORT = 0, 1, 2

_EPILOG = """\
exit status:
  0  balanced: every difference is 0.00
  1  some row differs: a posting missing, different, waiting or refused in QuickBooks
  2  no report: bad input, clearing-account mode off, Stripe not configured or refusing, unknown payout
  3  no report: the database or Stripe is unreachable

environment:
  MLC_DATABASE_URL, MLC_DATA_DIR   the database holding the ledger postings (README: Configuration)
  MLC_STRIPE_API_KEY               required; MLC_STRIPE_API_BASE for a Stripe server on this machine
  MLC_CLEARING_ACCOUNT (or a company's clearing_account in MLC_CONFIG)   clearing-account mode

examples:
  ml-connector reconcile --payout po_1Nx...
  ml-connector reconcile --from 2026-03-01 --to 2026-03-31 --format csv --output march.csv
"""


def register(sub: Any) -> None:
    """Add ``reconcile`` to the `ml-connector` parser (``sub`` is its subparsers object)."""
    parser = sub.add_parser(
        "reconcile",
        help="list Stripe balance transactions with the QuickBooks transaction each became, and the differences",
        description=(
            "Every Stripe balance transaction of a payout, or created in a date range (UTC days, both\n"
            "included), with the QuickBooks transaction it became, its amount and the difference, which\n"
            "must be 0.00. Needs clearing-account mode (MLC_CLEARING_ACCOUNT)."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--company", help="company id (default: the company in clearing-account mode)")
    parser.add_argument("--payout", help="a Stripe payout id (po_…): what it swept and the payout itself")
    options.add_day(parser, "--from", dest="start", help="first day (UTC)")
    options.add_day(parser, "--to", dest="end", help="last day, included (UTC)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of printing it")
    parser.set_defaults(handler=cmd_reconcile)


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.ledger import render
    from ml_connector.ledger.io.report import (
        ReconcileError,
        build_report,
        check_request,
        clearing_company,
        stripe_reader,
    )
    from ml_connector.storage.engine import make_engine, migrate

    try:
        check_request(args.payout, args.start, args.end, ("--payout", "--from", "--to"))
        company = clearing_company(settings, args.company)
    except ReconcileError as exc:
        return _fail(str(exc))
    if not settings.stripe.configured:
        raise ConfigError("MLC_STRIPE_API_KEY is not set: the report reads Stripe's balance transactions")
    logs.register_secret(settings.stripe.api_key)
    if settings.log_level != "DEBUG":  # the SDK logs every request at INFO; the report is the output here
        logging.getLogger("stripe").setLevel(logging.WARNING)
    reader = stripe_reader(settings)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        report = build_report(
            settings, engine, reader, company.id, payout_id=args.payout, start=args.start, end=args.end
        )
    except ReconcileError as exc:
        return _fail(str(exc))
    except stripe.APIConnectionError:
        raise  # exit 3 through cli/errors.py: Stripe unreachable
    except stripe.StripeError as exc:
        return _fail(f"Stripe: {exc.user_message or type(exc).__name__}")
    finally:
        engine.dispose()
    text = {"table": render.to_text, "csv": render.to_csv, "json": render.to_json}[args.format](report)
    if args.format == "json":
        text += "\n"
    if args.output:
        try:
            Path(args.output).expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
        problems = sum(1 for r in report.rows if r.difference != 0)
        verdict = "balanced" if report.balanced else f"NOT balanced: {problems} row(s) with a difference"
        print(f"{len(report.rows)} row(s) written to {args.output}; {verdict}")
    else:
        sys.stdout.write(text)
    return EXIT_BALANCED if report.balanced else EXIT_DIFFERENT


def _fail(message: str) -> int:
    print(f"ml-connector reconcile: {message}", file=sys.stderr)
    return EXIT_NO_REPORT
