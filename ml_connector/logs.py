"""Logging: readable on a terminal, one JSON object per line otherwise; configured secrets never appear.

Every configured secret (Web Connector passwords, the Stripe key, webhook secrets, the status password, the
database password) is registered at start (:func:`register_settings`) and replaced by `***` in every formatted
record — message, JSON fields and tracebacks alike — as a last line of defence behind code that never logs them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from ml_connector.config import Settings

_SECRETS: set[str] = set()
_CONTEXT_FIELDS = ("company", "workflow_id", "stripe_event_id", "qb_txn_id")


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def register_settings(settings: Settings) -> None:
    """Register every secret the configuration holds; called at the start of every process that logs."""
    for company in settings.companies:
        register_secret(company.qbwc_password)
    register_secret(settings.stripe.api_key)
    for secret in settings.stripe.webhook_secrets:
        register_secret(secret)
    register_secret(settings.status_password)
    register_secret(make_url(settings.database_url).password if "://" in settings.database_url else None)


def redact(text: str) -> str:
    # Longest first, so a secret that contains another is replaced whole; a copy, as threads may register.
    for secret in sorted(tuple(_SECRETS), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """``workflow_id``, ``run_id``, ``workflow_type``, ``activity``, ``activity_id``, ``attempt`` from the
    ``temporal_workflow`` / ``temporal_activity`` extras that temporalio's ``workflow.logger`` and
    ``activity.logger`` (and :class:`TemporalContextFilter`) attach to a record."""
    out: dict[str, Any] = {}
    wf = getattr(record, "temporal_workflow", None)
    if isinstance(wf, dict):
        for ours, theirs in (("workflow_id", "workflow_id"), ("run_id", "run_id"), ("workflow_type", "workflow_type")):
            if wf.get(theirs):
                out[ours] = wf[theirs]
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        for ours, theirs in (
            ("workflow_id", "workflow_id"),
            ("run_id", "workflow_run_id"),
            ("workflow_type", "workflow_type"),
            ("activity", "activity_type"),
            ("activity_id", "activity_id"),
            ("attempt", "attempt"),
        ):
            if act.get(theirs):
                out.setdefault(ours, act[theirs])
    return out


# The fields of temporalio's own ``temporal_activity`` / ``temporal_workflow`` extras, by their info attributes.
_ACTIVITY_EXTRA = ("activity_id", "activity_type", "attempt", "workflow_id", "workflow_run_id", "workflow_type")
_WORKFLOW_EXTRA = ("workflow_id", "run_id", "workflow_type")


class TemporalContextFilter(logging.Filter):
    """Gives records logged through plain module loggers inside an activity (or workflow) the same
    ``temporal_activity`` (``temporal_workflow``) extra temporalio's own loggers attach."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "temporal_activity", None) is None and getattr(record, "temporal_workflow", None) is None:
            from temporalio import activity, workflow

            if activity.in_activity():
                info = activity.info()
                record.temporal_activity = {name: getattr(info, name) for name in _ACTIVITY_EXTRA}
            elif workflow.in_workflow():
                winfo = workflow.info()
                record.temporal_workflow = {name: getattr(winfo, name) for name in _WORKFLOW_EXTRA}
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        for name, value in temporal_context(record).items():
            out.setdefault(name, value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, tracebacks (and their locals' reprs) included."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def configure(level: str = "INFO", *, json_lines: bool | None = None) -> None:
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TemporalContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        RedactingFormatter(
            JsonFormatter()
            if json_lines
            else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "temporalio.activity", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
