"""The durable request queue against the QuickBooks simulator, without Temporal: leases, recovery, iterators."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from ml_connector.qbxml.customers import CustomerFields, customer_add, customer_query, parse_customers
from ml_connector.qbxml.envelope import parse_response
from ml_connector.queue import QbRunInput, RequestQueue
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor, RequestProcessorError
from ml_connector.storage.engine import make_engine, migrate
from ml_connector.storage.models import QbBatch, QbRequest, utcnow


def _queue(database_url: str) -> RequestQueue:
    engine = make_engine(database_url)
    migrate(engine)
    return RequestQueue(engine, max_requests=25)


def _enqueue(queue: RequestQueue, body: str, key: str) -> None:
    assert queue.enqueue(QbRunInput("acme", body), idem_key=key, task_token=key.encode()) is None


def _rows(queue: RequestQueue) -> list[QbRequest]:
    with Session(queue.engine) as db:
        return list(db.exec(select(QbRequest).order_by(QbRequest.id)).all())


def test_requests_go_out_in_queue_order_in_batches_and_come_back_by_request_id(database_url):
    queue = _queue(database_url)
    qb = QuickBooksProcessor(CompanyFile())
    for i in range(30):
        _enqueue(queue, customer_add(CustomerFields(name=f"C{i:02d}")), f"k{i}")

    first = queue.next_document("acme", "t1")
    assert first.xml is not None and first.request_count == 25
    outcome = queue.receive("acme", "t1", parse_response(qb.process(first.xml)))
    assert outcome.answered == 25 and len(outcome.delivered) == 25
    second = queue.next_document("acme", "t1")
    assert second.request_count == 5
    queue.receive("acme", "t1", parse_response(qb.process(second.xml or "")))
    assert queue.next_document("acme", "t1").xml is None

    names = [parse_customers(r.response or "")[0].name for r in _rows(queue)]
    assert names == [f"C{i:02d}" for i in range(30)], "each response reached the request that asked"


def test_a_second_attempt_of_the_same_activity_finds_its_answer_instead_of_queueing_again(database_url):
    queue = _queue(database_url)
    company = CompanyFile()
    qb = QuickBooksProcessor(company)
    body = customer_add(CustomerFields(name="Once Only"))
    _enqueue(queue, body, "wf/run/1")
    doc = queue.next_document("acme", "t1")
    queue.receive("acme", "t1", parse_response(qb.process(doc.xml or "")))

    result = queue.enqueue(QbRunInput("acme", body), idem_key="wf/run/1", task_token=b"attempt-2")
    assert result is not None and result.status_code == 0
    assert len(_rows(queue)) == 1 and len(company.customers) == 1


def test_a_lost_write_batch_is_recovered_from_quickbooks_before_anything_else_is_sent(database_url):
    queue = _queue(database_url)
    company = CompanyFile()
    qb = QuickBooksProcessor(company)
    for i in range(3):
        _enqueue(queue, customer_add(CustomerFields(name=f"Lost {i}")), f"k{i}")
    doc = queue.next_document("acme", "t1")
    qb.process(doc.xml or "")  # QuickBooks ran it; the response never reached us
    qb.end_session()
    _enqueue(queue, customer_add(CustomerFields(name="Later")), "k-later")

    recovery = queue.next_document("acme", "t2")
    assert recovery.recovery and recovery.xml is not None and "oldMessageSetID" in recovery.xml
    outcome = queue.receive("acme", "t2", parse_response(qb.process(recovery.xml)))
    assert len(outcome.delivered) == 3
    following = queue.next_document("acme", "t2")
    assert following.request_count == 1
    queue.receive("acme", "t2", parse_response(qb.process(following.xml or "")))

    assert sorted(c.name for c in company.customers.values()) == ["Later", "Lost 0", "Lost 1", "Lost 2"]
    assert all(r.status == "done" and r.status_code == 0 for r in _rows(queue))


def test_a_lost_read_batch_is_simply_sent_again(database_url):
    queue = _queue(database_url)
    qb = QuickBooksProcessor(CompanyFile())
    _enqueue(queue, customer_query(max_returned=5), "q1")
    queue.next_document("acme", "t1")
    again = queue.next_document("acme", "t2")
    assert not again.recovery and again.request_count == 1
    queue.receive("acme", "t2", parse_response(qb.process(again.xml or "")))
    assert _rows(queue)[0].status == "done"


def test_a_document_quickbooks_cannot_parse_is_split_and_the_bad_request_fails_alone(database_url):
    queue = _queue(database_url)
    qb = QuickBooksProcessor(CompanyFile())
    _enqueue(queue, customer_add(CustomerFields(name="Good A")), "a")
    _enqueue(queue, "<CustomerAddRq><CustomerAdd><Bogus>x</Bogus></CustomerAdd></CustomerAddRq>", "bad")
    _enqueue(queue, customer_add(CustomerFields(name="Good B")), "b")
    doc = queue.next_document("acme", "t1")
    try:
        qb.process(doc.xml or "")
        raise AssertionError("the simulator must refuse an invalid document")
    except RequestProcessorError as exc:
        queue.receive_hresult("acme", "t1", exc.hresult, exc.message)

    for _ in range(3):
        solo = queue.next_document("acme", "t1")
        assert solo.request_count == 1
        try:
            queue.receive("acme", "t1", parse_response(qb.process(solo.xml or "")))
        except RequestProcessorError as exc:
            queue.receive_hresult("acme", "t1", exc.hresult, exc.message)
    by_key = {r.idem_key: r for r in _rows(queue)}
    assert by_key["a"].status == "done" and by_key["b"].status == "done"
    assert by_key["bad"].status == "failed" and "0x80040400" in by_key["bad"].error_message


def test_iterator_pages_are_stored_and_an_interrupted_iterator_restarts_next_session(database_url):
    from ml_connector.simulator.seed import seed_company

    queue = _queue(database_url)
    company = CompanyFile()
    seed_company(company, customers=120, open_invoices=0)
    qb = QuickBooksProcessor(company)
    _enqueue(queue, customer_query(iterator=True, max_returned=50, active_status="All", owner_ids=()), "it")

    doc = queue.next_document("acme", "t1")
    queue.receive("acme", "t1", parse_response(qb.process(doc.xml or "")))
    assert _rows(queue)[0].status == "iterating"
    qb.end_session()
    queue.close_session("t1")  # the session ends mid-iteration

    seen: list[str] = []
    while (doc := queue.next_document("acme", "t2")).xml is not None:
        queue.receive("acme", "t2", parse_response(qb.process(doc.xml)))
    row = _rows(queue)[0]
    assert row.status == "done" and row.pages == 3 and row.ret_count == 120
    for page in queue.pages(row.id or 0):
        seen.extend(c.list_id for c in parse_customers(page))
    assert sorted(seen) == sorted(company.customers)


def test_a_recovery_query_is_never_mixed_with_new_work(database_url):
    queue = _queue(database_url)
    qb = QuickBooksProcessor(CompanyFile())
    _enqueue(queue, customer_add(CustomerFields(name="W")), "w")
    queue.next_document("acme", "t1")
    recovery = queue.next_document("acme", "t2")
    assert recovery.recovery and recovery.request_count == 0
    with Session(queue.engine) as db:
        statuses = sorted(b.status for b in db.exec(select(QbBatch)).all())
    assert statuses == ["recovering", "sent"]
    queue.receive("acme", "t2", parse_response(qb.process(recovery.xml or "")))
    # QuickBooks never saw the first batch, so the request is queued again and runs once
    again = queue.next_document("acme", "t2")
    assert again.request_count == 1


def test_mid_session_a_small_batch_is_held_briefly_to_fill_but_never_recovery_or_old_work(database_url):
    queue = _queue(database_url)
    for i in range(3):
        _enqueue(queue, customer_add(CustomerFields(name=f"H{i}")), f"h{i}")
    assert queue.should_hold("acme", "t1", hold_seconds=30, fill=10), "3 fresh requests wait for company"
    assert not queue.should_hold("acme", "t1", hold_seconds=30, fill=3), "a full batch goes at once"
    assert not queue.should_hold("acme", "t1", hold_seconds=0, fill=10), "holding can be switched off"
    assert not queue.should_hold("acme", "t1", hold_seconds=0.000001, fill=10), "old requests go at once"
    queue.next_document("acme", "t1")  # outstanding batch: its answer (or recovery) comes first
    _enqueue(queue, customer_add(CustomerFields(name="H3")), "h3")
    assert not queue.should_hold("acme", "t1", hold_seconds=30, fill=10)


def test_right_after_answers_were_handed_out_stragglers_wait_for_the_follow_ups_those_answers_unlock(
    database_url,
):
    queue = _queue(database_url)
    _enqueue(queue, customer_add(CustomerFields(name="Straggler")), "s1")
    with Session(queue.engine) as db:
        row = db.exec(select(QbRequest)).one()
        row.created_at = utcnow() - timedelta(seconds=60)  # it has waited long: on its own it would go now
        db.add(row)
        db.commit()
    assert not queue.should_hold("acme", "t1", hold_seconds=3, fill=10)

    just_now = utcnow() - timedelta(seconds=1)
    assert queue.should_hold("acme", "t1", hold_seconds=3, fill=10, answered_at=just_now), (
        "answers went out a second ago: the posts they unlock are on their way, so the straggler waits for them"
    )
    assert not queue.should_hold("acme", "t1", hold_seconds=3, fill=1, answered_at=just_now), (
        "a full batch goes at once"
    )
    assert not queue.should_hold(
        "acme", "t1", hold_seconds=3, fill=10, answered_at=utcnow() - timedelta(seconds=10)
    ), "the hold is bounded: answers handed out longer ago than the hold no longer keep anything back"
    assert not queue.should_hold("acme", "t1", hold_seconds=0, fill=10, answered_at=just_now), (
        "holding can be switched off"
    )
