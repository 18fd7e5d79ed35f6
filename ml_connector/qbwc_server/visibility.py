"""Which requests ended without an answer lately: what `ml-connector check` and the status page show.

A read-only view of the queue's rows, separate from the queue's transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from ml_connector.qbwc.lifecycle import RequestState
from ml_connector.storage.models import QbRequest


@dataclass(frozen=True)
class Unsettled:
    """Requests of one company that ended without an answer recently, for `ml-connector check` and the
    status page: refused too often, never answered, or uncertain (handed to their workflow to verify)."""

    company_id: str
    count: int
    last_kind: str
    last_message: str


def unsettled_requests(engine: Engine, since: datetime) -> dict[str, Unsettled]:
    """Per company, the requests that ended failed or uncertain since ``since`` (the newest one's words)."""
    with Session(engine) as db:
        rows = db.exec(
            select(QbRequest.company_id, func.count(), func.max(QbRequest.id))
            .where(
                col(QbRequest.status).in_((RequestState.FAILED, RequestState.UNCERTAIN)),
                col(QbRequest.completed_at) >= since,
            )
            .group_by(QbRequest.company_id)
        ).all()
        out: dict[str, Unsettled] = {}
        for company_id, count, newest in rows:
            last = db.get(QbRequest, newest)
            kind = last.error_kind if last is not None else ""
            message = last.error_message if last is not None else ""
            out[company_id] = Unsettled(company_id, int(count), kind, message[:300])
    return out
