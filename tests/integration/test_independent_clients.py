"""Web Connector clients we did not write, against the live gateway.

Everything else in the suite drives the gateway with ``ml_connector.simulator.webconnector``, written by the
same hands and from the same notes as the gateway, so it shares every wrong assumption. The tests here put
two independent client implementations in front of the real gateway, over real HTTP:

- **qbwc-kit** (PyPI ``qbwc-kit``, ``qbwc_kit.testing.FakeWebConnector``): a third party's replay of the Web
  Connector's call sequence. Its envelopes come from ``qbwc_kit.soap.build_request``; it hands whatever
  ``sendRequestXML`` returns to QuickBooks and ends its update when ``sendRequestXML`` answers ``""`` (it
  does not call getLastError there, so a pause ends its update; the next scheduled update carries on).
- **zeep**, a WSDL-driven SOAP client: it learns every operation, element name, type and SOAPAction from the
  WSDL the gateway serves at ``GET /qbwc?wsdl`` and from Intuit's own contract (the ``QBWebConnectorSvc.wsdl``
  copy in consolibyte/quickbooks-php), the way the .NET Web Connector's generated proxy does.

QuickBooks behind the clients is the product's simulator (``QuickBooksProcessor.process``) or qbwc-kit's own
``FakeQuickBooks``; the point is the client side. The rules checked, and where they are stated:

- Intuit, *QuickBooks Web Connector Programmer's Guide*, "QBWC Callback Web Method Reference" [PG];
- consolibyte/quickbooks-php ``QuickBooks/WebConnector/Server.php`` and ``QuickBooks/QBWebConnectorSvc.wsdl``
  [PHP];
- qbwc-kit 0.1.3 ``qbwc_kit/testing.py`` and ``qbwc_kit/soap.py`` [KIT];
- /n software QBWCServer, GetLastError event (the Pause flag) [NSW].
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import stripe
import zeep
from lxml import etree
from qbwc_kit import soap as kit_soap
from qbwc_kit.testing import FakeQuickBooks, FakeWebConnector, UpdateResult
from sqlmodel import Session, col, select
from temporalio.client import Client

from ml_connector.fakestripe import FakeStripeServer
from ml_connector.qbwc.session import NOOP
from ml_connector.qbxml.payments import external_guid_for
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor
from ml_connector.simulator.seed import seed_company
from ml_connector.storage.models import CustomerLink, InvoiceLink, QbRequest
from ml_connector.sync.link_field import LinkField
from tests.harness import PASSWORD, USERNAME, LiveSystem, live_system
from tests.integration.test_customer_sync_end_to_end import first_sync_done
from tests.payments_support import Books, StripeSide, World, payments_world
from tests.qb_workflows import AddCustomersInput, AddCustomersWorkflow

pytestmark = pytest.mark.slow

QBWC_NS = "http://developer.intuit.com/"
BINDING = f"{{{QBWC_NS}}}QBWebConnectorSvcSoap"
# Intuit's contract as shipped by consolibyte/quickbooks-php (QuickBooks/QBWebConnectorSvc.wsdl, verbatim copy;
# see /work/shared/qb/SOURCES.md). The .NET Web Connector is a client of this contract, not of ours.
INTUIT_WSDL = Path("/work/shared/qb/qbwc.wsdl")
QBWC_BUILD = "2.3.0.215"  # a current Web Connector build, as sent in clientVersion
PAID_IN_FULL = 3
KIT_STRIPE_KEY = "sk_test_independent_clients"
COMPANY_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Acme.QBW"


# ---- qbwc-kit's Web Connector over real HTTP --------------------------------------------------------------


def _operation_of(envelope: str) -> str:
    """The operation a SOAP request envelope calls: the local name of the Body's first child."""
    root = ET.fromstring(envelope)
    body = next(child for child in root if kit_soap.localname(child.tag) == "Body")
    return kit_soap.localname(next(iter(body)).tag)


