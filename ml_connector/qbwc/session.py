"""The Web Connector session state machine: every decision of a QBWC session, and nothing else.

This module owns the rules of a session and is pure (plain values in, plain values out); the service in
`ml_connector/qbwc_server/service.py` loads state from the database, calls these functions and carries out
what they decide. The whole session, once:

    authenticate ──bad password / throttled──▶ "nvu"            (session over)
        │ ──no work and nothing due────────────▶ "none"+postpone (session over)
        ▼ ticket
    sendRequestXML ◀───────────────────────────────────────────────┐
        │ lost write document from earlier?  → recovery document    │ (oldMessageSetID; at most 3 asks,
        │                                                            │  then its writes are *uncertain*)
        │ iterators open in this session?    → their Continue pages │
        │ pending requests (not backed off)? → one batch (size caps)│ (ids ≤ 23 chars, fresh per document)
        │ nothing, but lingering/holding?    → "" + getLastError "NoOp" (QBWC waits ~5 s, asks again)
        │ nothing at all                     → "" + benign getLastError (QBWC closes)
        ▼                                                            │
    receiveResponseXML ── hresult ─▶ parse error: split the batch, send alone; otherwise: document lost,
        │                             recover before anything else ──▶ percent / negative after repeats
        ├─ messageSetStatusCode ≠ 0 ─▶ refused as a whole, nothing ran: back off (1 min, 4 min), then fail
        │                              the requests with QuickBooks' words; 2 refusals end the session
        └─ response: each *Rs routed by requestID ─▶ done | next iterator page | retry in a later session |
                     not run (stopOnError, reads) → again | write with no *Rs → *uncertain* (never re-sent;
                     its workflow verifies with a read) | restart iterator (3391) ──▶ percent (<100 while work)
    connectionError (QuickBooks closed) ─▶ "done"; requests stay queued for the next session
    closeConnection ─▶ iterators of the session restart from scratch next time; leases of unanswered
                       batches stay until recovered

Every re-send is bounded (MAX_SENDS_PER_REQUEST and the other bounds below): a request that keeps coming
back fails to its workflow with the last reason, and the status page, /metrics and `ml-connector check`
show it. Why each rule exists is written beside it below.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ml_connector.qbxml.envelope import MessageSetResponse, ResponseItem
from ml_connector.qbxml.errors import StatusClass, classify

# sendRequestXML answers a qbXML document or "" (nothing else: QBWC hands any other text to QuickBooks, which
# answers 0x80040400). After "" QBWC calls getLastError; its answer "NoOp" means "wait ~5 s and call
# sendRequestXML again", anything else ends the session. So a pause is PAUSE now and NOOP from getLastError.
# Sources: Intuit's QBWC Programmer's Guide (getLastError), consolibyte/quickbooks-php
# QuickBooks/WebConnector/Server.php (sendRequestXML), /n software QBWCServer GetLastError (Pause flag).
PAUSE = ""
NOOP = "NoOp"
PARSE_ERROR_HRESULT = "0x80040400"
# ---- Bounds. Every retry, re-send and pause of a session is bounded here, each with its reason. ---------
# How often a record-in-use (3170-3180) write is retried in later sessions before its workflow hears of it.
MAX_IN_USE_RETRIES = 5
# How often an iterator query is restarted after 3391 before its workflow hears of it.
MAX_ITERATOR_RESTARTS = 3
# Consecutive request-processor failures (hresult) in one session before we end it with an error.
MAX_HRESULTS_PER_SESSION = 3
# How often one request is handed to the Web Connector in all: the in-use retries plus a few lost or
# not-run rounds. Past it the request fails to its workflow with the last reason, instead of looping.
MAX_SENDS_PER_REQUEST = MAX_IN_USE_RETRIES + 3
# How often QuickBooks may refuse a document carrying the request as a whole (messageSetStatusCode, none
# of it ran) before the request fails to its workflow with QuickBooks' words. A refusal is never retried
# in the same session: the request waits REFUSAL_BACKOFF_SECONDS * 4**(n-1) (1 min, 4 min) first.
MAX_REFUSALS_PER_REQUEST = 3
REFUSAL_BACKOFF_SECONDS = 60
# Refused documents in one session before the session ends with an error (receiveResponseXML < 0), so a
# QuickBooks that refuses everything costs two round trips per scheduled run, not thousands.
MAX_REFUSALS_PER_SESSION = 2
# oldMessageSetID status checks for one lost document before its writes are handed to their workflows
# as *uncertain* (each workflow then verifies with a read; nothing is written blind).
MAX_RECOVERY_QUERIES = 3
# Message-set ids: at most 23 characters (Intuit's qbXML message-set attribute table; PROTOCOL.md 5).
MESSAGE_SET_ID_MAX_LEN = 23
# messageSetStatusCode values Intuit documents, with what they mean for us (PROTOCOL.md section 5).
MESSAGE_SET_STATUS = {
    0: "OK",
    600: "QuickBooks has no stored state for that message set",
    9001: "the message-set id was used before for a different document",
    9002: "QuickBooks stored nothing for that message-set id",
    9004: "the message-set id is not valid",
}
MIN_QBXML_MAJOR = 13
QBXML_VERSION = "13.0"


class AuthStatus(enum.StrEnum):
    WORK = ""  # use the company file that is open in QuickBooks
    NONE = "none"
    NOT_VALID_USER = "nvu"
    BUSY = "busy"


@dataclass(frozen=True)
class AuthDecision:
    """What ``authenticate`` answers: the status, and with ``none`` how many seconds the Web Connector
    should wait before it asks again (None: its own schedule)."""

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
    """The requests :func:`plan_batch` put in one document, in queue order, and that document's onError."""

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
    NOT_RUN = "not_run"  # QuickBooks provably did not run it (or it is a read): send it again
    REFUSED = "refused"  # QuickBooks refused the whole document (messageSetStatusCode): none of it ran
    UNCERTAIN = "uncertain"  # a write whose fate is unknown: never re-sent; its workflow verifies by a read
    RETRY_LATER = "retry_later"  # record in use: re-queue for a later session
    RESTART_ITERATOR = "restart_iterator"  # 3391: drop pages, start again
    FAILED = "failed"  # give up: deliver as an error


