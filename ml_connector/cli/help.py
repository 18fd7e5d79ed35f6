"""`--help` for every `ml-connector` command: what it does, the environment it reads, and its exit codes."""

from __future__ import annotations

import argparse
from typing import Any

from ml_connector.cli.errors import EXIT_CODES_HELP

DATABASE = (
    "MLC_DATABASE_URL   sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST:5432/DB "
    "(default: sqlite:///$MLC_DATA_DIR/ml-connector.db)",
    "MLC_DATA_DIR       directory for the embedded database and generated files (default: ./.mlc-data)",
)
TEMPORAL = (
    "MLC_TEMPORAL_ADDRESS or TEMPORAL_ADDRESS   HOST:PORT of the Temporal frontend "
    "(default: the embedded dev server, 127.0.0.1:7233)",
    "MLC_TEMPORAL_NAMESPACE or TEMPORAL_NAMESPACE   (default: default)",
    "MLC_TASK_QUEUE     the worker's task queue (default: ml-connector)",
    "TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH,",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE",
    "                   TLS, mTLS, API key and profiles (README: Temporal Cloud)",
    "MLC_TEMPORAL_UI_URL  the Web UI links printed (default: http://127.0.0.1:8233 with the embedded server)",
)
STRIPE = (
    "MLC_STRIPE_API_KEY  sk_test_…/sk_live_…/rk_… (required)",
    "MLC_STRIPE_API_BASE a Stripe-compatible server on this machine, for tests (default: api.stripe.com)",
)
COMPANIES = (
    "MLC_QBWC_USERNAME, MLC_QBWC_PASSWORD, MLC_COMPANY_ID (default: default)   one company file",
    "MLC_CONFIG         a TOML file of [[companies]] for several",
)
ALL = ("every MLC_* setting of README \"Configuration\"; MLC_LOG_LEVEL (default: INFO)",)


def epilog(env: tuple[str, ...], extra: str = "") -> str:
    parts = []
    if extra:
        parts.append(extra.rstrip())
    if env:
        parts.append("environment:\n" + "\n".join(f"  {line}" for line in env))
    parts.append(EXIT_CODES_HELP)
    return "\n\n".join(parts)


def add_command(
    sub: Any,
    name: str,
    *,
    help: str,  # noqa: A002 - argparse's own keyword
    description: str | None = None,
    env: tuple[str, ...] = (),
    extra: str = "",
) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with the environment it reads and the exit codes."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog(env, extra),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_group(
    sub: Any,
    name: str,
    *,
    help: str,  # noqa: A002 - argparse's own keyword
    env: tuple[str, ...] = (),
    dest: str = "what",
) -> Any:
    """A command made of subcommands (`links rebuild`, `backfill payments` …): returns where to add them."""
    group = add_command(sub, name, help=help, env=env)
    return group.add_subparsers(dest=dest, required=True, metavar="WHAT")