@dataclass
class HttpTransport:
    """qbwc-kit's ``Transport``: POST the envelope to the live ``/qbwc`` as the .NET Web Connector does.

    The Web Connector's proxy is a .NET ``SoapHttpClientProtocol``: SOAP 1.1 over HTTP POST with
    ``Content-Type: text/xml; charset=utf-8`` and the operation's SOAPAction from the WSDL, quoted
    (``"http://developer.intuit.com/<op>"``). Every exchange is kept so tests can read the transcript.
    """

    url: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))
    exchanges: list[tuple[str, int]] = field(default_factory=list)  # (operation, HTTP status)

    def __call__(self, body: str) -> str:
        operation = _operation_of(body)
        reply = self.client.post(
            self.url,
            content=body.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{QBWC_NS}{operation}"'},
        )
        self.exchanges.append((operation, reply.status_code))
        return reply.text

    def close(self) -> None:
        self.client.close()


@dataclass
class SimulatedQuickBooks:
    """qbwc-kit's ``Responder``, answered by the product's QuickBooks simulator.

    QuickBooks' request processor is given exactly what sendRequestXML returned; one that is not a qbXML
    document fails there (0x80040400, ``RequestProcessorError``) and fails the test with it.
    """

    processor: QuickBooksProcessor
    requests: list[str] = field(default_factory=list)

    def __call__(self, request_xml: str) -> str:
        self.requests.append(request_xml)
        return self.processor.process(request_xml)


@dataclass
class KitUpdates:
    """qbwc-kit's Web Connector on a schedule: one ``run_update`` per scheduled run, QuickBooks behind it."""

    web_connector: FakeWebConnector
    transport: HttpTransport
    quickbooks: Callable[[str], str]
    end_quickbooks_session: Callable[[], None] = lambda: None
    updates: list[UpdateResult] = field(default_factory=list)

    @classmethod
    def against(
        cls,
        system: LiveSystem,
        quickbooks: Callable[[str], str],
        end_quickbooks_session: Callable[[], None] = lambda: None,
    ) -> KitUpdates:
        transport = HttpTransport(system.url)
        web_connector = FakeWebConnector(
            transport,
            username=USERNAME,
            password=PASSWORD,
            client_version=QBWC_BUILD,
            company_file=COMPANY_FILE,
            max_round_trips=100,
        )
        return cls(web_connector, transport, quickbooks, end_quickbooks_session)

    def run_update(self) -> UpdateResult:
        try:
            result = self.web_connector.run_update(self.quickbooks)
        finally:
            # The Web Connector ends QuickBooks' session (EndSession/CloseConnection) with every update.
            self.end_quickbooks_session()
        self.updates.append(result)
        return result

    async def until(self, done: Callable[[], Awaitable[bool]], *, timeout: float = 120) -> int:
        """Run scheduled updates (off the event loop the gateway serves on) until ``done()`` holds.

        Each update is checked as it ends, so a broken session fails the test at once, not at the timeout.
        """
        deadline = time.monotonic() + timeout
        runs = 0
        while time.monotonic() < deadline:
            check_update(await asyncio.to_thread(self.run_update))
            runs += 1
            if await done():
                return runs
            await asyncio.sleep(0.3)
        raise AssertionError(f"not done after {runs} qbwc-kit updates: {self.describe()}")

    def describe(self) -> str:
        return "; ".join(
            f"[auth={u.authenticated} trips={u.round_trips} progress={u.progress} "
            f"error={u.last_error!r} close={u.close_message!r}]"
            for u in self.updates[-8:]
        )

    def assert_every_update_completed(self) -> None:
        """What the Web Connector shows a person after each update: no error, a clean close."""
        assert self.updates, "no update ran"
        faults = [exchange for exchange in self.transport.exchanges if exchange[1] != 200]
        assert not faults, f"every SOAP call is answered 200, without a fault: {faults}"
        for update in self.updates:
            check_update(update)


