"""The simulated Web Connector plays QBWC's real call sequence against a scripted server.

The scripted server sits behind ``httpx.MockTransport``: it validates every envelope it receives against
the schema in qbwc.wsdl, records the call and answers from a per-operation script.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from lxml import etree

from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.seed import seed_company
from ml_connector.simulator.webconnector import (
    Faults,
    QuickBooksSide,
    SessionFailed,
    SessionLimitReached,
    SessionOutcome,
    WebConnector,
    count_requests,
)

URL = "http://127.0.0.1:8000/qbwc"
QBWC_NS = "http://developer.intuit.com/"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
PASSWORD = "correct horse battery staple"
HCP = '<QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0"/></QBXMLMsgsRs></QBXML>'


def qbxml_request(*names: str) -> str:
    body = "".join(f'<{name}Rq requestID="{i}"/>' for i, name in enumerate(names, start=1))
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="stopOnError">{body}</QBXMLMsgsRq></QBXML>'
    )


DOC_1 = qbxml_request("CustomerQuery", "InvoiceQuery")
DOC_2 = qbxml_request("ReceivePaymentAdd")


def _schema() -> etree.XMLSchema:
    schema = etree.parse("/work/shared/qb/qbwc.wsdl").find(f".//{{{XSD_NS}}}schema")
    assert schema is not None
    standalone = etree.Element(
        f"{{{XSD_NS}}}schema",
        attrib=dict(schema.attrib),
        nsmap={prefix: uri for prefix, uri in schema.nsmap.items() if prefix},
    )
    for child in schema:
        standalone.append(copy.deepcopy(child))
    return etree.XMLSchema(standalone)


SCHEMA = _schema()

Answer = str | int | tuple[str, ...] | Exception
# An answer may also be computed from what the server has seen so far (e.g. an iteratorID).
Scripted = Answer | Callable[["ScriptedServer"], Answer]


@dataclass
class Call:
    operation: str
    params: dict[str, str]


@dataclass
class ScriptedServer:
    """A QBWC endpoint whose answers are queued per operation (the last answer repeats)."""

    script: dict[str, list[Scripted]]
    calls: list[Call] = field(default_factory=list)
    _queues: dict[str, deque[Scripted]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults: dict[str, list[Scripted]] = {
            "serverVersion": ["ml-connector 0.1"],
            "clientVersion": [""],
            "getLastError": [""],
            "closeConnection": ["OK"],
            "connectionError": ["done"],
        }
        for operation, answers in {**defaults, **self.script}.items():
            self._queues[operation] = deque(answers)

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def params(self, operation: str) -> list[dict[str, str]]:
        return [call.params for call in self.calls if call.operation == operation]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self._handle))

    def _next(self, operation: str) -> Answer:
        queue = self._queues[operation]
        answer = queue.popleft() if len(queue) > 1 else queue[0]
        return answer(self) if callable(answer) else answer

    def _handle(self, request: httpx.Request) -> httpx.Response:
        envelope = etree.fromstring(request.content)
        payload = envelope.find(f"{{{SOAP_ENV_NS}}}Body")[0]  # type: ignore[index]
        assert SCHEMA.validate(payload), SCHEMA.error_log
        operation = etree.QName(payload).localname
        assert request.headers["SOAPAction"] == f'"{QBWC_NS}{operation}"'
        self.calls.append(Call(operation, {etree.QName(c).localname: c.text or "" for c in payload}))
        answer = self._next(operation)
        if isinstance(answer, Exception):
            fault = (
                f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><soap:Fault>'
                f"<faultcode>soap:Server</faultcode><faultstring>{escape(str(answer))}</faultstring>"
                "</soap:Fault></soap:Body></soap:Envelope>"
            )
            return httpx.Response(500, content=fault.encode(), headers={"Content-Type": "text/xml"})
        if isinstance(answer, tuple):
            result = "".join(f"<string>{escape(item)}</string>" for item in answer)
        else:
            result = escape(str(answer))
        response_element = (
            f'<{operation}Response xmlns="{QBWC_NS}"><{operation}Result>{result}</{operation}Result>'
            f"</{operation}Response>"
        )
        assert SCHEMA.validate(etree.fromstring(response_element)), SCHEMA.error_log
        body = f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV_NS}">'
        body += f"<soap:Body>{response_element}</soap:Body></soap:Envelope>"
        return httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"})


class ProcessorError(Exception):
    """Shaped like simulator.processor.RequestProcessorError: an hresult and a message."""

    def __init__(self, hresult: str, message: str) -> None:
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


@dataclass
class EchoQuickBooks:
    """Answers each document with a canned response naming the document's position."""

    fail_with: ProcessorError | None = None
    ran: list[str] = field(default_factory=list)
    sessions_ended: int = 0

    def process(self, request: str) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.ran.append(request)
        return f'<QBXML><QBXMLMsgsRs><Rs n="{len(self.ran)}"/></QBXMLMsgsRs></QBXML>'

    def hcp_response(self) -> str:
        return HCP

    def end_session(self) -> None:
        self.sessions_ended += 1


