"""Configuration: `MLC_*` environment variables plus an optional TOML file for several company files.

Everything is validated once at start so a misconfigured deployment fails with a message that names the
variable and says what is wrong, instead of failing hours later inside a Web Connector session.

One Web Connector user maps to exactly one company file: the user name QBWC sends in `authenticate` is how we
know which company's queue to serve. A single company can be configured with environment variables alone
(`MLC_QBWC_USERNAME`, `MLC_QBWC_PASSWORD`); several need a TOML file (`MLC_CONFIG`) with `[[companies]]` tables.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ml_connector.ledger.settings import LedgerSettings, parse_ledger
from ml_connector.runwindows import RunWindowError, parse_windows, split_env
from ml_connector.temporal_env import ClientConfigProfile, load_temporal_profile

DEFAULT_PORT = 8000
DEFAULT_POLL_MINUTES = 5
_COMPANY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_HOST_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$|^\[[0-9a-f:.]+\]$")


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the setting and the fix."""


@dataclass(frozen=True)
class CompanyConfig:
    """One QuickBooks company file, reached by one Web Connector user."""

    id: str
    qbwc_username: str
    qbwc_password: str = field(repr=False)
    poll_minutes: int = DEFAULT_POLL_MINUTES
    name: str = ""
    timezone: str = "America/New_York"
    # When the Web Connector may work on this file ("18:00-07:00", company-local); empty: any time.
    run_windows: tuple[str, ...] = ()
    # Clearing-account mode (refunds, disputes, fees, payouts posted too); None: off.
    ledger: LedgerSettings | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class StripeConfig:
    """How we reach Stripe. `api_base` points the SDK at a Stripe server on 127.0.0.1 (tests, sandbox)."""

    api_key: str = field(default="", repr=False)
    api_base: str | None = None
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    rate_per_s: float | None = None
    webhook_tolerance_s: int = 300
    # The Stripe account the key belongs to (acct_…), when known: events of any other account are ignored.
    account_id: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    @property
    def live(self) -> bool:
        return self.api_key.startswith(("sk_live_", "rk_live_"))


@dataclass(frozen=True)
class PostingConfig:
    """How Stripe money is written into QuickBooks, and how QuickBooks data is presented in Stripe."""

    payment_method: str = "Stripe"
    deposit_account: str = "Undeposited Funds"
    unmatched_policy: str = "unapplied"  # unapplied | hold
    invoice_fallback: bool = True  # oldest open invoice of the customer with exactly that balance
    customer_link_field: str = "dataext"  # dataext | notes
    customer_link_dataext_name: str = "StripeCustomerId"
    invoice_mode: str = "finalize"  # draft | finalize | send
    create_missing_customers: bool = True
    home_currency: str = "usd"  # the company files' currency; Stripe payments in another are refused
    # Set per company by clearing-account mode (then also the deposit account); empty: the mode is off.
    clearing_account: str = ""
    # QuickBooks multicurrency is on for the company (MLC_MULTICURRENCY, or `multicurrency` in its TOML table in
    # clearing-account mode): a payment in another currency is posted in that currency with Stripe's exchange
    # rate instead of being refused.
    multicurrency: bool = False


