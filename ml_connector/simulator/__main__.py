"""``python -m ml_connector.simulator``: a simulated QuickBooks Desktop + Web Connector on the command line.

The password is read from an environment variable named on the command line (``--password-env``), never
from argv, so it does not end up in shell history or ``ps`` output, and it is never printed. The company
file is a JSON document, saved after every session so a killed simulator loses at most one session.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ml_connector.simulator.webconnector import (
    SessionReport,
    WebConnector,
    WebConnectorError,
)


@dataclass(frozen=True)
class CliOptions:
    """The parsed command line. Its fields are the parser's ``dest`` names, so `parse_options` builds it
    straight from the namespace: an option added to one and not the other fails at once."""

    url: str
    username: str
    password_env: str
    company_json: Path
    seed_customers: int
    seed_invoices: int
    every_minutes: float | None
    company_file: str
    max_sessions: int
    noop_wait_seconds: float
    recovery_answer: str = "last"


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml_connector.simulator",
        description="Run a simulated QuickBooks company behind a simulated QuickBooks Web Connector.",
        # No prefix matching: "--password secret" must not quietly become "--password-env secret".
        allow_abbrev=False,
    )
    parser.add_argument(
        "--url", required=True, help="the QBWC SOAP endpoint, e.g. http://127.0.0.1:8000/qbwc"
    )
    parser.add_argument("--username", required=True, help="the <UserName> of the .qwc file")
    parser.add_argument(
        "--password-env",
        required=True,
        metavar="VAR",
        help="name of the environment variable holding the Web Connector password",
    )
    parser.add_argument(
        "--company-json", required=True, type=Path, help="company file (JSON); created if missing"
    )
    parser.add_argument(
        "--seed-customers", type=_non_negative_int, default=0, metavar="N", help="only when creating the file"
    )
    parser.add_argument(
        "--seed-invoices", type=_non_negative_int, default=0, metavar="M", help="only when creating the file"
    )
    parser.add_argument(
        "--every",
        dest="every_minutes",
        type=_positive_float,
        default=None,
        metavar="MINUTES",
        help="keep running like QBWC's Auto-Run; without it, run sessions until the server has no work",
    )
    parser.add_argument(
        "--company-file",
        default="C:\\Company\\sim.QBW",
        help="the company file path reported to the server in sendRequestXML",
    )
    parser.add_argument("--max-sessions", type=_non_negative_int, default=50)
    parser.add_argument("--noop-wait", dest="noop_wait_seconds", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--recovery-answer",
        choices=["last", "nothing", "600", "all"],
        default="last",
        help="what an oldMessageSetID status check answers (unconfirmed on a real QuickBooks): the Rs of the "
        "last request processed (default), nothing, status 600, or every stored Rs",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> CliOptions:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed_invoices and not args.seed_customers:
        parser.error("--seed-invoices needs --seed-customers: every invoice belongs to a customer")
    return CliOptions(**vars(args))


def read_password(variable: str, environ: Mapping[str, str]) -> str:
    """The password from the environment; the error names the variable, never a value."""
    password = environ.get(variable, "")
    if not password:
        raise SystemExit(f"error: environment variable {variable} is not set or empty")
    return password


def describe(report: SessionReport) -> str:
    """One status line per session, like the status column in QBWC's window."""
    parts = [
        f"{report.finished_at.isoformat(timespec='seconds')} {report.outcome.value}",
        f"documents={report.round_trips}",
        f"requests={report.requests_run}",
    ]
    if report.noops:
        parts.append(f"noops={report.noops}")
    if report.percentages:
        parts.append(f"progress={report.percentages[-1]}")
    if report.last_error:
        parts.append(f"last_error={report.last_error!r}")
    if report.close_result:
        parts.append(f"closed={report.close_result!r}")
    parts.extend(f"error={error!r}" for error in report.errors)
    return " ".join(parts)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    options = parse_options(argv)
    password = read_password(options.password_env, os.environ if environ is None else environ)

    # Imported here so that argument errors are reported even while the QuickBooks side is being built.
    from ml_connector.simulator.company import CompanyFile
    from ml_connector.simulator.processor import QuickBooksProcessor
    from ml_connector.simulator.seed import seed_company

    if options.company_json.exists():
        company = CompanyFile.load(options.company_json)
        if options.seed_customers or options.seed_invoices:
            # Seeding twice would duplicate data; a rerun of the same demo command keeps the file as is.
            print(f"note: {options.company_json} exists, so it is not seeded again", file=sys.stderr)
    else:
        company = CompanyFile()
        seed_company(company, customers=options.seed_customers, open_invoices=options.seed_invoices)
        company.save(options.company_json)

    def after_session(report: SessionReport) -> None:
        company.save(options.company_json)
        print(describe(report), flush=True)

    connector = WebConnector(
        options.url,
        options.username,
        password,
        QuickBooksProcessor(company, recovery_answer=options.recovery_answer),
        company_file=options.company_file,
        noop_wait_seconds=options.noop_wait_seconds,
    )
    with connector:
        if options.every_minutes is not None:
            stop = threading.Event()
            _stop_on_signals(stop)
            connector.run_every(options.every_minutes, stop, on_report=after_session)
            return 0
        try:
            connector.run_until_idle(max_sessions=options.max_sessions, on_report=after_session)
        except WebConnectorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