def check_update(update: UpdateResult) -> None:
    """One update as the Web Connector reports it: progress 0..100, never negative [PG
    "receiveResponseXML"]; a session that opened ends in closeConnection with a status line and no problem;
    a session that did not open was told ``none`` (nothing to do), never ``nvu``/``busy`` [PG "authenticate"]."""
    assert not update.failed, f"receiveResponseXML answered a negative value: {update.progress}"
    assert all(0 <= p <= 100 for p in update.progress), update.progress
    if update.authenticated:
        assert update.close_message.startswith("OK"), update.close_message
        assert "Last problem" not in update.close_message, update.close_message
    else:
        assert update.last_error == "none", f"authenticate refused the update: {update.last_error!r}"


_QBXML_VERSION = re.compile(r'<\?qbxml\s+version="(\d+)\.(\d+)"\s*\?>')
MESSAGE_SET_ID_MAX_CHARS = 23  # newMessageSetID / oldMessageSetID (Intuit's qbXML message-set attributes)


def _check_documents(requests: list[str], announced: tuple[int, int]) -> None:
    """What QuickBooks' request processor requires of every document the Web Connector hands it.

    - a qbXML document, never other text (anything else fails with 0x80040400) [PG "sendRequestXML"];
    - ``<?qbxml version?>`` no higher than the qbXMLMajorVers/MinorVers sent in sendRequestXML [PG];
    - a ``newMessageSetID`` of at most 23 characters, never reused for another document (QuickBooks keeps
      the answer under that id for error recovery) [Intuit, qbXML message-set attributes; SDK "Error
      recovery"].
    """
    seen_ids: set[str] = set()
    for request in requests:
        assert request.lstrip().startswith("<?xml"), (
            f"sendRequestXML answered a non-qbXML text: {request[:40]!r}"
        )
        version = _QBXML_VERSION.search(request)
        assert version is not None, "a qbXML document names its version"
        assert (int(version[1]), int(version[2])) <= announced, (
            f"qbXML {version[1]}.{version[2]} > {announced}"
        )
        root = ET.fromstring(request)
        assert root.tag == "QBXML"
        msgs = root.find("QBXMLMsgsRq")
        assert msgs is not None
        new_id = msgs.get("newMessageSetID")
        if new_id is not None:
            assert 0 < len(new_id) <= MESSAGE_SET_ID_MAX_CHARS, f"newMessageSetID {new_id!r} is too long"
            assert new_id not in seen_ids, f"newMessageSetID {new_id!r} used twice"
            seen_ids.add(new_id)


def _request_counts(requests: list[str]) -> Counter[str]:
    """How many of each ``*Rq`` QuickBooks was given, over all documents."""
    counts: Counter[str] = Counter()
    for request in requests:
        msgs = ET.fromstring(request).find("QBXMLMsgsRq")
        assert msgs is not None
        counts.update(child.tag for child in msgs)
    return counts


# ---- 1. qbwc-kit's Web Connector runs a full update: customer sync, then payments -------------------------