@dataclass
class Sleeps:
    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def connector(
    server: ScriptedServer,
    quickbooks: QuickBooksSide | None = None,
    *,
    faults: Faults | None = None,
    sleeps: Sleeps | None = None,
    client_version: str = "2.3.0.215",
) -> WebConnector:
    return WebConnector(
        URL,
        "acct-1",
        PASSWORD,
        quickbooks if quickbooks is not None else EchoQuickBooks(),
        http=server.client(),
        faults=faults,
        sleep=sleeps if sleeps is not None else Sleeps(),
        client_version=client_version,
    )


def work_server(**extra: list[Scripted]) -> ScriptedServer:
    script: dict[str, list[Scripted]] = {
        "authenticate": [("{TICKET-1}", "")],
        "sendRequestXML": [DOC_1, DOC_2],
        "receiveResponseXML": [50, 100],
    }
    script.update(extra)
    return ScriptedServer(script)


# ---------------------------------------------------------------------------------------- happy path


def test_a_session_with_two_request_documents_follows_the_qbwc_call_sequence() -> None:
    server = work_server()
    quickbooks = EchoQuickBooks()
    report = connector(server, quickbooks).run_session()

    assert server.operations == [
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert report.calls == tuple(server.operations)
    assert report.outcome is SessionOutcome.COMPLETED
    assert quickbooks.ran == [DOC_1, DOC_2]
    assert quickbooks.sessions_ended == 1
    assert report.ticket == "{TICKET-1}"
    assert report.send_request_calls == 2
    assert report.round_trips == 2
    assert report.requests_run == 3
    assert report.percentages == (50, 100)
    assert report.close_result == "OK"
    assert report.server_version == "ml-connector 0.1"
    assert report.errors == () and report.warnings == ()
    assert report.started_at.tzinfo is not None


def test_the_credentials_and_client_version_are_sent_as_configured() -> None:
    server = work_server()
    connector(server).run_session()
    assert server.params("clientVersion") == [{"strVersion": "2.3.0.215"}]
    assert server.params("authenticate") == [{"strUserName": "acct-1", "strPassword": PASSWORD}]


def test_only_the_first_send_request_xml_of_a_session_carries_the_hcp_response() -> None:
    server = work_server()
    connector(server).run_session()
    first, second = server.params("sendRequestXML")
    assert first == {
        "ticket": "{TICKET-1}",
        "strHCPResponse": HCP,
        "strCompanyFileName": "C:\\Company\\sim.QBW",
        "qbXMLCountry": "US",
        "qbXMLMajorVers": "13",
        "qbXMLMinorVers": "0",
    }
    assert second["strHCPResponse"] == ""


def test_each_quickbooks_response_reaches_the_server_with_an_empty_hresult() -> None:
    server = work_server()
    connector(server).run_session()
    delivered = server.params("receiveResponseXML")
    assert [d["response"] for d in delivered] == [
        '<QBXML><QBXMLMsgsRs><Rs n="1"/></QBXMLMsgsRs></QBXML>',
        '<QBXML><QBXMLMsgsRs><Rs n="2"/></QBXMLMsgsRs></QBXML>',
    ]
    assert all(d["hresult"] == "" and d["message"] == "" and d["ticket"] == "{TICKET-1}" for d in delivered)


def test_a_company_file_path_from_authenticate_is_the_file_quickbooks_opens() -> None:
    server = work_server(authenticate=[("T", "D:\\Books\\Acme.QBW")])
    report = connector(server).run_session()
    assert {p["strCompanyFileName"] for p in server.params("sendRequestXML")} == {"D:\\Books\\Acme.QBW"}
    assert report.company_file == "D:\\Books\\Acme.QBW"


def test_every_call_is_timed_and_quickbooks_runs_are_timed_separately() -> None:
    report = connector(work_server()).run_session()
    assert [t.operation for t in report.timings].count("QuickBooks.process") == 2
    assert all(t.seconds >= 0 for t in report.timings)


# ------------------------------------------------------------------------------------- no data session


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("nvu", SessionOutcome.NOT_VALID_USER), ("none", SessionOutcome.NO_WORK), ("busy", SessionOutcome.BUSY)],
)
def test_nvu_none_and_busy_end_the_session_with_no_further_call(status: str, outcome: SessionOutcome) -> None:
    server = ScriptedServer({"authenticate": [("T", status)]})
    quickbooks = EchoQuickBooks()
    report = connector(server, quickbooks).run_session()
    assert server.operations == ["serverVersion", "clientVersion", "authenticate"]
    assert report.outcome is outcome
    assert report.auth_status == status
    assert report.close_result is None
    assert quickbooks.sessions_ended == 1