@dataclass(frozen=True)
class SentRequest:
    """What the interpreter needs to know about a request that was in the answered document.

    Requests are listed in document order: QuickBooks runs a document's requests top to bottom.
    """

    id: int
    request_id: str
    iterate: bool
    attempts: int
    is_write: bool = False


@dataclass(frozen=True)
class Verdict:
    """What becomes of one request of the answered document: its outcome, the response item it was read
    from (None when QuickBooks gave none) and the note its waiting workflow and the operator are shown."""

    request: int
    outcome: Outcome
    item: ResponseItem | None = None
    note: str = ""


def describe_message_set_status(code: int) -> str:
    meaning = MESSAGE_SET_STATUS.get(code, "QuickBooks refused the message set")
    return f"messageSetStatusCode {code}: {meaning}"


def interpret_response(
    sent: Sequence[SentRequest],
    response: MessageSetResponse,
    *,
    stop_on_error: bool = False,
    recovery: bool = False,
) -> list[Verdict]:
    """Route every *Rs to its request by requestID (never by position) and decide what happens next.

    What a missing *Rs means is decided from what Intuit documents, and nothing more:

    - A non-zero ``messageSetStatusCode`` on an ordinary document: QuickBooks refused the message set as a
      whole and ran none of it (REFUSED; bounded, backed off, then failed with QuickBooks' words).
    - ``stopOnError``: requests run in order and stop at the first error, so a request after the last one
      answered did not run (NOT_RUN). Reads are always safe to send again.
    - Anything else missing, a write above all, has an unknown fate: UNCERTAIN. It is never re-sent; its
      workflow verifies with a read first. This covers ``continueOnError``, whose documents say nothing
      about requests after a loss, and every reading of an error-recovery answer (``recovery``: the *Rs of
      the last request processed, nothing, a status of 600/9002, or every stored *Rs).
    """
    by_id = {item.request_id: item for item in response.items if item.request_id is not None}
    code = response.message_set_status_code or 0
    answered = [i for i, req in enumerate(sent) if req.request_id in by_id]
    if code and not recovery and not answered:
        note = f"QuickBooks refused the whole document ({describe_message_set_status(code)}); none of it ran"
        return [Verdict(req.id, Outcome.REFUSED, note=note) for req in sent]
    last_answered = max(answered, default=-1)
    verdicts: list[Verdict] = []
    for position, req in enumerate(sent):
        item = by_id.get(req.request_id)
        if item is not None:
            verdicts.append(_judge(req, item))
        elif stop_on_error and 0 <= last_answered < position:
            verdicts.append(Verdict(req.id, Outcome.NOT_RUN, note="not run by QuickBooks (stopOnError); queued again"))
        elif not req.is_write:
            verdicts.append(Verdict(req.id, Outcome.NOT_RUN, note="no answer for this query; sending it again"))
        else:
            how = "the answer to its document was lost" if recovery else "QuickBooks answered nothing for it"
            verdicts.append(Verdict(req.id, Outcome.UNCERTAIN, note=f"{how}; whether it ran is unknown"))
    return verdicts


def lost_document(sent: Sequence[SentRequest], why: str) -> list[Verdict]:
    """The answer to a document is gone for good (recovery exhausted): reads go again, writes are uncertain."""
    return [
        Verdict(req.id, Outcome.UNCERTAIN if req.is_write else Outcome.NOT_RUN, note=why) for req in sent
    ]


def may_send_again(attempts: int) -> bool:
    """Whether a request that has been handed out ``attempts`` times may go once more."""
    return attempts < MAX_SENDS_PER_REQUEST


def refusal_backoff_seconds(refusals: int) -> int | None:
    """Seconds to wait before the refused request goes again, or None: stop, fail it to its workflow."""
    if refusals >= MAX_REFUSALS_PER_REQUEST:
        return None
    return REFUSAL_BACKOFF_SECONDS * 4 ** max(refusals - 1, 0)


def valid_message_set_id(value: str) -> bool:
    return 0 < len(value) <= MESSAGE_SET_ID_MAX_LEN and value.isalnum() and value.isascii()


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
