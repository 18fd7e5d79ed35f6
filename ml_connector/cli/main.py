"""The `ml-connector` console script."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ml_connector import __version__, logs
from ml_connector.cli import help as cli_help
from ml_connector.cli import links as cli_links
from ml_connector.cli import ops as cli_ops
from ml_connector.cli import options
from ml_connector.cli import payments as cli_payments
from ml_connector.cli import reconcile as cli_reconcile
from ml_connector.cli.errors import explain
from ml_connector.config import CompanyConfig, ConfigError, Settings, load_settings

log = logging.getLogger("ml_connector")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure ends as one line on stderr and an exit code (cli/errors.py)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # bad options: argparse prints usage and exits 2
    settings: Settings | None = None
    try:
        if getattr(args, "standalone", None) is not None:  # commands that report configuration errors themselves
            return int(args.standalone(args))
        settings = load_settings()
        for company in settings.companies:
            logs.register_secret(company.qbwc_password)
        logs.configure(settings.log_level)
        code: int = args.handler(settings, args)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place every failure is turned into a line and a code
        code, message = explain(exc, settings)
        if settings is not None and settings.log_level == "DEBUG":
            traceback.print_exc()
        print(f"ml-connector: {message}", file=sys.stderr)
        return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-connector",
        description="QuickBooks Desktop ⇄ Stripe, through the QuickBooks Web Connector.",
        epilog=cli_help.epilog(
            cli_help.ALL,
            "`ml-connector COMMAND --help` shows each command's options, the environment it reads and its "
            "exit codes.\nAll settings are environment variables (README: Configuration).",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ml-connector {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = cli_help.add_command(
        sub,
        "dev",
        help="run everything on the embedded default: Temporal dev server, worker, gateway",
        description=(
            "Run the Temporal dev server (its SQLite file in $MLC_DATA_DIR/temporal, Web UI on :8233), the\n"
            "worker and the gateway in one process tree until Ctrl-C. Without MLC_QBWC_USERNAME/PASSWORD it\n"
            "configures the Web Connector user `ml-connector` with a password kept in $MLC_DATA_DIR/qbwc-password.\n"
            "With MLC_TEMPORAL_ADDRESS (or TEMPORAL_ADDRESS) set it uses that server instead."
        ),
        env=(
            *cli_help.DATABASE,
            *cli_help.TEMPORAL,
            *cli_help.COMPANIES,
            "MLC_HOST, MLC_PORT   (default: 127.0.0.1, 8000)",
        ),
    )
    dev.add_argument("--no-ui", action="store_true", help="run the Temporal dev server without its Web UI")
    dev.set_defaults(handler=cmd_dev)

    cli_help.add_command(
        sub,
        "gateway",
        help="run the HTTP gateway (Web Connector SOAP at /qbwc, Stripe webhooks, /healthz, /metrics)",
        env=(
            *cli_help.DATABASE,
            *cli_help.TEMPORAL,
            *cli_help.COMPANIES,
            "MLC_HOST, MLC_PORT   where it listens (default: 127.0.0.1, 8000)",
            "MLC_PUBLIC_URL       the https URL the Web Connector and Stripe reach it at",
            *cli_help.ALL,
        ),
    ).set_defaults(handler=cmd_gateway)
    cli_help.add_command(
        sub,
        "worker",
        help="run the Temporal worker",
        env=(
            *cli_help.DATABASE,
            *cli_help.TEMPORAL,
            *cli_help.STRIPE,
            "MLC_WORKER_NICE (default: 10)",
            "MLC_WORKER_METRICS_PORT (default: 9464; 0 = no /metrics), MLC_WORKER_METRICS_HOST (default: 127.0.0.1)",
            *cli_help.ALL,
        ),
    ).set_defaults(handler=cmd_worker)
    migrate = cli_help.add_command(
        sub,
        "migrate",
        help="create or upgrade the database schema (several at once are safe: they take a lock)",
        env=cli_help.DATABASE,
    )
    migrate.add_argument(
        "--check-config",
        action="store_true",
        help="first check the whole configuration as the gateway does, including that a company file is "
        "configured (exit 2 otherwise); what docker-compose.yml's migrate service runs",
    )
    migrate.set_defaults(handler=cmd_migrate)

    qwc = cli_help.add_command(
        sub,
        "qwc",
        help="print the .qwc file to add ml-connector to the Web Connector",
        env=(
            *cli_help.DATABASE,
            *cli_help.COMPANIES,
            "MLC_PUBLIC_URL  the AppURL is $MLC_PUBLIC_URL/qbwc",
            "MLC_POLL_MINUTES (default: 5)",
        ),
    )
    options.add_company(qwc, "company id (needed when several are configured)")
    qwc.set_defaults(handler=cmd_qwc)
    cli_ops.register(sub)
    cli_payments.register(sub)
    cli_links.register(sub)
    cli_reconcile.register(sub)
    return parser


# ---- commands ----------------------------------------------------------------------------------------


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.storage.engine import current_revision, make_engine, migrate

    if args.check_config:
        _require_companies(settings)

    engine = make_engine(settings.database_url)
    migrate(engine)
    print(f"database schema at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_qwc(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.companies import sync_companies
    from ml_connector.qbwc.qwc import QwcSpec, render_qwc
    from ml_connector.storage.engine import make_engine, migrate

    settings = _with_dev_company(settings) if not settings.companies else settings
    company_cfg = _pick_company(settings, args.company)
    engine = make_engine(settings.database_url)
    migrate(engine)
    rows = {row.id: row for row in sync_companies(engine, settings)}
    row = rows[company_cfg.id]
    spec = QwcSpec(
        app_name=f"ml-connector ({company_cfg.display_name})"
        if len(settings.companies) > 1
        else "ml-connector",
        app_url=settings.qbwc_url,
        app_support=settings.public_url.rstrip("/") + "/",
        username=company_cfg.qbwc_username,
        owner_id=row.owner_id,
        file_id=row.file_id,
        run_every_minutes=company_cfg.poll_minutes,
        description="Posts Stripe payments to QuickBooks and keeps customers and invoices in sync.",
    )
    try:
        sys.stdout.write(render_qwc(spec))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    engine.dispose()
    return 0


def cmd_gateway(settings: Settings, _args: argparse.Namespace) -> int:
    _require_companies(settings)

    async def run(stop: asyncio.Event) -> None:
        await _serve_gateway(settings, stop)

    return _run_until_signal(run)


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from worker import run_worker

    yield_cpu_to_the_gateway(settings.worker_nice)

    async def run(stop: asyncio.Event) -> None:
        await run_worker(settings, stop)

    return _run_until_signal(run)


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    from ml_connector.cli.devserver import DevServerError, TemporalDevServer

    if not settings.companies:
        settings = _with_dev_company(settings)
    server: TemporalDevServer | None = None
    if settings.embedded_temporal:
        server = TemporalDevServer(settings.data_dir / "temporal", ui=not args.no_ui)
        try:
            server.start()
        except DevServerError as exc:
            print(f"ml-connector: {exc}", file=sys.stderr)
            return 1
        log.info(
            "Temporal dev server on %s%s",
            server.address,
            "" if args.no_ui else ", Web UI on http://127.0.0.1:8233",
        )

    async def run(stop: asyncio.Event) -> None:
        from worker import run_worker

        worker_task = asyncio.create_task(run_worker(settings, stop, serve_metrics=False), name="worker")
        gateway_task = asyncio.create_task(_serve_gateway(settings, stop), name="gateway")
        done, _ = await asyncio.wait({worker_task, gateway_task}, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        for task in done:
            task.result()
        await asyncio.gather(worker_task, gateway_task, return_exceptions=True)

    try:
        code = _run_until_signal(run)
    finally:
        if server is not None:
            server.stop()
    return code


# ---- helpers -----------------------------------------------------------------------------------------


async def _serve_gateway(settings: Settings, stop: asyncio.Event) -> None:
    from gateway.app import create_app
    from gateway.server import server_config
    from ml_connector.cli.embedded import EmbeddedServer

    config = server_config(create_app(settings), settings)
    server = EmbeddedServer(config)  # signals are ours, see _run_until_signal
    serve = asyncio.create_task(server.serve(), name="uvicorn")
    log.info(
        "gateway on http://%s:%d (Web Connector endpoint %s)", settings.host, settings.port, settings.qbwc_url
    )
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({serve, stopper}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serve
    stopper.cancel()
    if not server.started and not stop.is_set():
        raise RuntimeError(f"the gateway could not start on {settings.host}:{settings.port}")


def yield_cpu_to_the_gateway(niceness: int) -> None:
    """Lower this worker process's CPU priority (``MLC_WORKER_NICE``, 0 = leave it).

    The gateway answers Stripe and the Web Connector while they wait; the worker's work waits for the Web
    Connector anyway. Where both share a host (``ml-connector dev``'s machine, one small VM, a compose file
    on one box), a burst of payments kept the worker busy enough to stretch the webhook answers' tail
    (bench/payments_throughput.py); a dedicated host is unaffected. Only raises niceness, so it needs no
    privilege; unsupported platforms (Windows) keep their priority."""
    if niceness <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(niceness)
    except OSError as exc:
        log.warning("worker: could not lower the CPU priority: %s", exc)


def _run_until_signal(main: object) -> int:
    """Run `main(stop)` until Ctrl-C or SIGTERM, then let it shut down cleanly."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)  # type: ignore[operator]

    try:
        asyncio.run(runner())
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


