"""`ml-connector check` and `ml-connector stripe webhook-setup` against running local systems.

Real Temporal (the session dev server), a real database and gateway (live_system), and the fake Stripe server
over HTTP with the real SDK. The CLI runs as a subprocess, as an operator would run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import stripe

from ml_connector.cli.check import Status, check_from_env
from ml_connector.cli.ops import SECRET_FILE
from ml_connector.fakestripe import FakeStripeServer
from ml_connector.stripe.endpoints import REQUIRED_EVENTS, ensure_webhook_endpoint
from tests.harness import PASSWORD, USERNAME, live_system
from tests.integration.test_ops_metrics import _wait_for_pending
from tests.qb_workflows import AddCustomersInput, AddCustomersWorkflow

pytestmark = pytest.mark.slow

KEY = "sk_test_ChecksTheRealThings"


@pytest.fixture
def fake_stripe():
    with FakeStripeServer(api_keys={KEY}) as server:
        yield server


def temporal_target(client) -> str:
    return client.service_client.config.target_host


def base_env(system, stripe_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        "MLC_DATA_DIR": str(data_dir),
        "MLC_DATABASE_URL": system.settings.database_url,
        "MLC_PORT": str(system.settings.port),
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_COMPANY_ID": "acme",
        "MLC_TEMPORAL_ADDRESS": temporal_target(system.client),
        "MLC_STRIPE_API_KEY": KEY,
        "MLC_STRIPE_API_BASE": stripe_url,
    }
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("MLC_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", *args], env=full, capture_output=True, text=True, timeout=120
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def by_name(report) -> dict[str, object]:
    return {r.name: r for r in report.results}


async def test_webhook_setup_creates_the_endpoint_once_and_keeps_its_secret_in_a_private_file(
    temporal_client, tmp_path, fake_stripe
):
    async with live_system(f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client) as system:
        env = base_env(system, fake_stripe.url, tmp_path / "data")
        first = await asyncio.to_thread(run_cli, env, "stripe", "webhook-setup")
        second = await asyncio.to_thread(run_cli, env, "stripe", "webhook-setup")

    assert first.returncode == 0, first.stderr
    secret_path = tmp_path / "data" / SECRET_FILE
    secret = secret_path.read_text().strip()
    assert secret.startswith("whsec_")
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert secret not in first.stdout + first.stderr, "the secret is never printed"
    assert "Created Stripe test-mode webhook endpoint" in first.stdout
    assert str(secret_path) in first.stdout

    assert second.returncode == 0, second.stderr
    assert "already exists: nothing to change" in second.stdout
    client = stripe.StripeClient(KEY, base_addresses={"api": fake_stripe.url})
    endpoints = client.v1.webhook_endpoints.list().data
    assert len(endpoints) == 1
    assert endpoints[0].url == f"http://127.0.0.1:{system.settings.port}/stripe/webhook"
    assert set(REQUIRED_EVENTS) <= set(endpoints[0].enabled_events)


def test_webhook_setup_enables_a_disabled_endpoint_and_adds_missing_events(fake_stripe):
    client = stripe.StripeClient(KEY, base_addresses={"api": fake_stripe.url})
    url = "https://sync.example.com/stripe/webhook"
    old = client.v1.webhook_endpoints.create({"url": url, "enabled_events": ["charge.succeeded"]})
    client.v1.webhook_endpoints.update(old.id, {"disabled": True})

    result = ensure_webhook_endpoint(client, url)

    after = client.v1.webhook_endpoints.retrieve(old.id)
    assert (result.endpoint_id, result.created, result.secret) == (old.id, False, None)
    assert after.status == "enabled"
    assert set(REQUIRED_EVENTS) <= set(after.enabled_events)
    assert "enabled it" in result.changed


async def test_check_passes_against_running_local_systems(temporal_client, tmp_path, fake_stripe):
    async with live_system(
        f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client, workflows=[AddCustomersWorkflow]
    ) as system:
        env = base_env(system, fake_stripe.url, tmp_path / "data")
        setup = await asyncio.to_thread(run_cli, env, "stripe", "webhook-setup")
        assert setup.returncode == 0, setup.stderr
        env["MLC_STRIPE_WEBHOOK_SECRET"] = (tmp_path / "data" / SECRET_FILE).read_text().strip()
        handle = await temporal_client.start_workflow(  # work for the Web Connector, so it opens QuickBooks
            AddCustomersWorkflow.run,
            AddCustomersInput("acme", ["Checked Customer"]),
            id=f"check-{uuid.uuid4().hex[:8]}",
            task_queue=system.task_queue,
            execution_timeout=timedelta(minutes=2),
        )
        await _wait_for_pending(system.engine, 1)
        await system.run_sessions(system.web_connector())
        await asyncio.wait_for(handle.result(), timeout=60)
        report = await check_from_env(env)
        table = await asyncio.to_thread(run_cli, env, "check")
        as_json = await asyncio.to_thread(run_cli, env, "check", "--json")

    results = by_name(report)
    assert report.ok, report.to_table()
    for name in ("configuration", "public URL", "database", "temporal", "stripe key", "stripe webhook", "served WSDL"):
        assert results[name].status is Status.OK, (name, results[name])
    company = results["company acme"]
    assert company.status is Status.OK
    assert "last contact" in company.detail and "qbXML 13.0" in company.detail
    assert "0 request(s) waiting" in company.detail
    assert "test mode" in results["stripe key"].detail

    assert table.returncode == 0, table.stdout + table.stderr
    assert "All checks passed." in table.stdout
    assert env["MLC_STRIPE_WEBHOOK_SECRET"] not in table.stdout
    parsed = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and parsed["ok"] is True
    assert {c["name"] for c in parsed["checks"]} >= {"database", "temporal", "stripe webhook"}


async def test_check_fails_with_advice_on_a_wrong_stripe_key(temporal_client, tmp_path, fake_stripe):
    async with live_system(f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client) as system:
        env = base_env(system, fake_stripe.url, tmp_path / "data", MLC_STRIPE_API_KEY="sk_test_WrongKey")
        result = await asyncio.to_thread(run_cli, env, "check")
    assert result.returncode == 1
    assert "stripe key" in result.stdout and "FAIL" in result.stdout
    assert "authentication failed" in result.stdout
    assert "Copy the current one from the Stripe Dashboard" in result.stdout
    assert "sk_test_WrongKey" not in result.stdout


async def test_check_fails_with_advice_when_stripe_is_unreachable(temporal_client, tmp_path):
    async with live_system(f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client) as system:
        env = base_env(system, f"http://127.0.0.1:{closed_port()}", tmp_path / "data")
        report = await check_from_env(env)
    results = by_name(report)
    assert not report.ok
    assert results["stripe key"].status is Status.FAIL
    assert "unreachable" in results["stripe key"].detail
    assert "MLC_STRIPE_API_BASE" in results["stripe key"].advice
    assert results["stripe webhook"].status is Status.SKIP
    assert results["database"].status is Status.OK, "one unreachable system does not hide the others"


async def test_check_fails_with_advice_when_the_webhook_endpoint_is_missing(temporal_client, tmp_path, fake_stripe):
    async with live_system(f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client) as system:
        env = base_env(system, fake_stripe.url, tmp_path / "data", MLC_STRIPE_WEBHOOK_SECRET="whsec_configured")
        result = await asyncio.to_thread(run_cli, env, "check", "--json")
    parsed = json.loads(result.stdout)
    webhook = next(c for c in parsed["checks"] if c["name"] == "stripe webhook")
    assert result.returncode == 1 and parsed["ok"] is False
    assert webhook["status"] == "fail"
    assert webhook["detail"] == f"no webhook endpoint for http://127.0.0.1:{system.settings.port}/stripe/webhook"
    assert "ml-connector stripe webhook-setup" in webhook["advice"]


async def test_check_fails_with_advice_on_a_public_url_without_https(temporal_client, tmp_path, fake_stripe):
    async with live_system(f"sqlite:///{tmp_path / 'db.sqlite'}", temporal_client) as system:
        env = base_env(system, fake_stripe.url, tmp_path / "data", MLC_PUBLIC_URL="http://sync.example.com")
        result = await asyncio.to_thread(run_cli, env, "check")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    public = next(line for line in lines if line.startswith("public URL"))
    assert "FAIL" in public and "http://sync.example.com is not https" in public
    assert any("TLS terminator" in line and line.strip().startswith("- public URL") for line in lines)


def test_check_fails_with_advice_when_nothing_is_running(tmp_path):
    env = {
        "MLC_DATA_DIR": str(tmp_path),
        "MLC_DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.db'}",
        "MLC_QBWC_USERNAME": USERNAME,
        "MLC_QBWC_PASSWORD": PASSWORD,
        "MLC_TEMPORAL_ADDRESS": f"127.0.0.1:{closed_port()}",
        "MLC_PORT": str(closed_port()),
    }
    result = run_cli(env, "check", "--json")
    parsed = json.loads(result.stdout)
    checks = {c["name"]: c for c in parsed["checks"]}
    assert result.returncode == 1
    assert checks["database"]["status"] == "fail" and "ml-connector migrate" in checks["database"]["advice"]
    assert checks["temporal"]["status"] == "fail" and "MLC_TEMPORAL_ADDRESS" in checks["temporal"]["advice"]
    assert checks["stripe key"]["status"] == "fail" and "MLC_STRIPE_API_KEY" in checks["stripe key"]["detail"]
    assert checks["served WSDL"]["status"] == "warn"
