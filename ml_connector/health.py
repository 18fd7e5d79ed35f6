"""What the operator sees of an installation's health: schema revision and each company file's state.

Data gathering only, shared by `ml-connector check` (which turns it into advice), `GET /readyz` (the schema
revision) and the status page (one row per company file). It lives below the CLI so that the gateway reads it
without importing a command module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import Session, select

from ml_connector.config import Settings
from ml_connector.metrics import QueueDepth, queue_depths
from ml_connector.qbwc.troubleshooting import explain
from ml_connector.qbwc_server.visibility import Unsettled, unsettled_requests
from ml_connector.storage.engine import alembic_config, current_revision
from ml_connector.storage.models import Company


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str | None

    @property
    def at_head(self) -> bool:
        return self.current is not None and self.current == self.head


def schema_status(engine: Engine) -> SchemaStatus:
    """The database's migration revision and the newest one this code ships (raises if unreachable)."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    return SchemaStatus(current=current_revision(engine), head=head)


# Requests that ended without an answer within this window count as unsettled.
UNSETTLED_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class CompanyRow:
    """What the operator wants to know about one company file, for check and the status page."""

    id: str
    name: str
    poll_minutes: int
    last_contact_at: datetime | None
    last_session_status: str
    qb_product: str
    qbxml_version: str
    queue: QueueDepth
    known: bool  # a row exists in the database (the gateway has started with this company)
    # Requests that ended without an answer in the last day (bounds tripped, or uncertain writes).
    unsettled: Unsettled | None = None

    @property
    def problem_advice(self) -> str:
        return explain(self.last_session_status)

    def overdue(self, now: datetime) -> bool:
        """Not seen for three polling intervals (and at least 15 minutes)."""
        if self.last_contact_at is None:
            return False
        grace = timedelta(minutes=max(3 * self.poll_minutes, 15))
        return now - self.last_contact_at > grace


def company_rows(engine: Engine, settings: Settings) -> list[CompanyRow]:
    with Session(engine) as db:
        stored = {c.id: c for c in db.exec(select(Company)).all()}
        for row in stored.values():
            db.expunge(row)
    depths = {d.company_id: d for d in queue_depths(engine)}
    unsettled = unsettled_requests(engine, datetime.now(UTC) - UNSETTLED_WINDOW)
    rows: list[CompanyRow] = []
    for cfg in settings.companies:
        company = stored.get(cfg.id)
        rows.append(
            CompanyRow(
                id=cfg.id,
                name=cfg.display_name,
                poll_minutes=cfg.poll_minutes,
                last_contact_at=_aware(company.last_contact_at)
                if company and company.last_contact_at
                else None,
                last_session_status=company.last_session_status if company else "",
                qb_product=company.qb_product if company else "",
                qbxml_version=company.qbxml_version if company else "",
                queue=depths.get(cfg.id, QueueDepth(cfg.id, 0, 0, None)),
                known=company is not None,
                unsettled=unsettled.get(cfg.id),
            )
        )
    return rows


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