async def test_qbwc_kit_web_connector_runs_the_customer_sync_and_then_posts_each_payment_once(
    temporal_client: Client, database_url: str
) -> None:
    """qbwc-kit's FakeWebConnector, on a schedule, completes every update against the live gateway [KIT].

    Rules checked:
    - sendRequestXML answers a qbXML document or ``""``, nothing else: the Web Connector hands any other text
      to QuickBooks' request processor, which cannot parse it (0x80040400) [PG "sendRequestXML"; PHP
      Server.php]. qbwc-kit passes every answer to QuickBooks and stops its update on ``""``.
    - receiveResponseXML answers 0..100; a negative value is an error the user sees [PG].
    - an update ends with closeConnection, whose text QBWC shows; work not done in one update is carried by
      the next scheduled one (authenticate answers ``none`` when there is nothing to do) [PG "authenticate"].
    - end to end: the customers of the company file land in Stripe, and every Stripe payment becomes exactly
      one ReceivePayment applied to its invoice, whatever client carried the documents.
    """
    company = CompanyFile()
    seeded = seed_company(company, customers=6, open_invoices=5)
    books = Books(company, seeded.chart)
    company_id = f"kit-{uuid.uuid4().hex[:8]}"  # its own sync workflow on the shared Temporal server
    async with payments_world(
        database_url,
        temporal_client,
        books,
        MLC_COMPANY_ID=company_id,
        MLC_STRIPE_RATE_LIMIT="400",
    ) as world:
        system = world.system
        quickbooks = SimulatedQuickBooks(system.processor)
        kit = KitUpdates.against(system, quickbooks, system.processor.end_session)
        try:
            # 1. QuickBooks -> Stripe: the first updates find the first poll due and run the customer sync.
            await kit.until(first_sync_done(system, company_id))
            _assert_customers_in_stripe(world, company)

            # 2. Stripe -> QuickBooks: invoices mirrored by the sync are paid by card in Stripe, one partly.
            payments = await asyncio.to_thread(
                _pay_mirrored_invoices, world.stripe, system, full=PAID_IN_FULL, partial=1
            )
            before = {txn: company.invoices[txn].balance_remaining for _, txn, _ in payments}
            payments_before = len(company.receive_payments)
            await world.stripe.deliver()

            async def all_booked() -> bool:
                return {pi for pi, _, _ in payments} <= set(await asyncio.to_thread(world.booked))

            await kit.until(all_booked)
        finally:
            kit.transport.close()

        kit.assert_every_update_completed()
        _check_documents(quickbooks.requests, kit.web_connector.qbxml_version)
        assert len(kit.updates) >= 2, (
            "the work took more than one scheduled update, and each picked up the rest"
        )
        sent = _request_counts(quickbooks.requests)
        assert sent["DataExtDefAddRq"] == 1, "the first write to a new company file, the custom field, once"
        assert sent["ReceivePaymentAddRq"] == len(payments), "each payment sent to QuickBooks once"

        receive_payments = list(company.receive_payments.values())
        assert len(receive_payments) == payments_before + len(payments), "one ReceivePayment per payment"
        by_guid = Counter(p.external_guid for p in receive_payments)
        for pi, txn, cents in payments:
            assert by_guid[external_guid_for(pi)] == 1, f"{pi}: exactly one ReceivePayment"
            posted = next(p for p in receive_payments if p.external_guid == external_guid_for(pi))
            assert posted.total_amount == Decimal(cents) / 100, f"{pi}: the amount Stripe took, to the cent"
            assert [a.invoice_txn_id for a in posted.applications] == [txn], f"{pi}: applied to its invoice"
            assert company.invoices[txn].balance_remaining == before[txn] - Decimal(cents) / 100, txn
        settled = sum(1 for _, txn, _ in payments if company.invoices[txn].balance_remaining == 0)
        assert settled == PAID_IN_FULL, "the invoices paid in full are settled, the one paid in part is not"


def _assert_customers_in_stripe(world: World, company: CompanyFile) -> None:
    """Every active customer of the company file has one Stripe customer, tagged with its ListID."""
    with company.lock:
        active = {c.list_id for c in company.customers.values() if c.sublevel == 0 and c.is_active}
    with Session(world.system.engine) as db:
        links = {r.qb_list_id: r.stripe_customer_id for r in db.exec(select(CustomerLink)).all()}
    in_stripe = {
        c.id: c.to_dict() for c in world.stripe.client.v1.customers.list({"limit": 100}).auto_paging_iter()
    }
    assert active and active <= set(links), "every active customer is linked"
    assert len(in_stripe) == len(links), "one Stripe customer per link, no duplicate"
    for list_id in active:
        assert in_stripe[links[list_id]]["metadata"]["qb_list_id"] == list_id


