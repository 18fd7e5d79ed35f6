"""The durable request queue against the QuickBooks simulator, without Temporal: leases, recovery, iterators."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.requests import UNCERTAIN_KIND, QbRunInput
from ml_connector.qbxml.customers import CustomerFields, customer_add, customer_query, parse_customers
from ml_connector.qbxml.envelope import parse_response
from ml_connector.simulator.company import CompanyFile
from ml_connector.simulator.processor import QuickBooksProcessor, RecoveryAnswer, RequestProcessorError
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


@pytest.mark.parametrize("reading", list(RecoveryAnswer))
def test_a_lost_write_document_is_asked_about_first_and_no_write_is_ever_sent_twice(database_url, reading):
    """A lost answer to a document of writes: QuickBooks is asked (oldMessageSetID) before anything else.
    Whatever reading of the recovery answer holds, a write is either settled by QuickBooks' own *Rs or
    handed back *uncertain* (its workflow verifies with a read); none is queued again."""
    queue = _queue(database_url)
    company = CompanyFile()
    qb = QuickBooksProcessor(company, recovery_answer=reading)
    for i in range(3):
        _enqueue(queue, customer_add(CustomerFields(name=f"Lost {i}")), f"k{i}")
    doc = queue.next_document("acme", "t1")
    qb.process(doc.xml or "")  # QuickBooks ran it; the response never reached us
    qb.end_session()
    _enqueue(queue, customer_add(CustomerFields(name="Later")), "k-later")

    recovery = queue.next_document("acme", "t2")
    assert recovery.recovery and recovery.xml is not None and "oldMessageSetID" in recovery.xml
    outcome = queue.receive("acme", "t2", parse_response(qb.process(recovery.xml)))
    assert len(outcome.delivered) == 3, "every write of the lost document is settled one way or the other"
    following = queue.next_document("acme", "t2")
    assert following.request_count == 1, "only the new request goes; nothing of the lost document"
    queue.receive("acme", "t2", parse_response(qb.process(following.xml or "")))

    assert sorted(c.name for c in company.customers.values()) == ["Later", "Lost 0", "Lost 1", "Lost 2"]
    by_key = {r.idem_key: r for r in _rows(queue)}
    expected_done = {
        RecoveryAnswer.ALL: {"k0", "k1", "k2"},
        RecoveryAnswer.LAST: {"k2"},
        RecoveryAnswer.NOTHING: set(),
        RecoveryAnswer.STATUS_600: set(),
    }[reading]
    for key in ("k0", "k1", "k2"):
        row = by_key[key]
        if key in expected_done:
            assert row.status == "done" and row.status_code == 0
        else:
            assert row.status == "uncertain" and row.error_kind == UNCERTAIN_KIND
    assert by_key["k-later"].status == "done"
    with Session(queue.engine) as db:
        message_set_ids = [b.message_set_id for b in db.exec(select(QbBatch)).all() if b.message_set_id]
    assert message_set_ids and all(len(m) <= 23 for m in message_set_ids), "Intuit's 23-character limit"


def test_a_document_quickbooks_refuses_as_a_whole_is_backed_off_then_failed_never_looped(database_url):
    """messageSetStatusCode ≠ 0 on an ordinary document: nothing in it ran. It is not sent again in the
    same session, waits 1 min then 4 min, and the third refusal fails it to its workflow with QuickBooks'
    words (issue: one session once re-sent such a document 5,447 times)."""
    queue = _queue(database_url)
    _enqueue(queue, customer_add(CustomerFields(name="Refused")), "r")
    refusal = parse_response(
        '<QBXML><QBXMLMsgsRs newMessageSetID="x" messageSetStatusCode="9004"></QBXMLMsgsRs></QBXML>'
    )
    sends = 0
    for session in range(1, 10):
        ticket = f"t{session}"
        with Session(queue.engine) as db:  # let the back-off pass, as a later scheduled run would
            for row in db.exec(select(QbRequest)).all():
                row.not_before = None
                db.add(row)
            db.commit()
        doc = queue.next_document("acme", ticket)
        if doc.xml is None:
            break
        sends += 1
        outcome = queue.receive("acme", ticket, refusal)
        assert outcome.refused and "9004" in outcome.error
        assert queue.next_document("acme", ticket).xml is None, "never again in the same session"
    row = _rows(queue)[0]
    assert sends == 3
    assert row.status == "failed" and row.error_kind == "QuickBooksRefused"
    assert "messageSetStatusCode 9004" in row.error_message


def test_a_write_whose_answer_stays_lost_is_handed_back_uncertain_after_bounded_status_checks(database_url):
    queue = _queue(database_url)
    _enqueue(queue, customer_add(CustomerFields(name="Gone")), "g")
    queue.next_document("acme", "t0")  # its answer never comes back
    checks = 0
    while (doc := queue.next_document("acme", f"t{checks + 1}")).recovery:
        checks += 1  # and no recovery query is ever answered either
    assert checks == 3
    row = _rows(queue)[0]
    assert row.status == "uncertain" and doc.delivered == [row.id]


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
    # QuickBooks stored nothing for it (9002): not proof that it never ran, so it is not re-sent blind
    assert _rows(queue)[0].status == "uncertain"
    assert queue.next_document("acme", "t2").xml is None


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


def test_requests_that_ended_without_an_answer_are_shown_by_check_and_the_status_page(database_url):
    """A tripped bound is designed for a person: `ml-connector check` warns with QuickBooks' words and advice,
    and the status page's company row says the same (both read ml_connector.health.company_rows)."""
    from ml_connector.cli.check import Status, check_companies
    from ml_connector.companies import sync_companies
    from ml_connector.config import load_settings
    from ml_connector.health import company_rows
    from ml_connector.storage.models import Company

    queue = _queue(database_url)
    settings = load_settings(
        {
            "MLC_DATABASE_URL": database_url,
            "MLC_QBWC_USERNAME": "acme",
            "MLC_QBWC_PASSWORD": "password-123",
            "MLC_COMPANY_ID": "acme",
        }
    )
    sync_companies(queue.engine, settings)
    with Session(queue.engine) as db:
        company = db.get(Company, "acme")
        assert company is not None
        company.last_contact_at = utcnow()
        db.add(company)
        db.commit()
    _enqueue(queue, customer_add(CustomerFields(name="Refused")), "r")
    refusal = parse_response('<QBXML><QBXMLMsgsRs messageSetStatusCode="9004"></QBXMLMsgsRs></QBXML>')
    for session in range(3):
        with Session(queue.engine) as db:
            for row in db.exec(select(QbRequest)).all():
                row.not_before = None
                db.add(row)
            db.commit()
        queue.next_document("acme", f"t{session}")
        queue.receive("acme", f"t{session}", refusal)

    [result] = check_companies(queue.engine, settings)
    assert result.status is Status.WARN
    assert "1 request(s) ended without an answer" in result.detail and "messageSetStatusCode 9004" in result.detail
    assert "Temporal Web UI" in result.advice
    [row] = company_rows(queue.engine, settings)
    assert row.unsettled is not None and row.unsettled.last_kind == "QuickBooksRefused"
