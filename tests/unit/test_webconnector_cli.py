"""``python -m ml_connector.simulator``: arguments, password handling and a run against a real local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lxml import etree

from ml_connector.simulator.__main__ import describe, main, parse_options, read_password
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.webconnector import SessionOutcome, SessionReport

QBWC_NS = "http://developer.intuit.com/"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SECRET = "pa55-w0rd-never-printed"


def test_the_documented_command_line_is_understood(tmp_path: Path) -> None:
    options = parse_options(
        [
            "--url",
            "http://127.0.0.1:8000/qbwc",
            "--username",
            "acct-1",
            "--password-env",
            "QBWC_PASSWORD",
            "--company-json",
            str(tmp_path / "company.json"),
            "--seed-customers",
            "25",
            "--seed-invoices",
            "40",
            "--every",
            "15",
        ]
    )
    assert options.url == "http://127.0.0.1:8000/qbwc"
    assert options.username == "acct-1"
    assert options.password_env == "QBWC_PASSWORD"
    assert options.company_json == tmp_path / "company.json"
    assert (options.seed_customers, options.seed_invoices) == (25, 40)
    assert options.every_minutes == 15.0


def test_without_every_the_simulator_runs_until_the_server_is_idle(tmp_path: Path) -> None:
    options = parse_options(
        ["--url", "u", "--username", "n", "--password-env", "P", "--company-json", str(tmp_path / "c.json")]
    )
    assert options.every_minutes is None
    assert (options.seed_customers, options.seed_invoices) == (0, 0)


@pytest.mark.parametrize(
    "bad", [["--seed-customers", "-1"], ["--every", "0"], ["--seed-invoices", "3"]], ids=str
)
def test_nonsense_numbers_are_refused(tmp_path: Path, bad: list[str]) -> None:
    base = [
        "--url",
        "u",
        "--username",
        "n",
        "--password-env",
        "P",
        "--company-json",
        str(tmp_path / "c.json"),
    ]
    with pytest.raises(SystemExit) as exited:
        parse_options(base + bad)
    assert exited.value.code == 2


def test_there_is_no_way_to_pass_the_password_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(["--url", "u", "--username", "n", "--password", SECRET, "--company-json", "c.json"])
    assert exited.value.code == 2


def test_a_missing_password_variable_is_named_without_revealing_anything() -> None:
    with pytest.raises(SystemExit) as exited:
        read_password("QBWC_PASSWORD", {"OTHER": SECRET})
    assert "QBWC_PASSWORD" in str(exited.value.code)
    assert SECRET not in str(exited.value.code)
    assert read_password("QBWC_PASSWORD", {"QBWC_PASSWORD": SECRET}) == SECRET


def test_the_status_line_summarises_a_session() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    report = SessionReport(
        outcome=SessionOutcome.SERVER_ERROR,
        started_at=now,
        finished_at=now,
        server_version="1",
        client_version_answer="",
        ticket="T",
        auth_status="",
        postpone_seconds=None,
        min_run_interval_seconds=None,
        company_file="C:\\a.QBW",
        connection_errors=0,
        send_request_calls=1,
        round_trips=1,
        requests_run=2,
        noops=0,
        percentages=(-1,),
        last_error="Stripe is down",
        close_result="OK",
        timings=(),
        errors=(),
        warnings=(),
    )
    assert describe(report) == (
        "2025-03-01T12:00:00+00:00 server_error documents=1 requests=2 progress=-1 "
        "last_error='Stripe is down' closed='OK'"
    )


class _IdleServer(BaseHTTPRequestHandler):
    """A real endpoint on 127.0.0.1 that has no work: authenticate answers "none"."""

    seen: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = etree.fromstring(body).find(f"{{{SOAP_ENV_NS}}}Body")[0]  # type: ignore[index]
        operation = etree.QName(payload).localname
        type(self).seen.append(operation)
        result = "<string>T</string><string>none</string>" if operation == "authenticate" else ""
        answer = (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}"><soap:Body><{operation}Response xmlns="{QBWC_NS}">'
            f"<{operation}Result>{result}</{operation}Result></{operation}Response></soap:Body></soap:Envelope>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def idle_server() -> Iterator[str]:
    _IdleServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IdleServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/qbwc"
    finally:
        server.shutdown()
        server.server_close()


def test_a_run_against_an_idle_server_creates_the_company_file_and_never_prints_the_password(
    idle_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    company_json = tmp_path / "company.json"
    code = main(
        [
            "--url",
            idle_server,
            "--username",
            "acct-1",
            "--password-env",
            "SIM_QBWC_PASSWORD",
            "--company-json",
            str(company_json),
        ],
        environ={"SIM_QBWC_PASSWORD": SECRET},
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert _IdleServer.seen == ["serverVersion", "clientVersion", "authenticate"]
    assert company_json.exists()
    assert " none " in out
    assert SECRET not in out + err


def test_a_new_company_file_is_seeded_once_and_kept_on_later_runs(
    idle_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    company_json = tmp_path / "company.json"
    argv = [
        "--url",
        idle_server,
        "--username",
        "acct-1",
        "--password-env",
        "SIM_QBWC_PASSWORD",
        "--company-json",
        str(company_json),
        "--seed-customers",
        "3",
        "--seed-invoices",
        "2",
    ]
    assert main(argv, environ={"SIM_QBWC_PASSWORD": SECRET}) == 0
    seeded = CompanyFile.load(company_json)
    assert (len(seeded.customers), len(seeded.invoices)) == (3, 2)

    assert main(argv, environ={"SIM_QBWC_PASSWORD": SECRET}) == 0
    again = CompanyFile.load(company_json)
    assert (len(again.customers), len(again.invoices)) == (3, 2)
    assert "not seeded again" in capsys.readouterr().err
