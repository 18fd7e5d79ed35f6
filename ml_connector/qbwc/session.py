"""The Web Connector session state machine: every decision of a QBWC session, and nothing else.

This module owns the rules of a session and is pure (plain values in, plain values out); the service in
`ml_connector/qbwc/service.py` loads state from the database, calls these functions and carries out what they
decide. The whole session, once:

    authenticate ──bad password / throttled──▶ "nvu"            (session over)
        │ ──no work and nothing due────────────▶ "none"+postpone (session over)
        ▼ ticket
    sendRequestXML ◀───────────────────────────────────────────────┐
        │ lost batch from an earlier call?  → recovery document     │ (oldMessageSetID, nothing else)
        │ iterators open in this session?   → their Continue pages  │
        │ pending requests?                 → one batch (size caps) │
        │ nothing, but lingering?           → "NoOp" (QBWC waits 5 s)│
        │ nothing at all                    → "" + benign getLastError (QBWC closes)
        ▼                                                            │
    receiveResponseXML ── hresult ─▶ parse error: split the batch, send alone; otherwise: batch lost,
        │                             recover before anything else ──▶ percent / negative after repeats
        └─ response: each *Rs routed by requestID ─▶ done | next iterator page | retry in a later session |
                     re-queue (not run: stopOnError) | restart iterator (3391) ──▶ percent (<100 while work)
    connectionError (QuickBooks closed) ─▶ "done"; requests stay queued for the next session
    closeConnection ─▶ iterators of the session restart from scratch next time; leases of unanswered
                       batches stay until recovered

Why each rule exists is written beside it below.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ml_connector.qbxml.envelope import MessageSetResponse, ResponseItem
from ml_connector.qbxml.errors import StatusClass, classify

# QBWC treats "" from sendRequestXML as "stop and ask getLastError"; "NoOp" as "wait ~5 s and ask again".
NOOP = "NoOp"
PARSE_ERROR_HRESULT = "0x80040400"
# How often a record-in-use (3170-3180) write is retried in later sessions before its workflow hears of it.
MAX_IN_USE_RETRIES = 5
# How often an iterator query is restarted after 3391 before its workflow hears of it.
MAX_ITERATOR_RESTARTS = 3
# Consecutive request-processor failures (hresult) in one session before we end it with an error.
MAX_HRESULTS_PER_SESSION = 3
MIN_QBXML_MAJOR = 13
QBXML_VERSION = "13.0"


class AuthStatus(enum.StrEnum):
    WORK = ""  # use the company file that is open in QuickBooks
    NONE = "none"
    NOT_VALID_USER = "nvu"
    BUSY = "busy"


@dataclass(frozen=True)
class AuthDecision:
    status: AuthStatus
    postpone_seconds: int | None = None

    def result(self, ticket: str) -> list[str]:
        """The authenticate string array: [ticket, status] plus the optional postpone element."""
        out = [ticket, self.status.value]
        if self.postpone_seconds is not None:
            out.append(str(self.postpone_seconds))
        return out


def decide_authenticate(
    *, password_ok: bool, locked: bool, has_work: bool, postpone_when_idle: int | None = None
) -> AuthDecision:
    """Throttling comes first so a locked-out user cannot learn whether a guess was right."""
    if locked or not password_ok:
        return AuthDecision(AuthStatus.NOT_VALID_USER)
    if not has_work:
        return AuthDecision(AuthStatus.NONE, postpone_when_idle)
    return AuthDecision(AuthStatus.WORK)


@dataclass(frozen=True)
class Candidate:
    """A pending request as the batch planner sees it."""

    id: int
    size: int
    is_write: bool
    solo: bool


@dataclass(frozen=True)
class BatchPlan:
    request_ids: tuple[int, ...]
    on_error: str
    has_writes: bool


def plan_batch(candidates: Sequence[Candidate], *, max_requests: int, max_bytes: int) -> BatchPlan | None:
    """Take pending requests in queue order while the batch stays safe.

    - Order is preserved: QuickBooks runs a message set top to bottom, so requests of one company run in the
      order they were queued.
    - A request marked `solo` (its earlier batch failed to parse as a whole) travels alone, so a bad request
      is pinned down and cannot keep blocking the others.
    - Size caps keep every document well inside QuickBooks' time and memory limits; the first request always
      goes even if it alone exceeds the byte cap.
    - continueOnError: each queued request belongs to its own waiting workflow and does not depend on its
      neighbours, so one failure must not hold up the rest. A solo request uses stopOnError (nothing follows).
    """
    chosen: list[Candidate] = []
    total = 0
    for cand in candidates:
        if chosen and (cand.solo or chosen[0].solo):
            break
        if chosen and (len(chosen) >= max_requests or total + cand.size > max_bytes):
            break
        chosen.append(cand)
        total += cand.size
    if not chosen:
        return None
    on_error = "stopOnError" if chosen[0].solo else "continueOnError"
    return BatchPlan(tuple(c.id for c in chosen), on_error, any(c.is_write for c in chosen))


class Outcome(enum.Enum):
    DONE = "done"  # final response (any status): deliver it
    PAGE = "page"  # an iterator page with more to come: store it, send Continue in this session
    LAST_PAGE = "last_page"  # the final iterator page: store it, deliver
    NOT_RUN = "not_run"  # QuickBooks did not run it (stopOnError after an earlier failure): re-queue
    RETRY_LATER = "retry_later"  # record in use: re-queue for a later session
    RESTART_ITERATOR = "restart_iterator"  # 3391: drop pages, start again
    FAILED = "failed"  # give up: deliver as an error


@dataclass(frozen=True)
class SentRequest:
    """What the interpreter needs to know about a request that was in the answered batch."""

    id: int
    request_id: str
    iterate: bool
    attempts: int


@dataclass(frozen=True)
class Verdict:
    request: int
    outcome: Outcome
    item: ResponseItem | None = None
    note: str = ""


def interpret_response(sent: Sequence[SentRequest], response: MessageSetResponse) -> list[Verdict]:
    """Route every *Rs to its request by requestID (never by position) and decide what happens next."""
    by_id = {item.request_id: item for item in response.items if item.request_id is not None}
    verdicts: list[Verdict] = []
    for req in sent:
        item = by_id.get(req.request_id)
        if item is None:
            verdicts.append(Verdict(req.id, Outcome.NOT_RUN, note="not run by QuickBooks; queued again"))
            continue
        verdicts.append(_judge(req, item))
    return verdicts


def _judge(req: SentRequest, item: ResponseItem) -> Verdict:
    cls = classify(item.status_code)
    if cls is StatusClass.RETRY_LATER:
        if req.attempts < MAX_IN_USE_RETRIES:
            note = f"QuickBooks {item.status_code}: {item.status_message} (retry {req.attempts}/{MAX_IN_USE_RETRIES})"
            return Verdict(req.id, Outcome.RETRY_LATER, item, note)
        return Verdict(req.id, Outcome.DONE, item, "gave up retrying a record in use")
    if cls is StatusClass.ITERATOR_INVALID and req.iterate:
        if req.attempts < MAX_ITERATOR_RESTARTS:
            return Verdict(req.id, Outcome.RESTART_ITERATOR, item, "iterator expired; restarting the query")
        return Verdict(req.id, Outcome.DONE, item, "iterator kept expiring")
    if req.iterate and item.iterator_remaining_count:
        return Verdict(req.id, Outcome.PAGE, item)
    if req.iterate:
        return Verdict(req.id, Outcome.LAST_PAGE, item)
    return Verdict(req.id, Outcome.DONE, item)


class HresultAction(enum.Enum):
    SPLIT = "split"  # the document did not parse: send each request alone
    FAIL_REQUEST = "fail_request"  # a lone request did not parse: that request is broken
    RECOVER = "recover"  # unknown whether anything ran: ask QuickBooks (writes) or re-send (reads)


def interpret_hresult(hresult: str, *, batch_size: int) -> HresultAction:
    """A request-processor failure means no *Rs came back for the whole document.

    0x80040400 means QuickBooks could not parse the document, so none of it ran: re-sending is safe, and
    sending each request alone finds the broken one. Any other hresult leaves it unknown what ran; the batch
    is treated as lost and recovered before anything else is sent.
    """
    if hresult.strip().lower() == PARSE_ERROR_HRESULT:
        return HresultAction.SPLIT if batch_size > 1 else HresultAction.FAIL_REQUEST
    return HresultAction.RECOVER


def percent_complete(*, answered: int, remaining: int, lingering: bool) -> int:
    """A true percentage of this session's work; 100 only when nothing is left and nothing is expected.

    QBWC stops calling sendRequestXML at 100, so any remaining request (or a short linger while workflows
    queue follow-ups) keeps the value at 99 or below.
    """
    if remaining == 0 and not lingering:
        return 100
    total = answered + remaining
    if total == 0:
        return 0
    return min(99, (answered * 100) // total)


def version_supported(major: str) -> bool:
    try:
        return int(major) >= MIN_QBXML_MAJOR
    except ValueError:
        return False
