"""The Web Connector service: one method per QBWC operation, with the database behind it.

`QbwcService.handle(body)` takes the raw SOAP request and returns the raw SOAP response; the FastAPI route
is a thin adapter around it. Decisions come from `session.py`; this module loads and stores state. Any
exception inside an operation still produces a valid SOAP answer and leaves a useful getLastError text, so
the Web Connector never sees broken XML or a blank error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from ml_connector import __version__, metrics
from ml_connector.qbwc import session as rules
from ml_connector.qbwc import throttle
from ml_connector.qbwc.errors import ProtocolError
from ml_connector.qbwc.passwords import DUMMY_HASH, verify_password
from ml_connector.qbwc.soap import (
    Authenticate,
    Call,
    ClientVersion,
    CloseConnection,
    GetInteractiveURL,
    GetLastError,
    InteractiveDone,
    InteractiveRejected,
    QbwcConnectionError,
    ReceiveResponseXML,
    SendRequestXML,
    ServerVersion,
    SoapFault,
    parse_call,
    render_fault,
    render_result,
)
from ml_connector.qbwc.troubleshooting import explain_hresult
from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbxml.envelope import parse_response
from ml_connector.qbxml.errors import QbxmlParseError
from ml_connector.qbxml.host import parse_hcp
from ml_connector.runwindows import RunWindowSchedule
from ml_connector.storage.models import AuthFailure, Company, QbwcSession, utcnow

log = logging.getLogger(__name__)


def _yield_cpu() -> None:
    """Run this thread at a lower CPU priority (Linux threads are scheduled one by one; raising niceness
    needs no privilege). Elsewhere: nothing."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _PASSWORD_NICENESS)


# Password checks (scrypt: ~30 ms of one core and 16 MiB each) run one at a time on their own low-priority
# thread, so a flood of logins takes at most one core, and yields it to the webhooks' threads; see authenticate.
_PASSWORD_NICENESS = 10
_PASSWORD_CHECKS = ThreadPoolExecutor(1, thread_name_prefix="mlc-scrypt", initializer=_yield_cpu)

UNKNOWN_TICKET = (
    "ml-connector does not know this session (unknown or expired ticket). "
    "The Web Connector will start a new session at its next run."
)


@dataclass
class SessionEvents:
    """What happened during one call, for callers that act on it (delivery, metrics, sync triggers)."""

    deliver: list[int] = field(default_factory=list)
    arrived_company: str | None = None


