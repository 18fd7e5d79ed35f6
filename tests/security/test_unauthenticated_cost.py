"""Issue 13, rows 1, 2 and 4: what an unauthenticated request can cost the live gateway.

- 16 MiB of ``<a/>`` used to become a 546 MiB lxml tree before authentication: now refused after 64 elements.
- A 9 MiB user name used to be stored as sent: now refused before any hashing or database work, and failed
  logins store a fixed-size hash.
- scrypt for every login ran on the thread pool webhooks also used: now SOAP and webhooks have their own pools.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import Session, col, select

from ml_connector.qbwc_server import service as service_module
from ml_connector.qbwc_server.requests import QbRunInput
from ml_connector.qbxml.customers import CustomerFields, customer_add
from ml_connector.simulator.soap_client import QbwcSoapClient, build_receive_response_xml
from ml_connector.storage.models import AuthFailure, StripeEvent
from tests.harness import PASSWORD, USERNAME, live_system
from tests.security.support import (
    SOAP_HEADERS,
    WEBHOOK_SECRET,
    authenticate_body,
    element_bomb,
    login,
    payment_event,
    peak_rss_mib,
    signed_webhook,
)

MIB = 1024 * 1024


async def _eventually_stored(engine, event_id: str) -> bool:  # type: ignore[no-untyped-def]
    """On SQLite the event reaches stripe_event from the gateway's inbox just after the ack."""
    for _ in range(100):
        with Session(engine) as db:
            if db.get(StripeEvent, event_id) is not None:
                return True
        await asyncio.sleep(0.05)
    return False


def _size(path: Path) -> int:
    """The database's size with its WAL (0 on PostgreSQL, where there is no file)."""
    wal = path.with_name(path.name + "-wal")
    return sum(p.stat().st_size for p in (path, wal) if p.exists())


def _post_bomb(url: str, body: bytes) -> str:
    """Post a hostile body; the gateway may answer before it has read it all (then it closes the connection)."""
    try:
        response = httpx.post(url, content=body, headers=SOAP_HEADERS, timeout=60)
    except httpx.TransportError:
        return "closed early"
    return f"{response.status_code} {response.text[:300]}"


async def test_element_bombs_are_refused_after_64_elements_without_building_a_tree(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'bomb.db'}", temporal_client) as system:
        bombs = [element_bomb("receiveResponseXML", 16 * MIB), element_bomb("authenticate", 16 * MIB)]
        before = peak_rss_mib()
        answers = await asyncio.gather(
            *(asyncio.to_thread(_post_bomb, system.url, bomb) for bomb in bombs for _ in range(2))
        )
        grown = peak_rss_mib() - before
        owner = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)

    for answer in answers:
        assert answer == "closed early" or answer.startswith(("500", "413")), answer
        if answer.startswith("500"):
            assert "more than 64 XML elements" in answer
    # Four 16 MiB bombs at once, the receiveResponseXML ones under the large cap: the old gateway built a
    # tree of four million nodes per bomb (546 MiB each).
    assert grown < 120, f"peak RSS grew by {grown:.0f} MiB"
    assert owner == "none", "the owner's Web Connector still logs in"


async def test_every_soap_call_but_receive_response_xml_has_the_small_body_cap(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'cap.db'}", temporal_client) as system:
        big_login = authenticate_body(USERNAME, "x" * MIB)
        async with httpx.AsyncClient(timeout=60) as http:
            refused = await http.post(system.url, content=big_login, headers=SOAP_HEADERS)
        with Session(system.engine) as db:
            failures = db.exec(select(func.count()).select_from(AuthFailure)).one()
    assert refused.status_code == 413
    assert str(system.settings.limits.soap_max_body_bytes) in refused.text
    assert failures == 0, "refused before any password check or database write"


