"""Several processes migrating one empty database at the same instant all succeed (gateway + workers at start).

Each process is a real interpreter calling `ml_connector.storage.engine.migrate`; they wait for a common
start time so their transactions overlap. Runs on SQLite and on PostgreSQL (an empty database per run).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ml_connector.storage.engine import alembic_config, current_revision, make_engine

pytestmark = pytest.mark.slow

PROCESSES = 4

_SCRIPT = """
import sys, time
from ml_connector.storage.engine import make_engine, migrate
url, start = sys.argv[1], float(sys.argv[2])
engine = make_engine(url)
while time.time() < start:
    time.sleep(0.005)
migrate(engine)
engine.dispose()
print("migrated")
"""


def test_concurrent_migrations_on_an_empty_database_all_succeed(database_url: str):
    start = time.time() + 4.0  # every interpreter has imported SQLAlchemy and Alembic by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, database_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, f"a concurrent migration failed:\n{err[-3000:]}"
        assert out.strip() == "migrated"

    engine = make_engine(database_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
        assert rows == 1
    finally:
        engine.dispose()
