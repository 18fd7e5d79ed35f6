"""Issue 13, rows 5 and 6: the admin surfaces (status page, /reconcile, /metrics) are private by default.

- ``/metrics`` was open to anyone and loaded every payment's latest audit row per scrape; now it is behind the
  status password like the status page, and its payment numbers come from one aggregate query.
- The status page trusted "loopback without a forwarding header", which a same-host proxy that adds no header
  turns into "everyone"; now a public installation always asks for the password, and a foreign ``Host``
  (DNS rebinding) is refused.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import Session

from ml_connector import metrics
from ml_connector.storage.models import AuditEntry
from tests.harness import live_system
from tests.security.support import ATTACKER, client_from

PUBLIC = "https://sync.example.com"
PASSWORD = "status pass 42"  # noqa: S105 - test credential


async def test_metrics_are_private_like_the_status_page(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'm.db'}", temporal_client) as system:
        port = system.settings.port

        def scrape_from_elsewhere() -> httpx.Response:
            with client_from(ATTACKER, base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                return http.get("/metrics")

        remote = await asyncio.to_thread(scrape_from_elsewhere)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            proxied = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
            local = await http.get("/metrics")
    assert remote.status_code == 403 and proxied.status_code == 403
    assert "mlc_" not in remote.text + proxied.text
    assert local.status_code == 200 and "mlc_payments" in local.text


async def test_behind_a_proxy_that_adds_no_header_the_password_is_still_required(temporal_client, tmp_path):
    """A public MLC_PUBLIC_URL means a proxy forwards the internet here: loopback proves nothing."""
    async with live_system(
        f"sqlite:///{tmp_path / 'p.db'}", temporal_client, MLC_PUBLIC_URL=PUBLIC, MLC_STATUS_PASSWORD=PASSWORD
    ) as system:
        base = f"http://127.0.0.1:{system.settings.port}"
        host = {"Host": "sync.example.com"}
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            page = await http.get("/", headers=host)
            scrape = await http.get("/metrics", headers=host)
            report = await http.get("/reconcile", headers=host)
            opened = await http.get("/", headers=host, auth=("bookkeeper", PASSWORD))
            scraped = await http.get("/metrics", headers=host, auth=("prometheus", PASSWORD))
    assert (page.status_code, scrape.status_code, report.status_code) == (401, 401, 401)
    assert opened.status_code == 200 and scraped.status_code == 200


async def test_a_public_installation_without_a_status_password_serves_its_pages_to_nobody(
    temporal_client, tmp_path
):
    async with live_system(
        f"sqlite:///{tmp_path / 'n.db'}", temporal_client, MLC_PUBLIC_URL=PUBLIC
    ) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=10) as http:
            page = await http.get("/", headers={"Host": "sync.example.com"})
    assert page.status_code == 403
    assert "MLC_STATUS_PASSWORD" in page.text


async def test_a_foreign_host_header_is_refused_even_from_this_machine(temporal_client, tmp_path):
    """DNS rebinding: a hostile page whose domain now resolves to 127.0.0.1 sends its own name as Host."""
    async with live_system(f"sqlite:///{tmp_path / 'h.db'}", temporal_client) as system:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=10) as http:
            rebound = await http.get("/", headers={"Host": "evil.example:8000"})
            scrape = await http.get("/metrics", headers={"Host": "evil.example"})
            own = await http.get("/", headers={"Host": f"localhost:{system.settings.port}"})
    assert rebound.status_code == 421 and scrape.status_code == 421
    assert own.status_code == 200


async def test_payment_numbers_come_from_an_aggregate_not_from_loading_every_audit_row(
    temporal_client, tmp_path, monkeypatch
):
    def loading_every_row(*_args: object, **_kwargs: object) -> list[object]:
        raise AssertionError("a scrape must not load payment audit rows")

    async with live_system(f"sqlite:///{tmp_path / 'agg.db'}", temporal_client) as system:
        with Session(system.engine) as db:
            for i in range(300):
                # every payment was held first; then a third were posted, a third failed, a third still wait
                later = {0: ("payment.posted", "ok"), 1: ("payment.failed", "failed"), 2: None}[i % 3]
                for action, outcome in [
                    ("payment.held", "held"),
                    *([later] if later else []),
                    ("payment.x", "skipped"),
                ]:
                    db.add(
                        AuditEntry(
                            company_id="acme", action=action, outcome=outcome, stripe_object_id=f"pi_{i}"
                        )
                    )
            db.commit()
        monkeypatch.setattr(metrics, "payment_states", loading_every_row)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.settings.port}", timeout=10) as http:
            scrape = await http.get("/metrics")
    assert scrape.status_code == 200
    lines = set(scrape.text.splitlines())
    assert 'mlc_payments{company="acme",state="posted"} 100.0' in lines
    assert 'mlc_payments{company="acme",state="failed"} 100.0' in lines
    assert 'mlc_payments{company="acme",state="waiting"} 100.0' in lines