def test_postpone_and_minimum_run_interval_from_authenticate_are_recorded() -> None:
    server = ScriptedServer({"authenticate": [("T", "busy", "120", "900")]})
    report = connector(server).run_session()
    assert (report.postpone_seconds, report.min_run_interval_seconds) == (120, 900)


def test_upper_case_status_keywords_are_understood() -> None:
    server = ScriptedServer({"authenticate": [("T", "NONE")]})
    assert connector(server).run_session().outcome is SessionOutcome.NO_WORK


def test_an_authenticate_answer_without_a_status_fails_the_session() -> None:
    server = ScriptedServer({"authenticate": [("only-a-ticket",)]})
    report = connector(server).run_session()
    assert report.outcome is SessionOutcome.FAILED
    assert "authenticate returned 1 items" in report.errors[0]


# ------------------------------------------------------------------------------------- clientVersion


def test_a_client_version_warning_is_shown_and_the_session_continues() -> None:
    server = work_server(clientVersion=["W:Please upgrade soon"])
    report = connector(server).run_session()
    assert report.outcome is SessionOutcome.COMPLETED
    assert report.warnings == ("Please upgrade soon",)


def test_a_client_version_error_cancels_before_authenticate() -> None:
    server = work_server(clientVersion=["E:This Web Connector is too old"])
    report = connector(server).run_session()
    assert server.operations == ["serverVersion", "clientVersion"]
    assert report.outcome is SessionOutcome.CLIENT_REJECTED
    assert report.errors == ("This Web Connector is too old",)


@pytest.mark.parametrize(
    ("required", "outcome"),
    [("2.3.0.300", SessionOutcome.CLIENT_REJECTED), ("2.1", SessionOutcome.COMPLETED)],
)
def test_an_o_answer_names_the_oldest_web_connector_the_server_accepts(
    required: str, outcome: SessionOutcome
) -> None:
    server = work_server(clientVersion=[f"O:{required}"])
    assert connector(server).run_session().outcome is outcome


