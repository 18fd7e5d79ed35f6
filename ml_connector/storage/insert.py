"""Insert a row unless a unique constraint says it is already there: the one home of that idiom.

Several writers race for the same natural key (a re-run activity attempt, two workflows checking the same
name, two gateways receiving the same webhook). Reading first narrows the race but cannot close it, so the
database's unique constraint decides, and the loser's ``IntegrityError`` means "someone stored it first":
roll back and carry on, leaving the session usable for the caller's next statement.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel


def insert_once(db: Session, row: SQLModel) -> bool:
    """Add ``row`` and commit. True when stored now; False, rolled back, when its key was stored first."""
    db.add(row)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        return False
    return True
