"""The QBWC service without HTTP: ticket expiry, internal errors answered in protocol terms, .qwc identity."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from ml_connector.companies import sync_companies
from ml_connector.config import load_settings
from ml_connector.qbwc.soap import Authenticate, GetLastError, ReceiveResponseXML, SendRequestXML
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.requests import QbRunInput
from ml_connector.qbwc_server.service import QbwcService, SessionEvents
from ml_connector.qbxml.customers import CustomerFields, customer_add
from ml_connector.storage.engine import make_engine, migrate


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _service(database_url: str, clock: Clock) -> tuple[QbwcService, RequestQueue]:
    settings = load_settings(
        {
            "MLC_DATABASE_URL": database_url,
            "MLC_QBWC_USERNAME": "acme",
            "MLC_QBWC_PASSWORD": "password-123",
            "MLC_COMPANY_ID": "acme",
        }
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    sync_companies(engine, settings)
    queue = RequestQueue(engine)
    queue.enqueue(QbRunInput("acme", customer_add(CustomerFields(name="X"))), idem_key="k", task_token=None)
    return QbwcService(engine, queue, ticket_idle_seconds=600, clock=clock), queue


def _send(ticket: str) -> SendRequestXML:
    return SendRequestXML(ticket, "", "C:\\c.QBW", "US", "13", "0")


def test_a_ticket_expires_after_the_idle_time_and_is_refused_afterwards(database_url):
    clock = Clock()
    service, _ = _service(database_url, clock)
    ticket, status = service.authenticate(Authenticate("acme", "password-123"), events=SessionEvents())[:2]
    assert status == ""
    clock.now += timedelta(minutes=11)
    assert service.send_request_xml(_send(ticket)) == ""
    assert "unknown or expired ticket" in service.get_last_error(GetLastError(ticket))


def test_tickets_are_long_random_and_never_repeat(database_url):
    clock = Clock()
    service, _ = _service(database_url, clock)
    tickets = {
        service.authenticate(Authenticate("acme", "password-123"), events=SessionEvents())[0]
        for _ in range(5)
    }
    assert len(tickets) == 5 and all(len(t) >= 40 for t in tickets)


def test_an_internal_error_still_answers_valid_soap_and_explains_itself_in_get_last_error(database_url):
    clock = Clock()
    service, queue = _service(database_url, clock)
    ticket = service.authenticate(Authenticate("acme", "password-123"), events=SessionEvents())[0]

    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    queue.next_document = broken  # type: ignore[method-assign]
    body = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<sendRequestXML xmlns="http://developer.intuit.com/">'
        f"<ticket>{ticket}</ticket><strHCPResponse></strHCPResponse><strCompanyFileName>c</strCompanyFileName>"
        "<qbXMLCountry>US</qbXMLCountry><qbXMLMajorVers>13</qbXMLMajorVers><qbXMLMinorVers>0</qbXMLMinorVers>"
        "</sendRequestXML></soap:Body></soap:Envelope>"
    ).encode()
    status, answer = service.handle(body)
    assert status == 200 and b"<sendRequestXMLResult" in answer
    message = service.get_last_error(GetLastError(ticket))
    assert "internal error" in message and "disk on fire" not in message, "details stay in the server log"


def test_the_qwc_keeps_its_owner_and_file_ids_across_downloads(tmp_path):
    env = {
        "MLC_DATA_DIR": str(tmp_path),
        "MLC_QBWC_USERNAME": "acme",
        "MLC_QBWC_PASSWORD": "password-123",
        "MLC_PUBLIC_URL": "https://sync.example.com",
        "MLC_POLL_MINUTES": "3",
        "PATH": "/usr/bin:/bin",
    }
    run = [sys.executable, "-m", "ml_connector.cli", "qwc"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    second = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    assert first == second
    assert "<AppURL>https://sync.example.com/qbwc</AppURL>" in first
    assert "<RunEveryNMinutes>3</RunEveryNMinutes>" in first
    assert "password-123" not in first


def test_the_qwc_refuses_a_plain_http_public_url_for_a_remote_host(tmp_path):
    env = {
        "MLC_DATA_DIR": str(tmp_path),
        "MLC_QBWC_USERNAME": "acme",
        "MLC_QBWC_PASSWORD": "password-123",
        "MLC_PUBLIC_URL": "http://sync.example.com",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "qwc"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "https" in result.stderr and "MLC_PUBLIC_URL" in result.stderr


def test_a_pause_is_an_empty_send_request_xml_and_noop_from_get_last_error(database_url):
    """Intuit's QBWC guide: whatever sendRequestXML returns besides "" goes to QuickBooks as a request, so a
    pause is "" followed by getLastError answering "NoOp" (QBWC then waits about 5 s and asks again)."""
    clock = Clock()
    service, queue = _service(database_url, clock)
    ticket = service.authenticate(Authenticate("acme", "password-123"), events=SessionEvents())[0]
    first = service.send_request_xml(_send(ticket))
    assert first.startswith("<?xml")
    response = (
        '<QBXML><QBXMLMsgsRs><CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info" '
        'statusMessage="Status OK"><CustomerRet><ListID>80000001-1</ListID><Name>X</Name></CustomerRet>'
        "</CustomerAddRs></QBXMLMsgsRs></QBXML>"
    )
    service.receive_response_xml(ReceiveResponseXML(ticket, response, "", ""), SessionEvents())
    # the answer was just handed out, so the session lingers for follow-ups: a pause, never the text "NoOp"
    assert service.send_request_xml(_send(ticket)) == ""
    assert service.get_last_error(GetLastError(ticket)) == "NoOp"


def test_two_documents_refused_as_a_whole_end_the_session_with_quickbooks_words(database_url):
    """messageSetStatusCode ≠ 0: QuickBooks ran nothing. Refused requests wait for a later session, and two
    refusals in one session end it (receiveResponseXML < 0), so no document can loop."""
    clock = Clock()
    service, queue = _service(database_url, clock)
    queue.max_requests = 1
    queue.enqueue(QbRunInput("acme", customer_add(CustomerFields(name="Y"))), idem_key="k2", task_token=None)
    ticket = service.authenticate(Authenticate("acme", "password-123"), events=SessionEvents())[0]
    refusal = '<QBXML><QBXMLMsgsRs messageSetStatusCode="9004"></QBXMLMsgsRs></QBXML>'
    answers = []
    for _ in range(2):
        assert service.send_request_xml(_send(ticket)).startswith("<?xml")
        answers.append(service.receive_response_xml(ReceiveResponseXML(ticket, refusal, "", ""), SessionEvents()))
    assert answers[0] >= 0 and answers[1] < 0
    error = service.get_last_error(GetLastError(ticket))
    assert "messageSetStatusCode 9004" in error and "none of it ran" in error
