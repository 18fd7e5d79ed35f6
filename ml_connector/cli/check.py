"""`ml-connector check`: ask every real system whether this installation is wired right, and say what to fix.

Each probe returns :class:`CheckResult` rows — never raises — so one unreachable system does not hide what is
wrong with the others, and every failure carries an `advice` a person can act on. The probes talk to the real
things: the database (and whether its schema is at the migration head), Temporal, the Stripe API with the
configured key, the served WSDL at the public URL, and the company rows the Web Connector updates.

What it reads of the database (the schema revision, each company file's row) comes from
`ml_connector/health.py`, which also backs `GET /readyz` and the status page; what the webhook endpoint must
send comes from `ml_connector/stripe/endpoints.py`.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import stripe
from lxml import etree
from sqlalchemy import Engine
from temporalio.client import Client

from ml_connector.config import ConfigError, Settings, load_settings
from ml_connector.durations import elapsed
from ml_connector.health import company_rows, schema_status
from ml_connector.qbwc.wsdl import WSDL_NS, WSDL_SOAP_NS
from ml_connector.storage.engine import make_engine
from ml_connector.stripe.client import StripeSettings, make_client
from ml_connector.stripe.endpoints import (
    WEBHOOK_PATH,
    find_webhook_endpoint,
    missing_events,
    subscribed_events,
)

PROBE_TIMEOUT_S = 5.0
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"  # worth knowing, not wrong: the exit code stays 0
    FAIL = "fail"
    SKIP = "skip"  # could not be checked because something it depends on failed


@dataclass(frozen=True)
class CheckResult:
    """One row of the report: what was checked, its verdict, what was seen, and what a person should do.

    Build it with the constructor of its verdict (:meth:`failed`, :meth:`passed` …): a probe's return then
    reads as its verdict, and only a failure or a warning takes advice, which is all the table shows advice for.
    """

    name: str
    status: Status
    detail: str
    advice: str = ""

    @classmethod
    def passed(cls, name: str, detail: str) -> CheckResult:
        return cls(name, Status.OK, detail)

    @classmethod
    def warned(cls, name: str, detail: str, advice: str) -> CheckResult:
        return cls(name, Status.WARN, detail, advice)

    @classmethod
    def failed(cls, name: str, detail: str, advice: str) -> CheckResult:
        return cls(name, Status.FAIL, detail, advice)

    @classmethod
    def skipped(cls, name: str, detail: str) -> CheckResult:
        return cls(name, Status.SKIP, detail)


@dataclass(frozen=True)
class Report:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status is not Status.FAIL for r in self.results)

    def to_json(self) -> str:
        return json.dumps(
            {"ok": self.ok, "checks": [{**asdict(r), "status": r.status.value} for r in self.results]},
            indent=2,
            ensure_ascii=False,
        )

    def to_table(self) -> str:
        """A plain-text table, then each failure's and warning's advice beneath it."""
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{'CHECK'.ljust(width)}  STATUS  DETAIL"]
        for r in self.results:
            lines.append(f"{r.name.ljust(width)}  {r.status.value.upper().ljust(6)}  {r.detail}")
        advice = [r for r in self.results if r.advice and r.status in (Status.FAIL, Status.WARN)]
        if advice:
            lines.append("")
            lines.append("What to do:")
            for r in advice:
                lines.append(f"  - {r.name}: {r.advice}")
        lines.append("")
        failed = sum(1 for r in self.results if r.status is Status.FAIL)
        lines.append("All checks passed." if self.ok else f"{failed} check(s) failed.")
        return "\n".join(lines)


# ---- database ----------------------------------------------------------------------------------------


def check_database(engine: Engine, settings: Settings) -> CheckResult:
    backend = engine.url.get_backend_name()
    where = engine.url.render_as_string(hide_password=True)
    try:
        status = schema_status(engine)
    except Exception as exc:  # noqa: BLE001 - a probe reports
        advice = (
            "Is PostgreSQL running and does MLC_DATABASE_URL name the right host, database and user?"
            if backend == "postgresql"
            else f"Check that {settings.data_dir} exists and is writable (MLC_DATA_DIR / MLC_DATABASE_URL)."
        )
        return CheckResult.failed("database", f"{where}: unreachable ({_short(exc)})", advice)
    if status.current is None:
        return CheckResult.failed(
            "database",
            f"{where}: no schema yet",
            "Run `ml-connector migrate` (the gateway and worker also migrate when they start).",
        )
    if not status.at_head:
        return CheckResult.failed(
            "database",
            f"{where}: schema at {status.current}, this version needs {status.head}",
            "Run `ml-connector migrate`, or start the gateway of this version once.",
        )
    return CheckResult.passed("database", f"{backend}, schema at {status.current} (head)")


# ---- Temporal ----------------------------------------------------------------------------------------


async def check_temporal(settings: Settings, client: Client | None = None) -> CheckResult:
    target = settings.temporal_target
    try:
        if client is None:
            from ml_connector.temporal import connect

            client = await asyncio.wait_for(connect(settings), timeout=PROBE_TIMEOUT_S)
        await asyncio.wait_for(client.service_client.check_health(), timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001
        advice = (
            "Start ml-connector (`ml-connector dev` runs the embedded Temporal server), or point "
            "MLC_TEMPORAL_ADDRESS (or TEMPORAL_ADDRESS) at your Temporal frontend."
            if settings.embedded_temporal
            else f"Is Temporal running at {target}? Check MLC_TEMPORAL_ADDRESS / TEMPORAL_ADDRESS, the TLS or "
            "API key settings (TEMPORAL_API_KEY, TEMPORAL_TLS_*) and the firewall."
        )
        return CheckResult.failed("temporal", f"{target}: unreachable ({_short(exc)})", advice)
    return CheckResult.passed(
        "temporal",
        f"{target}, namespace {settings.temporal_namespace}, task queue {settings.task_queue}",
    )


# ---- Stripe ------------------------------------------------------------------------------------------


def stripe_client(settings: Settings, *, timeout_s: float = PROBE_TIMEOUT_S) -> stripe.StripeClient:
    """A client for one-off operator commands: no retries (a wrong key must fail fast), a short timeout."""
    cfg = settings.stripe
    make_client(StripeSettings(api_key=cfg.api_key, api_base=cfg.api_base))  # validates key and base
    http = stripe.HTTPXClient(timeout=timeout_s, allow_sync_methods=True)
    if cfg.api_base is not None:
        return stripe.StripeClient(
            cfg.api_key,
            base_addresses={"api": cfg.api_base.rstrip("/")},
            max_network_retries=0,
            http_client=http,
        )
    return stripe.StripeClient(cfg.api_key, max_network_retries=0, http_client=http)


def webhook_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + WEBHOOK_PATH


def check_stripe(settings: Settings) -> list[CheckResult]:
    """The key (mode, does it authenticate, may it read customers) and our webhook endpoint."""
    cfg = settings.stripe
    if not cfg.configured:
        return _key_failed(
            "MLC_STRIPE_API_KEY is not set",
            "Create a restricted or secret key in the Stripe Dashboard (Developers > API keys) and set "
            "MLC_STRIPE_API_KEY.",
        )
    mode = "live" if cfg.live else "test"
    where = cfg.api_base or "api.stripe.com"
    client = stripe_client(settings)
    try:
        client.v1.customers.list({"limit": 1})
    except stripe.AuthenticationError:
        return _key_failed(
            f"{mode}-mode key refused by {where} (authentication failed)",
            "The key is wrong, rolled or deleted. Copy the current one from the Stripe Dashboard "
            "(Developers > API keys) into MLC_STRIPE_API_KEY.",
        )
    except stripe.PermissionError:
        return _key_failed(
            f"{mode}-mode key may not read customers",
            "Give the restricted key write access to Customers, Invoices and Webhook endpoints and "
            "read access to PaymentIntents, Charges and Events.",
            webhook="needs a key that may read",
        )
    except stripe.StripeError as exc:
        why = "could not connect" if isinstance(exc, stripe.APIConnectionError) else _short(exc)
        return _key_failed(
            f"{where}: unreachable ({why})",
            "Check the network path to Stripe (proxy, firewall, DNS)"
            + (", and MLC_STRIPE_API_BASE" if cfg.api_base else "")
            + "; see https://status.stripe.com.",
            webhook="needs Stripe to be reachable",
        )
    key = CheckResult.passed("stripe key", f"{mode} mode, authenticates and may read customers ({where})")
    return [key, _check_webhook(settings, client)]


def _key_failed(
    detail: str, advice: str, *, webhook: str = "needs a working Stripe key"
) -> list[CheckResult]:
    """The key check failed; the webhook endpoint, which only the key can read, is skipped saying why."""
    return [
        CheckResult.failed("stripe key", detail, advice),
        CheckResult.skipped("stripe webhook", webhook),
    ]


def required_events(settings: Settings) -> tuple[str, ...]:
    """The events the endpoint must send for this configuration (more in clearing-account mode)."""
    return subscribed_events(clearing_account=bool(settings.clearing_company))


def _check_webhook(settings: Settings, client: stripe.StripeClient) -> CheckResult:
    url = webhook_url(settings)
    try:
        endpoint = find_webhook_endpoint(client, url)
    except stripe.PermissionError:
        return CheckResult.failed(
            "stripe webhook",
            "the key may not list webhook endpoints",
            "Give the restricted key read access to Webhook endpoints (Developers > API keys > edit).",
        )
    except stripe.StripeError as exc:
        return CheckResult.failed("stripe webhook", f"could not list endpoints ({_short(exc)})", "")
    setup = "Run `ml-connector stripe webhook-setup`"
    if endpoint is None:
        return CheckResult.failed(
            "stripe webhook",
            f"no webhook endpoint for {url}",
            f"{setup} to create it, then set MLC_STRIPE_WEBHOOK_SECRET to its signing secret.",
        )
    problems: list[str] = []
    if endpoint.status != "enabled":
        problems.append(f"endpoint {endpoint.id} is {endpoint.status}")
    missing = missing_events(list(endpoint.enabled_events), required_events(settings))
    if missing:
        problems.append("does not send " + ", ".join(missing))
    if problems:
        return CheckResult.failed(
            "stripe webhook",
            f"{url}: " + "; ".join(problems),
            f"{setup} to enable it and its events.",
        )
    if not settings.stripe.webhook_secrets:
        return CheckResult.failed(
            "stripe webhook",
            f"endpoint {endpoint.id} exists but MLC_STRIPE_WEBHOOK_SECRET is not set",
            "Copy the endpoint's signing secret (Dashboard > Developers > Webhooks > the endpoint > Reveal) "
            "into MLC_STRIPE_WEBHOOK_SECRET; without it every webhook is refused.",
        )
    return CheckResult.passed("stripe webhook", f"{endpoint.id} enabled for {url} with the events we need")


# ---- public URL and WSDL -----------------------------------------------------------------------------


def check_public_url(public_url: str) -> CheckResult:
    parts = urlsplit(public_url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return CheckResult.passed("public URL", f"{public_url} (https)")
    if parts.scheme == "http" and host in _LOCAL_HOSTS:
        return CheckResult.passed(
            "public URL",
            f"{public_url} (plain http, allowed for localhost only: the Web Connector must run on this machine)",
        )
    return CheckResult.failed(
        "public URL",
        f"{public_url} is not https",
        "The Web Connector refuses plain http except for localhost. Put ml-connector behind a TLS terminator "
        "with a certificate Windows trusts and set MLC_PUBLIC_URL=https://your-host.",
    )


def check_wsdl(settings: Settings, *, http: httpx.Client | None = None) -> CheckResult:
    """Fetch the WSDL through the public URL, as the Web Connector would, and read its soap:address."""
    url = settings.qbwc_url + "?wsdl"
    owned = http is None
    http = http or httpx.Client(timeout=PROBE_TIMEOUT_S)
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        return CheckResult.warned(
            "served WSDL",
            f"{url}: gateway not reachable ({type(exc).__name__})",
            "Start the gateway (`ml-connector gateway` or `ml-connector dev`) and run check again; if it runs, "
            "check DNS, the reverse proxy and the firewall for MLC_PUBLIC_URL.",
        )
    finally:
        if owned:
            http.close()
    if response.status_code != 200:
        return CheckResult.failed(
            "served WSDL",
            f"{url}: HTTP {response.status_code}",
            "The URL does not reach ml-connector's gateway: check the reverse proxy's route to /qbwc.",
        )
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(response.content, parser)
        address = root.find(f"{{{WSDL_NS}}}service/{{{WSDL_NS}}}port/{{{WSDL_SOAP_NS}}}address")
        location = address.get("location", "") if address is not None else ""
    except etree.XMLSyntaxError:
        location = ""
    if not location:
        return CheckResult.failed(
            "served WSDL",
            f"{url}: not a WSDL",
            "Something else answers at MLC_PUBLIC_URL: point the reverse proxy at ml-connector.",
        )
    if location != settings.qbwc_url:
        return CheckResult.failed(
            "served WSDL",
            f"WSDL points at {location}, expected {settings.qbwc_url}",
            "The gateway answering there runs with a different MLC_PUBLIC_URL: set the same value for both.",
        )
    return CheckResult.passed("served WSDL", f"{url} points at {location}")


# ---- company files -----------------------------------------------------------------------------------

UNSETTLED_ADVICE = (
    "QuickBooks refused these requests repeatedly, never answered them, or their answer was lost "
    "(QuickBooksUncertain: the workflow checks QuickBooks before writing again). Each waiting workflow shows "
    "the reason in the Temporal Web UI; held payments are replayed with `ml-connector replay`."
)


def check_companies(engine: Engine, settings: Settings, now: datetime | None = None) -> list[CheckResult]:
    now = now or datetime.now(UTC)
    if not settings.companies:
        return [
            CheckResult.failed(
                "company files",
                "no company file is configured",
                "Set MLC_QBWC_USERNAME and MLC_QBWC_PASSWORD, or list [[companies]] in the file named by "
                "MLC_CONFIG.",
            )
        ]
    try:
        rows = company_rows(engine, settings)
    except Exception as exc:  # noqa: BLE001
        return [CheckResult.skipped("company files", f"database unreachable ({_short(exc)})")]
    results: list[CheckResult] = []
    for row in rows:
        name = f"company {row.id}"
        waiting = f"{row.queue.pending + row.queue.sent} request(s) waiting"
        if row.queue.oldest_created_at is not None:
            waiting += f", oldest {elapsed(row.queue.oldest_age_seconds(now))} old"
        if row.last_contact_at is None:
            results.append(
                CheckResult.warned(
                    name,
                    f"the Web Connector has not come yet; {waiting}",
                    "Add ml-connector to the Web Connector on the QuickBooks PC: `ml-connector qwc"
                    + (f" --company {row.id}" if len(rows) > 1 else "")
                    + " > ml-connector.qwc`, then Add an application.",
                )
            )
            continue
        seen = f"last contact {elapsed((now - row.last_contact_at).total_seconds())} ago"
        qb = f"{row.qb_product or 'QuickBooks (product not reported yet)'}, qbXML {row.qbxml_version or '?'}"
        detail = f"{seen}; {qb}; {waiting}"
        advice = row.problem_advice
        if row.overdue(now):
            results.append(
                CheckResult.warned(
                    name,
                    detail,
                    f"The Web Connector should come every {row.poll_minutes} min: is the QuickBooks PC on, the "
                    "Web Connector running and Auto-Run ticked?"
                    + (f" Last problem: {advice}" if advice else ""),
                )
            )
        elif advice:
            detail += f"; last session: {row.last_session_status}"
            results.append(CheckResult.warned(name, detail, advice))
        elif row.unsettled is not None:
            detail += (
                f"; {row.unsettled.count} request(s) ended without an answer in the last day "
                f"({row.unsettled.last_kind}: {row.unsettled.last_message})"
            )
            results.append(CheckResult.warned(name, detail, UNSETTLED_ADVICE))
        else:
            results.append(CheckResult.passed(name, detail))
    return results


# ---- the whole check ---------------------------------------------------------------------------------


async def run_checks(
    settings: Settings, *, client: Client | None = None, engine: Engine | None = None
) -> Report:
    results: list[CheckResult] = [
        CheckResult.passed(
            "configuration",
            f"{len(settings.companies)} company file(s), data in {settings.data_dir}",
        ),
        check_public_url(settings.public_url),
    ]
    owned = engine is None
    engine = engine or make_engine(settings.database_url)
    try:
        database = await asyncio.to_thread(check_database, engine, settings)
        results.append(database)
        results.append(await check_temporal(settings, client))
        results.extend(await asyncio.to_thread(check_stripe, settings))
        results.append(await asyncio.to_thread(check_wsdl, settings))
        if database.status is Status.OK:
            results.extend(await asyncio.to_thread(check_companies, engine, settings))
        else:
            results.append(CheckResult.skipped("company files", "needs the database"))
    finally:
        if owned:
            engine.dispose()
    return Report(tuple(results))


def config_failure_report(error: ConfigError, env: Mapping[str, str]) -> Report:
    """When the configuration itself is invalid: one row per problem, plus the public URL as far as it goes."""
    problems = [line.strip()[2:] for line in str(error).splitlines() if line.strip().startswith("- ")]
    problems = problems or [str(error)]
    results: list[CheckResult] = []
    for problem in problems:
        setting, _, message = problem.partition(": ")
        results.append(
            CheckResult.failed("configuration", problem, f"Fix {setting}: {message}" if message else problem)
        )
    public = env.get("MLC_PUBLIC_URL")
    if public:
        results.append(check_public_url(public.rstrip("/")))
    results.append(CheckResult.skipped("other checks", "need a valid configuration"))
    return Report(tuple(results))


async def check_from_env(env: Mapping[str, str]) -> Report:
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        return config_failure_report(exc, env)
    return await run_checks(settings)


def _short(exc: BaseException) -> str:
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 160 else text[:157] + "..."
