"""The status page in a real headless browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import asyncio
import shutil
import struct
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from ml_connector.storage.models import AuditEntry, Company, QbRequest
from tests.harness import live_system

# Debian's chromium, installed by scripts/services; a missing browser fails the test rather than skipping it.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered RGB(A) rows of an 8-bit PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
                line[i] = (line[i] + predictor) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def seed_operator_story(engine) -> None:
    """What the payment workflow and the Web Connector leave behind: a held payment, a queue, a contact."""
    now = datetime.now(UTC)
    with Session(engine) as db:
        company = db.get(Company, "acme")
        assert company is not None
        company.last_contact_at = now - timedelta(minutes=3)
        company.last_session_status = (
            "QuickBooks could not be opened (0x80040408): Could not start QuickBooks."
        )
        company.qb_product = "QuickBooks Pro 2024"
        company.qbxml_version = "16.0"
        db.add(company)
        db.add(
            AuditEntry(
                company_id="acme",
                action="payment.held",
                outcome="held",
                stripe_event_id="evt_1Held",
                stripe_object_id="pi_3WaitingForAPerson",
                stripe_customer_id="cus_Held",
                amount=str(Decimal("1250.40")),
                currency="usd",
                workflow_id="payment/acme/pi_3WaitingForAPerson",
                error="No open invoice of O'Brien & Sons matches 1,250.40 USD",
            )
        )
        db.add(
            QbRequest(
                company_id="acme",
                idem_key="status-page-test",
                name="CustomerQueryRq",
                body="<CustomerQueryRq/>",
                created_at=now - timedelta(minutes=42),
            )
        )
        db.commit()


async def test_the_status_page_renders_and_lists_a_payment_waiting_for_a_person(temporal_client, tmp_path):
    from playwright.async_api import async_playwright

    async with live_system(
        f"sqlite:///{tmp_path / 'status.db'}", temporal_client, MLC_TEMPORAL_UI_URL="http://127.0.0.1:8233"
    ) as system:
        await asyncio.to_thread(seed_operator_story, system.engine)
        url = f"http://127.0.0.1:{system.settings.port}/"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            )
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            response = await page.goto(url)
            assert response is not None and response.status == 200
            title = await page.title()
            waiting = await page.inner_text("#waiting-payments")
            companies = await page.inner_text("#companies")
            link = await page.get_attribute("#waiting-payments a", "href")
            png = await page.screenshot(full_page=True, type="png", path=str(tmp_path / "status.png"))
            await browser.close()

    assert title == "ml-connector status"
    assert "pi_3WaitingForAPerson" in waiting
    assert "1250.40 USD" in waiting
    assert "O'Brien & Sons" in waiting
    assert link == "http://127.0.0.1:8233/namespaces/default/workflows/payment%2Facme%2Fpi_3WaitingForAPerson"
    assert "QuickBooks Pro 2024" in companies
    assert "1 pending" in companies
    assert "QuickBooks is not running" in companies, "the Web Connector's error is explained in plain words"

    width, height, rows = png_pixels(png)
    assert width == 1280 and 400 <= height <= 10000
    sampled = Counter(row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 12))
    background, _ = sampled.most_common(1)[0]
    assert len(sampled) > 20, "the screenshot is not a blank page"
    inked = sum(count for pixel, count in sampled.items() if pixel != background)
    assert inked > 500, "text and tables are drawn"
