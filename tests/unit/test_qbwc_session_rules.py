"""The Web Connector session rules, as pure decisions."""

from __future__ import annotations

from ml_connector.qbwc import session as rules
from ml_connector.qbxml.envelope import MessageSetResponse, ResponseItem


def _item(
    request_id: str, code: int = 0, *, remaining: int | None = None, iterator: str | None = None
) -> ResponseItem:
    return ResponseItem(
        request_id=request_id,
        name="CustomerQueryRs",
        status_code=code,
        status_severity="Info" if code < 1000 else "Error",
        status_message="",
        ret_count=None,
        iterator_id=iterator,
        iterator_remaining_count=remaining,
        xml="<CustomerQueryRs/>",
    )


def test_wrong_password_and_throttled_users_both_get_nvu():
    assert rules.decide_authenticate(password_ok=False, locked=False, has_work=True).status == "nvu"
    assert rules.decide_authenticate(password_ok=True, locked=True, has_work=True).status == "nvu"


def test_nothing_to_do_answers_none_optionally_with_a_postpone():
    decision = rules.decide_authenticate(
        password_ok=True, locked=False, has_work=False, postpone_when_idle=120
    )
    assert decision.result("t") == ["t", "none", "120"]
    assert rules.decide_authenticate(password_ok=True, locked=False, has_work=True).result("t") == ["t", ""]


def test_a_batch_keeps_queue_order_and_respects_the_caps():
    cands = [rules.Candidate(i, 100, i % 2 == 0, False) for i in range(1, 11)]
    plan = rules.plan_batch(cands, max_requests=4, max_bytes=10_000)
    assert plan is not None and plan.request_ids == (1, 2, 3, 4)
    assert plan.on_error == "continueOnError" and plan.has_writes
    plan = rules.plan_batch(cands, max_requests=100, max_bytes=250)
    assert plan is not None and plan.request_ids == (1, 2)


def test_an_oversized_first_request_still_goes_alone():
    plan = rules.plan_batch(
        [rules.Candidate(1, 5000, True, False), rules.Candidate(2, 10, True, False)],
        max_requests=10,
        max_bytes=1000,
    )
    assert plan is not None and plan.request_ids == (1,)


def test_a_request_under_suspicion_travels_alone_with_stop_on_error():
    cands = [rules.Candidate(1, 10, False, True), rules.Candidate(2, 10, False, False)]
    plan = rules.plan_batch(cands, max_requests=10, max_bytes=1000)
    assert plan is not None and plan.request_ids == (1,) and plan.on_error == "stopOnError"
    plan = rules.plan_batch(
        [rules.Candidate(2, 10, False, False), rules.Candidate(1, 10, False, True)],
        max_requests=10,
        max_bytes=1000,
    )
    assert plan is not None and plan.request_ids == (2,)


def test_responses_are_routed_by_request_id_not_by_position():
    sent = [rules.SentRequest(1, "1", False, 1), rules.SentRequest(2, "2", False, 1)]
    response = MessageSetResponse(
        items=(_item("2", 3100), _item("1", 0)), new_message_set_id=None, message_set_status_code=None
    )
    verdicts = {v.request: v for v in rules.interpret_response(sent, response)}
    assert verdicts[1].item is not None and verdicts[1].item.status_code == 0
    assert verdicts[2].item is not None and verdicts[2].item.status_code == 3100
    assert all(v.outcome is rules.Outcome.DONE for v in verdicts.values())


def _answer(*items: ResponseItem, status: int | None = None) -> MessageSetResponse:
    return MessageSetResponse(items=items, new_message_set_id=None, message_set_status_code=status)


WRITES = [rules.SentRequest(i, str(i), False, 1, is_write=True) for i in (1, 2, 3)]


def test_with_stop_on_error_requests_after_the_last_answered_did_not_run():
    """QuickBooks runs a document top to bottom and stops at the first error (stopOnError)."""
    verdicts = rules.interpret_response(WRITES, _answer(_item("2", 3140)), stop_on_error=True)
    outcomes = {v.request: v.outcome for v in verdicts}
    assert outcomes == {1: rules.Outcome.UNCERTAIN, 2: rules.Outcome.DONE, 3: rules.Outcome.NOT_RUN}


def test_with_continue_on_error_a_write_without_its_rs_is_uncertain_and_a_read_goes_again():
    sent = [rules.SentRequest(1, "1", False, 1, is_write=True), rules.SentRequest(2, "2", False, 1)]
    outcomes = {v.request: v.outcome for v in rules.interpret_response(sent, _answer())}
    assert outcomes == {1: rules.Outcome.UNCERTAIN, 2: rules.Outcome.NOT_RUN}


def test_every_reading_of_an_error_recovery_answer_settles_or_hands_back_uncertain_never_resends():
    """The recovery answer's shape is unconfirmed (PROTOCOL.md 5): last request processed, nothing, 600/9002,
    every stored Rs. Under each, no write of the lost continueOnError document is queued again."""
    readings = {
        "last processed": _answer(_item("3")),
        "nothing": _answer(status=0),
        "600": _answer(status=600),
        "9002": _answer(status=9002),
        "all": _answer(_item("1"), _item("2"), _item("3")),
    }
    for name, answer in readings.items():
        verdicts = rules.interpret_response(WRITES, answer, recovery=True)
        for v in verdicts:
            expected = rules.Outcome.DONE if v.item is not None else rules.Outcome.UNCERTAIN
            assert v.outcome is expected, name
        assert not any(v.outcome is rules.Outcome.NOT_RUN for v in verdicts), name


