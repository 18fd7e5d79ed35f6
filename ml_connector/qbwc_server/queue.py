"""The durable qbXML request queue: what workflows asked QuickBooks to run, and what QuickBooks answered.

A request row is written by the `qb_run` activity and leased to a Web Connector session by sendRequestXML;
receiveResponseXML stores the answer and marks the row for delivery to the activity that waits for it. All
state lives in the database so that any gateway or worker process may die at any moment: a re-run activity
finds its row by `idem_key`, a lost response is recovered before anything else is sent, and an undelivered
answer is delivered again by the gateway's delivery loop.

The queue's contract types live in `requests.py`, what a verdict does to a row in `recovery.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Engine, and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, delete, select

from ml_connector.qbwc import session as rules
from ml_connector.qbwc.lifecycle import (
    FINAL,
    UNSETTLED_BATCHES,
    WAITING,
    BatchState,
    RequestState,
    move_batch,
    move_request,
)
from ml_connector.qbwc_server.recovery import (
    apply_verdict,
    finish_failed,
    outstanding,
    recover_lost,
    restart_iterator,
    restart_stale_iterators,
)
from ml_connector.qbwc_server.requests import (
    Delivery,
    Document,
    QbRunInput,
    QbRunResult,
    QueuedRequestFailed,
    ReceiveOutcome,
    delivery_of,
    new_message_set_id,
    result_of,
)
from ml_connector.qbxml.envelope import (
    MessageSetResponse,
    RequestItem,
    build_message_set,
    is_iterator_start,
    is_write,
    iterator_continue,
    request_name,
)
from ml_connector.storage.models import QbBatch, QbRequest, QbResponsePage, utcnow


class RequestQueue:
    """Database operations on the queue. Each public method is one transaction."""

    def __init__(self, engine: Engine, *, max_requests: int = 100, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.engine = engine
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    # ---- the activity side ---------------------------------------------------------------------------

    def enqueue(
        self,
        run: QbRunInput,
        *,
        idem_key: str,
        task_token: bytes | None,
        workflow_id: str = "",
        run_id: str = "",
        activity_id: str = "",
    ) -> QbRunResult | None:
        """Queue the request, or find the one queued by an earlier attempt.

        Returns the stored result when QuickBooks already answered (the caller returns it directly, so an
        answer is never lost between a completion and a retry); otherwise None after registering the caller's
        task token so that the gateway completes the current attempt.
        """
        name = request_name(run.body)
        with Session(self.engine) as db:
            row = db.exec(
                select(QbRequest).where(
                    QbRequest.company_id == run.company_id, QbRequest.idem_key == idem_key
                )
            ).first()
            if row is None:
                row = QbRequest(
                    company_id=run.company_id,
                    idem_key=idem_key,
                    name=name,
                    body=run.body,
                    is_write=is_write(run.body),
                    iterate=is_iterator_start(run.body),
                    task_token=task_token,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    activity_id=activity_id,
                )
                db.add(row)
                try:
                    db.commit()
                except IntegrityError:
                    db.rollback()
                    return self.enqueue(
                        run,
                        idem_key=idem_key,
                        task_token=task_token,
                        workflow_id=workflow_id,
                        run_id=run_id,
                        activity_id=activity_id,
                    )
                return None
            if row.status in FINAL:
                row.delivered = True
                db.add(row)
                db.commit()
                if row.status != RequestState.DONE:
                    raise QueuedRequestFailed(row.error_kind, row.error_message)
                return result_of(row)
            row.task_token = task_token
            db.add(row)
            db.commit()
            return None

    def pages(self, request_id: int) -> Iterator[str]:
        """The stored response pages of a request, one at a time (an iterator query's whole result).

        Each page is read in a transaction of its own that ends before the page is handed out: the consumer
        may spend minutes on a page (Stripe calls), and on SQLite an open transaction holds the write lock.
        """
        page_no = 0
        while True:
            inline: str | None = None
            with Session(self.engine) as db:
                page = db.exec(
                    select(QbResponsePage).where(
                        QbResponsePage.request_id == request_id, QbResponsePage.page_no == page_no
                    )
                ).first()
                if page is None and page_no == 0:
                    row = db.get(QbRequest, request_id)
                    inline = row.response if row is not None else None
                xml = page.xml if page is not None else None
            if xml is None:
                if inline is not None:
                    yield inline
                return
            yield xml
            page_no += 1

    def forget_pages(self, request_id: int) -> None:
        """Drop stored pages once their consumer has processed them, so the database does not grow."""
        with Session(self.engine) as db:
            db.exec(delete(QbResponsePage).where(col(QbResponsePage.request_id) == request_id))  # type: ignore[call-overload]
            db.commit()

    # ---- the Web Connector side ----------------------------------------------------------------------

    def has_work(self, company_id: str) -> bool:
        """Anything to send now; a request backing off after a refusal waits for its time."""
        now = utcnow()
        with Session(self.engine) as db:
            pending = _count(
                db,
                QbRequest,
                QbRequest.company_id == company_id,
                col(QbRequest.status).in_(WAITING),
                or_(col(QbRequest.not_before).is_(None), col(QbRequest.not_before) <= now),
            )
            return bool(pending)

    def next_document(self, company_id: str, ticket: str) -> Document:
        """Lease the next qbXML document for this session.

        Order of business: first recover whatever an earlier batch left uncertain (so a write is never run
        twice), then continue this session's open iterators (their ids die with the session), then new
        requests in queue order.
        """
        settled: list[int] = []
        with Session(self.engine) as db:
            recovery = recover_lost(db, company_id, ticket, settled)
            if recovery is not None:
                db.commit()
                recovery.delivered = settled
                return recovery
            restart_stale_iterators(db, company_id, ticket)

            continuing = db.exec(
                select(QbRequest)
                .where(
                    QbRequest.company_id == company_id,
                    QbRequest.status == RequestState.ITERATING,
                    QbRequest.ticket == ticket,
                )
                .order_by(col(QbRequest.id))
            ).all()
            pending = db.exec(
                select(QbRequest)
                .where(
                    QbRequest.company_id == company_id,
                    QbRequest.status == RequestState.PENDING,
                    _not_deferred_by(ticket),
                    or_(col(QbRequest.not_before).is_(None), col(QbRequest.not_before) <= utcnow()),
                )
                .order_by(col(QbRequest.id))
                .limit(self.max_requests)
            ).all()

            items: list[RequestItem] = []
            rows: list[QbRequest] = []
            size = 0
            for row in continuing:
                assert row.iterator_id is not None
                body = iterator_continue(row.body, row.iterator_id)
                items.append(RequestItem(str(row.id), body))
                rows.append(row)
                size += len(body)
            room = self.max_requests - len(rows)
            plan = None
            if room > 0 and not (rows and pending and pending[0].solo):
                plan = rules.plan_batch(
                    [rules.Candidate(r.id or 0, len(r.body), r.is_write, r.solo) for r in pending],
                    max_requests=room,
                    max_bytes=max(1, self.max_bytes - size),
                )
            chosen = set(plan.request_ids) if plan else set()
            for row in pending:
                if row.id in chosen:
                    items.append(RequestItem(str(row.id), row.body))
                    rows.append(row)
            if not rows:
                db.commit()
                return Document(None, delivered=settled)

            batch_id = new_message_set_id()
            has_writes = any(r.is_write for r in rows)
            on_error = plan.on_error if plan and not continuing else "continueOnError"
            batch = QbBatch(
                id=batch_id,
                company_id=company_id,
                ticket=ticket,
                message_set_id=batch_id if has_writes else None,
                has_writes=has_writes,
                on_error=on_error,
                request_count=len(rows),
            )
            now = utcnow()
            for row in rows:
                if row.status == RequestState.PENDING:
                    row.attempts += 1
                row.status = move_request(row.status, RequestState.SENT)
                row.batch_id = batch_id
                row.ticket = ticket
                row.sent_at = now
                db.add(row)
            db.add(batch)
            xml = build_message_set(items, on_error=on_error, new_message_set_id=batch.message_set_id)  # type: ignore[arg-type]
            db.commit()
            return Document(xml, batch_id, len(rows), delivered=settled)

    def receive(self, company_id: str, ticket: str, response: MessageSetResponse) -> ReceiveOutcome:
        """Store QuickBooks' answer to the session's outstanding document and decide each request's fate."""
        with Session(self.engine) as db:
            batch = outstanding(db, ticket)
            if batch is None:
                return ReceiveOutcome(error="a response arrived but no request document was outstanding")
            target = db.get(QbBatch, batch.recovers) if batch.recovers else batch
            target_id = batch.recovers or batch.id
            rows = db.exec(
                select(QbRequest)
                .where(QbRequest.batch_id == target_id, QbRequest.status == RequestState.SENT)
                .order_by(col(QbRequest.id))
            ).all()
            sent = [rules.SentRequest(r.id or 0, str(r.id), r.iterate, r.attempts, r.is_write) for r in rows]
            verdicts = rules.interpret_response(
                sent,
                response,
                stop_on_error=target is not None and target.on_error == "stopOnError",
                recovery=bool(batch.recovers),
            )
            batch.status_code = response.message_set_status_code
            by_id = {r.id: r for r in rows}
            outcome = ReceiveOutcome(answered=sum(1 for v in verdicts if v.item is not None))
            for verdict in verdicts:
                row = by_id[verdict.request]
                if apply_verdict(db, row, verdict, ticket):
                    outcome.delivered.append(row.id or 0)
                if verdict.outcome is rules.Outcome.REFUSED:
                    outcome.refused = True
                    outcome.error = verdict.note
            now = utcnow()
            batch.status = move_batch(batch.status, BatchState.ANSWERED)
            batch.answered_at = now
            db.add(batch)
            if batch.recovers:
                original = db.get(QbBatch, batch.recovers)
                if original is not None:
                    original.status = move_batch(original.status, BatchState.RECOVERED)
                    original.answered_at = now
                    db.add(original)
            db.commit()
            return outcome

    def receive_hresult(self, company_id: str, ticket: str, hresult: str, message: str) -> ReceiveOutcome:
        """The request processor failed on the whole document: split it, fail it, or recover it."""
        with Session(self.engine) as db:
            batch = outstanding(db, ticket)
            if batch is None:
                return ReceiveOutcome(error=f"QuickBooks reported {hresult}: {message}")
            target_id = batch.recovers or batch.id
            rows = db.exec(
                select(QbRequest).where(QbRequest.batch_id == target_id, QbRequest.status == RequestState.SENT)
            ).all()
            action = rules.interpret_hresult(hresult, batch_size=len(rows))
            text = f"QuickBooks could not process the request ({hresult}): {message}".strip()
            outcome = ReceiveOutcome(error=text)
            if batch.recovers:
                # The recovery query itself failed; the original batch stays uncertain and is asked about again.
                batch.status = move_batch(batch.status, BatchState.ABANDONED)
            elif action is rules.HresultAction.SPLIT:
                for row in rows:
                    verdict = rules.Verdict(
                        row.id or 0,
                        rules.Outcome.NOT_RUN,
                        note=text + "; sending each request alone to find the bad one",
                    )
                    if apply_verdict(db, row, verdict, ticket, solo=True):
                        outcome.delivered.append(row.id or 0)
                batch.status = move_batch(batch.status, BatchState.ANSWERED)
            elif action is rules.HresultAction.FAIL_REQUEST:
                for row in rows:
                    finish_failed(row, "RequestRejected", text)
                    db.add(row)
                    outcome.delivered.append(row.id or 0)
                batch.status = move_batch(batch.status, BatchState.ANSWERED)
            else:
                batch.status = move_batch(batch.status, BatchState.LOST)
            db.add(batch)
            db.commit()
            return outcome

    def note_connection_error(self, company_id: str, text: str) -> list[int]:
        """QuickBooks could not be opened: every waiting request hears why, and stays queued.

        The waiting activities fail with a retryable error carrying the text; Temporal retries them, the retry
        finds the same row and waits again, and the Web UI shows the reason on the pending activity.
        """
        with Session(self.engine) as db:
            rows = db.exec(
                select(QbRequest).where(
                    QbRequest.company_id == company_id,
                    QbRequest.status == RequestState.PENDING,
                    col(QbRequest.task_token).is_not(None),
                )
            ).all()
            for row in rows:
                row.last_note = text
                row.delivered = False
                db.add(row)
            db.commit()
            return [r.id or 0 for r in rows]

    def close_session(self, ticket: str) -> None:
        """Iterators die with the session: their requests start again from the first page next time."""
        with Session(self.engine) as db:
            rows = db.exec(
                select(QbRequest).where(QbRequest.ticket == ticket, QbRequest.status == RequestState.ITERATING)
            ).all()
            for row in rows:
                restart_iterator(db, row, "the session ended before the last page")
            db.commit()

    def should_hold(
        self,
        company_id: str,
        ticket: str,
        *,
        hold_seconds: float,
        fill: int,
        answered_at: datetime | None = None,
    ) -> bool:
        """Whether to let a small batch fill up for a moment instead of sending it now.

        Within an open session, a steady stream of work (payments arriving by webhook) would otherwise go out
        as many small documents, one per round trip. Holding back while fewer than `fill` requests wait trades
        a few seconds of latency for far fewer round trips, as long as either

        - the oldest waiting request is younger than `hold_seconds` (more of the stream is on its way), or
        - this session handed answers to waiting workflows less than `hold_seconds` ago (`answered_at`): those
          workflows are about to queue the requests the answers unlock (an invoice read unlocks the payments
          that waited for it), so what waits right now is only the stragglers of earlier waves, and sending
          it would spend a round trip on them and leave the follow-ups for another.

        Recovery and iterator pages are never held: they must finish inside this session. An empty queue is
        not held either: the caller decides between lingering and ending the session.
        """
        if hold_seconds <= 0:
            return False
        with Session(self.engine) as db:
            busy = _count(
                db,
                QbRequest,
                QbRequest.company_id == company_id,
                col(QbRequest.status).in_((RequestState.ITERATING, RequestState.SENT)),
            )
            lost = _count(
                db, QbBatch, QbBatch.company_id == company_id, col(QbBatch.status).in_(UNSETTLED_BATCHES)
            )
            if busy or lost:
                return False
            waiting = and_(
                col(QbRequest.company_id) == company_id,
                col(QbRequest.status) == RequestState.PENDING,
                _not_deferred_by(ticket),
            )
            count = _count(db, QbRequest, waiting)
            if count == 0 or count >= fill:
                return False
            oldest = db.exec(select(func.min(QbRequest.created_at)).where(waiting)).one()
        now = utcnow()
        if answered_at is not None and (now - _utc(answered_at)).total_seconds() < hold_seconds:
            return True
        if oldest is None:
            return False
        return (now - _utc(oldest)).total_seconds() < hold_seconds

    def remaining(self, company_id: str, ticket: str) -> int:
        with Session(self.engine) as db:
            count = _count(
                db,
                QbRequest,
                QbRequest.company_id == company_id,
                or_(
                    and_(col(QbRequest.status) == RequestState.PENDING, _not_deferred_by(ticket)),
                    and_(col(QbRequest.status) == RequestState.ITERATING, col(QbRequest.ticket) == ticket),
                ),
            )
            lost = _count(
                db,
                QbBatch,
                QbBatch.company_id == company_id,
                col(QbBatch.status).in_((BatchState.LOST, BatchState.RECOVERING)),
            )
            return count + lost

    # ---- delivery --------------------------------------------------------------------------------------

    def undelivered(self, *, limit: int = 500, ids: Sequence[int] | None = None) -> list[Delivery]:
        with Session(self.engine) as db:
            query = select(QbRequest).where(QbRequest.delivered == False)  # noqa: E712
            if ids is not None:
                query = query.where(col(QbRequest.id).in_(list(ids)))
            rows = db.exec(query.order_by(col(QbRequest.id)).limit(limit)).all()
            return [delivery_of(r) for r in rows]

    def mark_delivered(self, request_id: int, token: bytes | None) -> None:
        """Mark delivered unless an activity retry registered a newer token in the meantime."""
        with Session(self.engine) as db:
            row = db.get(QbRequest, request_id)
            if row is None:
                return
            if row.status == RequestState.PENDING:
                if row.task_token == token:
                    row.task_token = None
                    row.delivered = True
            elif row.task_token == token or token is None:
                row.delivered = True
            row.deliver_attempts += 1
            db.add(row)
            db.commit()

    def note_delivery_failure(self, request_id: int) -> None:
        with Session(self.engine) as db:
            row = db.get(QbRequest, request_id)
            if row is not None:
                row.deliver_attempts += 1
                db.add(row)
                db.commit()


def _not_deferred_by(ticket: str) -> ColumnElement[bool]:
    """A pending request this session may send: not one it set aside itself (``defer_ticket``), which waits
    for the next session."""
    return or_(col(QbRequest.defer_ticket).is_(None), col(QbRequest.defer_ticket) != ticket)


def _count(db: Session, table: type[SQLModel], *where: ColumnElement[bool] | bool) -> int:
    """How many rows of ``table`` match every condition."""
    return int(db.exec(select(func.count()).select_from(table).where(*where)).one())


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes even for timezone-aware columns; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
