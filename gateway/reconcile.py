"""`GET /reconcile`: the reconciliation report in the browser (HTML), or as CSV or JSON to download.

``/reconcile?payout=po_…`` or ``?from=YYYY-MM-DD&to=YYYY-MM-DD``, with ``company=`` when needed and
``format=html|csv|json``. The status page links here for each payout it lists. Same protection as the
status page (this machine, or HTTP Basic with ``MLC_STATUS_PASSWORD``): the report shows customers'
money. The Stripe reads are synchronous and may take a while for a busy month, so the whole report is
built in a worker thread; one Stripe reader (one rate limiter) serves every request of this gateway.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import stripe
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from gateway.access import admin_page
from gateway.status import _STYLE, _e
from ml_connector.config import Settings
from ml_connector.ledger import render
from ml_connector.ledger.io.report import (
    ReconcileError,
    build_report,
    check_request,
    clearing_company,
    stripe_reader,
)
from ml_connector.ledger.io.stripe_reader import StripeLedgerReader
from ml_connector.ledger.reconcile import EXPECTED_UNPOSTED, ReconReport, ReconRow

router = APIRouter()
FORMATS = ("html", "csv", "json")
_reader_lock = threading.Lock()


@router.get("/reconcile")
@admin_page
async def reconcile_page(request: Request) -> Response:
    gw = request.app.state.gw
    settings: Settings = gw.settings
    query = request.query_params
    fmt = (query.get("format") or "html").lower()
    if fmt not in FORMATS:
        return _problem(f"format must be one of {', '.join(FORMATS)}", 400)
    try:
        start, end = _day(query.get("from"), "from"), _day(query.get("to"), "to")
        payout_id = query.get("payout") or None
        check_request(payout_id, start, end)
        company = clearing_company(settings, query.get("company") or None)
    except ReconcileError as exc:
        return _problem(str(exc), 400)
    if not settings.stripe.configured:
        return _problem("Stripe is not configured (MLC_STRIPE_API_KEY): the report reads Stripe", 503)
    reader = _reader(request, settings)
    try:
        report = await asyncio.to_thread(
            build_report, settings, gw.engine, reader, company.id, payout_id=payout_id, start=start, end=end
        )
    except ReconcileError as exc:
        return _problem(str(exc), 404 if exc.not_found else 400)
    except stripe.StripeError as exc:
        return _problem(f"Stripe: {exc.user_message or type(exc).__name__}", 502)
    headers = {"Cache-Control": "no-store"}
    if fmt == "csv":
        name = f"reconciliation-{payout_id or f'{start}-to-{end}'}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(render.to_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "json":
        return Response(render.to_json(report), media_type="application/json", headers=headers)
    return HTMLResponse(render_html(report, request.url.query), headers=headers)


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ReconcileError(f"{name}={raw!r} is not a date like 2026-01-31") from None


def _reader(request: Request, settings: Settings) -> StripeLedgerReader:
    with _reader_lock:
        reader: StripeLedgerReader | None = getattr(request.app.state, "ledger_reader", None)
        if reader is None:
            reader = stripe_reader(settings)
            request.app.state.ledger_reader = reader
        return reader


def _problem(message: str, status: int) -> Response:
    return PlainTextResponse(f"{message}\n", status_code=status)


# ---- rendering ---------------------------------------------------------------------------------------


def render_html(report: ReconReport, query: str) -> str:
    problems = [r for r in report.rows if r.difference != 0]
    if problems:
        verdict = f'<p class="bad" id="verdict">{len(problems)} difference(s): not balanced</p>'
    else:
        verdict = '<p class="ok" id="verdict">Balanced: every difference is 0.00</p>'
    rows = "".join(_row(r) for r in report.rows)
    unposted = ""
    if report.unposted_total:
        unposted = (
            f"<div class='advice'>Not in QuickBooks by design (payouts in transit or failed): "
            f"{_amount(report.unposted_total)}</div>"
        )
    downloads = " · ".join(
        f'<a href="/reconcile?{_e(_with_format(query, fmt))}">{fmt.upper()}</a>' for fmt in ("csv", "json")
    )
    table = (
        "<table id='reconciliation'><thead><tr><th>Date</th><th>Stripe balance transaction</th><th>Type</th>"
        "<th>Source</th><th class='num'>Stripe</th><th>QuickBooks TxnID</th><th>QuickBooks type</th>"
        "<th class='num'>QuickBooks</th><th class='num'>Difference</th><th>Status</th></tr></thead>"
        f"<tbody>{rows}</tbody><tfoot><tr><th colspan='4'>Totals</th>"
        f"<th class='num'>{_amount(report.stripe_total)}</th><th colspan='2'></th>"
        f"<th class='num'>{_amount(report.qb_total)}</th><th class='num'>{_amount(report.difference_total)}</th>"
        "<th></th></tr></tfoot></table>"
        if report.rows
        else '<div class="empty">No Stripe balance transaction in this selection.</div>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width"><title>ml-connector reconciliation</title>'
        f"<style>{_STYLE}.num{{text-align:right;font-variant-numeric:tabular-nums}}</style></head><body>"
        f'<h1>Reconciliation</h1><div class="sub">{_e(report.title)}</div>{verdict}{unposted}{table}'
        f'<p class="advice">Download: {downloads} · <a href="/">status page</a></p></body></html>'
    )


def _row(row: ReconRow) -> str:
    if row.status == "matched":
        css = "ok"
    elif row.status in EXPECTED_UNPOSTED:
        css = "advice"
    else:
        css = "bad"
    ids = " ".join(row.balance_txn_ids)
    note = f'<div class="advice">{_e(row.note)}</div>' if row.note else ""
    return (
        f'<tr data-status="{_e(row.status)}"><td>{_e(row.txn_date or "")}</td><td><code>{_e(ids)}</code></td>'
        f"<td>{_e(row.stripe_type)}</td><td><code>{_e(row.source_id)}</code></td>"
        f"<td class='num'>{_amount(row.stripe_amount)}</td><td><code>{_e(row.qb_txn_id or '—')}</code></td>"
        f"<td>{_e(row.qb_type or '')}</td><td class='num'>{_amount(row.qb_amount)}</td>"
        f"<td class='num'>{_amount(row.difference)}</td><td><span class='{css}'>{_e(row.status)}</span>{note}</td>"
        "</tr>"
    )


def _amount(value: Decimal | None) -> str:
    return "" if value is None else _e(f"{value:.2f}")


def _with_format(query: str, fmt: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=False) if k != "format"]
    return urlencode([*pairs, ("format", fmt)])
