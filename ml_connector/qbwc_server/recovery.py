"""What happens to a queued request once a session has had it: requeue, fail, finish, or recover.

`ml_connector/qbwc/session.py` decides (a `Verdict` per request, the lost-document rules); these functions
carry the decision out on the rows inside the caller's transaction. A document whose answer never arrived is
dealt with here before anything new is sent.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from ml_connector import metrics
from ml_connector.qbwc import session as rules
from ml_connector.qbwc.lifecycle import UNSETTLED_BATCHES, BatchState, RequestState, move_batch, move_request
from ml_connector.qbwc_server.requests import (
    INLINE_RESPONSE_LIMIT,
    REFUSED_KIND,
    UNANSWERED_KIND,
    UNCERTAIN_KIND,
    Document,
    new_message_set_id,
)
from ml_connector.qbxml.envelope import build_message_set
from ml_connector.storage.models import QbBatch, QbRequest, QbResponsePage, utcnow


def outstanding(db: Session, ticket: str) -> QbBatch | None:
    return db.exec(
        select(QbBatch)
        .where(QbBatch.ticket == ticket, QbBatch.status == BatchState.SENT)
        .order_by(col(QbBatch.created_at).desc())
    ).first()


def recover_lost(db: Session, company_id: str, ticket: str, settled: list[int]) -> Document | None:
    """Deal with documents whose response never arrived, before anything new is sent.

    A document of reads is simply sent again. A document with writes is asked about with its
    ``oldMessageSetID`` (what QuickBooks answers is read by ``rules.interpret_response`` under every
    documented reading); after MAX_RECOVERY_QUERIES unanswered asks its writes go to their workflows as
    *uncertain*, never back into the queue. Requests settled here are appended to ``settled``.
    """
    uncertain = db.exec(
        select(QbBatch)
        .where(QbBatch.company_id == company_id, col(QbBatch.status).in_(UNSETTLED_BATCHES))
        .order_by(col(QbBatch.created_at))
    ).all()
    for batch in uncertain:
        if batch.recovers:
            # a status check that got no answer; the lost document is asked about again below
            batch.status = move_batch(batch.status, BatchState.ABANDONED)
            db.add(batch)
    for batch in uncertain:
        if batch.recovers:
            continue
        rows = db.exec(
            select(QbRequest)
            .where(QbRequest.batch_id == batch.id, QbRequest.status == RequestState.SENT)
            .order_by(col(QbRequest.id))
        ).all()
        asked = db.exec(select(func.count()).select_from(QbBatch).where(QbBatch.recovers == batch.id)).one()
        if not (batch.has_writes and batch.message_set_id) or asked >= rules.MAX_RECOVERY_QUERIES:
            why = (
                "response lost; sending the query again"
                if not batch.has_writes
                else f"the answer to its document was lost and {asked} status checks (oldMessageSetID) "
                "went unanswered; whether it ran is unknown"
            )
            sent = [rules.SentRequest(r.id or 0, str(r.id), r.iterate, r.attempts, r.is_write) for r in rows]
            by_id = {r.id: r for r in rows}
            for verdict in rules.lost_document(sent, why):
                if apply_verdict(db, by_id[verdict.request], verdict, ticket):
                    settled.append(verdict.request)
            batch.status = move_batch(batch.status, BatchState.RECOVERED)
            db.add(batch)
            continue
        batch.status = move_batch(batch.status, BatchState.RECOVERING)
        db.add(batch)
        recovery = QbBatch(
            id=new_message_set_id(),
            company_id=company_id,
            ticket=ticket,
            recovers=batch.id,
            on_error="stopOnError",
            request_count=0,
        )
        db.add(recovery)
        xml = build_message_set([], on_error="stopOnError", old_message_set_id=batch.message_set_id)
        return Document(xml, recovery.id, 0, recovery=True)
    return None


def restart_stale_iterators(db: Session, company_id: str, ticket: str) -> None:
    stale = db.exec(
        select(QbRequest).where(
            QbRequest.company_id == company_id,
            QbRequest.status == RequestState.ITERATING,
            QbRequest.ticket != ticket,
        )
    ).all()
    for row in stale:
        restart_iterator(db, row, "the session ended before the last page")


def restart_iterator(db: Session, row: QbRequest, note: str) -> None:
    db.exec(delete(QbResponsePage).where(col(QbResponsePage.request_id) == row.id))  # type: ignore[call-overload]
    row.pages = 0
    row.ret_count = 0
    row.iterator_id = None
    requeue(row, note=note)
    db.add(row)


def requeue(row: QbRequest, *, note: str, solo: bool | None = None, defer: str | None = None) -> None:
    row.status = move_request(row.status, RequestState.PENDING)
    row.batch_id = None
    row.ticket = None
    row.last_note = note
    row.defer_ticket = defer
    if solo is not None:
        row.solo = solo


def finish_failed(row: QbRequest, kind: str, message: str) -> None:
    if kind in (REFUSED_KIND, UNANSWERED_KIND):
        metrics.QBWC_UNSETTLED.labels(row.company_id, kind).inc()
    row.status = move_request(row.status, RequestState.FAILED)
    row.error_kind = kind
    row.error_message = message
    row.completed_at = utcnow()
    row.delivered = False


def apply_verdict(
    db: Session, row: QbRequest, verdict: rules.Verdict, ticket: str, *, solo: bool | None = None
) -> bool:
    """Carry out one verdict; True when the waiting activity must be told something now."""
    item = verdict.item
    outcome = verdict.outcome
    if outcome is rules.Outcome.NOT_RUN:
        if not rules.may_send_again(row.attempts):
            finish_failed(
                row,
                UNANSWERED_KIND,
                f"QuickBooks gave no final answer after {row.attempts} sends; last: {verdict.note}",
            )
            db.add(row)
            return True
        requeue(row, note=verdict.note, solo=solo)
        db.add(row)
        return False
    if outcome is rules.Outcome.UNCERTAIN:
        metrics.QBWC_UNSETTLED.labels(row.company_id, UNCERTAIN_KIND).inc()
        row.status = move_request(row.status, RequestState.UNCERTAIN)
        row.error_kind = UNCERTAIN_KIND
        row.error_message = (
            f"{row.name}: {verdict.note}. Not sent again; the workflow checks QuickBooks before writing."
        )
        row.last_note = verdict.note
        row.completed_at = utcnow()
        row.delivered = False
        db.add(row)
        return True
    if outcome is rules.Outcome.REFUSED:
        row.refusals += 1
        wait = rules.refusal_backoff_seconds(row.refusals)
        if wait is None:
            finish_failed(
                row, REFUSED_KIND, f"{verdict.note}; refused {row.refusals} times, giving up on {row.name}"
            )
            db.add(row)
            return True
        requeue(
            row, note=f"{verdict.note}; sending it again in {wait} s (refusal {row.refusals})", defer=ticket
        )
        row.not_before = utcnow() + timedelta(seconds=wait)
        notify = row.task_token is not None  # tell the waiting activity why it waits (retryable)
        if notify:
            row.delivered = False
        db.add(row)
        return notify
    assert item is not None
    if outcome is rules.Outcome.RETRY_LATER:
        requeue(row, note=verdict.note, defer=ticket)
        notify = row.task_token is not None  # tell the waiting activity why it waits (retryable)
        if notify:
            row.delivered = False
        db.add(row)
        return notify
    if outcome is rules.Outcome.RESTART_ITERATOR:
        restart_iterator(db, row, verdict.note)
        return False
    if outcome in (rules.Outcome.PAGE, rules.Outcome.LAST_PAGE):
        db.add(
            QbResponsePage(
                request_id=row.id or 0, page_no=row.pages, ret_count=item.ret_count or 0, xml=item.xml
            )
        )
        row.pages += 1
        row.ret_count += item.ret_count or 0
        if outcome is rules.Outcome.PAGE:
            row.status = move_request(row.status, RequestState.ITERATING)
            row.iterator_id = item.iterator_id
            db.add(row)
            return False
    else:
        row.pages = 0
        if len(item.xml) <= INLINE_RESPONSE_LIMIT:
            row.response = item.xml
        else:
            db.add(
                QbResponsePage(request_id=row.id or 0, page_no=0, ret_count=item.ret_count or 0, xml=item.xml)
            )
            row.pages = 1
        row.ret_count = item.ret_count or 0
    row.status = move_request(row.status, RequestState.DONE)
    row.iterator_id = None
    row.status_code = item.status_code
    row.status_severity = item.status_severity
    row.status_message = item.status_message
    row.last_note = verdict.note
    row.completed_at = utcnow()
    row.delivered = False
    db.add(row)
    return True
