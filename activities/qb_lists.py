"""The memory of which accounts, payment methods and items exist in each company file (``qb_list_entry``).

Checking QuickBooks costs a Web Connector round trip, so each name is checked once: ``qb_lists_missing``
answers from this table, ``qb_lists_remember`` stores what a check found or created, and
``qb_lists_forget`` drops a name after QuickBooks refused a posting that named it (3140: someone deleted
or renamed it), so the next run checks again. Names compare case-insensitively, as QuickBooks compares them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from ml_connector.ledger.listcheck import Known, key
from ml_connector.ledger.setup import ListNeed
from ml_connector.storage.insert import insert_once
from ml_connector.storage.models import QbListEntry, utcnow


@dataclass(frozen=True)
class ListCheck:
    company_id: str
    needs: list[ListNeed] = field(default_factory=list)


# What a check found or created is exactly what is remembered: one value, named here for the activity input.
ListEntry = Known


@dataclass(frozen=True)
class ListRemember:
    company_id: str
    entries: list[ListEntry] = field(default_factory=list)


@dataclass(frozen=True)
class ListForget:
    company_id: str
    kind: str
    name: str


class QbListActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _known(self, db: Session, company_id: str, kinds: set[str]) -> dict[tuple[str, str], QbListEntry]:
        rows = db.exec(
            select(QbListEntry).where(QbListEntry.company_id == company_id, col(QbListEntry.kind).in_(kinds))
        ).all()
        return {(row.kind, key(row.name)): row for row in rows}

    @activity.defn(name="qb_lists_missing")
    def missing(self, check: ListCheck) -> list[ListNeed]:
        """The needs not yet known to exist, in the order given."""
        if not check.needs:
            return []
        with Session(self.engine) as db:
            known = self._known(db, check.company_id, {n.kind for n in check.needs})
        return [n for n in check.needs if (n.kind, key(n.name)) not in known]

    @activity.defn(name="qb_lists_remember")
    def remember(self, request: ListRemember) -> int:
        """Store the entries not stored yet; the first writer wins (a re-run or a concurrent workflow that
        checked the same name adds nothing). Returns how many rows were added."""
        added = 0
        for entry in request.entries:
            with Session(self.engine) as db:
                known = self._known(db, request.company_id, {entry.kind})
                if (entry.kind, key(entry.name)) in known:
                    continue
                row = QbListEntry(
                    company_id=request.company_id,
                    kind=entry.kind,
                    name=entry.name[:200],
                    list_id=entry.list_id[:40],
                    created_by_us=entry.created_by_us,
                    checked_at=utcnow(),
                )
                if insert_once(db, row):
                    added += 1
        return added

    @activity.defn(name="qb_lists_forget")
    def forget(self, request: ListForget) -> int:
        """Drop the name (any spelling case), so the next ensure asks QuickBooks again. Returns rows dropped."""
        with Session(self.engine) as db:
            rows = [
                row
                for row in db.exec(
                    select(QbListEntry).where(
                        QbListEntry.company_id == request.company_id, QbListEntry.kind == request.kind
                    )
                ).all()
                if key(row.name) == key(request.name)
            ]
            for row in rows:
                db.delete(row)
            db.commit()
        return len(rows)
