"""Engine creation and schema migrations for SQLite and PostgreSQL.

SQLite is the embedded default and is shared by the gateway and worker processes, so it runs in WAL mode with
a generous busy timeout: writers queue instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The key of the PostgreSQL advisory lock every `migrate` holds: one bigint, the same in every process.
MIGRATION_LOCK_KEY = zlib.crc32(b"ml-connector schema migration")


def sqlite_pragmas(engine: Engine, *pragmas: str) -> None:
    """Run these PRAGMAs on every new connection of a SQLite ``engine``: SQLite keeps them per connection."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine; for SQLite, create the directory and turn on WAL and a busy timeout."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            private_file(Path(url.database))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        sqlite_pragmas(engine, "journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn: Any) -> None:
            # Take the write lock at BEGIN: read-then-write transactions (leasing a batch) would otherwise
            # fail with SQLITE_BUSY when two processes upgrade their read locks at once.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable only by this user; tighten it if it is looser.

    For directories that are ml-connector's own (``MLC_DATA_DIR``); a directory that merely holds a database
    file the operator placed is left as it is (see :func:`private_file`).
    """
    _make_dirs(path)
    _tighten(path, 0o700)


def _make_dirs(path: Path) -> None:
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)


def private_file(path: Path) -> None:
    """Make sure the SQLite file exists with mode 0600 before SQLite opens it (missing directories: 0700).

    It holds live Web Connector tickets, password hashes and Stripe payloads. SQLite gives its -wal and -shm
    files the database file's mode; existing files that are looser are tightened.
    """
    _make_dirs(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _tighten(candidate, 0o600)


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & ~mode and path.stat().st_uid == os.getuid():
            path.chmod(current & mode)
    except (FileNotFoundError, PermissionError):
        pass


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run at every start and from several processes.

    Several processes starting at once on an empty database (a gateway and workers, a compose file's
    ``migrate`` service) must not race to create the same tables: each takes a database-wide lock first, and
    whoever comes second finds the schema at head and does nothing. On PostgreSQL that is a transaction-level
    advisory lock (released at commit or when the connection dies); on SQLite an exclusive lock on a file beside
    the database (released when the process ends, however it ends), since the write transaction's own lock would
    give up after the busy timeout while a long migration runs.
    """
    with _sqlite_file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: the write transaction (BEGIN IMMEDIATE) is the lock
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + "-migrate.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)


def current_revision(engine: Engine) -> str | None:
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])