def test_a_recovery_answer_for_a_stop_on_error_document_proves_the_rest_did_not_run():
    verdicts = rules.interpret_response(WRITES, _answer(_item("1", 3140)), stop_on_error=True, recovery=True)
    assert [v.outcome for v in verdicts] == [rules.Outcome.DONE, rules.Outcome.NOT_RUN, rules.Outcome.NOT_RUN]


def test_a_message_set_status_on_an_ordinary_document_means_nothing_in_it_ran():
    verdicts = rules.interpret_response(WRITES, _answer(status=9004))
    assert {v.outcome for v in verdicts} == {rules.Outcome.REFUSED}
    assert "9004" in verdicts[0].note and "not valid" in verdicts[0].note


def test_refusals_back_off_then_stop_and_sends_are_bounded():
    assert [rules.refusal_backoff_seconds(n) for n in (1, 2, 3)] == [60, 240, None]
    assert rules.may_send_again(rules.MAX_SENDS_PER_REQUEST - 1)
    assert not rules.may_send_again(rules.MAX_SENDS_PER_REQUEST)


def test_message_set_ids_hold_at_most_23_characters():
    assert rules.valid_message_set_id("a" * 23) and not rules.valid_message_set_id("a" * 24)
    assert not rules.valid_message_set_id("")


def test_a_lost_document_given_up_on_sends_reads_again_and_hands_writes_back_uncertain():
    sent = [rules.SentRequest(1, "1", False, 1, is_write=True), rules.SentRequest(2, "2", False, 1)]
    outcomes = [v.outcome for v in rules.lost_document(sent, "gone")]
    assert outcomes == [rules.Outcome.UNCERTAIN, rules.Outcome.NOT_RUN]


def test_iterator_pages_continue_until_nothing_remains():
    sent = [rules.SentRequest(1, "1", True, 1)]
    more = MessageSetResponse(
        items=(_item("1", remaining=37, iterator="{it}"),),
        new_message_set_id=None,
        message_set_status_code=None,
    )
    last = MessageSetResponse(
        items=(_item("1", remaining=0, iterator="{it}"),),
        new_message_set_id=None,
        message_set_status_code=None,
    )
    empty = MessageSetResponse(items=(_item("1", 1),), new_message_set_id=None, message_set_status_code=None)
    assert rules.interpret_response(sent, more)[0].outcome is rules.Outcome.PAGE
    assert rules.interpret_response(sent, last)[0].outcome is rules.Outcome.LAST_PAGE
    assert rules.interpret_response(sent, empty)[0].outcome is rules.Outcome.LAST_PAGE


def test_an_expired_iterator_restarts_a_bounded_number_of_times():
    response = MessageSetResponse(
        items=(_item("1", 3391),), new_message_set_id=None, message_set_status_code=None
    )
    first = rules.interpret_response([rules.SentRequest(1, "1", True, 1)], response)[0]
    assert first.outcome is rules.Outcome.RESTART_ITERATOR
    last = rules.interpret_response([rules.SentRequest(1, "1", True, rules.MAX_ITERATOR_RESTARTS)], response)[
        0
    ]
    assert last.outcome is rules.Outcome.DONE


def test_a_record_in_use_is_retried_in_a_later_session_then_reported():
    response = MessageSetResponse(
        items=(_item("1", 3175),), new_message_set_id=None, message_set_status_code=None
    )
    assert (
        rules.interpret_response([rules.SentRequest(1, "1", False, 1)], response)[0].outcome
        is rules.Outcome.RETRY_LATER
    )
    gave_up = rules.interpret_response(
        [rules.SentRequest(1, "1", False, rules.MAX_IN_USE_RETRIES)], response
    )[0]
    assert gave_up.outcome is rules.Outcome.DONE


def test_a_parse_error_splits_the_batch_and_then_pins_the_bad_request():
    assert rules.interpret_hresult("0x80040400", batch_size=5) is rules.HresultAction.SPLIT
    assert rules.interpret_hresult("0x80040400", batch_size=1) is rules.HresultAction.FAIL_REQUEST
    assert rules.interpret_hresult("0x80040402", batch_size=5) is rules.HresultAction.RECOVER


def test_the_percentage_is_true_and_reaches_100_only_when_nothing_is_left():
    assert rules.percent_complete(answered=50, remaining=50, lingering=False) == 50
    assert rules.percent_complete(answered=100, remaining=0, lingering=False) == 100
    assert rules.percent_complete(answered=100, remaining=0, lingering=True) == 99
    assert rules.percent_complete(answered=0, remaining=0, lingering=True) == 0
    assert rules.percent_complete(answered=999, remaining=1, lingering=False) == 99


def test_qbxml_versions_below_13_are_refused():
    assert rules.version_supported("13") and rules.version_supported("16")
    assert not rules.version_supported("12") and not rules.version_supported("")
