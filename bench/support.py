"""What the benchmarks share: a scratch database per run and the percentile they report.

A benchmark runs on SQLite in its temporary folder, or on a PostgreSQL database created for the run and dropped
after it (the local server the tests use), so two runs never share state.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def scratch_database(database: str, folder: str | Path, prefix: str) -> tuple[str, str | None]:
    """The run's database URL, and the PostgreSQL database's name to drop afterwards (None on SQLite)."""
    if database != "postgresql":
        return f"sqlite:///{folder}/{prefix}.db", None
    name = f"mlc_{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_scratch_database(name: str | None) -> None:
    """Drop what :func:`scratch_database` created (nothing on SQLite)."""
    if name:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of ``values`` (``pct`` from 0 to 100); NaN when nothing was measured."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]
