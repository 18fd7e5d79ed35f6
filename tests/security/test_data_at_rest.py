"""Issue 13, rows 8 to 12: files, logs, stale companies, foreign webhooks, retention.

- The data directory and SQLite file were created world-readable; they hold live tickets and hashes.
- Log redaction knew only the Web Connector passwords, and terminal tracebacks were not redacted.
- Companies removed from the configuration kept working credentials.
- Webhook ``livemode``/``account`` were not compared with the configured key.
- Stripe payloads, qbXML and session rows were kept for ever.
"""

from __future__ import annotations

import asyncio
import io
import logging
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from ml_connector import logs
from ml_connector.companies import sync_companies
from ml_connector.config import CompanyConfig, load_settings
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import AuditEntry, QbRequest, QbResponsePage, QbwcSession, StripeEvent
from tests.harness import PASSWORD, USERNAME, live_system
from tests.security.support import WEBHOOK_SECRET, login, payment_event, signed_webhook


def _mode(path) -> int:  # type: ignore[no-untyped-def]
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_directory_and_database_are_private_to_their_owner(temporal_client, tmp_path):
    data = tmp_path / "data"
    async with live_system(f"sqlite:///{data / 'mlc.db'}", temporal_client) as system:
        await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
        files = {p.name: _mode(p) for p in data.iterdir()}
    assert _mode(data) == 0o700
    assert files["mlc.db"] == 0o600
    database_files = {
        name: mode for name, mode in files.items() if name in ("mlc.db", "mlc.db-wal", "mlc.db-shm")
    }
    assert set(database_files.values()) == {0o600}, files


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    db = tmp_path / "old.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600


@pytest.mark.parametrize("json_lines", [False, True])
def test_every_configured_secret_is_redacted_in_messages_and_tracebacks(tmp_path, json_lines):
    settings = load_settings(
        {
            "MLC_DATABASE_URL": "postgresql+psycopg://mlc:db-secret-pw@127.0.0.1:5432/mlc",
            "MLC_QBWC_USERNAME": "u",
            "MLC_QBWC_PASSWORD": "qbwc-secret-pw",
            "MLC_STRIPE_API_KEY": "sk_live_secretkey123",
            "MLC_STRIPE_WEBHOOK_SECRET": "whsec_one_secret,whsec_two_secret",
            "MLC_STATUS_PASSWORD": "status-secret-pw",
        }
    )
    secrets = [
        "db-secret-pw",
        "qbwc-secret-pw",
        "sk_live_secretkey123",
        "whsec_one_secret",
        "whsec_two_secret",
        "status-secret-pw",
    ]
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.register_settings(settings)
        logs.configure("INFO", json_lines=json_lines)
        root.handlers[0].stream = stream  # type: ignore[attr-defined]
        log = logging.getLogger("security-test")
        log.info("configured with %s", " ".join(secrets))
        try:
            raise RuntimeError(f"connect failed: {' '.join(secrets)}")
        except RuntimeError:
            log.exception("startup failed")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    text = stream.getvalue()
    assert "RuntimeError" in text and "***" in text
    for secret in secrets:
        assert secret not in text, secret


async def test_a_company_removed_from_the_configuration_can_no_longer_log_in(temporal_client, database_url):
    async with live_system(database_url, temporal_client) as system:
        assert await asyncio.to_thread(login, system.url, USERNAME, PASSWORD) == "none"
        await system.stop_gateway()
        successor = CompanyConfig(
            id="successor", qbwc_username="successor-qbwc", qbwc_password="another password"
        )
        system.settings = replace(system.settings, companies=(successor,))
        await system.start_gateway()
        removed = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
        current = await asyncio.to_thread(login, system.url, "successor-qbwc", "another password")
        # Configured again, it works again (the row and its .qwc identity were kept).
        sync_companies(system.engine, replace(system.settings, companies=(successor, _acme(PASSWORD))))
        back = await asyncio.to_thread(login, system.url, USERNAME, PASSWORD)
    assert removed == "nvu"
    assert current == "none"
    assert back == "none"