def _pay_mirrored_invoices(
    side: StripeSide, system: LiveSystem, *, full: int, partial: int
) -> list[tuple[str, str, int]]:
    """Pay open Stripe invoices mirrored from QuickBooks: ``full`` in full through the Stripe invoice, then
    ``partial`` in part by a PaymentIntent naming the QuickBooks invoice. [(PaymentIntent, TxnID, cents)]"""
    with Session(system.engine) as db:
        links = list(db.exec(select(InvoiceLink).order_by(col(InvoiceLink.id))).all())
    paid: list[tuple[str, str, int]] = []
    for link in links:
        if len(paid) == full + partial:
            break
        invoice = side.client.v1.invoices.retrieve(link.stripe_invoice_id)
        if invoice.status != "open" or not invoice.amount_due or not isinstance(invoice.customer, str):
            continue
        if len(paid) < full:
            side.client.v1.invoices.pay(str(invoice.id), {"payment_method": "pm_card_visa"})
            payment = side.client.v1.invoice_payments.list({"invoice": str(invoice.id)}).data[0].payment
            pi = payment.payment_intent
            assert pi is not None
            paid.append((pi if isinstance(pi, str) else str(pi.id), link.qb_txn_id, invoice.amount_due))
        else:
            cents = invoice.amount_due // 2
            paid.append(
                (side.pay(invoice.customer, cents, {"qb_txn_id": link.qb_txn_id}), link.qb_txn_id, cents)
            )
    assert len(paid) == full + partial, f"only {len(paid)} open mirrored invoices"
    return paid


# ---- 2. A WSDL-driven SOAP client calls every operation the way the .NET Web Connector does ---------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The SOAP contract does not depend on the database; one is enough here."""
    return f"sqlite:///{tmp_path / 'mlc.db'}"