def test_faults_from_the_optional_version_callbacks_are_ignored_like_qbwc() -> None:
    server = work_server(
        serverVersion=[RuntimeError("no such method")], clientVersion=[RuntimeError("no such method")]
    )
    report = connector(server).run_session()
    assert report.outcome is SessionOutcome.COMPLETED
    assert len(report.warnings) == 2 and all("no such method" in w for w in report.warnings)


# ---------------------------------------------------------------------------------- NoOp and stopping


def test_a_pause_is_an_empty_send_request_xml_then_noop_from_get_last_error() -> None:
    """Intuit's QBWC guide (getLastError: "NoOp" → wait about 5 s, call sendRequestXML again);
    consolibyte/quickbooks-php WebConnector/Server.php answers a pause exactly so."""
    server = work_server(sendRequestXML=["", DOC_1], receiveResponseXML=[100], getLastError=["NoOp"])
    sleeps = Sleeps()
    quickbooks = EchoQuickBooks()
    report = connector(server, quickbooks, sleeps=sleeps).run_session()
    assert server.operations[3:] == [
        "sendRequestXML",
        "getLastError",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert sleeps.seconds == [5.0]
    assert report.noops == 1 and report.round_trips == 1
    assert quickbooks.ran == [DOC_1]
    assert [p["strHCPResponse"] for p in server.params("sendRequestXML")] == [HCP, ""]


def test_a_literal_noop_from_send_request_xml_is_handed_to_quickbooks_as_a_request() -> None:
    """Whatever sendRequestXML returns besides "" is the request: QuickBooks cannot parse "NoOp"
    (0x80040400), and the Web Connector reports that as the hresult of receiveResponseXML."""
    server = work_server(sendRequestXML=["NoOp"], receiveResponseXML=[100])
    quickbooks = EchoQuickBooks(fail_with=ProcessorError("0x80040400", "QuickBooks found an error parsing"))
    report = connector(server, quickbooks).run_session()
    assert server.params("receiveResponseXML")[0]["hresult"] == "0x80040400"
    assert report.noops == 0


def test_an_empty_send_request_xml_makes_qbwc_ask_get_last_error_and_close() -> None:
    server = work_server(sendRequestXML=[""], getLastError=["Company file version too old"])
    report = connector(server).run_session()
    assert server.operations[3:] == ["sendRequestXML", "getLastError", "closeConnection"]
    assert report.outcome is SessionOutcome.SERVER_STOPPED
    assert report.last_error == "Company file version too old"
    assert report.round_trips == 0


def test_a_negative_percentage_makes_qbwc_ask_get_last_error_then_close() -> None:
    server = work_server(sendRequestXML=[DOC_1], receiveResponseXML=[-1], getLastError=["Stripe is down"])
    report = connector(server).run_session()
    assert server.operations[3:] == [
        "sendRequestXML",
        "receiveResponseXML",
        "getLastError",
        "closeConnection",
    ]
    assert report.outcome is SessionOutcome.SERVER_ERROR
    assert report.percentages == (-1,)
    assert report.last_error == "Stripe is down"


def test_a_percentage_above_100_breaks_the_protocol() -> None:
    server = work_server(sendRequestXML=[DOC_1], receiveResponseXML=[101])
    report = connector(server).run_session()
    assert report.outcome is SessionOutcome.FAILED
    assert "closeConnection" not in server.operations


def test_a_server_that_noops_forever_is_abandoned_after_the_session_limit() -> None:
    server = work_server(sendRequestXML=[""], getLastError=["NoOp"])
    wc = connector(server)
    wc.max_noops_per_session = 3
    report = wc.run_session()
    assert report.noops == 3
    assert report.outcome is SessionOutcome.SERVER_STOPPED
    assert server.operations[-1] == "closeConnection"


# --------------------------------------------------------------------------- request processor errors


def test_a_request_processor_error_is_delivered_as_hresult_and_message_with_an_empty_response() -> None:
    server = work_server(sendRequestXML=[DOC_1], receiveResponseXML=[100])
    quickbooks = EchoQuickBooks(fail_with=ProcessorError("0x80040400", "QuickBooks found an error parsing"))
    report = connector(server, quickbooks).run_session()
    assert server.params("receiveResponseXML") == [
        {
            "ticket": "{TICKET-1}",
            "response": "",
            "hresult": "0x80040400",
            "message": "QuickBooks found an error parsing",
        }
    ]
    assert report.round_trips == 1
    assert report.requests_run == 0


def test_a_bug_in_the_simulated_quickbooks_surfaces_but_still_ends_the_quickbooks_session() -> None:
    class Broken(EchoQuickBooks):
        def process(self, request: str) -> str:
            raise KeyError("simulator bug")

    quickbooks = Broken()
    with pytest.raises(KeyError):
        connector(work_server(), quickbooks).run_session()
    assert quickbooks.sessions_ended == 1


# ---------------------------------------------------------------------------------- QuickBooks closed


def test_quickbooks_closed_is_reported_through_connection_error_and_done_ends_the_session() -> None:
    server = work_server()
    report = connector(server, faults=Faults(quickbooks_closed=True)).run_session()
    assert server.operations == [
        "serverVersion",
        "clientVersion",
        "authenticate",
        "connectionError",
        "closeConnection",
    ]
    assert server.params("connectionError") == [
        {"ticket": "{TICKET-1}", "hresult": "0x80040408", "message": "Could not start QuickBooks."}
    ]
    assert report.outcome is SessionOutcome.CONNECTION_FAILED
    assert report.connection_errors == 1


def test_a_connection_error_answered_with_a_path_is_retried_at_most_twice() -> None:
    server = work_server(connectionError=["C:\\Other.QBW"])
    report = connector(server, faults=Faults(quickbooks_closed=True)).run_session()
    assert server.operations[3:] == ["connectionError"] * 3 + ["closeConnection"]
    assert report.connection_errors == 3
    assert report.outcome is SessionOutcome.CONNECTION_FAILED
    assert "sendRequestXML" not in server.operations


# ---------------------------------------------------------------------------------- lost responses


def test_a_lost_response_stops_the_session_after_quickbooks_ran_the_document() -> None:
    server = work_server(receiveResponseXML=[50])
    quickbooks = EchoQuickBooks()
    faults = Faults(lose_response_after=2)
    report = connector(server, quickbooks, faults=faults).run_session()

    assert quickbooks.ran == [DOC_1, DOC_2], "QuickBooks ran the second document"
    assert server.operations[3:] == ["sendRequestXML", "receiveResponseXML", "sendRequestXML"]
    assert report.outcome is SessionOutcome.DIED
    assert report.round_trips == 2
    assert report.close_result is None
    assert quickbooks.sessions_ended == 1
    assert faults.lose_response_after is None, "the switch is one-shot"


def test_after_a_lost_response_the_next_session_is_healthy() -> None:
    server = work_server(sendRequestXML=[DOC_1], receiveResponseXML=[100])
    wc = connector(server, faults=Faults(lose_response_after=1))
    assert wc.run_session().outcome is SessionOutcome.DIED
    second = wc.run_session()
    assert second.outcome is SessionOutcome.COMPLETED
    assert server.operations.count("receiveResponseXML") == 1


def test_a_lost_response_in_hresult_mode_reports_0x80040402_with_an_empty_response() -> None:
    server = work_server(receiveResponseXML=[50, 100])
    quickbooks = EchoQuickBooks()
    faults = Faults(lose_response_after=1, lose_response_mode="hresult")
    report = connector(server, quickbooks, faults=faults).run_session()
    first, second = server.params("receiveResponseXML")
    assert (first["response"], first["hresult"], first["message"]) == ("", "0x80040402", "Unexpected error")
    assert second["hresult"] == "" and second["response"].startswith("<QBXML>")
    assert quickbooks.ran == [DOC_1, DOC_2]
    assert report.outcome is SessionOutcome.COMPLETED


def test_a_crash_before_running_means_quickbooks_never_sees_the_document() -> None:
    server = work_server(receiveResponseXML=[50])
    quickbooks = EchoQuickBooks()
    faults = Faults(crash_before_run_after=2)
    report = connector(server, quickbooks, faults=faults).run_session()
    assert quickbooks.ran == [DOC_1]
    assert server.operations[-1] == "sendRequestXML"
    assert report.outcome is SessionOutcome.DIED
    assert report.round_trips == 1
    assert faults.crash_before_run_after is None


def test_latency_is_added_to_every_request_document() -> None:
    sleeps = Sleeps()
    connector(work_server(), faults=Faults(latency_seconds=0.25), sleeps=sleeps).run_session()
    assert sleeps.seconds == [0.25, 0.25]


# ----------------------------------------------------------------------------------- server failures


def test_a_soap_fault_ends_the_session_with_the_fault_text_and_no_close_connection() -> None:
    server = work_server(sendRequestXML=[RuntimeError("Ticket {TICKET-1} is not valid")])
    quickbooks = EchoQuickBooks()
    report = connector(server, quickbooks).run_session()
    assert report.outcome is SessionOutcome.FAILED
    assert "Ticket {TICKET-1} is not valid" in report.errors[0]
    assert "closeConnection" not in server.operations
    assert quickbooks.sessions_ended == 1


def test_an_unreachable_server_fails_the_session() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    wc = WebConnector(
        URL, "u", PASSWORD, EchoQuickBooks(), http=httpx.Client(transport=httpx.MockTransport(refuse))
    )
    report = wc.run_session()
    assert report.outcome is SessionOutcome.FAILED
    assert "ConnectError" in report.errors[0]


# ------------------------------------------------------------------------------------ many sessions


def test_run_until_idle_repeats_sessions_until_authenticate_answers_none() -> None:
    server = work_server(
        authenticate=[("T1", ""), ("T2", ""), ("T3", "none")],
        sendRequestXML=[DOC_1],
        receiveResponseXML=[100],
    )
    reports = connector(server).run_until_idle()
    assert [r.outcome for r in reports] == [
        SessionOutcome.COMPLETED,
        SessionOutcome.COMPLETED,
        SessionOutcome.NO_WORK,
    ]
    assert [p["ticket"] for p in server.params("closeConnection")] == ["T1", "T2"]


def test_run_until_idle_gives_up_when_the_password_is_rejected() -> None:
    server = ScriptedServer({"authenticate": [("", "nvu")]})
    with pytest.raises(SessionFailed, match="nvu") as caught:
        connector(server).run_until_idle()
    assert len(caught.value.reports) == 1


def test_run_until_idle_survives_a_lost_response_and_drains_the_queue() -> None:
    server = work_server(
        authenticate=[("T1", ""), ("T2", ""), ("T3", "none")],
        sendRequestXML=[DOC_1],
        receiveResponseXML=[100],
    )
    reports = connector(server, faults=Faults(lose_response_after=1)).run_until_idle()
    assert [r.outcome for r in reports] == [
        SessionOutcome.DIED,
        SessionOutcome.COMPLETED,
        SessionOutcome.NO_WORK,
    ]


def test_run_until_idle_reports_a_server_that_never_runs_out_of_work() -> None:
    server = work_server(sendRequestXML=[DOC_1], receiveResponseXML=[100])
    with pytest.raises(SessionLimitReached) as caught:
        connector(server).run_until_idle(max_sessions=3)
    assert len(caught.value.reports) == 3


class CountingStop(threading.Event):
    """Records each scheduler wait and stops after a fixed number of them, without really waiting."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.stop_after = stop_after
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self.stop_after:
            self.set()
        return self.is_set()


def test_run_every_waits_the_interval_raised_to_the_minimum_and_honours_a_postponement() -> None:
    server = ScriptedServer({"authenticate": [("T", "none", "", "1800"), ("T", "busy", "30"), ("T", "none")]})
    stop = CountingStop(stop_after=3)
    seen: list[SessionOutcome] = []
    sessions = connector(server).run_every(15, stop, on_report=lambda r: seen.append(r.outcome))
    assert sessions == 3
    assert seen == [SessionOutcome.NO_WORK, SessionOutcome.BUSY, SessionOutcome.NO_WORK]
    assert stop.waits == [1800.0, 30.0, 1800.0]


# ---------------------------------------------------------------------------------------- hygiene


def test_the_password_never_appears_in_the_report_or_the_repr() -> None:
    wc = connector(work_server())
    report = wc.run_session()
    assert PASSWORD not in repr(report)
    assert PASSWORD not in repr(wc)


def test_requests_are_counted_per_rq_element() -> None:
    assert count_requests(DOC_1) == 2
    assert count_requests("not xml") == 0


# ------------------------------------------------------------------------- with the simulated QuickBooks

SAMPLES = Path("/work/shared/qb/samples")


def _iterator_id(response: str) -> str:
    rs = etree.fromstring(response.encode()).find(".//CustomerQueryRs")
    assert rs is not None and rs.get("iteratorID")
    return str(rs.get("iteratorID"))


def _continue_request(iterator_id: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML>'
        '<QBXMLMsgsRq onError="stopOnError">'
        f'<CustomerQueryRq requestID="cq-2" iterator="Continue" iteratorID="{iterator_id}">'
        "<MaxReturned>1</MaxReturned></CustomerQueryRq></QBXMLMsgsRq></QBXML>"
    )


def _continue_first_iterator(server: ScriptedServer) -> str:
    """Continue the iterator that the first document of the first session started."""
    return _continue_request(_iterator_id(server.params("receiveResponseXML")[0]["response"]))


def seeded_quickbooks() -> QuickBooksProcessor:
    company = CompanyFile()
    seed_company(company, customers=3, open_invoices=0)
    return QuickBooksProcessor(company)


def test_the_real_request_processor_error_reaches_the_server_as_hresult_0x80040400() -> None:
    server = work_server(sendRequestXML=["<QBXML><not-closed>"], receiveResponseXML=[100])
    connector(server, seeded_quickbooks()).run_session()
    (delivered,) = server.params("receiveResponseXML")
    assert delivered["response"] == ""
    assert delivered["hresult"] == "0x80040400"
    assert delivered["message"]


def test_the_first_call_carries_the_simulated_companys_host_company_and_preferences() -> None:
    server = work_server(sendRequestXML=[""])
    connector(server, seeded_quickbooks()).run_session()
    hcp = etree.fromstring(server.params("sendRequestXML")[0]["strHCPResponse"].encode())
    assert [rs.tag for rs in hcp.find("QBXMLMsgsRs")] == [  # type: ignore[union-attr]
        "HostQueryRs",
        "CompanyQueryRs",
        "PreferencesQueryRs",
    ]


def test_an_iterator_continues_within_a_session_but_is_dead_in_the_next() -> None:
    start = (SAMPLES / "customer-query-iterator-start.rq.xml").read_text(encoding="utf-8")
    start = start.replace("<MaxReturned>100</MaxReturned>", "<MaxReturned>1</MaxReturned>")
    start = start.replace("2024-01-01T00:00:00", "2000-01-01T00:00:00")
    server = work_server(
        authenticate=[("T1", ""), ("T2", "")],
        sendRequestXML=[start, _continue_first_iterator, _continue_first_iterator],
        receiveResponseXML=[50, 100, 100],
    )
    wc = connector(server, seeded_quickbooks())
    assert wc.run_session().percentages == (50, 100)
    assert wc.run_session().percentages == (100,)

    statuses = [
        etree.fromstring(p["response"].encode()).find(".//CustomerQueryRs").get("statusCode")  # type: ignore[union-attr]
        for p in server.params("receiveResponseXML")
    ]
    assert statuses == ["0", "0", "3391"]
