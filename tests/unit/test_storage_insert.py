"""`insert_once`: the unique constraint decides who stored a row first, and the loser's session stays usable."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.insert import insert_once
from ml_connector.storage.models import QbListEntry


def _entry(list_id: str) -> QbListEntry:
    return QbListEntry(company_id="co", kind="account", name="Stripe Clearing", list_id=list_id)


def test_the_first_insert_is_stored_and_a_second_with_the_same_key_is_refused_without_breaking_the_session(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    with Session(engine) as db:
        assert insert_once(db, _entry("80000001-1")) is True
        assert insert_once(db, _entry("80000002-1")) is False
        rows = db.exec(select(QbListEntry)).all()
    assert [row.list_id for row in rows] == ["80000001-1"]
