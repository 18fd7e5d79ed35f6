"""The fake Stripe over HTTP: Stripe's ``/v1`` API plus test controls under ``/_fake/``.

Control endpoints (JSON in, JSON out, no authentication — they are not Stripe's):

``POST /_fake/reset``
    Forget all objects, events, idempotency keys, request counts and switches.
``GET|POST /_fake/rate_limit``  body ``{"per_second": 25}`` (``null`` switches it off; off by default)
    Over the limit a request gets 429 ``rate_limit`` with ``Stripe-Should-Retry: true``.
``GET|POST /_fake/faults``  body ``{"status": 500|429|502|503, "count": 3, "path_prefix": "/v1/invoices"}``
    The next ``count`` API requests (under ``path_prefix`` if given) fail before running.
``GET|DELETE /_fake/requests``
    Request counts per ``METHOD /v1/template`` (``{"counts": {...}, "total": n}``); DELETE zeroes them.
``POST /_fake/webhooks/config``  body with any of ``duplicates`` (0–1), ``shuffle``, ``seed``,
    ``max_attempts``, ``backoff_seconds``, ``timeout_seconds``.
``POST /_fake/webhooks/pause`` · ``POST /_fake/webhooks/resume``
``POST /_fake/webhooks/flush``  body ``{"timeout": 10}`` → ``{"idle": true, "pending": 0}``
``GET /_fake/webhooks/attempts``
    Every delivery attempt: event, endpoint, attempt number, HTTP status, error.
``POST /_fake/payouts/run``  body ``{"currency": "usd", "livemode": false}``
    An automatic payout of the whole available balance (``payouts.py``).
``POST /_fake/payouts/{id}/status``  body ``{"status": "in_transit"|"paid"|"failed"|"canceled"}``
``POST /_fake/disputes``  body ``{"charge": "ch_…", "reason": "fraudulent"}`` — funds and the fee withdrawn
``POST /_fake/disputes/{id}/close``  body ``{"outcome": "won"|"lost"}``
``GET /_fake/clock`` · ``POST /_fake/clock/advance``  body ``{"seconds": 3600}``
    Moves the fake clock (object timestamps, idempotency expiry, balance availability) and runs what
    Stripe does on its own meanwhile: auto-advancing drafts are finalized, due invoices are charged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from ml_connector.fakestripe import payouts
from ml_connector.fakestripe.api import ApiRequest, FakeStripe
from ml_connector.fakestripe.errors import StripeError
from ml_connector.fakestripe.webhooks import DeliveryAttempt


class RateLimitBody(BaseModel):
    per_second: float | None = Field(default=None, gt=0)


class FaultsBody(BaseModel):
    status: int = 500
    count: int = Field(default=1, ge=0)
    path_prefix: str = ""


class WebhookConfigBody(BaseModel):
    duplicates: float | None = Field(default=None, ge=0, le=1)
    shuffle: bool | None = None
    seed: int | None = None
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_seconds: float | None = Field(default=None, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0)


class FlushBody(BaseModel):
    timeout: float = Field(default=10.0, gt=0, le=300)


class AdvanceBody(BaseModel):
    seconds: float = Field(ge=0)


class PayoutRunBody(BaseModel):
    currency: str = "usd"
    livemode: bool = False


class PayoutStatusBody(BaseModel):
    status: str
    livemode: bool = False


class DisputeBody(BaseModel):
    charge: str
    reason: str = "fraudulent"
    livemode: bool = False


class DisputeCloseBody(BaseModel):
    outcome: str
    livemode: bool = False


def create_app(fake: FakeStripe | None = None, *, api_keys: set[str] | None = None) -> FastAPI:
    """An app serving ``fake`` (a new one if not given; ``api_keys`` restricts which keys authenticate)."""
    fake = fake or FakeStripe(api_keys=api_keys)
    served = fake

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        served.close()

    app = FastAPI(title="ml-connector fake Stripe", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.fake = fake

    @app.exception_handler(ValidationError)
    async def bad_control_body(_: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse({"error": exc.errors(include_url=False, include_context=False)}, status_code=400)

    @app.post("/_fake/reset")
    def reset() -> dict[str, bool]:
        fake.reset()
        return {"reset": True}

    @app.get("/_fake/rate_limit")
    @app.post("/_fake/rate_limit")
    async def rate_limit(request: Request) -> dict[str, float | None]:
        if request.method == "POST":
            body = RateLimitBody.model_validate(await _json(request))
            fake.set_rate_limit(body.per_second)
        return {"per_second": fake.rate_limit_per_second}

    @app.get("/_fake/faults")
    @app.post("/_fake/faults")
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = FaultsBody.model_validate(await _json(request))
            try:
                fake.inject_faults(body.status, body.count, body.path_prefix)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"remaining": fake.faults_remaining()})

    @app.get("/_fake/requests")
    def request_counts() -> dict[str, Any]:
        counts = fake.request_counts()
        return {"counts": counts, "total": sum(counts.values())}

    @app.delete("/_fake/requests")
    def reset_request_counts() -> dict[str, bool]:
        fake.reset_request_counts()
        return {"reset": True}

    @app.post("/_fake/webhooks/config")
    def webhook_config(body: WebhookConfigBody) -> dict[str, Any]:
        changes = body.model_dump(exclude_none=True)
        if "seed" in body.model_fields_set:
            changes["seed"] = body.seed
        config = fake.configure_webhooks(**changes)
        return {name: getattr(config, name) for name in WebhookConfigBody.model_fields}

    @app.post("/_fake/webhooks/pause")
    def pause() -> dict[str, bool]:
        fake.webhooks.pause()
        return {"paused": True}

    @app.post("/_fake/webhooks/resume")
    def resume() -> dict[str, bool]:
        fake.webhooks.resume()
        return {"paused": False}

    @app.post("/_fake/webhooks/flush")
    async def flush(request: Request) -> dict[str, Any]:
        body = FlushBody.model_validate(await _json(request))
        idle = await run_in_threadpool(fake.webhooks.flush, body.timeout)
        return {"idle": idle, "pending": fake.webhooks.pending()}

    @app.get("/_fake/webhooks/attempts")
    def attempts() -> dict[str, list[dict[str, Any]]]:
        return {"attempts": [_attempt(a) for a in fake.webhooks.attempts()]}

    @app.get("/_fake/clock")
    def clock() -> dict[str, int]:
        return {"now": fake.store.now()}

    @app.post("/_fake/clock/advance")
    def advance(body: AdvanceBody) -> dict[str, int]:
        return {"now": fake.advance_time(body.seconds)}

    def money_control(action: Callable[[], Any]) -> Response:
        try:
            return JSONResponse(action())
        except StripeError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.post("/_fake/payouts/run")
    def payout_run(body: PayoutRunBody) -> Response:
        return money_control(lambda: payouts.run_payout(fake.store, body.livemode, body.currency.lower()))

    @app.post("/_fake/payouts/{payout_id}/status")
    def payout_status(payout_id: str, body: PayoutStatusBody) -> Response:
        return money_control(lambda: payouts.set_payout_status(fake.store, body.livemode, payout_id, body.status))

    @app.post("/_fake/disputes")
    def dispute_open(body: DisputeBody) -> Response:
        return money_control(lambda: payouts.open_dispute(fake.store, body.livemode, body.charge, body.reason))

    @app.post("/_fake/disputes/{dispute_id}/close")
    def dispute_close(dispute_id: str, body: DisputeCloseBody) -> Response:
        return money_control(lambda: payouts.close_dispute(fake.store, body.livemode, dispute_id, body.outcome))

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def stripe_api(request: Request) -> Response:
        api_request = ApiRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.body(),
        )
        result = await run_in_threadpool(fake.handle, api_request)
        return Response(result.body, status_code=result.status, headers=result.headers,
                        media_type="application/json")

    return app


async def _json(request: Request) -> Any:
    body = await request.body()
    return {} if not body.strip() else await request.json()


def _attempt(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "event_id": attempt.event_id,
        "event_type": attempt.event_type,
        "endpoint_id": attempt.endpoint_id,
        "url": attempt.url,
        "attempt": attempt.attempt,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "succeeded": attempt.succeeded,
    }