async def test_oversized_user_names_are_refused_before_any_work_and_failures_store_a_hash(
    temporal_client, database_url, monkeypatch
):
    checks: list[int] = []
    real_verify = service_module.verify_password

    def counting_verify(password: str, stored: str) -> bool:
        checks.append(1)
        return real_verify(password, stored)

    monkeypatch.setattr(service_module, "verify_password", counting_verify)
    async with live_system(database_url, temporal_client) as system:
        db_file = Path(system.settings.database_url.removeprefix("sqlite:///"))
        size_before = _size(db_file)
        huge_name = "n" * (200 * 1024)  # under the SOAP body cap, far over any user name
        for _ in range(3):
            assert await asyncio.to_thread(login, system.url, huge_name, "whatever1") == "nvu"
        assert checks == [], "no scrypt run for an oversized user name"
        assert await asyncio.to_thread(login, system.url, "someone-else", "wrong password") == "nvu"
        with Session(system.engine) as db:
            rows = db.exec(select(AuthFailure)).all()
            longest = db.exec(select(func.max(func.length(col(AuthFailure.username))))).one()
        size_after = _size(db_file)

    assert len(rows) == 1, "only the checked failure is recorded"
    assert longest == 64, "a fixed-size hash, never the name as sent"
    assert "someone-else" not in {r.username for r in rows}
    assert size_after - size_before < 256 * 1024


async def test_a_flood_of_slow_logins_does_not_hold_up_a_webhook(temporal_client, tmp_path, monkeypatch):
    """Every SOAP thread is stuck in a password check; a signed webhook is still stored and acknowledged."""
    release = threading.Event()
    real_verify = service_module.verify_password

    def stuck_verify(password: str, stored: str) -> bool:
        release.wait(60)
        return real_verify(password, stored)

    monkeypatch.setattr(service_module, "verify_password", stuck_verify)
    async with live_system(
        f"sqlite:///{tmp_path / 'pools.db'}",
        temporal_client,
        MLC_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        flood = [
            asyncio.to_thread(login, system.url, f"guess-{i}", "wrong password")
            for i in range(2 * (os.cpu_count() or 2) + 40)
        ]
        flood_task = asyncio.gather(*flood, return_exceptions=True)
        await asyncio.sleep(1)  # let the flood occupy every SOAP thread
        body, headers = signed_webhook(payment_event("evt_during_flood"))
        try:
            async with httpx.AsyncClient(timeout=20) as http:
                ack = await http.post(f"{base}/stripe/webhook", content=body, headers=headers)
        finally:
            release.set()
            await flood_task
        stored = await _eventually_stored(system.engine, "evt_during_flood")
    assert ack.status_code == 200
    assert stored


async def test_only_a_live_session_may_send_a_large_receive_response_xml(temporal_client, tmp_path):
    """receiveResponseXML keeps the large cap for QuickBooks' answers, but only behind a live ticket."""
    async with live_system(f"sqlite:///{tmp_path / 'large.db'}", temporal_client) as system:
        system.queue.enqueue(
            QbRunInput("acme", customer_add(CustomerFields(name="Large Answer Ltd"))),
            idem_key="k",
            task_token=None,
        )

        def stranger() -> bytes:
            """Send the first 300 KiB of a 4 MiB answer under a made-up ticket, then wait for the gateway."""
            body = build_receive_response_xml("made-up-ticket", "x" * (4 * MIB), "", "").body
            head = (
                f"POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            with socket.create_connection(("127.0.0.1", system.settings.port), timeout=10) as sock:
                sock.sendall(head + body[: 300 * 1024])
                answer = b""
                try:
                    while b"</soap:Envelope>" not in answer and (chunk := sock.recv(65536)):
                        answer += chunk
                except TimeoutError:
                    return answer or b"still reading"
                return answer

        def owner() -> int:
            with httpx.Client(timeout=60) as http:
                soap = QbwcSoapClient(system.url, http)
                ticket, status = soap.authenticate(USERNAME, PASSWORD)[:2]
                assert status == ""
                document = soap.send_request_xml(ticket, "", "C:\\acme.QBW", "US", 13, 0)
                answer = system.processor.process(document) + " " * (2 * MIB)  # a large answer
                return soap.receive_response_xml(ticket, answer, "", "")

        refused = await asyncio.to_thread(stranger)
        accepted = await asyncio.to_thread(owner)
    assert refused.startswith(b"HTTP/1.1 200"), "answered without reading the rest of the body"
    assert b"<receiveResponseXMLResult>-1</receiveResponseXMLResult>" in refused
    assert accepted >= 0
    assert [c.name for c in system.company.customers.values()] == ["Large Answer Ltd"]