@dataclass
class SoapTranscript(zeep.Plugin):
    """A zeep plugin keeping what went over the wire: operation, SOAPAction header, Body child, result."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (operation, SOAPAction, Body child)
    results: list[tuple[str, Any]] = field(default_factory=list)  # (operation, decoded result)

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, binding_options: Any
    ) -> tuple[etree._Element, dict[str, str]]:
        body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
        assert body is not None
        self.calls.append((operation.name, http_headers.get("SOAPAction", ""), body[0].tag))
        return envelope, http_headers

    def call(self, service: Any, operation: str, *args: Any) -> Any:
        result = getattr(service, operation)(*args)
        self.results.append((operation, result))
        return result

    def sequence(self) -> list[tuple[str, Any]]:
        return [(op, _plain(value)) for op, value in self.results]


def _plain(value: Any) -> Any:
    """zeep decodes ArrayOfString as an object holding ``string``; everything else is a Python scalar."""
    if value is not None and hasattr(value, "string"):
        return list(value.string)
    return value


def _dotnet_web_connector_run(
    service: Any, transcript: SoapTranscript, processor: QuickBooksProcessor, *, pause_seconds: float = 0.2
) -> dict[str, Any]:
    """One scheduled run of the Web Connector as Intuit describes it [PG], through a WSDL-generated proxy.

    Run 1 finds QuickBooks closed (connectionError); run 2 exchanges the documents, pausing as told
    (sendRequestXML "" -> getLastError "NoOp" -> wait -> sendRequestXML again; QBWC waits about 5 s, we wait
    ``pause_seconds``) until getLastError says anything else, then closes.
    """
    call = transcript.call
    out: dict[str, Any] = {}
    out["server_version"] = call(service, "serverVersion", None)
    out["client_version"] = call(service, "clientVersion", QBWC_BUILD)
    out["refused"] = _plain(call(service, "authenticate", USERNAME, "not the password"))

    # Run 1: QuickBooks is closed; the Web Connector reports it instead of asking for work.
    ticket, status = _plain(call(service, "authenticate", USERNAME, PASSWORD))[:2]
    out["closed_status"] = status
    out["connection_error"] = call(
        service, "connectionError", ticket, "0x80040408", "Could not start QuickBooks."
    )

    # Run 2: QuickBooks is open.
    ticket, status = _plain(call(service, "authenticate", USERNAME, PASSWORD))[:2]
    out["open_status"] = status
    hcp = processor.hcp_response()
    progress: list[int] = []
    pauses = 0
    while True:
        request = call(service, "sendRequestXML", ticket, hcp, COMPANY_FILE, "US", 13, 0)
        hcp = ""  # only the first sendRequestXML of a session carries the Host/Company/Preferences answer
        if request:
            progress.append(call(service, "receiveResponseXML", ticket, processor.process(request), "", ""))
            if progress[-1] < 0:
                out["last_error"] = call(service, "getLastError", ticket)
                break
            continue
        last_error = call(service, "getLastError", ticket)
        if last_error != NOOP:
            out["last_error"] = last_error
            break
        pauses += 1
        assert pauses < 50, "the gateway kept the Web Connector paused without end"
        time.sleep(pause_seconds)
    out["progress"], out["pauses"] = progress, pauses
    out["closed"] = call(service, "closeConnection", ticket)
    processor.end_session()
    # The ticket dies with closeConnection [PG]: a late call on it is answered, in the operation's own type.
    out["late_receive"] = call(service, "receiveResponseXML", ticket, "", "", "")
    return out


@pytest.mark.parametrize("contract", ["served WSDL", "Intuit WSDL"])
async def test_a_wsdl_driven_client_calls_every_operation_as_the_dotnet_web_connector_does(
    temporal_client: Client, sqlite_url: str, contract: str
) -> None:
    """zeep, knowing only a WSDL, completes a QuickBooks-closed run and a full run with NoOp pauses.

    - "served WSDL": the description at ``GET /qbwc?wsdl``, used as is (its soap:address must be this
      installation's endpoint, ``$MLC_PUBLIC_URL/qbwc``).
    - "Intuit WSDL": Intuit's QBWebConnectorSvc contract [PHP], bound to the live endpoint; the real Web
      Connector is a client of that contract, so the gateway must answer what a proxy generated from it reads.

    Rules checked, each stated in [PG] unless noted: document/literal SOAP 1.1 with SOAPAction
    ``http://developer.intuit.com/<op>`` and ``<op>``/``<opResponse><opResult>`` wrappers; serverVersion and
    clientVersion answer strings ("" or null from clientVersion = carry on); authenticate answers a string
    array ``[ticket, status]``, status "nvu" for a wrong password and "" (the open company file) when there
    is work; connectionError answers "done" to give up until the next run; sendRequestXML answers qbXML or
    ""; after "" getLastError answers "NoOp" to pause (QBWC waits and calls sendRequestXML again) [PHP
    Server.php, NSW]; receiveResponseXML answers an int 0..100; closeConnection answers the text QBWC shows.
    """
    company = CompanyFile()
    # Markup characters and a non-ASCII letter QuickBooks can store (Windows-1252) travel as escaped text.
    names = ["Wsdl Client Hardware", "O'Brien & Sons <WSDL>", "Zürich Dental (WSDL)"]
    async with live_system(
        sqlite_url, temporal_client, workflows=[AddCustomersWorkflow], company=company
    ) as system:
        handle = await temporal_client.start_workflow(
            AddCustomersWorkflow.run,
            AddCustomersInput(system.settings.companies[0].id, names),
            id=f"wsdl-{uuid.uuid4().hex[:8]}",
            task_queue=system.task_queue,
        )
        await _queued(system, len(names))
        transcript = SoapTranscript()
        if contract == "served WSDL":
            client = await asyncio.to_thread(zeep.Client, f"{system.url}?wsdl", plugins=[transcript])
            address = client.wsdl.services["QBWebConnectorSvc"].ports["QBWebConnectorSvcSoap"].binding_options
            assert address["address"] == system.settings.qbwc_url == system.url, "the WSDL names our endpoint"
            service = client.service
        else:
            client = zeep.Client(str(INTUIT_WSDL), plugins=[transcript])
            service = client.create_service(BINDING, system.url)
        run = await asyncio.to_thread(_dotnet_web_connector_run, service, transcript, system.processor)
        list_ids = await asyncio.wait_for(handle.result(), timeout=60)

    operations = set(client.wsdl.bindings[BINDING].all())
    assert operations == {
        "serverVersion", "clientVersion", "authenticate", "sendRequestXML",
        "receiveResponseXML", "connectionError", "getLastError", "closeConnection",
    }  # fmt: skip
    assert {op for op, _, _ in transcript.calls} == operations, "every operation of the WSDL was called"
    for op, action, body_child in transcript.calls:
        assert action == f'"{QBWC_NS}{op}"', "SOAPAction from the WSDL, quoted as .NET sends it"
        assert body_child == f"{{{QBWC_NS}}}{op}", "document/literal: the Body holds the <op> wrapper"

    assert isinstance(run["server_version"], str) and run["server_version"].startswith("ml-connector")
    assert run["client_version"] in ("", None), "clientVersion: carry on (no W:/E:/O: message)"
    refused = run["refused"]
    assert isinstance(refused, list) and all(isinstance(s, str) for s in refused)
    assert len(refused) >= 2 and refused[1] == "nvu", "a wrong password is 'not a valid user'"
    # An empty <string/> is "" to .NET and None to zeep (no xsi:nil either way): "use the open company file".
    assert run["closed_status"] in ("", None) and run["open_status"] in ("", None), "work to do"
    assert run["connection_error"] == "done", "QuickBooks closed: give up until the next scheduled run"
    assert run["progress"] and all(isinstance(p, int) and 0 <= p <= 100 for p in run["progress"])
    assert run["pauses"] >= 1, "the session lingered with NoOp pauses after the answers were delivered"
    assert isinstance(run["last_error"], str) and run["last_error"].startswith("ml-connector: done"), run
    assert isinstance(run["closed"], str) and run["closed"].startswith("OK"), run["closed"]
    assert "Last problem" not in run["closed"], run["closed"]
    assert run["late_receive"] == -1, "a closed ticket is refused with a negative int"

    sequence = [op for op, _ in transcript.sequence()]
    values = [value for _, value in transcript.sequence()]
    paused_and_resumed = any(
        sequence[i : i + 3] == ["sendRequestXML", "getLastError", "sendRequestXML"]
        and values[i] in ("", None)
        and values[i + 1] == NOOP
        for i in range(len(sequence) - 2)
    )
    assert paused_and_resumed, 'sendRequestXML "" -> getLastError "NoOp" -> sendRequestXML again'
    for op, value in transcript.sequence():
        if op == "sendRequestXML":
            assert value in ("", None) or value.lstrip().startswith("<?xml"), f"not qbXML: {value[:40]!r}"

    with company.lock:
        added = Counter(c.name for c in company.customers.values())
        named = [company.customers[list_id].name for list_id in list_ids if list_id in company.customers]
    assert named == names, f"the workflow got the ListIDs of its customers: {list_ids}"
    assert all(added[name] == 1 for name in names), f"each customer added exactly once: {added}"


async def _queued(system: LiveSystem, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(system.engine) as db:
            if len(db.exec(select(QbRequest).where(QbRequest.status == "pending")).all()) >= count:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} requests were never queued")


# ---- 3. qbwc-kit on both sides: its Web Connector and its QuickBooks --------------------------------------


def _kit_customer(list_id: str, name: str, created: str, **fields: str) -> dict[str, str]:
    """A CustomerRet as QuickBooks returns it (qbXML 13.0 element names), as a qbwc-kit FakeQuickBooks record."""
    return {
        "ListID": list_id,
        "TimeCreated": created,
        "TimeModified": created,
        "EditSequence": list_id.split("-")[1],
        "Name": name,
        "FullName": name,
        "IsActive": "true",
        "Sublevel": "0",
        **fields,
    }


async def test_qbwc_kit_quickbooks_and_web_connector_get_a_new_company_file_linked_to_stripe(
    temporal_client: Client, sqlite_url: str
) -> None:
    """With qbwc-kit on both sides of the gateway -- its Web Connector and its ``FakeQuickBooks`` -- a new
    company file is set up and its customers are linked to Stripe [KIT].

    Nothing here was written from our notes but the gateway and the workflows: the qbXML we send is read by
    qbwc-kit's parser (which answers unknown list types generically, ``status 1`` for an empty result), and
    the answers we read are qbwc-kit's rendering of QuickBooks (no retCount, records in its own order). Rules:
    - the first write to a new company file is the custom-field definition (DataExtDefAdd: public OwnerID 0,
      STR255TYPE, AssignToObject Customer), sent once [qbXML 13.0, qbxmlops130.xsd DataExtDefAdd];
    - each customer's Stripe id is written back as a DataExtAdd on that customer (ListObjRef), once;
    - each customer lands in Stripe once, tagged with its ListID; and every update closes cleanly.
    """
    field_name = LinkField("dataext").dataext_name
    quickbooks = FakeQuickBooks(
        entities={
            "Customer": [
                _kit_customer(
                    "80000001-1700000000",
                    "Acme Hardware",
                    "2024-01-02T10:00:00-05:00",
                    Email="ap@acme.example",
                ),
                _kit_customer("80000002-1700000001", "Globex Supply", "2024-01-03T10:00:00-05:00"),
                _kit_customer("80000003-1700000002", "O'Brien & Sons", "2024-01-04T10:00:00-05:00"),
            ]
        }
    )
    customers = {c["ListID"]: c for c in quickbooks.entities["Customer"]}
    company_id = f"kitqb-{uuid.uuid4().hex[:8]}"
    with FakeStripeServer(api_keys={KIT_STRIPE_KEY}) as fake:
        sdk = stripe.StripeClient(KIT_STRIPE_KEY, base_addresses={"api": fake.url}, max_network_retries=0)
        async with live_system(
            sqlite_url,
            temporal_client,
            MLC_COMPANY_ID=company_id,
            MLC_STRIPE_API_KEY=KIT_STRIPE_KEY,
            MLC_STRIPE_API_BASE=fake.url,
            MLC_STRIPE_RATE_LIMIT="400",
        ) as system:
            kit = KitUpdates.against(system, quickbooks)
            try:
                await kit.until(first_sync_done(system, company_id))
                await asyncio.to_thread(kit.run_update)  # the next scheduled run: nothing left to do
            finally:
                kit.transport.close()
        in_stripe = [c.to_dict() for c in sdk.v1.customers.list({"limit": 100}).auto_paging_iter()]

    kit.assert_every_update_completed()
    assert kit.updates[-1].last_error == "none", "once linked, the next update finds nothing to do"
    sent = _request_counts(quickbooks.seen)
    assert sent["DataExtDefAddRq"] == 1, "the custom field is defined once"
    assert sent["DataExtAddRq"] == len(customers), "one write-back per customer, none re-sent"
    [definition] = quickbooks.entities["DataExtDef"]
    assert (definition["OwnerID"], definition["DataExtName"], definition["DataExtType"]) == (
        "0",
        field_name,
        "STR255TYPE",
    )
    assert definition["AssignToObject"] == "Customer"

    assert sorted(c["metadata"]["qb_list_id"] for c in in_stripe) == sorted(customers), "each customer once"
    by_list_id = {c["metadata"]["qb_list_id"]: c for c in in_stripe}
    for list_id, record in customers.items():
        assert by_list_id[list_id]["name"] == record["Name"]
        assert by_list_id[list_id]["metadata"]["qb_company"] == company_id
    assert by_list_id["80000001-1700000000"]["email"] == "ap@acme.example"
    written = {v["ListObjRef"]["ListID"]: v for v in quickbooks.entities["DataExt"]}
    assert set(written) == set(customers)
    for list_id, value in written.items():
        assert (value["OwnerID"], value["DataExtName"]) == ("0", field_name)
        assert value["DataExtValue"] == by_list_id[list_id]["id"], "QuickBooks holds the Stripe id"