class QbwcService:
    """Serves the QBWC operations for every configured company file."""

    def __init__(
        self,
        engine: Engine,
        queue: RequestQueue,
        *,
        linger_seconds: float = 10.0,
        ticket_idle_seconds: int = 1800,
        login_throttle: throttle.LoginThrottle | None = None,
        on_deliver: Callable[[Sequence[int]], None] | None = None,
        on_arrival: Callable[[str], bool] | None = None,
        run_windows: RunWindowSchedule | None = None,
        batch_hold_seconds: float = 0.0,
        batch_fill: int = 50,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.linger = timedelta(seconds=linger_seconds)
        self.ticket_idle = timedelta(seconds=ticket_idle_seconds)
        self.login_throttle = login_throttle or throttle.LoginThrottle()
        self.on_deliver = on_deliver
        self.on_arrival = on_arrival
        self.run_windows = run_windows or RunWindowSchedule({})
        self.batch_hold_seconds = batch_hold_seconds
        self.batch_fill = batch_fill
        self.clock = clock

    # ---- entry point ---------------------------------------------------------------------------------

    def handle(self, body: bytes, soap_action: str | None = None) -> tuple[int, bytes]:
        """One SOAP request in, (HTTP status, SOAP response) out."""
        try:
            call = parse_call(body, soap_action)
        except SoapFault as fault:
            log.info("qbwc: refused a malformed SOAP request: %s", fault.message)
            return 500, render_fault(fault)
        started = time.perf_counter()
        events = SessionEvents()
        try:
            result = self.dispatch(call, events)
        except Exception as exc:  # noqa: BLE001 - the Web Connector must still get valid SOAP
            log.exception("qbwc: %s failed", type(call).__name__)
            result = self._internal_error(call, exc)
        finally:
            elapsed = time.perf_counter() - started
            metrics.SOAP_LATENCY.labels(type(call).__name__).observe(elapsed)
            log.debug("qbwc: %s took %.1f ms", type(call).__name__, elapsed * 1000)
        if events.deliver and self.on_deliver is not None:
            self.on_deliver(events.deliver)
        try:
            return 200, render_result(call, result)
        except ProtocolError as exc:
            log.error("qbwc: our answer to %s could not be rendered: %s", type(call).__name__, exc.message)
            return 500, render_fault(exc)

    def dispatch(self, call: Call, events: SessionEvents) -> str | int | list[str]:
        match call:
            case ServerVersion():
                return f"ml-connector {__version__}"
            case ClientVersion():
                return ""
            case Authenticate():
                return self.authenticate(call, events)
            case SendRequestXML():
                return self.send_request_xml(call, events)
            case ReceiveResponseXML():
                return self.receive_response_xml(call, events)
            case QbwcConnectionError():
                return self.connection_error(call, events)
            case GetLastError():
                return self.get_last_error(call)
            case CloseConnection():
                return self.close_connection(call)
            case GetInteractiveURL():
                return ""
            case InteractiveDone():
                return "Done"
            case InteractiveRejected():
                return "ml-connector does not use interactive mode."
        raise SoapFault("Client", f"unsupported operation {type(call).__name__}")

    # ---- operations ----------------------------------------------------------------------------------

    def authenticate(self, call: Authenticate, events: SessionEvents) -> list[str]:
        # The rules (throttle.py): over-long credentials cost nothing; a throttled (address, user name) costs
        # one indexed read, no scrypt and no write; only checked failures are recorded, as hashes.
        now = self.clock()
        address = throttle.address_key(throttle.PEER.get())
        tag = throttle.name_tag(call.username[: throttle.MAX_USERNAME_CHARS + 1])
        if not throttle.acceptable_credentials(call.username, call.password):
            log.warning("qbwc: refused a login with an empty or oversized user name or password from %s", address)
            metrics.QBWC_SESSIONS.labels("", "nvu").inc()
            return _refused_login()
        key = throttle.username_key(call.username)
        with Session(self.engine) as db:
            failures = [
                _aware(at)
                for at in db.exec(
                    select(AuthFailure.at).where(
                        AuthFailure.username == key,
                        AuthFailure.address == address,
                        col(AuthFailure.at) >= self.login_throttle.window_start(now),
                    )
                ).all()
            ]
        if self.login_throttle.wait_until(failures, now) is not None:
            log.info("qbwc: login from %s for user #%s throttled (not checked)", address, tag)
            metrics.QBWC_SESSIONS.labels("", "nvu").inc()
            return _refused_login()
        with Session(self.engine) as db:
            company = db.exec(select(Company).where(Company.qbwc_username == call.username)).first()
            stored = company.password_hash if company else DUMMY_HASH
        # Always pay for one hash check so timing says nothing about whether the user exists; one at a time,
        # at low priority, so a flood of logins can take at most one core away from the webhooks.
        password_ok = _PASSWORD_CHECKS.submit(verify_password, call.password, stored).result()
        password_ok = password_ok and company is not None
        with Session(self.engine) as db:
            if not password_ok or company is None:
                db.add(AuthFailure(username=key, address=address, at=now))
                db.exec(delete(AuthFailure).where(col(AuthFailure.at) < now - timedelta(days=1)))  # type: ignore[call-overload]
                db.commit()
                log.warning("qbwc: authentication failed from %s for user #%s", address, tag)
                metrics.QBWC_SESSIONS.labels("", "nvu").inc()
                return _refused_login()
            if failures:
                db.exec(  # type: ignore[call-overload]
                    delete(AuthFailure).where(col(AuthFailure.username) == key, col(AuthFailure.address) == address)
                )
            company = db.get(Company, company.id)
            assert company is not None
            company.last_contact_at = now
            db.add(company)
            db.commit()
            company_id = company.id

        wait = self.run_windows.seconds_until_open(company_id, now)
        if wait > 0:
            # Outside the company's run window: nothing runs; the Web Connector waits until it opens.
            self._set_company_status(
                company_id, f"Outside the run window ({self.run_windows.describe(company_id)}); next run in {wait} s"
            )
            metrics.QBWC_SESSIONS.labels(company_id, "postponed").inc()
            return rules.AuthDecision(rules.AuthStatus.NONE, wait).result(secrets.token_hex(16))
        due = bool(self.on_arrival and self.on_arrival(company_id))
        events.arrived_company = company_id
        has_work = due or self.queue.has_work(company_id)
        decision = rules.decide_authenticate(password_ok=True, locked=False, has_work=has_work)
        if decision.status is not rules.AuthStatus.WORK:
            self._set_company_status(company_id, "Nothing to do")
            metrics.QBWC_SESSIONS.labels(company_id, "none").inc()
            return decision.result(secrets.token_hex(16))
        ticket = secrets.token_urlsafe(32)
        with Session(self.engine) as db:
            db.add(
                QbwcSession(
                    ticket=ticket,
                    company_id=company_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.ticket_idle,
                    linger_until=now + self.linger if due else None,
                )
            )
            db.commit()
        log.info("qbwc: session opened for company %s", company_id, extra={"company": company_id})
        metrics.QBWC_SESSIONS.labels(company_id, "work").inc()
        return decision.result(ticket)

    def send_request_xml(self, call: SendRequestXML, events: SessionEvents | None = None) -> str:
        now = self.clock()
        with Session(self.engine) as db:
            session = self._live_session(db, call.ticket, now)
            if session is None:
                return ""
            company = db.get(Company, session.company_id)
            if call.hcp_response and company is not None:
                self._record_host(company, call)
                db.add(company)
            if not rules.version_supported(call.major_version or "0"):
                session.last_error = (
                    f"This QuickBooks supports qbXML {call.major_version}.{call.minor_version}; ml-connector needs "
                    f"qbXML {rules.QBXML_VERSION} (QuickBooks Desktop 2014 or later). Update QuickBooks."
                )
                db.add(session)
                db.commit()
                return ""
            session.qbxml_version = f"{call.major_version}.{call.minor_version}"
            db.add(session)
            db.commit()
            company_id, ticket, round_trips = session.company_id, session.ticket, session.round_trips
            # receiveResponseXML moves linger_until to "answers delivered + linger": when they were delivered.
            answered_at = _aware(session.linger_until) - self.linger if session.linger_until else None

        # Outside the session's transaction: on SQLite a second connection would wait for its write lock.
        if round_trips > 0 and self.queue.should_hold(
            company_id,
            ticket,
            hold_seconds=self.batch_hold_seconds,
            fill=self.batch_fill,
            answered_at=answered_at,
        ):
            # A small batch mid-session: let it fill while QBWC waits its NoOp pause (see should_hold).
            with Session(self.engine) as db:
                held = db.get(QbwcSession, ticket)
                if held is not None:
                    held.noop_pending = True
                    db.add(held)
                    db.commit()
            return rules.PAUSE

        document = self.queue.next_document(company_id, ticket)
        if events is not None:
            events.deliver.extend(document.delivered)
        with Session(self.engine) as db:
            session = db.get(QbwcSession, ticket)
            assert session is not None
            if document.xml is not None:
                metrics.QBWC_ROUND_TRIPS.labels(company_id).inc()
                metrics.QBWC_REQUESTS_SENT.labels(company_id).inc(document.request_count)
                session.round_trips += 1
                session.requests_sent += document.request_count
                session.noop_pending = False
                db.add(session)
                db.commit()
                return document.xml
            if session.linger_until is not None and _aware(session.linger_until) > now:
                # Workflows that just got answers may queue follow-ups: keep the session open a little.
                session.noop_pending = True
                db.add(session)
                db.commit()
                return rules.PAUSE
            session.noop_pending = False
            session.last_error = f"ml-connector: done, {session.responses_received} requests answered."
            db.add(session)
            db.commit()
            return ""

    def receive_response_xml(self, call: ReceiveResponseXML, events: SessionEvents) -> int:
        now = self.clock()
        with Session(self.engine) as db:
            session = self._live_session(db, call.ticket, now)
            if session is None:
                return -1
            company_id, ticket = session.company_id, session.ticket

        if call.hresult:
            outcome = self.queue.receive_hresult(company_id, ticket, call.hresult, call.message)
            error = f"{outcome.error} {explain_hresult(call.hresult)}".strip()
        else:
            try:
                response = parse_response(call.response)
            except QbxmlParseError as exc:
                outcome = self.queue.receive_hresult(company_id, ticket, "unreadable", str(exc))
                error = f"QuickBooks' response could not be read: {exc}"
            else:
                outcome = self.queue.receive(company_id, ticket, response)
                error = outcome.error
        events.deliver.extend(outcome.delivered)

        remaining = self.queue.remaining(company_id, ticket)
        with Session(self.engine) as db:
            session = db.get(QbwcSession, ticket)
            assert session is not None
            session.responses_received += outcome.answered
            if outcome.refused:
                session.refusals += 1
                session.last_error = f"QuickBooks refused a request document: {error}"
                log.warning("qbwc: company %s: %s", company_id, session.last_error, extra={"company": company_id})
                metrics.QBWC_REFUSALS.labels(company_id).inc()
            elif call.hresult or error:
                session.hresult_errors += 1
                session.last_error = error
            if outcome.delivered:
                session.linger_until = now + self.linger
            lingering = session.linger_until is not None and _aware(session.linger_until) > now
            fatal = (
                session.hresult_errors >= rules.MAX_HRESULTS_PER_SESSION
                or session.refusals >= rules.MAX_REFUSALS_PER_SESSION
            )
            db.add(session)
            db.commit()
            if fatal:
                return -1
            return rules.percent_complete(
                answered=session.responses_received, remaining=remaining, lingering=lingering
            )

    def connection_error(self, call: QbwcConnectionError, events: SessionEvents) -> str:
        now = self.clock()
        text = (
            f"QuickBooks could not be opened ({call.hresult}): {call.message} {explain_hresult(call.hresult)}"
        )
        with Session(self.engine) as db:
            session = self._live_session(db, call.ticket, now)
            if session is None:
                return "done"
            session.last_error = text.strip()
            session.closed_at = now
            db.add(session)
            db.commit()
            company_id = session.company_id
        self._set_company_status(company_id, text.strip())
        events.deliver.extend(self.queue.note_connection_error(company_id, text.strip()))
        metrics.QBWC_CONNECTION_ERRORS.labels(company_id, call.hresult.strip().lower() or "unknown").inc()
        log.warning("qbwc: company %s: %s", company_id, text.strip(), extra={"company": company_id})
        return "done"

    def get_last_error(self, call: GetLastError) -> str:
        now = self.clock()
        with Session(self.engine) as db:
            session = self._live_session(db, call.ticket, now)
            if session is None:
                return UNKNOWN_TICKET
            if session.noop_pending:
                session.noop_pending = False
                db.add(session)
                db.commit()
                return rules.NOOP
            return session.last_error or "No error."

    def close_connection(self, call: CloseConnection) -> str:
        now = self.clock()
        with Session(self.engine) as db:
            session = db.get(QbwcSession, call.ticket)
            if session is None:
                return "OK"
            session.closed_at = now
            db.add(session)
            db.commit()
            company_id = session.company_id
            summary = (
                f"OK: {session.responses_received} requests answered in {session.round_trips} round trips."
            )
            if session.last_error and not session.last_error.startswith("ml-connector: done"):
                summary += f" Last problem: {session.last_error}"
        self.queue.close_session(call.ticket)
        self._set_company_status(company_id, summary)
        return summary

    # ---- helpers -------------------------------------------------------------------------------------

    def _live_session(self, db: Session, ticket: str, now: datetime) -> QbwcSession | None:
        session = db.get(QbwcSession, ticket)
        if session is None or session.closed_at is not None or _aware(session.expires_at) <= now:
            return None
        session.last_seen_at = now
        session.expires_at = now + self.ticket_idle
        db.add(session)
        return session

    def _record_host(self, company: Company, call: SendRequestXML) -> None:
        try:
            info = parse_hcp(call.hcp_response)
        except (QbxmlParseError, ValueError) as exc:
            log.warning("qbwc: could not read the host/company/preferences response: %s", exc)
            return
        company.qb_product = info.product_name or ""
        company.country = call.country
        company.company_file = call.company_file_name
        company.qbxml_version = f"{call.major_version}.{call.minor_version}"
        company.host_info = repr(info)

    def _set_company_status(self, company_id: str, text: str) -> None:
        with Session(self.engine) as db:
            company = db.get(Company, company_id)
            if company is not None:
                company.last_session_status = text[:500]
                db.add(company)
                db.commit()

    def _internal_error(self, call: Call, exc: Exception) -> str | int | list[str]:
        """Answer in the operation's own terms and leave a getLastError text that says what went wrong."""
        text = (
            f"ml-connector internal error in {type(call).__name__}: {type(exc).__name__}. See the server log."
        )
        ticket = getattr(call, "ticket", None)
        if ticket:
            try:
                with Session(self.engine) as db:
                    session = db.get(QbwcSession, ticket)
                    if session is not None:
                        session.last_error = text
                        session.noop_pending = False
                        db.add(session)
                        db.commit()
            except Exception:  # noqa: BLE001 - the database may be what failed
                log.exception("qbwc: could not record the error on the session")
        match call:
            case Authenticate():
                return [secrets.token_hex(16), rules.AuthStatus.BUSY.value]
            case ReceiveResponseXML():
                return -1
            case QbwcConnectionError():
                return "done"
            case GetLastError():
                return text
            case CloseConnection():
                return text
        return ""


def _refused_login() -> list[str]:
    return rules.decide_authenticate(password_ok=False, locked=False, has_work=False).result(secrets.token_hex(16))


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes even for timezone-aware columns; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
