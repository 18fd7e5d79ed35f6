"""How the `ml-connector` command fails: one line that says what is wrong and what to do, and an exit code.

=====  ===========================================================================================
code   meaning
=====  ===========================================================================================
0      done, nothing wrong
1      the command ran and found a problem (a failed check, an unbalanced reconciliation, a workflow
       that failed or is already running, an unexpected error)
2      bad input or configuration: a wrong option, a setting missing or invalid (fix it and run again)
3      a system it needs is unreachable: the database, Temporal, Stripe, or QuickBooks (the Web
       Connector did not come in time); nothing was changed, running it again later is safe
=====  ===========================================================================================

The traceback of an unexpected error is printed only with ``MLC_LOG_LEVEL=DEBUG``.
"""

from __future__ import annotations

import asyncio
import re

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

EXIT_CODES_HELP = """\
exit status:
  0  done, nothing wrong
  1  the command found a problem (a failed check or workflow, one already running, an unexpected error)
  2  bad input or configuration (the message names the option or variable and the fix)
  3  a system is unreachable: the database, Temporal, Stripe, or QuickBooks through the Web Connector"""


class CliFailure(Exception):
    """A failure a command reports itself: ``message`` (one line, with the fix) and the exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def explain(exc: BaseException, settings: object | None = None) -> tuple[int, str]:
    """The exit code and the one-line message for an exception that ended a command."""
    from ml_connector.config import ConfigError

    if isinstance(exc, CliFailure):
        return exc.code, str(exc)
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, str(exc)
    temporal = _temporal(exc, settings)
    if temporal is not None:
        return temporal
    database = _database(exc, settings)
    if database is not None:
        return database
    stripe_failure = _stripe(exc)
    if stripe_failure is not None:
        return stripe_failure
    return EXIT_PROBLEM, (
        f"unexpected error: {type(exc).__name__}: {short(exc)} (MLC_LOG_LEVEL=DEBUG prints the traceback)"
    )


def short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    for needle, plain in (
        ("connection refused", "connection refused"),
        ("failed to lookup address", "host name not found"),
        ("name or service not known", "host name not found"),
        ("dns error", "host name not found"),
        ("timed out", "timed out"),
        ("certificate", "TLS certificate problem: " + text[:120]),
    ):
        if needle in lowered:
            return plain
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _temporal_where(settings: object | None) -> tuple[str, str]:
    target = getattr(settings, "temporal_target", "?")
    namespace = getattr(settings, "temporal_namespace", "default")
    return target, namespace


def _temporal(exc: BaseException, settings: object | None) -> tuple[int, str] | None:
    from temporalio.service import RPCError, RPCStatusCode

    target, namespace = _temporal_where(settings)
    embedded = getattr(settings, "embedded_temporal", False)
    start_hint = (
        "start it (`ml-connector dev` runs the embedded one) or point MLC_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS "
        "at your Temporal frontend"
        if embedded
        else "check that Temporal runs there, MLC_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS, TLS and API key "
        "(TEMPORAL_TLS_*, TEMPORAL_API_KEY) and the firewall"
    )
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return EXIT_UNREACHABLE, f"Temporal is unreachable at {target} ({short(exc)}): {start_hint}"
    if isinstance(exc, RPCError):
        status = exc.status
        if status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return EXIT_UNREACHABLE, f"Temporal is unreachable at {target} ({short(exc)}): {start_hint}"
        if status == RPCStatusCode.NOT_FOUND and "namespace" in str(exc).lower():
            return EXIT_USAGE, (
                f"Temporal namespace {namespace!r} does not exist at {target}: create it "
                f"(temporal operator namespace create --address {target} --namespace {namespace} --retention 30d) "
                "or set MLC_TEMPORAL_NAMESPACE / TEMPORAL_NAMESPACE"
            )
        if status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
            return EXIT_USAGE, (
                f"Temporal at {target} refused this client ({short(exc)}): check TEMPORAL_API_KEY or the "
                "mTLS certificate (TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH) and the namespace"
            )
        return EXIT_PROBLEM, f"Temporal at {target} answered {status.name}: {short(exc)}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) and getattr(exc, "args", ()) == ("temporal",):
        return EXIT_UNREACHABLE, f"Temporal did not answer at {target} within the time allowed: {start_hint}"
    return None


def _database(exc: BaseException, settings: object | None) -> tuple[int, str] | None:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    url = getattr(settings, "database_url", "")
    where = _safe_url(url) if url else "the database"
    orig = getattr(exc, "orig", None)
    detail = short(orig if isinstance(orig, BaseException) else exc)
    if "sqlite" in url:
        return EXIT_UNREACHABLE, (
            f"cannot open the SQLite database {where} ({detail}): check MLC_DATA_DIR / MLC_DATABASE_URL "
            "and that the directory is writable"
        )
    return EXIT_UNREACHABLE, (
        f"the database is unreachable at {where} ({detail}): start PostgreSQL or fix MLC_DATABASE_URL"
    )


def _safe_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL we cannot parse is shown without its credentials
        return re.sub(r"//[^@/]*@", "//***@", url)


def _stripe(exc: BaseException) -> tuple[int, str] | None:
    try:
        import stripe
    except ImportError:  # pragma: no cover - stripe is a dependency
        return None
    if isinstance(exc, stripe.APIConnectionError):
        return EXIT_UNREACHABLE, f"Stripe is unreachable ({short(exc)}): check the network (or MLC_STRIPE_API_BASE)"
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return EXIT_USAGE, (
            f"Stripe refused the key ({exc.user_message or type(exc).__name__}): check MLC_STRIPE_API_KEY "
            "(`ml-connector check` tells what the key may do)"
        )
    if isinstance(exc, stripe.StripeError):
        return EXIT_PROBLEM, f"Stripe: {exc.user_message or short(exc)}"
    return None
