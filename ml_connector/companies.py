"""Company files: bring the configured companies into the database, keeping their .qwc identity stable.

OwnerID and FileID are created once per company and stored: a new pair on every .qwc download would make
QuickBooks treat the application as a stranger (QBWC1039) and force re-authorisation.
"""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from ml_connector.config import Settings
from ml_connector.qbwc.passwords import hash_password, verify_password
from ml_connector.qbwc.qwc import new_guid
from ml_connector.storage.models import Company

log = logging.getLogger(__name__)


# The key of the PostgreSQL advisory lock held while the configured companies are written.
COMPANY_SYNC_LOCK_KEY = zlib.crc32(b"ml-connector company sync")

# The password hash of a company no longer in the configuration: never a valid hash, so no password matches.
DISABLED = "!disabled"


def sync_companies(engine: Engine, settings: Settings) -> list[Company]:
    """Upsert every configured company; a changed password is re-hashed, identities are kept; companies no
    longer configured are disabled (no password opens them)."""
    out: list[Company] = []
    with Session(engine) as db:
        if engine.dialect.name == "postgresql":
            # Gateways starting together (compose --scale, several hosts) would all find a new company missing
            # and insert it; the second insert would fail and stop that gateway. One at a time: the lock is
            # released at commit. (SQLite: the session's BEGIN IMMEDIATE already serialises this.)
            db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": COMPANY_SYNC_LOCK_KEY})
        for cfg in settings.companies:
            row = db.get(Company, cfg.id)
            if row is None:
                clash = db.exec(select(Company).where(Company.qbwc_username == cfg.qbwc_username)).first()
                if clash is not None:
                    clash.qbwc_username = f"{clash.qbwc_username} (replaced by {cfg.id})"
                    db.add(clash)
                    db.flush()
                row = Company(
                    id=cfg.id,
                    name=cfg.display_name,
                    qbwc_username=cfg.qbwc_username,
                    password_hash=hash_password(cfg.qbwc_password),
                    owner_id=new_guid(),
                    file_id=new_guid(),
                )
            else:
                row.name = cfg.display_name
                row.qbwc_username = cfg.qbwc_username
                if not verify_password(cfg.qbwc_password, row.password_hash):
                    row.password_hash = hash_password(cfg.qbwc_password)
            db.add(row)
            out.append(row)
        configured = {cfg.id for cfg in settings.companies}
        for stale in db.exec(select(Company).where(col(Company.id).not_in(configured))).all():
            if stale.password_hash != DISABLED:
                # Removed from the configuration: its Web Connector user must stop working at once. The row
                # (history, .qwc identity) stays; configuring the company again re-enables it.
                stale.password_hash = DISABLED
                db.add(stale)
                log.warning("company %s is no longer configured: its Web Connector login is disabled", stale.id)
        db.commit()
        for row in out:
            db.refresh(row)
            db.expunge(row)
    return out


def get_company(engine: Engine, company_id: str) -> Company | None:
    with Session(engine) as db:
        row = db.get(Company, company_id)
        if row is not None:
            db.expunge(row)
        return row
