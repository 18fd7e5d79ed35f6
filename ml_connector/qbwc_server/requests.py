"""What a workflow asks QuickBooks to run through the queue, and what comes back to it.

These are the queue's contract with the `qb_run` activity and the workflows (which import them through the
Temporal sandbox): the request and its result, the error kinds a waiting activity fails with, and how a
stored row becomes the result or error delivered to the activity. No database access here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from ml_connector.qbwc import session as rules
from ml_connector.qbwc.lifecycle import RequestState
from ml_connector.qbxml.errors import succeeded
from ml_connector.storage.models import QbRequest

# Responses up to this size travel back to the workflow inside the activity result; larger ones (and all
# iterator pages) stay in the database and are read by activities page by page.
INLINE_RESPONSE_LIMIT = 256 * 1024

# The error type a waiting activity fails with when its write's fate is unknown (see Outcome.UNCERTAIN):
# never retried by Temporal; the workflow verifies with a read before it writes again.
UNCERTAIN_KIND = "QuickBooksUncertain"
# QuickBooks refused every document carrying the request (messageSetStatusCode), MAX_REFUSALS_PER_REQUEST times.
REFUSED_KIND = "QuickBooksRefused"
# The request was handed out MAX_SENDS_PER_REQUEST times without a final answer.
UNANSWERED_KIND = "QuickBooksNoAnswer"


def new_message_set_id() -> str:
    """A fresh message-set id: 23 characters (Intuit's limit), 92 random bits, so unique over the life of a
    company file even if our database is replaced (a reused id would make QuickBooks answer a new document
    with the stored outcome of an old one, or refuse it with 9001)."""
    value = secrets.token_hex(12)[: rules.MESSAGE_SET_ID_MAX_LEN]
    assert rules.valid_message_set_id(value)
    return value


@dataclass(frozen=True)
class QbRunInput:
    """Run one qbXML request in one company file.

    `body` is one `<XxxRq>` fragment built by `ml_connector.qbxml`. `idem_key` names the request so that a
    re-run of the same activity finds the row it wrote before; by default the activity derives it from the
    workflow id, run id and activity id.
    """

    company_id: str
    body: str
    idem_key: str | None = None


@dataclass(frozen=True)
class QbRunResult:
    """What QuickBooks answered. Business errors (statusCode ≥ 1000) are results, not exceptions."""

    request_id: int
    name: str
    status_code: int
    status_severity: str
    status_message: str
    response: str | None = None
    pages: int = 0
    ret_count: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        """QuickBooks carried the request out (``qbxml.errors.succeeded``: 0-999, warnings included)."""
        return succeeded(self.status_code)


@dataclass(frozen=True)
class Delivery:
    """How to tell the waiting activity: a final result, a final error, or a retryable error."""

    request_id: int
    task_token: bytes | None
    result: QbRunResult | None = None
    error_kind: str = ""
    error_message: str = ""
    retryable: bool = False


@dataclass
class Document:
    """A qbXML document leased to a session, or the reason there is none."""

    xml: str | None
    batch_id: str | None = None
    request_count: int = 0
    recovery: bool = False
    # Requests settled while preparing the document (a lost document given up on): deliver them.
    delivered: list[int] = field(default_factory=list)


@dataclass
class ReceiveOutcome:
    answered: int = 0
    delivered: list[int] = field(default_factory=list)
    error: str = ""
    fatal: bool = False
    refused: bool = False  # QuickBooks refused the document as a whole (messageSetStatusCode)


class QueuedRequestFailed(Exception):
    """The request ended without an answer to return: QuickBooks refused it (it could not be parsed, or the
    documents carrying it were refused too often), or its fate is uncertain (UNCERTAIN_KIND). Retrying the
    same request cannot help; an uncertain write is verified by its workflow with a read."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def result_of(row: QbRequest) -> QbRunResult:
    return QbRunResult(
        request_id=row.id or 0,
        name=row.name,
        status_code=row.status_code if row.status_code is not None else -1,
        status_severity=row.status_severity,
        status_message=row.status_message,
        response=row.response,
        pages=row.pages,
        ret_count=row.ret_count,
        note=row.last_note,
    )


def delivery_of(row: QbRequest) -> Delivery:
    if row.status == RequestState.DONE:
        return Delivery(row.id or 0, row.task_token, result=result_of(row))
    if row.status in (RequestState.FAILED, RequestState.UNCERTAIN):
        return Delivery(
            row.id or 0, row.task_token, error_kind=row.error_kind, error_message=row.error_message
        )
    return Delivery(
        row.id or 0,
        row.task_token,
        error_kind="QuickBooksWaiting",
        error_message=row.last_note,
        retryable=True,
    )
