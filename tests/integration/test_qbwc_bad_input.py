"""What the live gateway does with bad input: the right protocol answer or a clear 4xx, quickly, losing nothing."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import httpx
import pytest
from sqlmodel import Session, select

from ml_connector.simulator.soap_client import QbwcSoapClient
from ml_connector.storage.models import QbRequest
from tests.harness import PASSWORD, USERNAME, live_system
from tests.qb_workflows import AddCustomersInput, AddCustomersWorkflow

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


def _envelope(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f"{inner}</soap:Body></soap:Envelope>"
    ).encode()


async def _queue_one_request(system) -> None:
    """A workflow waits on one QuickBooks request; it must survive everything these tests throw at the gateway."""
    await system.client.start_workflow(
        AddCustomersWorkflow.run,
        AddCustomersInput("acme", ["Survivor"]),
        id=f"survivor-{uuid.uuid4().hex[:6]}",
        task_queue=system.task_queue,
    )
    for _ in range(200):
        with Session(system.engine) as db:
            if db.exec(select(QbRequest)).first() is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("request was not queued")


async def _assert_nothing_lost(system) -> None:
    reports = await system.run_sessions(system.web_connector())
    assert reports[-1].auth_status == "none"
    assert [c.name for c in system.company.customers.values()] == ["Survivor"]


async def test_wrong_passwords_answer_nvu_and_repeated_failures_lock_the_user_out(
    temporal_client, database_url, caplog
):
    caplog.set_level(logging.DEBUG)
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:

        def web_connector_user() -> None:
            with httpx.Client() as http:
                soap = QbwcSoapClient(system.url, http)
                for _ in range(5):
                    assert soap.authenticate(USERNAME, "wrong password")[1] == "nvu"
                assert soap.authenticate("nobody", "whatever")[1] == "nvu"
                locked = soap.authenticate(USERNAME, PASSWORD)
                assert locked[1] == "nvu", "the right password is refused while the user is locked out"

        await asyncio.to_thread(web_connector_user)
    assert PASSWORD not in caplog.text
    assert "wrong password" not in caplog.text


async def test_the_right_password_with_nothing_to_do_answers_none(temporal_client, database_url):
    async with live_system(database_url, temporal_client) as system:

        def authenticate() -> str:
            with httpx.Client() as http:
                return QbwcSoapClient(system.url, http).authenticate(USERNAME, PASSWORD)[1]

        assert await asyncio.to_thread(authenticate) == "none"


async def test_an_unknown_or_expired_ticket_gets_a_stop_and_a_useful_last_error(
    temporal_client, database_url
):
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:
        await _queue_one_request(system)

        def stray_calls() -> None:
            with httpx.Client() as http:
                soap = QbwcSoapClient(system.url, http)
                assert soap.send_request_xml("no-such-ticket", "", "C:\\x.QBW", "US", 13, 0) == ""
                assert "unknown or expired ticket" in soap.get_last_error("no-such-ticket")
                assert soap.receive_response_xml("no-such-ticket", "<QBXML/>", "", "") < 0

        await asyncio.to_thread(stray_calls)
        await _assert_nothing_lost(system)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not xml",
        _envelope("<unknownOperation xmlns='http://developer.intuit.com/'/>"),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + _envelope("<getLastError xmlns='http://developer.intuit.com/'><ticket>&x;</ticket></getLastError>"),
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]>"
        + _envelope(
            "<getLastError xmlns='http://developer.intuit.com/'><ticket>&lol9;</ticket></getLastError>"
        ),
    ],
    ids=["not xml", "unknown operation", "external entity", "billion laughs"],
)
async def test_malformed_or_hostile_soap_gets_a_soap_fault_quickly_and_loses_nothing(
    temporal_client, database_url, body
):
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:
        await _queue_one_request(system)
        async with httpx.AsyncClient() as http:
            started = time.monotonic()
            response = await http.post(system.url, content=body, headers=SOAP_HEADERS)
            elapsed = time.monotonic() - started
        assert response.status_code == 500
        assert b"Fault" in response.content and b"faultstring" in response.content
        assert b"root:" not in response.content, "no file content leaks into the answer"
        print(f"refused in {elapsed * 1000:.1f} ms")
        await _assert_nothing_lost(system)


async def test_a_60_mb_body_is_refused_with_413_before_it_is_read(temporal_client, database_url):
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:
        await _queue_one_request(system)
        async with httpx.AsyncClient(timeout=60) as http:
            big = b"<" + b"x" * (60 * 1024 * 1024)
            response = await http.post(system.url, content=big, headers=SOAP_HEADERS)
        assert response.status_code == 413
        assert "limit" in response.text
        await _assert_nothing_lost(system)


async def test_the_wsdl_names_the_public_url_and_health_reports_every_dependency(
    temporal_client, database_url
):
    async with live_system(
        database_url, temporal_client, MLC_PUBLIC_URL="https://sync.example.com"
    ) as system:
        async with httpx.AsyncClient() as http:
            wsdl = await http.get(system.url + "?wsdl")
            health = await http.get(system.url.replace("/qbwc", "/healthz"))
    assert wsdl.status_code == 200
    assert b'location="https://sync.example.com/qbwc"' in wsdl.content
    assert health.status_code == 200
    assert health.json() == {"gateway": "ok", "database": "ok", "temporal": "ok"}


async def test_quickbooks_closed_keeps_requests_queued_and_tells_the_waiting_workflow_why(
    temporal_client, database_url
):
    async with live_system(database_url, temporal_client, workflows=[AddCustomersWorkflow]) as system:
        handle = await system.client.start_workflow(
            AddCustomersWorkflow.run,
            AddCustomersInput("acme", ["Patient"]),
            id=f"patient-{uuid.uuid4().hex[:6]}",
            task_queue=system.task_queue,
        )
        for _ in range(100):
            with Session(system.engine) as db:
                if db.exec(select(QbRequest)).first() is not None:
                    break
            await asyncio.sleep(0.05)
        wc = system.web_connector()
        wc.faults.quickbooks_closed = True
        closed = await asyncio.to_thread(wc.run_session)
        assert closed.outcome == "connection_failed"

        # the pending activity now shows the reason as its last failure, and keeps waiting
        reason = ""
        for _ in range(100):
            desc = await handle.describe()
            pending = desc.raw_description.pending_activities
            if pending and pending[0].last_failure.message:
                reason = pending[0].last_failure.message
                break
            await asyncio.sleep(0.1)
        assert "QuickBooks is not running" in reason

        wc.faults.quickbooks_closed = False
        await asyncio.sleep(1.5)  # the activity's retry re-registers with its queued request
        await system.run_sessions(wc)
        assert await asyncio.wait_for(handle.result(), timeout=30)
    assert [c.name for c in system.company.customers.values()] == ["Patient"]
