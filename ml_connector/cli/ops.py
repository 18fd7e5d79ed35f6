"""Operator commands: `ml-connector check`, `ml-connector stripe webhook-setup`, `ml-connector demo`.

`check` loads the configuration itself (rather than through `cli.main`) so that an invalid configuration is
reported in the same table — or JSON — as every other failure, with what to do about it.

`stripe webhook-setup` is idempotent: it reuses the endpoint registered for `MLC_PUBLIC_URL/stripe/webhook`
(enabling it and adding any missing event types) or creates one. Stripe reveals an endpoint's signing secret
only in the response that creates it, so on creation the secret is written to `MLC_DATA_DIR/stripe-webhook-secret`
(mode 0600) — never printed or logged — and the command prints how to put it into MLC_STRIPE_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import stripe

from ml_connector import logs
from ml_connector.cli import help as cli_help
from ml_connector.cli.check import check_from_env, required_events, stripe_client, webhook_url
from ml_connector.config import ConfigError, Settings
from ml_connector.stripe.endpoints import ensure_webhook_endpoint

SECRET_FILE = "stripe-webhook-secret"  # noqa: S105 - a file name, not a secret


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the operator subcommands to the `ml-connector` parser."""
    check = cli_help.add_command(
        sub,
        "check",
        help="check configuration, database, Temporal, Stripe and the Web Connector; say what to fix",
        description=(
            "Ask every real system whether this installation is wired right and print a table (or --json)\n"
            "with what to do under each failure. Exit 1 if any check failed (warnings do not fail)."
        ),
        env=(*cli_help.DATABASE, *cli_help.TEMPORAL, *cli_help.STRIPE, *cli_help.COMPANIES, *cli_help.ALL),
    )
    check.add_argument("--json", action="store_true", help="print the results as JSON (default: a table)")
    check.set_defaults(standalone=cmd_check)

    stripe_sub = cli_help.add_group(
        sub, "stripe", help="Stripe account setup", env=cli_help.STRIPE, dest="stripe_command"
    )
    setup = cli_help.add_command(
        stripe_sub,
        "webhook-setup",
        help="create or update the Stripe webhook endpoint for $MLC_PUBLIC_URL/stripe/webhook",
        description=(
            "Create the endpoint with every event type ml-connector needs, or enable an existing one and add the\n"
            "missing events (running it twice changes nothing). A new endpoint's signing secret is written to\n"
            "$MLC_DATA_DIR/stripe-webhook-secret (mode 0600), never printed."
        ),
        env=(*cli_help.STRIPE, "MLC_PUBLIC_URL   the gateway's https URL", "MLC_DATA_DIR (default: ./.mlc-data)"),
    )
    setup.set_defaults(handler=cmd_webhook_setup)

    demo = cli_help.add_command(
        sub,
        "demo",
        help="a sandbox: simulated QuickBooks and Stripe on this machine, playing a short story",
        description=(
            "Start Temporal, the gateway and the worker on a throwaway SQLite database against the QuickBooks\n"
            "simulator and a fake Stripe, play a story and read both systems back. Exit 0 when everything\n"
            "landed once, to the cent; 1 with the problems found. Reads no MLC_* settings."
        ),
    )
    demo.add_argument("--keep-running", action="store_true", help="leave the sandbox running until Ctrl-C")
    demo.add_argument(
        "--data-dir", metavar="DIR", help="where the sandbox keeps its files (default: a new temporary directory)"
    )
    demo.add_argument("--port", type=int, default=0, metavar="PORT", help="gateway port (default: a free one)")
    demo.add_argument(
        "--customers", type=int, default=6, metavar="N", help="customers in the simulated company file (default: 6)"
    )
    demo.add_argument("--no-ui", action="store_true", help="run Temporal without its Web UI")
    demo.set_defaults(standalone=cmd_demo)


# ---- check -------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    logs.configure("WARNING")
    report = asyncio.run(check_from_env(os.environ))
    print(report.to_json() if args.json else report.to_table())
    return 0 if report.ok else 1


# ---- stripe webhook-setup ----------------------------------------------------------------------------




def write_secret(data_dir: Path, secret: str) -> Path:
    """Store the signing secret readable only by its owner; replaces an older one atomically."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.replace(tmp, path)
    return path


def cmd_webhook_setup(settings: Settings, _args: argparse.Namespace) -> int:
    if not settings.stripe.configured:
        raise ConfigError("MLC_STRIPE_API_KEY is not set: the endpoint is created with your Stripe key")
    if not settings.public_url.startswith("https://"):
        print(
            f"note: {settings.public_url} is not https. Stripe delivers live-mode events only to https URLs; "
            "this endpoint suits a test-mode key or a local Stripe server.",
            file=sys.stderr,
        )
    url = webhook_url(settings)
    try:
        result = ensure_webhook_endpoint(stripe_client(settings, timeout_s=30), url, required_events(settings))
    except stripe.StripeError as exc:
        print(f"ml-connector: Stripe refused: {exc.user_message or type(exc).__name__}", file=sys.stderr)
        print("Run `ml-connector check` to see whether the key works and may manage webhook endpoints.")
        return 1
    mode = "live" if settings.stripe.live else "test"
    if result.created:
        assert result.secret is not None
        path = write_secret(settings.data_dir, result.secret)
        print(f"Created Stripe {mode}-mode webhook endpoint {result.endpoint_id} for {url}")
        print(f"  events: {', '.join(required_events(settings))}")
        print(f"Its signing secret is in {path} (readable only by you; Stripe shows it only once).")
        print("Give it to ml-connector, then restart the gateway:")
        print(f'  export MLC_STRIPE_WEBHOOK_SECRET="$(cat {path})"')
    else:
        what = "; ".join(result.changed) if result.changed else "nothing to change"
        print(f"Stripe {mode}-mode webhook endpoint {result.endpoint_id} for {url} already exists: {what}.")
        if not settings.stripe.webhook_secrets:
            print(
                "MLC_STRIPE_WEBHOOK_SECRET is not set: reveal the endpoint's signing secret in the Stripe Dashboard "
                "(Developers > Webhooks > the endpoint) and set it."
            )
    return 0


# ---- demo --------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from ml_connector.cli.demo import DemoOptions, run_demo

    options = DemoOptions(
        keep_running=args.keep_running,
        data_dir=Path(args.data_dir).expanduser().resolve() if args.data_dir else None,
        port=args.port,
        customers=args.customers,
        ui=not args.no_ui,
    )
    return run_demo(options)

