"""Talking to QuickBooks from workflow code: `await qb.run(company, request)` and EditSequence retries.

Every call is the `qb_run` activity, which waits durably for the Web Connector. The retry policy is what makes
"QuickBooks is closed for hours" a non-event: a waiting attempt that hears a retryable reason ("QuickBooks
could not be opened …") fails, is retried by Temporal, finds its own queued request and waits again, with the
reason visible on the pending activity in the Web UI. Only a request QuickBooks cannot parse fails for good.

A write whose fate the queue cannot establish (its document's answer was lost and QuickBooks' error-recovery
answer does not say, under any reading of it) fails with the non-retryable type ``QuickBooksUncertain``: the
queue never sends it again. Callers catch it with :func:`is_uncertain` and verify with a read before they
write again (``modify`` does this itself: it re-reads, and a Mod that landed needs no second write).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta  # noqa: F401 - re-exported for callers

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.qb_queue import QbActivities
    from ml_connector.qbwc_server.requests import (
        REFUSED_KIND,
        UNANSWERED_KIND,
        UNCERTAIN_KIND,
        QbRunInput,
        QbRunResult,
    )
    from ml_connector.qbxml.errors import StatusClass, classify

# One waiting attempt lasts at most five minutes; Temporal then starts the next one a second later, which
# re-registers with the same queued request (a row update, no history event). This bounds the damage of a
# worker that dies between taking the activity and writing its row: the request reappears within minutes, not
# hours. The constant one-second interval keeps a live task token registered almost all the time, so answers
# are delivered straight to a waiting attempt.
ATTEMPT_TIMEOUT = timedelta(minutes=5)
DEFAULT_WAIT = timedelta(days=14)
QB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=1.0,
    maximum_attempts=0,
    non_retryable_error_types=["RequestRejected", UNCERTAIN_KIND, REFUSED_KIND, UNANSWERED_KIND],
)
MAX_EDIT_SEQUENCE_RETRIES = 5


class EditConflict(ApplicationError):
    """The object kept changing under us (3200) more often than the bounded retry allows."""


def is_uncertain(exc: BaseException) -> bool:
    """Whether ``exc`` (from :func:`run`) says: this write may or may not have run in QuickBooks."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    return isinstance(cause, ApplicationError) and cause.type == UNCERTAIN_KIND


async def run(
    company_id: str,
    body: str,
    *,
    wait: timedelta = DEFAULT_WAIT,
    idem_key: str | None = None,
    attempt: timedelta = ATTEMPT_TIMEOUT,
) -> QbRunResult:
    """Run one qbXML request fragment in the company file and return QuickBooks' answer.

    ``attempt`` bounds one waiting attempt. A worker that dies after taking the activity but before queueing
    the request leaves that attempt silent until it times out; a shorter ``attempt`` makes such a request
    reappear sooner, at the price of a re-registration (one row update) per period while QuickBooks is away.
    """
    return await workflow.execute_activity_method(
        QbActivities.qb_run,
        QbRunInput(company_id=company_id, body=body, idem_key=idem_key),
        start_to_close_timeout=attempt,
        schedule_to_close_timeout=wait,
        retry_policy=QB_RETRY,
    )


async def modify(
    company_id: str,
    read: str,
    build_mod: Callable[[QbRunResult], str | None],
    *,
    max_retries: int = MAX_EDIT_SEQUENCE_RETRIES,
) -> QbRunResult:
    """Read the object, build the Mod from what was read, send it; on 3200 read again and re-apply.

    `build_mod` receives the fresh query result and returns the Mod fragment carrying the current
    EditSequence and only our change (or None when nothing needs changing), so a retry never clobbers what a
    bookkeeper typed in between. Each attempt is visible in the workflow history.
    """
    for attempt in range(max_retries + 1):
        current = await run(company_id, read)
        if classify(current.status_code) is not StatusClass.OK:
            return current
        mod = build_mod(current)
        if mod is None:
            return current
        try:
            result = await run(company_id, mod)
        except ActivityError as exc:
            if not is_uncertain(exc):
                raise
            # The Mod may have landed: read again; build_mod returns None once our change is there.
            workflow.logger.info("Mod outcome unknown (answer lost); re-reading before anything else")
            continue
        if classify(result.status_code) is not StatusClass.EDIT_SEQUENCE:
            return result
        workflow.logger.info(
            "EditSequence conflict (3200), re-reading and re-applying (attempt %d of %d)",
            attempt + 1,
            max_retries,
        )
    raise EditConflict(
        f"the object kept changing in QuickBooks; gave up after {max_retries} EditSequence retries",
        type="EditConflict",
    )
