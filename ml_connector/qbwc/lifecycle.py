"""The stored life of a queued qbXML request and of the documents that carry it: states and legal moves.

This module owns the two state machines the queue (`ml_connector/qbwc_server/queue.py`) stores, as h11 owns its
connection states: one enum each, one transition table each, and a `move` that refuses anything the table
does not allow, so an impossible history (a finished request sent again, an answered document recovered)
fails loudly at the line that would have written it instead of silently re-running a write. What each move
means is decided by the session rules in `session.py`; this module only says which moves exist.

A request:

    pending ──lease──▶ sent ──answer──▶ done | failed | uncertain      (final: delivered to the workflow)
       ▲  │              │ ──iterator page──▶ iterating ──lease Continue──▶ sent
       │  └─bounds──▶ failed                 └──session ended──▶ pending (restart from the first page)
       └──── not run / record in use / refused (back-off) / parse error (split) ◀── sent

A document (`qb_batch`):

    sent ──answer──▶ answered
      │ ──hresult or no answer──▶ lost ──status check sent──▶ recovering ──answer──▶ recovered
      └────────────────────────────────────────────────────────────────────────────▶ recovered (reads, given up)
    a recovery document itself: sent ──▶ answered | abandoned (unanswered; the lost one is asked again)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class RequestState(enum.StrEnum):
    PENDING = "pending"  # waiting for a Web Connector session (maybe backing off: not_before, defer_ticket)
    SENT = "sent"  # in a document handed to the Web Connector; its answer is awaited
    ITERATING = "iterating"  # an iterator query with more pages to fetch in this session
    DONE = "done"  # QuickBooks answered (any statusCode): the answer is stored
    FAILED = "failed"  # ended without an answer: unparseable, refused too often, or a bound tripped
    UNCERTAIN = "uncertain"  # a write whose fate is unknown: never re-sent; its workflow verifies by a read


class BatchState(enum.StrEnum):
    SENT = "sent"
    ANSWERED = "answered"
    LOST = "lost"  # the request processor failed on it, or its session died: fate unknown
    RECOVERING = "recovering"  # an oldMessageSetID status check about it is out
    RECOVERED = "recovered"  # every request of it is settled
    ABANDONED = "abandoned"  # a status check that got no answer


FINAL: frozenset[RequestState] = frozenset({RequestState.DONE, RequestState.FAILED, RequestState.UNCERTAIN})
WAITING: tuple[RequestState, ...] = (RequestState.PENDING, RequestState.SENT, RequestState.ITERATING)
UNSETTLED_BATCHES: tuple[BatchState, ...] = (BatchState.SENT, BatchState.LOST, BatchState.RECOVERING)

REQUEST_MOVES: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.PENDING: frozenset({RequestState.SENT, RequestState.FAILED}),
    RequestState.SENT: frozenset(
        {
            RequestState.DONE,
            RequestState.FAILED,
            RequestState.UNCERTAIN,
            RequestState.PENDING,
            RequestState.ITERATING,
        }
    ),
    RequestState.ITERATING: frozenset({RequestState.SENT, RequestState.PENDING}),
    RequestState.DONE: frozenset(),
    RequestState.FAILED: frozenset(),
    RequestState.UNCERTAIN: frozenset(),
}

BATCH_MOVES: Mapping[BatchState, frozenset[BatchState]] = {
    BatchState.SENT: frozenset(
        {BatchState.ANSWERED, BatchState.LOST, BatchState.RECOVERING, BatchState.RECOVERED, BatchState.ABANDONED}
    ),
    BatchState.LOST: frozenset({BatchState.RECOVERING, BatchState.RECOVERED, BatchState.ABANDONED}),
    BatchState.RECOVERING: frozenset({BatchState.RECOVERING, BatchState.RECOVERED}),
    BatchState.ANSWERED: frozenset(),
    BatchState.RECOVERED: frozenset(),
    BatchState.ABANDONED: frozenset(),
}


class IllegalMove(Exception):
    """Our bug: the queue tried a move its state machine does not have."""


def move_request(current: str, to: RequestState) -> RequestState:
    """The new state of a request, or IllegalMove. Staying in the same non-final state is allowed."""
    state = RequestState(current)
    if to is state and state not in FINAL:
        return to
    if to not in REQUEST_MOVES[state]:
        raise IllegalMove(f"a qbXML request cannot go from {state.value} to {to.value}")
    return to


def move_batch(current: str, to: BatchState) -> BatchState:
    state = BatchState(current)
    if to not in BATCH_MOVES[state]:
        raise IllegalMove(f"a qbXML document cannot go from {state.value} to {to.value}")
    return to
