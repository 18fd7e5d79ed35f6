"""The queue's stored state machines refuse every move their tables do not have (ml_connector/qbwc/lifecycle.py)."""

from __future__ import annotations

import pytest

from ml_connector.qbwc.lifecycle import (
    BATCH_MOVES,
    FINAL,
    REQUEST_MOVES,
    BatchState,
    IllegalMove,
    RequestState,
    move_batch,
    move_request,
)


def test_a_request_is_leased_answered_and_then_never_moves_again():
    state = move_request("pending", RequestState.SENT)
    assert move_request(state, RequestState.DONE) is RequestState.DONE
    for final in FINAL:
        for target in RequestState:
            with pytest.raises(IllegalMove):
                move_request(final, target)


def test_an_uncertain_write_can_never_be_queued_again():
    """The heart of exactly-once: only its workflow, after a read, may write it again (as a new request)."""
    with pytest.raises(IllegalMove, match="uncertain to pending"):
        move_request("uncertain", RequestState.PENDING)


def test_a_pending_request_is_never_answered_without_being_sent():
    with pytest.raises(IllegalMove):
        move_request("pending", RequestState.DONE)
    with pytest.raises(IllegalMove):
        move_request("pending", RequestState.UNCERTAIN)


def test_an_answered_document_is_never_recovered_and_a_lost_one_never_answered():
    with pytest.raises(IllegalMove):
        move_batch("answered", BatchState.RECOVERING)
    with pytest.raises(IllegalMove):
        move_batch("lost", BatchState.ANSWERED)
    assert move_batch("recovering", BatchState.RECOVERING) is BatchState.RECOVERING  # asked again


def test_every_state_has_a_row_in_its_table():
    assert set(REQUEST_MOVES) == set(RequestState) and set(BATCH_MOVES) == set(BatchState)