def _require_companies(settings: Settings) -> None:
    if not settings.companies:
        raise ConfigError(
            "no company file is configured: set MLC_QBWC_USERNAME and MLC_QBWC_PASSWORD, "
            "or list [[companies]] in the TOML file named by MLC_CONFIG"
        )


def _pick_company(settings: Settings, company_id: str | None) -> CompanyConfig:
    if company_id:
        try:
            return settings.company(company_id)
        except KeyError:
            known = ", ".join(c.id for c in settings.companies)
            raise ConfigError(f"unknown company {company_id!r}; configured: {known}") from None
    if len(settings.companies) > 1:
        raise ConfigError("several companies are configured: choose one with --company ID")
    return settings.companies[0]


def _with_dev_company(settings: Settings) -> Settings:
    """For `dev` without credentials: one company with a generated password kept in the data directory.

    The password is written to a file only its owner can read, and never printed or logged.
    """
    path = settings.data_dir / "qbwc-password"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(18))
    password = Path(path).read_text().strip()
    logs.register_secret(password)
    log.info("no company configured: using Web Connector user 'ml-connector' with the password in %s", path)
    company = CompanyConfig(id="default", qbwc_username="ml-connector", qbwc_password=password)
    return replace(settings, companies=(company,))


def run() -> None:
    """The console script: ``main()``, then leave without interpreter finalization.

    Native threads (the Temporal client's core, gRPC) can still be winding down when a short command
    returns, and CPython's finalization then aborts the process (``PyGILState_Release``, exit -6) after
    the command's work and output are complete. Everything the command wrote is flushed first.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
