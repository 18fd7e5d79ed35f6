"""`GET /`: the status page a bookkeeper opens to see, at a glance, what is stuck and why.

Server-rendered HTML from plain string templates (every value through `html.escape`), no JavaScript, no build
step, refreshed by the browser every 30 s. Almost everything comes from the database, so the page works while
Temporal or Stripe are down — exactly when someone looks at it. The one exception is each company's sync
watermark: it lives in the customer sync workflow's state (carried across continue-as-new, never written to
the database), so it is asked of the workflow with its ``status`` query under a short deadline, all companies
at once. A company whose workflow does not exist yet reads "no sync yet"; Temporal down or the worker silent
read as such in that row, and the rest of the page is unaffected.

Access (`gateway/access.py`): HTTP Basic with `MLC_STATUS_PASSWORD` (any user name); without it, only a local
installation (`MLC_PUBLIC_URL` on localhost) serves requests from this machine that carry no forwarding header.
A `Host` that is not this installation's gets 421.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from gateway.access import admin_page
from ml_connector.config import Settings
from ml_connector.durations import elapsed
from ml_connector.health import CompanyRow, company_rows
from ml_connector.ledger.io import store as ledger_store
from ml_connector.metrics import PaymentState, payment_states
from ml_connector.qbwc.troubleshooting import explain
from ml_connector.storage.models import CustomerLink, InvoiceLink, LedgerPosting, QbwcSession
from workflows.customer_sync import CustomerSyncWorkflow, SyncStatus, workflow_id

router = APIRouter()
RECENT_SESSIONS = 10
RECENT_PAYOUTS = 20
MAX_WAITING = 200
# The page must render even when Temporal hangs: the browser refreshes every 30 s and a person is waiting.
WATERMARK_TIMEOUT = timedelta(seconds=2)
HEALTH_TIMEOUT = timedelta(seconds=1)
NO_SYNC_YET = "no sync yet"
TEMPORAL_UNREACHABLE = "Temporal unreachable"
WORKER_SILENT = "the sync workflow did not answer in time (is the worker running?)"


@dataclass(frozen=True)
class SyncCounts:
    company_id: str
    customers: int
    invoices: int
    last_change: datetime | None


@dataclass(frozen=True)
class Watermark:
    """How far a company's sync has read QuickBooks, as its workflow reports it — or why it could not.

    The watermarks are QuickBooks-local wall-clock times (QuickBooks has no time zone), shown exactly as the
    workflow holds them so they can be compared with TimeModified in QuickBooks itself.
    """

    customer: str | None = None
    invoice: str | None = None
    last_poll_at: datetime | None = None
    next_poll_at: datetime | None = None
    polling: bool = False
    due: bool = False
    problem: str = ""  # set instead of the fields above when the workflow could not be asked

    @classmethod
    def of(cls, status: SyncStatus) -> Watermark:
        summary = status.last_summary
        return cls(
            customer=status.customer_watermark,
            invoice=status.invoice_watermark,
            last_poll_at=_aware(datetime.fromisoformat(summary.started_at)) if summary else None,
            next_poll_at=_aware(status.next_poll_at) if status.next_poll_at else None,
            polling=status.polling,
            due=status.due,
        )


@dataclass(frozen=True)
class StatusData:
    companies: list[CompanyRow]
    sessions: list[QbwcSession]
    waiting: list[PaymentState]
    sync: dict[str, SyncCounts]
    now: datetime
    watermarks: dict[str, Watermark] = field(default_factory=dict)
    # Recent payout deposits of each company in clearing-account mode (no key: the mode is off there).
    payouts: dict[str, list[LedgerPosting]] = field(default_factory=dict)


@router.get("/", response_class=HTMLResponse)
@admin_page
async def status_page(request: Request) -> Response:
    gw = request.app.state.gw
    settings: Settings = gw.settings
    data, watermarks = await asyncio.gather(
        asyncio.to_thread(load_status, gw.engine, settings),
        read_watermarks(gw.client, [c.id for c in settings.companies]),
    )
    data = replace(data, watermarks=watermarks)
    return HTMLResponse(render_page(data, settings), headers={"Cache-Control": "no-store"})


def load_status(engine: Engine, settings: Settings) -> StatusData:
    with Session(engine) as db:
        sessions = list(
            db.exec(
                select(QbwcSession).order_by(col(QbwcSession.created_at).desc()).limit(RECENT_SESSIONS)
            ).all()
        )
        for row in sessions:
            db.expunge(row)
        customers = dict(
            db.exec(select(CustomerLink.company_id, func.count()).group_by(CustomerLink.company_id)).all()
        )
        invoices = dict(
            db.exec(select(InvoiceLink.company_id, func.count()).group_by(InvoiceLink.company_id)).all()
        )
        changed_c = dict(
            db.exec(
                select(CustomerLink.company_id, func.max(CustomerLink.updated_at)).group_by(
                    CustomerLink.company_id
                )
            ).all()
        )
        changed_i = dict(
            db.exec(
                select(InvoiceLink.company_id, func.max(InvoiceLink.updated_at)).group_by(
                    InvoiceLink.company_id
                )
            ).all()
        )
    sync: dict[str, SyncCounts] = {}
    for company in settings.companies:
        moments = [_aware(m) for m in (changed_c.get(company.id), changed_i.get(company.id)) if m is not None]
        sync[company.id] = SyncCounts(
            company.id,
            int(customers.get(company.id, 0)),
            int(invoices.get(company.id, 0)),
            max(moments) if moments else None,
        )
    waiting = payment_states(engine, states=("waiting", "failed"))[:MAX_WAITING]
    payouts = {
        c.id: ledger_store.payouts(engine, c.id, limit=RECENT_PAYOUTS) for c in settings.companies if c.ledger
    }
    return StatusData(
        company_rows(engine, settings), sessions, waiting, sync, datetime.now(UTC), payouts=payouts
    )


async def read_watermarks(client: Client, company_ids: list[str]) -> dict[str, Watermark]:
    """Every company's watermark, asked in parallel so one slow workflow costs the page one timeout, not N."""
    found = await asyncio.gather(*(read_watermark(client, c) for c in company_ids))
    return dict(zip(company_ids, found, strict=True))