def _acme(password: str) -> CompanyConfig:
    return CompanyConfig(id="acme", qbwc_username=USERNAME, qbwc_password=password)


@pytest.mark.parametrize(
    ("key", "event", "reason"),
    [
        ("sk_live_security123", payment_event("evt_test_on_live"), "livemode_mismatch"),
        ("sk_test_security123", payment_event("evt_live_on_test", livemode=True), "livemode_mismatch"),
        (
            "sk_test_security123",
            payment_event("evt_connected", account="acct_someone_else"),
            "account_mismatch",
        ),
    ],
    ids=["test event, live key", "live event, test key", "connected account"],
)
async def test_a_signed_event_of_another_mode_or_account_is_acknowledged_and_ignored(
    temporal_client, tmp_path, caplog, key, event, reason
):
    caplog.set_level(logging.INFO)
    async with live_system(
        f"sqlite:///{tmp_path / 'mode.db'}",
        temporal_client,
        MLC_STRIPE_API_KEY=key,
        MLC_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    ) as system:
        body, headers = signed_webhook(event)
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                f"http://127.0.0.1:{system.settings.port}/stripe/webhook", content=body, headers=headers
            )
        with Session(system.engine) as db:
            stored = db.exec(select(StripeEvent)).all()
    assert answer.status_code == 200, "Stripe must not retry it"
    assert answer.json()["ignored"].startswith(reason)
    assert stored == [], "neither stored nor signalled"
    assert reason in caplog.text and event["id"] in caplog.text


def test_retention_prunes_payloads_bodies_and_sessions_but_never_the_audit_trail(database_url):
    from ml_connector.retention import prune

    engine = make_engine(database_url)
    migrate(engine)
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=91), now - timedelta(days=89)
    with Session(engine) as db:
        for name, at, signalled in (
            ("evt_old", old, old),
            ("evt_new", recent, recent),
            ("evt_waiting", old, None),
        ):
            db.add(
                StripeEvent(
                    id=name,
                    type="payment_intent.succeeded",
                    created=at,
                    received_at=at,
                    payload='{"email": "x"}',
                    workflow_id="payment/acme/pi_1",
                    signalled_at=signalled,
                )
            )
        for key, at in (("old", old), ("new", recent)):
            db.add(
                QbRequest(
                    company_id="acme",
                    idem_key=key,
                    name="CustomerAddRq",
                    body="<CustomerAddRq>Jane</CustomerAddRq>",
                    status="done",
                    response="<CustomerAddRs>Jane</CustomerAddRs>",
                    completed_at=at,
                    created_at=at,
                    delivered=True,
                )
            )
        for ticket, at in (("t-old", old), ("t-new", recent)):
            db.add(
                QbwcSession(ticket=ticket, company_id="acme", created_at=at, last_seen_at=at, expires_at=at)
            )
        db.add(
            AuditEntry(company_id="acme", action="payment.posted", outcome="ok", at=old - timedelta(days=900))
        )
        db.commit()
        old_request = db.exec(select(QbRequest).where(QbRequest.idem_key == "old")).one()
        db.add(QbResponsePage(request_id=old_request.id, page_no=1, xml="<CustomerRet>Jane</CustomerRet>"))
        db.commit()

    pruned = prune(engine, 90)

    with Session(engine) as db:
        events = {e.id: e.payload for e in db.exec(select(StripeEvent)).all()}
        bodies = {r.idem_key: (r.body, r.response, r.status) for r in db.exec(select(QbRequest)).all()}
        tickets = {s.ticket for s in db.exec(select(QbwcSession)).all()}
        pages = db.exec(select(QbResponsePage)).all()
        audit = db.exec(select(AuditEntry)).all()
    engine.dispose()
    assert events == {"evt_old": "", "evt_new": '{"email": "x"}', "evt_waiting": '{"email": "x"}'}
    assert bodies["old"] == ("", None, "done") and bodies["new"][0].startswith("<CustomerAddRq>")
    assert tickets == {"t-new"} and pages == []
    assert len(audit) == 1, "the audit trail is never pruned"
    assert pruned.total == 4
    assert prune(engine, 0).total == 0
