"""Stripe's error envelope, raised by handlers and rendered by the request pipeline.

The SDK chooses its exception class from the HTTP status and ``error.type`` (429 → RateLimitError,
402 → CardError, 400/404 → InvalidRequestError or IdempotencyError, 401 → AuthenticationError, else
APIError), so every failure the fake produces must carry both, exactly as Stripe would send them.
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """A failure to report to the client as ``{"error": {...}}`` with an HTTP status.

    ``extra`` carries the additional keys Stripe adds for some errors (``decline_code``,
    ``payment_intent``, ``charge`` …). ``headers`` are added to the response. ``executed`` says the
    endpoint had begun changing state (a card decline), which makes the response part of the
    idempotent record; validation failures are not recorded, as Stripe documents.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        executed: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.executed = executed

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if request_id is not None:
            error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, message, param=param, code=code)


def missing_param(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown_param(param: str) -> StripeError:
    return StripeError(400, f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def no_such(kind_label: str, object_id: str, *, param: str | None = "id") -> StripeError:
    return StripeError(404, f"No such {kind_label}: '{object_id}'", param=param, code="resource_missing")


def state_error(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    """A request that is well formed but not allowed in the object's current state."""
    return StripeError(400, message, code=code, param=param)
