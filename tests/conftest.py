"""Shared fixtures: a real Temporal dev server, real PostgreSQL and SQLite, a live gateway on a free port."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ml_connector.temporal import SEARCH_ATTRIBUTES, temporal_binary

PG_ADMIN_URL = os.environ.get("MLC_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: pytest-xdist hands tests out in this order, so the long end-to-end scenarios start at
    once on every worker and the many quick tests fill in behind them, instead of one long test starting last
    on one worker while the other sits idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _dev_server() -> dict[str, Any]:
    """How every test environment runs the `temporal` dev server: the project's binary, its search attributes."""
    return {
        "dev_server_existing_path": str(temporal_binary()),
        "search_attributes": list(SEARCH_ATTRIBUTES),
        "dev_server_log_level": "error",
        "ui": False,
    }


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(**_dev_server())
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A second dev server on which every workflow started through its client runs on a virtual clock that
    jumps ahead whenever nothing is in flight (Temporal's per-workflow time skipping): a workflow test that
    waits out a debounce or a hold costs about a second a skip instead of the timer's length.
    ``start_time_skipping()`` downloads a separate test server, which this machine cannot; this is its
    successor on the dev server (../shared/RUNTIME.md)."""
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
        **_dev_server(),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for the whole run, dropped at the end."""
    name = f"mlc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs on both databases ml-connector supports."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlc.db'}"
    name = f"mlc_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: _drop(name))
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def postgres_only_url(request: pytest.FixtureRequest) -> str:
    """A fresh PostgreSQL database for a test that runs on PostgreSQL only (it says why)."""
    name = f"mlc_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: _drop(name))
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
