"""`/reconcile` in the browser and the status page's payouts: the bookkeeper clicks from a payout to its proof.

A live gateway (real HTTP, real Temporal dev server) in clearing-account mode reads the fake Stripe over
HTTP and a database holding what the payment and ledger workflows recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from html import unescape

import httpx
import pytest

from ml_connector.fakestripe import FakeStripeServer
from tests.harness import live_system
from tests.reconcile_support import API_KEY, BANK, CLEARING, StripeMonth, csv_rows, record_books, spoil

PROXIED = {"X-Forwarded-For": "203.0.113.7"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeStripeServer]:
    with FakeStripeServer() as running:
        yield running


def _links(page: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="(/reconcile\?[^"]+)"', page)]


async def test_the_status_page_lists_each_posted_payout_and_links_to_its_reconciliation(
    database_url, temporal_client, server
):
    company = f"acme-{uuid.uuid4().hex[:8]}"
    month = await asyncio.to_thread(StripeMonth.make, server)
    expected = await asyncio.to_thread(month.expected)
    wrong = f"fee:{next(p.balance_txn_id for p in expected if p.kind == 'fee')}"
    missing = f"payment:{month.charges[2].id}"
    async with live_system(
        database_url,
        temporal_client,
        MLC_COMPANY_ID=company,
        MLC_STRIPE_API_KEY=API_KEY,
        MLC_STRIPE_API_BASE=server.url,
        MLC_CLEARING_ACCOUNT=CLEARING,
        MLC_BANK_ACCOUNT=BANK,
        MLC_STATUS_PASSWORD="ledger pass 7",
    ) as system:
        postings = spoil(expected, wrong=wrong, missing=missing, by=Decimal("0.05"))
        await asyncio.to_thread(record_books, system.engine, company, month, postings)
        deposit = next(p for p in expected if p.kind == "payout")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=30) as http:
            status = await http.get("/")
            [link] = _links(status.text)
            page = await http.get(link)
            as_json = await http.get(link + "&format=json")
            as_csv = await http.get(link + "&format=csv")
            remote = await http.get(link, headers=PROXIED)
            remote_with_password = await http.get(link, headers=PROXIED, auth=("bookkeeper", "ledger pass 7"))

    assert status.status_code == 200
    assert "<h2>Payouts</h2>" in status.text
    payout_row = re.search(rf'<tr data-payout="{month.payout_id}">(.*?)</tr>', status.text)
    assert payout_row is not None
    assert deposit.qb_txn_id in payout_row.group(1)
    assert f"{-deposit.amount:.2f}" in payout_row.group(1)
    assert link == f"/reconcile?company={company}&payout={month.payout_id}"

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "2 difference(s): not balanced" in page.text
    for posting in expected:
        assert posting.balance_txn_id in page.text
        if posting.key != missing:
            assert posting.qb_txn_id in page.text
    assert page.text.count('data-status="matched"') == 6
    assert page.text.count('data-status="different"') == 1
    assert page.text.count('data-status="missing"') == 1

    report = json.loads(as_json.text)
    assert as_json.headers["content-type"].startswith("application/json")
    assert report["totals"]["balanced"] is False
    assert {r["status"] for r in report["rows"]} == {"matched", "different", "missing"}
    assert (
        as_csv.headers["content-disposition"]
        == f'attachment; filename="reconciliation-{month.payout_id}.csv"'
    )
    assert len(csv_rows(as_csv.text)) == 8

    assert remote.status_code == 401
    assert remote_with_password.status_code == 200


async def test_the_reconcile_page_explains_what_it_cannot_show(database_url, temporal_client, server):
    company = f"acme-{uuid.uuid4().hex[:8]}"
    month = await asyncio.to_thread(StripeMonth.make, server)
    async with live_system(
        database_url,
        temporal_client,
        MLC_COMPANY_ID=company,
        MLC_STRIPE_API_KEY=API_KEY,
        MLC_STRIPE_API_BASE=server.url,
        MLC_CLEARING_ACCOUNT=CLEARING,
        MLC_BANK_ACCOUNT=BANK,
    ) as system:
        await asyncio.to_thread(record_books, system.engine, company, month, month.expected())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=30) as http:
            balanced = await http.get("/reconcile", params={"payout": month.payout_id})
            nothing = await http.get("/reconcile")
            backwards = await http.get("/reconcile", params={"from": "2026-03-31", "to": "2026-03-01"})
            unknown = await http.get("/reconcile", params={"payout": "po_doesnotexist"})
            bad_format = await http.get("/reconcile", params={"payout": month.payout_id, "format": "xlsx"})
            remote = await http.get("/reconcile", params={"payout": month.payout_id}, headers=PROXIED)

    assert balanced.status_code == 200
    assert "Balanced: every difference is 0.00" in balanced.text
    assert (nothing.status_code, backwards.status_code, unknown.status_code, bad_format.status_code) == (
        400,
        400,
        404,
        400,
    )
    assert "say what to reconcile" in nothing.text
    assert "to 2026-03-01 is before from 2026-03-31" in backwards.text
    assert "Stripe has no payout po_doesnotexist" in unknown.text
    assert "format must be one of html, csv, json" in bad_format.text
    assert remote.status_code == 403  # no MLC_STATUS_PASSWORD: this machine only


async def test_without_clearing_mode_there_is_no_payouts_section_and_the_report_says_why(
    tmp_path, temporal_client, server
):
    company = f"acme-{uuid.uuid4().hex[:8]}"
    async with live_system(
        f"sqlite:///{tmp_path / 'off.db'}",
        temporal_client,
        MLC_COMPANY_ID=company,
        MLC_STRIPE_API_KEY=API_KEY,
        MLC_STRIPE_API_BASE=server.url,
    ) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=30) as http:
            status = await http.get("/")
            report = await http.get("/reconcile", params={"payout": "po_123"})
    assert status.status_code == 200
    assert "<h2>Payouts</h2>" not in status.text
    assert report.status_code == 400
    assert "clearing-account mode is off" in report.text
