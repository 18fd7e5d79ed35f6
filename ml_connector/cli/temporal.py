"""Temporal for the short CLI commands: connecting with a deadline, and following a workflow to its end.

``follow`` prints one line whenever the workflow's pending work changes (which activity, which attempt, its
last failure in plain words) and the workflow's Temporal Web UI link, and gives up after a timeout with a
message saying the workflow goes on and how to look at it later. QuickBooks is only reached when the Web
Connector calls, so a workflow waiting for it (the ``qb_run`` activity) can wait for minutes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from ml_connector.cli.errors import EXIT_PROBLEM, EXIT_UNREACHABLE, CliFailure, short
from ml_connector.config import Settings

CONNECT_TIMEOUT_S = 15.0
POLL_S = 2.0

# What each activity means to someone waiting at the terminal.
_ACTIVITY_WORDS = {
    "qb_run": "waiting for the Web Connector to bring QuickBooks' answer",
    "customer_sync_config": "reading the configuration",
    "rebuild_links_from_stripe": "reading Stripe customers and invoices",
    "rebuild_links_from_qb_page": "linking QuickBooks customers",
    "qb_forget_pages": "cleaning up",
    "list_payments": "listing Stripe payments",
    "route_payments": "handing payments to their workflows",
}


async def connect(settings: Settings) -> Client:
    """Connect, or fail within CONNECT_TIMEOUT_S (exit 3 through cli/errors.py)."""
    from ml_connector.temporal import connect as temporal_connect

    try:
        return await asyncio.wait_for(temporal_connect(settings), timeout=CONNECT_TIMEOUT_S)
    except TimeoutError:
        raise TimeoutError("temporal") from None


def workflow_url(settings: Settings, workflow_id: str) -> str:
    if not settings.temporal_ui_url:
        return ""
    return (
        f"{settings.temporal_ui_url}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )


def where_to_look(settings: Settings, workflow_id: str) -> str:
    url = workflow_url(settings, workflow_id)
    cli = (
        f"temporal workflow describe --address {settings.temporal_target} "
        f"--namespace {settings.temporal_namespace} --workflow-id {workflow_id}"
    )
    return f"{url} or `{cli}`" if url else f"`{cli}`"


async def phase(handle: WorkflowHandle[Any, Any]) -> tuple[str, bool]:
    """What the workflow is doing now, in words, and whether it waits for the Web Connector."""
    desc = await handle.describe()
    pending = list(desc.raw_description.pending_activities)
    if not pending:
        return "running", False
    words = []
    waits_for_qb = False
    for act in pending:
        name = act.activity_type.name
        waits_for_qb |= name == "qb_run"
        text = _ACTIVITY_WORDS.get(name, name)
        if act.attempt > 1:
            text += f" (attempt {act.attempt}"
            if act.last_failure.message:
                text += f"; last failure: {act.last_failure.message.splitlines()[0][:160]}"
            text += ")"
        words.append(text)
    return "; ".join(words), waits_for_qb


async def follow(
    handle: WorkflowHandle[Any, Any], settings: Settings, *, timeout_s: float, label: str
) -> Any:
    """Wait for the workflow's result, printing progress; CliFailure on timeout or failure."""
    started = time.monotonic()
    result = asyncio.ensure_future(handle.result())
    last = ""
    waits_for_qb = False
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=POLL_S)
            if done:
                return result.result()
            elapsed = time.monotonic() - started
            if elapsed >= timeout_s:
                break
            try:
                now, waits_for_qb = await phase(handle)
            except Exception:  # noqa: BLE001, S112 - progress is best effort; the result decides
                continue
            if now != last:
                print(f"{label}: [{int(elapsed):>4d} s] {now}", flush=True)
                last = now
    except WorkflowFailureError as exc:
        cause = exc.cause if exc.cause is not None else exc
        raise CliFailure(
            f"{label}: the workflow failed: {short(cause)}; see {where_to_look(settings, handle.id)}"
        ) from None
    finally:
        if not result.done():
            result.cancel()
    minutes = timeout_s / 60
    if waits_for_qb:
        raise CliFailure(
            f"{label}: the Web Connector did not bring QuickBooks' answer within {minutes:g} min. The workflow goes "
            f"on and finishes at the next Web Connector session (is QuickBooks open, is the Web Connector's "
            f"Auto-Run on?); follow it at {where_to_look(settings, handle.id)}",
            EXIT_UNREACHABLE,
        )
    raise CliFailure(
        f"{label}: not finished within {minutes:g} min; it goes on: {where_to_look(settings, handle.id)}",
        EXIT_PROBLEM,
    )
