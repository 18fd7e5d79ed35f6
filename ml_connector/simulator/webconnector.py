"""A simulated QuickBooks Web Connector: plays real QBWC sessions against our SOAP endpoint.

This file owns the client-side session state machine, so the whole call sequence is described here once:

    serverVersion            (errors ignored: QBWC "catches all errors" in the optional callbacks)
    clientVersion            ""/W: carry on, E: stop, O:<v> stop when we are older than <v>
    authenticate             [ticket, status, postpone s, min-interval s]
      "none"/"nvu"/"busy"    -> session over; the ticket is dead, so no closeConnection
      "" or a file path      -> open QuickBooks
        QuickBooks closed    -> connectionError -> "done" ends | a path retries (at most twice)
    loop:
      sendRequestXML         first call carries the HCP response, later calls ""
        ""                   -> getLastError: "NoOp" -> wait ~5 s, sendRequestXML again; else end
        anything else        -> handed to QuickBooks as a request (non-qbXML fails with 0x80040400)
      receiveResponseXML     response (or "" + hresult/message when the request processor threw)
        0..99 loop | 100 end | negative -> getLastError, end
    closeConnection          on every end of a session that opened QuickBooks

Two endings skip closeConnection on purpose: a transport/SOAP failure (the .NET client throws and the
update aborts) and the simulated *death* of the Web Connector (see :class:`Faults`). Whatever happens,
``processor.end_session()`` runs, because QuickBooks' iterators die with the session.

Fault switches let tests reproduce what production sees: QuickBooks closed, slow documents, a response
QuickBooks produced but the server never received, a crash before a document runs.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Literal, Protocol, TypeVar

import httpx
from lxml import etree

from ml_connector.simulator.soap_client import (
    QbwcSoapClient,
    SoapClientError,
    SoapFault,
    SoapHttpError,
    SoapProtocolError,
)

HRESULT_COULD_NOT_START_QUICKBOOKS = "0x80040408"
MESSAGE_COULD_NOT_START_QUICKBOOKS = "Could not start QuickBooks."
HRESULT_UNEXPECTED_ERROR = "0x80040402"
MESSAGE_UNEXPECTED_ERROR = "Unexpected error"
NOOP = "NoOp"
CONNECTION_ERROR_RETRIES = 2
PROCESSOR_TIMING_NAME = "QuickBooks.process"

_QBXML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

T = TypeVar("T")

# QBWC "catches all errors" raised by the optional serverVersion/clientVersion callbacks (a server that
# does not implement them answers with a Fault); a server it cannot reach at all is not excused.
_OPTIONAL_CALL_ERRORS = (SoapFault, SoapHttpError, SoapProtocolError)


class QuickBooksSide(Protocol):
    """What the Web Connector needs from QuickBooks (``simulator.processor.QuickBooksProcessor``).

    ``process`` reports a request-processor failure by raising an exception that carries ``hresult`` and
    ``message`` strings (``RequestProcessorError``), mirroring the COM error QBWC receives.
    """

    def process(self, request: str) -> str: ...

    def hcp_response(self) -> str: ...

    def end_session(self) -> None: ...


def processor_failure(exc: BaseException) -> tuple[str, str] | None:
    """(hresult, message) when ``exc`` is the request processor's own failure, else None.

    Matching on the shape rather than the class keeps this module independent of processor.py; any other
    exception is a bug in the simulator and must surface, not be laundered into an HRESULT.
    """
    hresult = getattr(exc, "hresult", None)
    message = getattr(exc, "message", None)
    if isinstance(hresult, str) and isinstance(message, str):
        return hresult, message
    return None


@dataclass
class Faults:
    """Fault switches, mutable on purpose: tests flip them between sessions.

    ``quickbooks_closed`` and ``latency_seconds`` stay as set. ``lose_response_after`` and
    ``crash_before_run_after`` are one-shot: they count request documents (1-based) within a session and
    reset to None once they fire, so the following session is healthy.
    """

    quickbooks_closed: bool = False
    latency_seconds: float = 0.0
    lose_response_after: int | None = None
    # "die": the PC reboots right after QuickBooks ran the document: no receiveResponseXML, no
    # closeConnection. "hresult": QBWC survives and reports 0x80040402 with an empty response.
    lose_response_mode: Literal["die", "hresult"] = "die"
    crash_before_run_after: int | None = None
    # Lose the answer to the next N documents that carry at least ``lose_writes_min`` writes (any session),
    # after QuickBooks ran them: the lost document is one of many writes, wherever it falls in a session.
    lose_write_documents: int = 0
    lose_writes_min: int = 5
    lose_writes_of: str = ""  # count only writes of this request (e.g. "ReceivePaymentAddRq"); "" = any write


class SessionOutcome(enum.StrEnum):
    COMPLETED = "completed"  # receiveResponseXML answered 100
    NO_WORK = "none"  # authenticate said "none"
    NOT_VALID_USER = "nvu"
    BUSY = "busy"
    CLIENT_REJECTED = "client_rejected"  # clientVersion answered E: or an O: newer than us
    CONNECTION_FAILED = "connection_failed"  # QuickBooks could not be opened; connectionError gave up
    SERVER_STOPPED = "server_stopped"  # sendRequestXML "" or a NoOp whose getLastError was not NoOp
    SERVER_ERROR = "server_error"  # receiveResponseXML answered a negative number
    DIED = "died"  # a simulated crash of the Web Connector mid-session
    FAILED = "failed"  # HTTP error, SOAP Fault or an answer that breaks the WSDL


@dataclass(frozen=True)
class CallTiming:
    """Wall time of one SOAP call, or of QuickBooks running one document (``QuickBooks.process``)."""

    operation: str
    seconds: float


@dataclass(frozen=True)
class SessionReport:
    outcome: SessionOutcome
    started_at: datetime
    finished_at: datetime
    server_version: str | None
    client_version_answer: str | None
    ticket: str | None
    auth_status: str | None
    postpone_seconds: int | None
    min_run_interval_seconds: int | None
    company_file: str | None
    connection_errors: int
    send_request_calls: int
    round_trips: int
    requests_run: int
    noops: int
    percentages: tuple[int, ...]
    last_error: str | None
    close_result: str | None
    timings: tuple[CallTiming, ...]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def calls(self) -> tuple[str, ...]:
        """The SOAP operations of the session, in order."""
        return tuple(t.operation for t in self.timings if t.operation != PROCESSOR_TIMING_NAME)


@dataclass
class _Recorder:
    started_at: datetime
    outcome: SessionOutcome = SessionOutcome.FAILED
    server_version: str | None = None
    client_version_answer: str | None = None
    ticket: str | None = None
    auth_status: str | None = None
    postpone_seconds: int | None = None
    min_run_interval_seconds: int | None = None
    company_file: str | None = None
    connection_errors: int = 0
    send_request_calls: int = 0
    round_trips: int = 0
    requests_run: int = 0
    noops: int = 0
    percentages: list[int] = field(default_factory=list)
    last_error: str | None = None
    close_result: str | None = None
    timings: list[CallTiming] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def freeze(self) -> SessionReport:
        return SessionReport(
            outcome=self.outcome,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            server_version=self.server_version,
            client_version_answer=self.client_version_answer,
            ticket=self.ticket,
            auth_status=self.auth_status,
            postpone_seconds=self.postpone_seconds,
            min_run_interval_seconds=self.min_run_interval_seconds,
            company_file=self.company_file,
            connection_errors=self.connection_errors,
            send_request_calls=self.send_request_calls,
            round_trips=self.round_trips,
            requests_run=self.requests_run,
            noops=self.noops,
            percentages=tuple(self.percentages),
            last_error=self.last_error,
            close_result=self.close_result,
            timings=tuple(self.timings),
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
        )


class WebConnectorError(Exception):
    """The simulated Web Connector could not do what its caller asked."""


class SessionFailed(WebConnectorError):
    """A session ended in a way more sessions cannot fix (bad password, rejected client, broken server)."""

    def __init__(self, report: SessionReport, reports: tuple[SessionReport, ...]) -> None:
        detail = "; ".join(report.errors) or report.last_error or ""
        super().__init__(f"session ended {report.outcome.value}" + (f": {detail}" if detail else ""))
        self.report = report
        self.reports = reports


class SessionLimitReached(WebConnectorError):
    """The server still had work after the allowed number of sessions."""

    def __init__(self, reports: tuple[SessionReport, ...]) -> None:
        super().__init__(f"authenticate never answered 'none' in {len(reports)} sessions")
        self.reports = reports


class _SessionDied(Exception):
    """Internal: the simulated Web Connector stops dead, making no further calls."""


def count_requests(qbxml: str) -> int:
    """Number of ``*Rq`` elements in a request document (0 when QuickBooks could not read it anyway)."""
    try:
        root = etree.fromstring(qbxml.encode("utf-8"), parser=_QBXML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return 0
    return sum(
        1
        for msgs in root.iter("QBXMLMsgsRq")
        for child in msgs
        if isinstance(child.tag, str) and child.tag.endswith("Rq")
    )


def count_writes(qbxml: str, name: str = "") -> int:
    """Requests in a document that may change the company file (anything but a *QueryRq), or only ``name``."""
    try:
        root = etree.fromstring(qbxml.encode("utf-8"), parser=_QBXML_PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return 0
    messages = root.find("QBXMLMsgsRq")
    if messages is None:
        return 0
    return sum(
        1
        for r in messages
        if isinstance(r.tag, str) and not r.tag.endswith("QueryRq") and (not name or r.tag == name)
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _optional_seconds(items: tuple[str, ...], index: int, rec: _Recorder) -> int | None:
    if len(items) <= index or items[index].strip() == "":
        return None
    try:
        return int(items[index].strip())
    except ValueError:
        rec.errors.append(f"authenticate item [{index}] {items[index]!r} is not a number of seconds")
        return None


class WebConnector:
    """Drives one QBWC application entry (one .qwc: URL, user name, password, company file)."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        processor: QuickBooksSide,
        *,
        company_file: str = "C:\\Company\\sim.QBW",
        qbxml_version: tuple[int, int] = (13, 0),
        country: str = "US",
        client_version: str = "2.3.0.215",
        noop_wait_seconds: float = 5.0,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
        faults: Faults | None = None,
        max_noops_per_session: int = 720,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.username = username
        self._password = password
        self.processor = processor
        self.company_file = company_file
        self.qbxml_version = qbxml_version
        self.country = country
        self.client_version = client_version
        self.noop_wait_seconds = noop_wait_seconds
        self.faults = faults if faults is not None else Faults()
        # Real QBWC NoOps forever; a bound keeps a misbehaving server from hanging a test run.
        self.max_noops_per_session = max_noops_per_session
        self._sleep = sleep
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._soap = QbwcSoapClient(url, self._http, timeout=timeout)

    def __repr__(self) -> str:
        return f"WebConnector(url={self.url!r}, username={self.username!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> WebConnector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------ sessions

    def run_session(self) -> SessionReport:
        """Play one session, as when the user clicks "Update Selected" or the scheduler fires.

        HTTP errors, SOAP Faults and WSDL violations end the session and are reported in ``errors``;
        anything else raised here is a bug in the simulator and propagates.
        """
        rec = _Recorder(started_at=datetime.now(UTC))
        try:
            self._play(rec)
        except SoapClientError as exc:
            rec.outcome = SessionOutcome.FAILED
            rec.errors.append(str(exc))
        except _SessionDied as died:
            rec.outcome = SessionOutcome.DIED
            rec.errors.append(str(died))
        finally:
            self.processor.end_session()
        return rec.freeze()

    def run_until_idle(
        self,
        max_sessions: int = 50,
        *,
        on_report: Callable[[SessionReport], None] | None = None,
    ) -> tuple[SessionReport, ...]:
        """Run sessions until authenticate answers "none" (the server's queue is drained).

        Sessions that died or stopped on a server error are followed by another one, as the scheduler
        would; outcomes no further session can change raise :class:`SessionFailed`.
        """
        reports: list[SessionReport] = []
        terminal = {
            SessionOutcome.NOT_VALID_USER,
            SessionOutcome.CLIENT_REJECTED,
            SessionOutcome.CONNECTION_FAILED,
            SessionOutcome.FAILED,
        }
        for _ in range(max_sessions):
            report = self.run_session()
            reports.append(report)
            if on_report is not None:
                on_report(report)
            if report.outcome is SessionOutcome.NO_WORK:
                return tuple(reports)
            if report.outcome in terminal:
                raise SessionFailed(report, tuple(reports))
            if report.outcome is SessionOutcome.BUSY and report.postpone_seconds:
                self._sleep(float(report.postpone_seconds))
        raise SessionLimitReached(tuple(reports))

    def run_every(
        self,
        minutes: float,
        stop_event: threading.Event,
        *,
        on_report: Callable[[SessionReport], None] | None = None,
    ) -> int:
        """Auto-Run like QBWC's RunEveryNMinutes until ``stop_event`` is set; returns sessions run.

        authenticate's [3] raises the interval for good (QBWC's minimum run interval) and [2] postpones
        just the next run.
        """
        interval = minutes * 60.0
        sessions = 0
        while not stop_event.is_set():
            report = self.run_session()
            sessions += 1
            if on_report is not None:
                on_report(report)
            if report.min_run_interval_seconds is not None:
                interval = max(interval, float(report.min_run_interval_seconds))
            wait = float(report.postpone_seconds) if report.postpone_seconds else interval
            if stop_event.wait(wait):
                break
        return sessions

    # ---------------------------------------------------------------------------------- the state machine

    def _call(self, rec: _Recorder, operation: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return call()
        finally:
            rec.timings.append(CallTiming(operation, time.perf_counter() - start))

    def _play(self, rec: _Recorder) -> None:
        soap = self._soap
        try:
            rec.server_version = self._call(rec, "serverVersion", soap.server_version)
        except _OPTIONAL_CALL_ERRORS as exc:
            rec.warnings.append(f"serverVersion ignored: {exc}")
        if not self._client_version_accepted(rec):
            rec.outcome = SessionOutcome.CLIENT_REJECTED
            return

        answer = self._call(rec, "authenticate", lambda: soap.authenticate(self.username, self._password))
        if len(answer) < 2:
            raise SoapProtocolError(f"authenticate returned {len(answer)} items; QBWC needs [ticket, status]")
        ticket, status = answer[0], answer[1]
        rec.ticket, rec.auth_status = ticket, status
        rec.postpone_seconds = _optional_seconds(answer, 2, rec)
        rec.min_run_interval_seconds = _optional_seconds(answer, 3, rec)
        keyword = status.strip().lower()
        if keyword in ("none", "nvu", "busy"):
            rec.outcome = SessionOutcome(keyword)
            return

        company_file = self._open_quickbooks(rec, ticket, status or self.company_file)
        if company_file is not None:
            rec.company_file = company_file
            self._exchange(rec, ticket, company_file)
        rec.close_result = self._call(rec, "closeConnection", lambda: soap.close_connection(ticket))

    def _client_version_accepted(self, rec: _Recorder) -> bool:
        try:
            answer = self._call(rec, "clientVersion", lambda: self._soap.client_version(self.client_version))
        except _OPTIONAL_CALL_ERRORS as exc:
            rec.warnings.append(f"clientVersion ignored: {exc}")
            return True
        rec.client_version_answer = answer
        if answer.startswith("W:"):
            # The simulated user reads the warning and clicks "continue".
            rec.warnings.append(answer[2:])
            return True
        if answer.startswith("E:"):
            rec.errors.append(answer[2:])
            return False
        if answer.startswith("O:"):
            required = answer[2:].strip()
            if _version_tuple(self.client_version) < _version_tuple(required):
                rec.errors.append(f"server requires Web Connector {required}; this is {self.client_version}")
                return False
        return True

    def _open_quickbooks(self, rec: _Recorder, ticket: str, company_file: str) -> str | None:
        """The company file QuickBooks opened, or None when connectionError ended the session."""
        retries = 0
        while self.faults.quickbooks_closed:
            rec.connection_errors += 1
            answer = self._call(
                rec,
                "connectionError",
                lambda: self._soap.connection_error(
                    ticket, HRESULT_COULD_NOT_START_QUICKBOOKS, MESSAGE_COULD_NOT_START_QUICKBOOKS
                ),
            )
            if answer.strip().lower() == "done":
                rec.outcome = SessionOutcome.CONNECTION_FAILED
                return None
            if retries >= CONNECTION_ERROR_RETRIES:
                rec.errors.append(f"QuickBooks could not be opened after {retries} retries")
                rec.outcome = SessionOutcome.CONNECTION_FAILED
                return None
            retries += 1
            company_file = answer
        return company_file

    def _exchange(self, rec: _Recorder, ticket: str, company_file: str) -> None:
        soap = self._soap
        major, minor = self.qbxml_version
        document_number = 0
        while True:
            hcp = self.processor.hcp_response() if rec.send_request_calls == 0 else ""
            rec.send_request_calls += 1
            request = self._call(
                rec,
                "sendRequestXML",
                partial(soap.send_request_xml, ticket, hcp, company_file, self.country, major, minor),
            )
            if request == "":
                # Intuit's contract: "" makes QBWC call getLastError; "NoOp" there means "wait ~5 s and call
                # sendRequestXML again", anything else ends the update. Any non-empty answer is a request
                # document and goes to QuickBooks as it is (a literal "NoOp" there fails with 0x80040400).
                rec.last_error = self._call(rec, "getLastError", lambda: soap.get_last_error(ticket))
                if rec.last_error != NOOP:
                    rec.outcome = SessionOutcome.SERVER_STOPPED
                    return
                rec.noops += 1
                if rec.noops >= self.max_noops_per_session:
                    rec.errors.append(f"gave up after {rec.noops} NoOps in one session")
                    rec.outcome = SessionOutcome.SERVER_STOPPED
                    return
                self._sleep(self.noop_wait_seconds)
                continue

            document_number += 1
            response, hresult, message = self._run_in_quickbooks(rec, request, document_number)
            percent = self._call(
                rec,
                "receiveResponseXML",
                partial(soap.receive_response_xml, ticket, response, hresult, message),
            )
            rec.percentages.append(percent)
            if 0 <= percent < 100:
                continue
            if percent == 100:
                rec.outcome = SessionOutcome.COMPLETED
                return
            if percent < 0:
                rec.last_error = self._call(rec, "getLastError", lambda: soap.get_last_error(ticket))
                rec.outcome = SessionOutcome.SERVER_ERROR
                return
            raise SoapProtocolError(f"receiveResponseXML returned {percent}; QBWC expects -n, 0..100")

    def _run_in_quickbooks(self, rec: _Recorder, request: str, document_number: int) -> tuple[str, str, str]:
        """Run one document; returns what receiveResponseXML should carry (response, hresult, message)."""
        faults = self.faults
        if faults.crash_before_run_after == document_number:
            faults.crash_before_run_after = None
            raise _SessionDied(f"Web Connector crashed before running request document {document_number}")

        start = time.perf_counter()
        try:
            if faults.latency_seconds > 0:
                self._sleep(faults.latency_seconds)
            try:
                response, hresult, message = self.processor.process(request), "", ""
                rec.requests_run += count_requests(request)
            except Exception as exc:
                failure = processor_failure(exc)
                if failure is None:
                    raise
                response, (hresult, message) = "", failure
            rec.round_trips += 1
        finally:
            rec.timings.append(CallTiming(PROCESSOR_TIMING_NAME, time.perf_counter() - start))

        lose_writes = (
            faults.lose_write_documents > 0
            and count_writes(request, faults.lose_writes_of) >= faults.lose_writes_min
        )
        if lose_writes:
            faults.lose_write_documents -= 1
        if faults.lose_response_after == document_number or lose_writes:
            if faults.lose_response_after == document_number:
                faults.lose_response_after = None
            if faults.lose_response_mode == "die":
                raise _SessionDied(
                    f"Web Connector died after QuickBooks ran request document {document_number}; "
                    "the response never reached the server"
                )
            return "", HRESULT_UNEXPECTED_ERROR, MESSAGE_UNEXPECTED_ERROR
        return response, hresult, message
