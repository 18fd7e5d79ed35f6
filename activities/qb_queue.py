"""The one activity every QuickBooks conversation goes through: run this qbXML request, give me the answer.

`qb_run` writes the request into the durable queue and completes asynchronously: the gateway completes it
when the Web Connector brings QuickBooks' response. No worker slot is held while QuickBooks is closed for
hours, and a worker restart loses nothing: the task token lives in the database, and a re-run attempt finds
its own row (by workflow id, run id and activity id) instead of queueing the request twice.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ml_connector.qbwc_server.queue import RequestQueue
from ml_connector.qbwc_server.requests import QbRunInput, QbRunResult, QueuedRequestFailed


class QbActivities:
    def __init__(self, queue: RequestQueue) -> None:
        self.queue = queue

    @activity.defn(name="qb_run")
    def qb_run(self, run: QbRunInput) -> QbRunResult:
        info = activity.info()
        idem_key = run.idem_key or f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        try:
            result = self.queue.enqueue(
                run,
                idem_key=idem_key,
                task_token=info.task_token,
                workflow_id=info.workflow_id or "",
                run_id=info.workflow_run_id or "",
                activity_id=info.activity_id,
            )
        except QueuedRequestFailed as exc:
            raise ApplicationError(exc.message, type=exc.kind, non_retryable=True) from exc
        if result is not None:
            return result
        activity.raise_complete_async()

    @activity.defn(name="qb_forget_pages")
    def qb_forget_pages(self, request_id: int) -> None:
        self.queue.forget_pages(request_id)