async def read_watermark(client: Client, company_id: str) -> Watermark:
    """The sync workflow's ``status`` query, turned into what the page can say whatever happens.

    Temporal holds a query until a worker answers it, so the RPC deadline alone bounds the wait; the outer
    ``wait_for`` covers a client stuck before the RPC is even sent (connection being re-established) and the
    client retrying the query after the server's own "query timed out" (seen: the answer then comes at 4 s or
    never). When it fires, a one-second health check tells a silent worker from an unreachable Temporal.
    """
    handle = client.get_workflow_handle(workflow_id(company_id))
    seconds = WATERMARK_TIMEOUT.total_seconds()
    try:
        status = await asyncio.wait_for(
            handle.query(CustomerSyncWorkflow.status, rpc_timeout=WATERMARK_TIMEOUT), timeout=seconds + 1
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return Watermark(problem=NO_SYNC_YET)
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            # The client reports its own rpc_timeout as CANCELLED ("Timeout expired"), the server its
            # deadline as DEADLINE_EXCEEDED: either way Temporal took the query and no worker answered it.
            return Watermark(problem=WORKER_SILENT)
        return Watermark(problem=TEMPORAL_UNREACHABLE)
    except WorkflowQueryFailedError as exc:
        return Watermark(problem=f"the sync workflow could not answer: {exc}")
    except TimeoutError:
        return Watermark(problem=WORKER_SILENT if await _temporal_answers(client) else TEMPORAL_UNREACHABLE)
    except (OSError, RuntimeError):
        return Watermark(problem=TEMPORAL_UNREACHABLE)
    return Watermark.of(status)


async def _temporal_answers(client: Client) -> bool:
    """Whether Temporal's frontend answers a health check within a second."""
    try:
        return await asyncio.wait_for(
            client.service_client.check_health(timeout=HEALTH_TIMEOUT), HEALTH_TIMEOUT.total_seconds() + 0.5
        )
    except (RPCError, TimeoutError, OSError, RuntimeError):
        return False


# ---- rendering ---------------------------------------------------------------------------------------

_STYLE = """
body{font-family:"Liberation Sans",Arial,sans-serif;margin:24px;color:#1d2430;background:#f7f8fa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6574;margin-bottom:16px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid #e3e6ea;vertical-align:top;font-size:14px}
th{background:#eef1f5;font-weight:600}
.ok{color:#17723a;font-weight:600} .warn{color:#9a5b00;font-weight:600} .bad{color:#b3261e;font-weight:600}
.advice{color:#5b6574;font-size:13px} .empty{color:#5b6574;font-style:italic;padding:10px}
code{font-size:13px}
"""


def render_page(data: StatusData, settings: Settings) -> str:
    waiting = [p for p in data.waiting if p.state == "waiting"]
    failed = [p for p in data.waiting if p.state == "failed"]
    summary = (
        f"{len(data.companies)} company file(s) · {sum(c.queue.pending + c.queue.sent for c in data.companies)} "
        f"qbXML request(s) queued · {len(waiting)} payment(s) waiting for a person · {len(failed)} failed"
    )
    body = [
        "<h1>ml-connector status</h1>",
        f'<div class="sub">{_e(summary)} · as of {_e(_when(data.now))}</div>',
        "<h2>Company files</h2>",
        _companies_table(data),
        "<h2>Payments waiting for a person</h2>",
        _payments_table(data.waiting, settings),
        "<h2>Sync</h2>",
        _sync_table(data),
        "<h2>Recent Web Connector sessions</h2>",
        _sessions_table(data),
    ]
    if data.payouts:  # only in clearing-account mode, where payouts are posted
        body[6:6] = ["<h2>Payouts</h2>", _payouts_table(data)]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="30"><meta name="viewport" content="width=device-width">'
        f"<title>ml-connector status</title><style>{_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def _companies_table(data: StatusData) -> str:
    rows = []
    for c in data.companies:
        if c.last_contact_at is None:
            contact = '<span class="warn">never</span>'
        else:
            css = "warn" if c.overdue(data.now) else "ok"
            contact = f'<span class="{css}">{_e(_ago(data.now, c.last_contact_at))}</span>'
        status = _e(c.last_session_status or "—")
        advice = c.problem_advice
        if advice:
            status += f'<div class="advice">{_e(advice)}</div>'
        if c.unsettled is not None:
            status += (
                f'<div class="warn">{c.unsettled.count} request(s) ended without an answer today: '
                f"{_e(c.unsettled.last_kind)}: {_e(c.unsettled.last_message)}</div>"
            )
        oldest = _ago(data.now, c.queue.oldest_created_at) if c.queue.oldest_created_at else "—"
        quickbooks = " · ".join(
            x for x in (c.qb_product, f"qbXML {c.qbxml_version}" if c.qbxml_version else "") if x
        )
        rows.append(
            f"<tr><td><b>{_e(c.name)}</b>{_e_sub(c.id) if c.name != c.id else ''}</td><td>{contact}</td>"
            f"<td>{status}</td><td>{_e(quickbooks or '—')}</td>"
            f"<td>{c.queue.pending} pending · {c.queue.sent} sent</td><td>{_e(oldest)}</td></tr>"
        )
    head = (
        "<tr><th>Company file</th><th>Last Web Connector contact</th><th>Last session</th><th>QuickBooks</th>"
        "<th>Queue</th><th>Oldest request</th></tr>"
    )
    return _table("companies", head, rows, "No company file is configured.")


def _payments_table(items: list[PaymentState], settings: Settings) -> str:
    rows = []
    for item in items:
        e = item.entry
        css = "warn" if item.state == "waiting" else "bad"
        label = "waiting" if item.state == "waiting" else "failed"
        reason = e.error or e.detail or e.action
        advice = explain(reason)
        reason_html = _e(reason) + (f'<div class="advice">{_e(advice)}</div>' if advice else "")
        amount = f"{e.amount} {e.currency.upper()}".strip() or "—"
        rows.append(
            f"<tr><td><span class='{css}'>{label}</span></td><td>{_e(e.company_id)}</td>"
            f"<td><code>{_e(item.stripe_object_id)}</code></td><td>{_e(amount)}</td>"
            f"<td>{reason_html}</td><td>{_workflow_link(e.workflow_id, settings)}</td>"
            f"<td>{_e(_when(_aware(e.at)))}</td></tr>"
        )
    head = (
        "<tr><th>State</th><th>Company</th><th>Stripe payment</th><th>Amount</th><th>Reason</th>"
        "<th>Workflow</th><th>Since</th></tr>"
    )
    return _table("waiting-payments", head, rows, "Nothing is waiting: every payment is in QuickBooks.")


def _sync_table(data: StatusData) -> str:
    rows = []
    for company in data.companies:
        s = data.sync.get(company.id)
        if s is None:
            continue
        last = _ago(data.now, s.last_change) if s.last_change else "never"
        rows.append(
            f'<tr data-company="{_e(company.id)}"><td>{_e(company.name)}</td><td>{s.customers}</td>'
            f"<td>{s.invoices}</td><td>{_e(last)}</td>"
            f"{_watermark_cells(data.watermarks.get(company.id), data.now)}</tr>"
        )
    head = (
        "<tr><th>Company file</th><th>Linked customers</th><th>Linked invoices</th><th>Last linked change</th>"
        "<th>Customer watermark</th><th>Invoice watermark</th><th>Last poll</th><th>Next poll</th></tr>"
    )
    return _table("sync", head, rows, "No company file is configured.")


def _watermark_cells(mark: Watermark | None, now: datetime) -> str:
    if mark is None or mark.problem:
        problem = mark.problem if mark is not None else NO_SYNC_YET
        css = "empty" if problem == NO_SYNC_YET else "warn"
        return f'<td colspan="4" class="watermark"><span class="{css}">{_e(problem)}</span></td>'
    last = _ago(now, mark.last_poll_at) if mark.last_poll_at else "never"
    if mark.polling:
        upcoming = '<span class="ok">polling now</span>'
    elif mark.due or mark.next_poll_at is None:
        upcoming = '<span class="warn">due: waits for the Web Connector</span>'
    else:
        upcoming = _e(f"{_in(now, mark.next_poll_at)} ({_when(mark.next_poll_at)})")
    return (
        f'<td class="watermark"><code>{_e(mark.customer or "none yet")}</code></td>'
        f'<td class="watermark"><code>{_e(mark.invoice or "none yet")}</code></td>'
        f"<td>{_e(last)}</td><td>{upcoming}</td>"
    )


def _payouts_table(data: StatusData) -> str:
    """Each payout deposit posted to the bank, with the link to the report that proves it."""
    rows = []
    for company_id, postings in data.payouts.items():
        for p in postings:
            rows.append(
                f'<tr data-payout="{_e(p.source_id)}"><td>{_e(company_id)}</td>'
                f"<td>{_e(p.txn_date.isoformat() if p.txn_date else '—')}</td><td><code>{_e(p.source_id)}</code></td>"
                f"<td>{_e(_deposit_amount(p.qb_amount))}</td><td><code>{_e(p.qb_txn_id or '—')}</code></td>"
                f'<td><a href="{_e(reconcile_url(company_id, p.source_id))}">reconcile</a></td></tr>'
            )
    head = (
        "<tr><th>Company</th><th>Arrival</th><th>Stripe payout</th><th>Amount</th><th>QuickBooks deposit TxnID</th>"
        "<th>Reconciliation</th></tr>"
    )
    return _table("payouts", head, rows, "No payout has been posted to QuickBooks yet.")


def reconcile_url(company_id: str, payout_id: str) -> str:
    """The link to one payout's reconciliation report (served by gateway/reconcile.py)."""
    return "/reconcile?" + urlencode({"company": company_id, "payout": payout_id})


def _deposit_amount(clearing_effect: str) -> str:
    """The deposit's amount: the payout takes money *out of* clearing, so its recorded effect is negative."""
    try:
        return f"{-Decimal(clearing_effect):.2f}"
    except InvalidOperation:
        return "—"


def _sessions_table(data: StatusData) -> str:
    rows = []
    for s in data.sessions:
        state = "open" if s.closed_at is None else "closed"
        error = s.last_error or "—"
        advice = explain(error)
        error_html = _e(error) + (f'<div class="advice">{_e(advice)}</div>' if advice else "")
        rows.append(
            f"<tr><td>{_e(s.company_id)}</td><td>{_e(_when(_aware(s.created_at)))}</td><td>{state}</td>"
            f"<td>{s.round_trips}</td><td>{s.requests_sent}</td><td>{s.responses_received}</td>"
            f"<td>{error_html}</td></tr>"
        )
    head = (
        "<tr><th>Company</th><th>Started</th><th>State</th><th>Round trips</th><th>Requests sent</th>"
        "<th>Answers</th><th>Last message</th></tr>"
    )
    return _table("sessions", head, rows, "The Web Connector has not come yet.")


def _table(table_id: str, head: str, rows: list[str], empty: str) -> str:
    if not rows:
        return f'<div id="{table_id}" class="empty">{_e(empty)}</div>'
    return f'<table id="{table_id}"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def workflow_url(settings: Settings, workflow_id: str) -> str:
    """The workflow's page in the Temporal Web UI ('' when no Web UI is configured)."""
    if not settings.temporal_ui_url or not workflow_id:
        return ""
    return (
        f"{settings.temporal_ui_url}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )


def _workflow_link(workflow_id: str, settings: Settings) -> str:
    if not workflow_id:
        return "—"
    url = workflow_url(settings, workflow_id)
    if not url:
        return f"<code>{_e(workflow_id)}</code>"
    return f'<a href="{_e(url)}"><code>{_e(workflow_id)}</code></a>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _e_sub(value: object) -> str:
    return f'<div class="advice">{_e(value)}</div>'


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(now: datetime, then: datetime) -> str:
    return f"{elapsed(max(0, int((now - _aware(then)).total_seconds())))} ago"


def _in(now: datetime, then: datetime) -> str:
    seconds = max(0, int((_aware(then) - now).total_seconds()))
    if seconds < 90:
        return f"in {seconds} s"
    if seconds < 90 * 60:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h {seconds % 3600 // 60} min"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