@dataclass(frozen=True)
class GatewayLimits:
    """What an unauthenticated caller may cost the gateway, and whom it trusts (README: *Security*)."""

    # Body cap of every SOAP call except receiveResponseXML (which carries QuickBooks' answers and gets
    # MLC_MAX_BODY_BYTES); the operation is known from the first elements, before the rest is read.
    soap_max_body_bytes: int = 256 * 1024
    # receiveResponseXML bodies above soap_max_body_bytes read and parsed at once (the rest wait their turn).
    soap_large_bodies: int = 2
    # Thread pools: SOAP (parsing, scrypt, queue) and webhooks each have their own, so neither starves the other.
    soap_threads: int = 2
    webhook_threads: int = 8
    # Login throttle (ml_connector/qbwc/throttle.py): free failures per (address, user), then a doubling delay.
    login_free_failures: int = 3
    login_max_delay_seconds: int = 300
    # Reverse proxies whose X-Forwarded-For names the real client (addresses or networks); empty: none.
    trusted_proxies: tuple[str, ...] = ()
    # Host header values the admin pages answer to, besides MLC_PUBLIC_URL's host and this machine's names.
    allowed_hosts: tuple[str, ...] = ()
    # uvicorn/h11: idle keep-alive, time to send the request head, time to send the body, connections.
    http_keepalive_seconds: int = 5
    http_header_timeout_seconds: int = 10
    http_body_timeout_seconds: int = 60
    http_max_connections: int = 200
    http_max_header_bytes: int = 16 * 1024
    # Stripe payloads, qbXML bodies and session rows older than this are pruned (never the audit trail); 0: never.
    retention_days: int = 90


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one ml-connector installation."""

    data_dir: Path
    database_url: str
    temporal_address: str | None
    temporal_namespace: str
    task_queue: str
    host: str
    port: int
    public_url: str
    companies: tuple[CompanyConfig, ...]
    max_body_bytes: int = 16 * 1024 * 1024
    batch_max_requests: int = 100
    batch_max_bytes: int = 2 * 1024 * 1024
    batch_hold_seconds: float = 8.0
    linger_seconds: float = 10.0
    worker_nice: int = 10
    # A worker's own /metrics (its Stripe counters and Temporal's SDK metrics); port 0: off.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    ticket_idle_seconds: int = 1800
    qb_wait_days: float = 14.0
    log_level: str = "INFO"
    # HTTP Basic password for the status page when the request is not from this machine ("": local only).
    status_password: str = field(default="", repr=False)
    # Where workflow links on the status page and in the demo point ("" when there is no Web UI to link).
    temporal_ui_url: str = ""
    stripe: StripeConfig = field(default_factory=lambda: StripeConfig())
    posting: PostingConfig = field(default_factory=lambda: PostingConfig())
    # Temporal's environment configuration (TEMPORAL_* / a profile): TLS, mTLS, API key; see temporal_env.py.
    temporal_profile: ClientConfigProfile = field(default_factory=ClientConfigProfile, repr=False)
    limits: GatewayLimits = field(default_factory=lambda: GatewayLimits())

    @property
    def embedded_temporal(self) -> bool:
        """True when ml-connector runs its own Temporal dev server (no `MLC_TEMPORAL_ADDRESS`)."""
        return self.temporal_address is None

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or "127.0.0.1:7233"

    @property
    def qbwc_url(self) -> str:
        """The SOAP endpoint the Web Connector calls: the WSDL address and the .qwc AppURL."""
        return self.public_url.rstrip("/") + "/qbwc"

    @property
    def public_url_is_local(self) -> bool:
        return (urlsplit(self.public_url).hostname or "") in _LOCAL_HOSTS

    @property
    def clearing_company(self) -> str | None:
        """The company in clearing-account mode (at most one: a Stripe account's payouts are not split)."""
        return next((c.id for c in self.companies if c.ledger is not None), None)

    def company(self, company_id: str) -> CompanyConfig:
        for company in self.companies:
            if company.id == company_id:
                return company
        raise KeyError(company_id)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; raise ConfigError listing every problem found."""
    env = os.environ if env is None else env
    problems: list[str] = []

    data_dir = Path(env.get("MLC_DATA_DIR") or ".mlc-data").expanduser().resolve()
    database_url = env.get("MLC_DATABASE_URL") or f"sqlite:///{data_dir / 'ml-connector.db'}"
    if not database_url.startswith(("sqlite", "postgresql")):
        problems.append(
            f"MLC_DATABASE_URL: unsupported database {database_url.split(':', 1)[0]!r}; "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
        )
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    host = env.get("MLC_HOST") or "127.0.0.1"
    port = _int(env, "MLC_PORT", DEFAULT_PORT, problems, minimum=1, maximum=65535)
    public_url = (env.get("MLC_PUBLIC_URL") or f"http://{_url_host(host)}:{port}").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            f"MLC_PUBLIC_URL: {public_url!r} is not an http(s) URL such as https://sync.example.com"
        )
    elif parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        problems.append(
            f"MLC_PUBLIC_URL: {public_url!r} uses plain http; the Web Connector only accepts https "
            "except for localhost. Put ml-connector behind a TLS terminator and use its https URL."
        )

    temporal_profile = load_temporal_profile(env, problems)
    temporal_address = env.get("MLC_TEMPORAL_ADDRESS") or temporal_profile.address or None
    poll_minutes = _int(env, "MLC_POLL_MINUTES", DEFAULT_POLL_MINUTES, problems, minimum=1)
    companies = _companies(env, poll_minutes, problems)

    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=temporal_address,
        temporal_namespace=env.get("MLC_TEMPORAL_NAMESPACE") or temporal_profile.namespace or "default",
        task_queue=env.get("MLC_TASK_QUEUE") or "ml-connector",
        host=host,
        port=port,
        public_url=public_url,
        companies=companies,
        max_body_bytes=_int(env, "MLC_MAX_BODY_BYTES", 16 * 1024 * 1024, problems, minimum=64 * 1024),
        batch_max_requests=_int(env, "MLC_BATCH_MAX_REQUESTS", 100, problems, minimum=1, maximum=1000),
        batch_max_bytes=_int(env, "MLC_BATCH_MAX_BYTES", 2 * 1024 * 1024, problems, minimum=16 * 1024),
        batch_hold_seconds=float(_int(env, "MLC_BATCH_HOLD_SECONDS", 8, problems, minimum=0, maximum=60)),
        linger_seconds=float(_int(env, "MLC_LINGER_SECONDS", 10, problems, minimum=0, maximum=300)),
        worker_nice=_int(env, "MLC_WORKER_NICE", 10, problems, minimum=0, maximum=19),
        worker_metrics_host=(env.get("MLC_WORKER_METRICS_HOST") or "127.0.0.1").strip(),
        worker_metrics_port=_int(env, "MLC_WORKER_METRICS_PORT", 9464, problems, minimum=0, maximum=65535),
        ticket_idle_seconds=_int(env, "MLC_TICKET_IDLE_SECONDS", 1800, problems, minimum=60),
        qb_wait_days=float(_int(env, "MLC_QB_WAIT_DAYS", 14, problems, minimum=1)),
        log_level=(env.get("MLC_LOG_LEVEL") or "INFO").upper(),
        status_password=env.get("MLC_STATUS_PASSWORD", ""),
        temporal_ui_url=(
            env.get("MLC_TEMPORAL_UI_URL") or ("" if temporal_address else "http://127.0.0.1:8233")
        ).rstrip("/"),
        temporal_profile=temporal_profile,
    )
    settings = replace(
        settings,
        stripe=_stripe(env, problems),
        posting=_posting(env, problems),
        limits=_limits(env, settings.max_body_bytes, problems),
    )
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return settings


def _stripe(env: Mapping[str, str], problems: list[str]) -> StripeConfig:
    key = env.get("MLC_STRIPE_API_KEY", "")
    if key and not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        problems.append(
            "MLC_STRIPE_API_KEY: expected a secret or restricted key (sk_test_…, sk_live_…, rk_…)"
        )
    base = env.get("MLC_STRIPE_API_BASE") or None
    if base is not None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"MLC_STRIPE_API_BASE: {base!r} is not a URL such as http://127.0.0.1:12111")
        elif parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            problems.append(
                "MLC_STRIPE_API_BASE: plain http is only allowed for a Stripe server on this machine"
            )
    secrets = tuple(s for s in re.split(r"[,\s]+", env.get("MLC_STRIPE_WEBHOOK_SECRET", "")) if s)
    for secret in secrets:
        if not secret.startswith("whsec_"):
            problems.append(
                "MLC_STRIPE_WEBHOOK_SECRET: each secret starts with whsec_ (separate several with commas)"
            )
            break
    rate = env.get("MLC_STRIPE_RATE_LIMIT")
    rate_value: float | None = None
    if rate:
        try:
            rate_value = float(rate)
            if rate_value <= 0:
                raise ValueError
        except ValueError:
            problems.append(
                f"MLC_STRIPE_RATE_LIMIT: {rate!r} is not a positive number of requests per second"
            )
            rate_value = None
    account = (env.get("MLC_STRIPE_ACCOUNT") or "").strip()
    if account and not re.fullmatch(r"acct_[A-Za-z0-9]+", account):
        problems.append(f"MLC_STRIPE_ACCOUNT: {account!r} is not a Stripe account id (acct_…)")
        account = ""
    return StripeConfig(
        account_id=account,
        api_key=key,
        api_base=base,
        webhook_secrets=secrets,
        rate_per_s=rate_value,
        webhook_tolerance_s=_int(env, "MLC_STRIPE_WEBHOOK_TOLERANCE", 300, problems, minimum=1),
    )


def _limits(env: Mapping[str, str], max_body_bytes: int, problems: list[str]) -> GatewayLimits:
    default_soap_max = min(256 * 1024, max_body_bytes)
    soap_max = _int(env, "MLC_SOAP_MAX_BYTES", default_soap_max, problems, minimum=16 * 1024)
    if soap_max > max_body_bytes:
        problems.append(f"MLC_SOAP_MAX_BYTES: must be ≤ MLC_MAX_BODY_BYTES ({max_body_bytes})")
        soap_max = default_soap_max
    proxies: list[str] = []
    for raw in (p.strip() for p in split_env(env.get("MLC_TRUSTED_PROXIES", "")) if p.strip()):
        try:
            proxies.append(str(ipaddress.ip_network(raw, strict=False)))
        except ValueError:
            problems.append(
                f"MLC_TRUSTED_PROXIES: {raw!r} is not an address or network such as 127.0.0.1 or 10.0.0.0/8"
            )
    hosts = tuple(h.strip().lower() for h in split_env(env.get("MLC_ALLOWED_HOSTS", "")) if h.strip())
    for host in hosts:
        if not _HOST_NAME.match(host):
            problems.append(f"MLC_ALLOWED_HOSTS: {host!r} is not a host name such as sync.example.com")
    return GatewayLimits(
        soap_max_body_bytes=soap_max,
        soap_large_bodies=_int(env, "MLC_SOAP_LARGE_BODIES", 2, problems, minimum=1, maximum=64),
        soap_threads=_int(env, "MLC_SOAP_THREADS", 2, problems, minimum=1, maximum=64),
        webhook_threads=_int(env, "MLC_WEBHOOK_THREADS", 8, problems, minimum=1, maximum=64),
        login_free_failures=_int(env, "MLC_LOGIN_FREE_FAILURES", 3, problems, minimum=0, maximum=100),
        login_max_delay_seconds=_int(
            env, "MLC_LOGIN_MAX_DELAY_SECONDS", 300, problems, minimum=2, maximum=24 * 3600
        ),
        trusted_proxies=tuple(proxies),
        allowed_hosts=hosts,
        http_keepalive_seconds=_int(env, "MLC_HTTP_KEEPALIVE_SECONDS", 5, problems, minimum=1, maximum=300),
        http_header_timeout_seconds=_int(
            env, "MLC_HTTP_HEADER_TIMEOUT_SECONDS", 10, problems, minimum=1, maximum=300
        ),
        http_body_timeout_seconds=_int(
            env, "MLC_HTTP_BODY_TIMEOUT_SECONDS", 60, problems, minimum=1, maximum=3600
        ),
        http_max_connections=_int(env, "MLC_HTTP_MAX_CONNECTIONS", 200, problems, minimum=8, maximum=100_000),
        http_max_header_bytes=_int(
            env, "MLC_HTTP_MAX_HEADER_BYTES", 16 * 1024, problems, minimum=4 * 1024, maximum=1024 * 1024
        ),
        retention_days=_int(env, "MLC_RETENTION_DAYS", 90, problems, minimum=0),
    )


def _posting(env: Mapping[str, str], problems: list[str]) -> PostingConfig:
    def choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = (env.get(name) or default).strip().lower()
        if value not in allowed:
            problems.append(f"{name}: {value!r} is not one of {', '.join(allowed)}")
            return default
        return value

    def flag(name: str, default: bool) -> bool:
        raw = (env.get(name) or "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        problems.append(f"{name}: {raw!r} is not true or false")
        return default

    return PostingConfig(
        payment_method=env.get("MLC_PAYMENT_METHOD") or "Stripe",
        deposit_account=env.get("MLC_DEPOSIT_ACCOUNT") or "Undeposited Funds",
        unmatched_policy=choice("MLC_UNMATCHED_POLICY", "unapplied", ("unapplied", "hold")),
        invoice_fallback=flag("MLC_INVOICE_FALLBACK", True),
        customer_link_field=choice("MLC_CUSTOMER_LINK_FIELD", "dataext", ("dataext", "notes")),
        customer_link_dataext_name=env.get("MLC_CUSTOMER_LINK_DATAEXT_NAME") or "StripeCustomerId",
        invoice_mode=choice("MLC_INVOICE_MODE", "finalize", ("draft", "finalize", "send")),
        create_missing_customers=flag("MLC_CREATE_MISSING_CUSTOMERS", True),
        home_currency=_currency_code(env.get("MLC_HOME_CURRENCY") or "usd", problems),
        multicurrency=flag("MLC_MULTICURRENCY", False),
    )


def _currency_code(raw: str, problems: list[str]) -> str:
    code = raw.strip().lower()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        problems.append(f"MLC_HOME_CURRENCY: {raw!r} is not a three-letter ISO 4217 code such as usd")
        return "usd"
    return code


def _companies(env: Mapping[str, str], poll_minutes: int, problems: list[str]) -> tuple[CompanyConfig, ...]:
    raw: list[dict[str, object]] = []
    config_path = env.get("MLC_CONFIG")
    if config_path:
        path = Path(config_path).expanduser()
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"MLC_CONFIG: {path} does not exist")
            doc = {}
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"MLC_CONFIG: {path} is not valid TOML: {exc}")
            doc = {}
        entries = doc.get("companies", [])
        if not isinstance(entries, list):
            problems.append(f"MLC_CONFIG: {path}: 'companies' must be an array of tables ([[companies]])")
            entries = []
        raw.extend(e for e in entries if isinstance(e, dict))
    if env.get("MLC_QBWC_USERNAME") or env.get("MLC_QBWC_PASSWORD"):
        raw.append(
            {
                "id": env.get("MLC_COMPANY_ID") or "default",
                "qbwc_username": env.get("MLC_QBWC_USERNAME", ""),
                "qbwc_password": env.get("MLC_QBWC_PASSWORD", ""),
                "name": env.get("MLC_COMPANY_NAME", ""),
                "timezone": env.get("MLC_COMPANY_TIMEZONE", "America/New_York"),
                "run_windows": split_env(env.get("MLC_RUN_WINDOWS", "")),
            }
        )

    companies: list[CompanyConfig] = []
    for index, entry in enumerate(raw):
        where = f"company #{index + 1}" if "id" not in entry else f"company {entry['id']!r}"
        company_id = str(entry.get("id", ""))
        username = str(entry.get("qbwc_username", ""))
        password = str(entry.get("qbwc_password", ""))
        if not _COMPANY_ID.match(company_id):
            problems.append(f"{where}: id must be 1-40 letters, digits, '.', '_' or '-'")
        if not username:
            problems.append(
                f"{where}: the Web Connector user name is empty (MLC_QBWC_USERNAME / qbwc_username)"
            )
        if len(password) < 8:
            problems.append(
                f"{where}: the Web Connector password must have at least 8 characters "
                "(MLC_QBWC_PASSWORD / qbwc_password)"
            )
        minutes = entry.get("poll_minutes", poll_minutes)
        if not isinstance(minutes, int) or minutes < 1:
            problems.append(f"{where}: poll_minutes must be a whole number ≥ 1 (got {minutes!r})")
            minutes = poll_minutes
        timezone = str(entry.get("timezone", "America/New_York"))
        windows = entry.get("run_windows", [])
        if not isinstance(windows, list) or not all(isinstance(w, str) for w in windows):
            problems.append(f"{where}: run_windows must be a list of strings like [\"18:00-07:00\"]")
            windows = []
        try:
            parse_windows(windows)
        except RunWindowError as exc:
            problems.append(f"{where}: run_windows (MLC_RUN_WINDOWS): {exc}")
            windows = []
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"{where}: unknown time zone {timezone!r} (use an IANA name like America/Chicago)"
            )
        companies.append(
            CompanyConfig(
                id=company_id,
                qbwc_username=username,
                qbwc_password=password,
                poll_minutes=minutes,
                name=str(entry.get("name", "")),
                timezone=timezone,
                run_windows=tuple(w.strip() for w in windows),
                ledger=parse_ledger(entry, env, where, problems),
            )
        )
    clearing = [c.id for c in companies if c.ledger is not None]
    if len(clearing) > 1:
        problems.append(
            f"clearing-account mode is on for {', '.join(clearing)}: one Stripe account's payouts cannot be split "
            "between company files; turn it on for one company"
        )

    for attr, label in (("id", "company id"), ("qbwc_username", "Web Connector user name")):
        seen: set[str] = set()
        for company in companies:
            value = getattr(company, attr)
            if value in seen:
                problems.append(f"{label} {value!r} is used twice: one Web Connector user per company file")
            seen.add(value)
    return tuple(companies)


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    problems: list[str],
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name}: {raw!r} is not a whole number")
        return default
    if minimum is not None and value < minimum:
        problems.append(f"{name}: must be ≥ {minimum} (got {value})")
        return default
    if maximum is not None and value > maximum:
        problems.append(f"{name}: must be ≤ {maximum} (got {value})")
        return default
    return value


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - binding all interfaces is the operator's choice
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
