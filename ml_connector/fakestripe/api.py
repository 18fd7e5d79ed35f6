"""The fake Stripe as a function over bytes: ``FakeStripe.handle(ApiRequest) -> ApiResponse``.

Every ``/v1`` request goes through the same pipeline, in the order Stripe's edge applies it:

1. count it (per ``METHOD /v1/path/{id}`` template, for benchmarks);
2. injected faults (``inject_faults``): the next N requests fail with a 500 or a 429 before anything
   runs — the transient failures retry logic must survive;
3. authentication: ``Authorization: Bearer sk_test_…`` (or Basic with the key as user name); test
   keys see test mode, live keys live mode; 401 otherwise;
4. rate limit (off by default): more than ``per_second`` requests in the last second from one key → 429
   ``rate_limit`` with ``Stripe-Should-Retry: true``;
5. idempotency (POST only), as documented: the first response for a key is saved once the endpoint
   has begun executing (success, or a card decline) and replayed with ``Idempotent-Replayed: true``
   for the same parameters; other parameters or another endpoint → 400 ``idempotency_error``; a
   concurrent request with the same key → 409; keys are scoped to the API key and kept 24 hours;
6. the handler, under the store lock, then ``expand``.

FastAPI (``app.py``) is only a thin adapter around this.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_connector.fakestripe.billing import run_due_automations
from ml_connector.fakestripe.context import Call
from ml_connector.fakestripe.errors import StripeError
from ml_connector.fakestripe.forms import parse_form
from ml_connector.fakestripe.listing import expand
from ml_connector.fakestripe.params import expand_paths
from ml_connector.fakestripe.routes import INCLUDABLES, match, template_of
from ml_connector.fakestripe.store import API_VERSION, Clock, Obj, RequestInfo, Store, random_token
from ml_connector.fakestripe.webhooks import DeliveryConfig, WebhookDispatcher

logger = logging.getLogger(__name__)

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_KEY_FORMAT = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class _Saved:
    """The first response to an Idempotency-Key, with the request it answered: the same request again gets it
    back (``Idempotent-Replayed: true``), another request under the key a 400; dropped after 24 hours."""

    method: str
    path: str
    params: Obj
    status: int
    body: bytes
    extra_headers: dict[str, str]
    request_id: str
    created: float


@dataclass(frozen=True)
class _Outcome:
    status: int
    body: bytes
    headers: dict[str, str]
    executed: bool  # the endpoint ran (or began changing state): idempotency saves the response


@dataclass
class _Faults:
    status: int = 0
    remaining: int = 0
    path_prefix: str = ""


class FakeStripe:
    """State, switches and the request pipeline; shared by the HTTP app and in-process callers."""

    def __init__(self, *, api_keys: set[str] | None = None, clock: Clock | None = None) -> None:
        self.store = Store(clock)
        self.webhooks = WebhookDispatcher(self.store.delivery_succeeded)
        self.store.add_event_sink(self.webhooks.enqueue)
        self._api_keys = set(api_keys) if api_keys else None
        self._lock = threading.Lock()  # switches, counters and the idempotency table
        self._counts: Counter[str] = Counter()
        self._faults = _Faults()
        self._per_second: float | None = None
        self._recent: dict[str, deque[float]] = {}
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._in_progress: set[tuple[str, str]] = set()

    # -- switches (also exposed under /_fake/) --------------------------------------------------

    def reset(self) -> None:
        """Forget every object, event, idempotency key, counter and switch; webhooks back to defaults."""
        with self._lock:
            self._counts.clear()
            self._faults = _Faults()
            self._per_second = None
            self._recent.clear()
            self._saved.clear()
        self.webhooks.reset()
        self.store.reset()

    def set_rate_limit(self, per_second: float | None) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be positive (or None to switch rate limiting off)")
        with self._lock:
            self._per_second = per_second
            self._recent.clear()

    @property
    def rate_limit_per_second(self) -> float | None:
        with self._lock:
            return self._per_second

    def inject_faults(self, status: int, count: int, path_prefix: str = "") -> None:
        """Fail the next ``count`` API requests (optionally only under ``path_prefix``) with 500 or 429."""
        if status not in {429, 500, 502, 503}:
            raise ValueError("fault status must be 429, 500, 502 or 503")
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._faults = _Faults(status, count, path_prefix)

    def faults_remaining(self) -> int:
        with self._lock:
            return self._faults.remaining

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_request_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def advance_time(self, seconds: float) -> int:
        """Move the fake clock forward and run what Stripe would have done meanwhile (auto-advance)."""
        self.store.clock.advance(seconds)
        run_due_automations(self.store)
        return self.store.now()

    def configure_webhooks(self, **changes: object) -> DeliveryConfig:
        return self.webhooks.configure(**changes)

    def close(self) -> None:
        self.webhooks.close()

    # -- the pipeline ---------------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> ApiResponse:
        request_id = f"req_{random_token(14)}"
        method = request.method.upper()
        headers = {"Request-Id": request_id, "Stripe-Version": request.headers.get("stripe-version", API_VERSION)}
        with self._lock:
            self._counts[template_of(method, request.path)] += 1
        try:
            self._fault_gate(request.path)
            api_key = self._authenticate(request.headers)
            self._rate_gate(api_key)
            params = self._params(method, request)
        except StripeError as error:
            return _error_response(error, request_id, headers)
        idempotency_key = request.headers.get("idempotency-key") if method == "POST" else None
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
            return self._idempotent(method, request.path, params, api_key, idempotency_key, request_id, headers)
        outcome = self._execute(method, request.path, params, api_key, None, request_id)
        return ApiResponse(outcome.status, {**headers, **outcome.headers}, outcome.body)

    def _idempotent(
        self, method: str, path: str, params: Obj, api_key: str, key: str, request_id: str,
        headers: dict[str, str],
    ) -> ApiResponse:
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            error = StripeError(400, f"Idempotency keys can be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
                                param="Idempotency-Key")
            return _error_response(error, request_id, headers)
        scope = (api_key, key)
        with self._lock:
            self._prune_saved()
            saved = self._saved.get(scope)
            if saved is not None:
                if (saved.method, saved.path) != (method, path):
                    misuse = f"for the same endpoint they were first used for ('{saved.method} {saved.path}')."
                elif saved.params != params:
                    misuse = "with the same parameters they were first used with."
                else:
                    misuse = None
                if misuse is not None:
                    message = (
                        f"Keys for idempotent requests can only be used {misuse} Try using a key other than "
                        f"'{key}' if you meant to execute a different request."
                    )
                    return _error_response(StripeError(400, message, error_type="idempotency_error"),
                                           request_id, headers)
                replay = {**headers, **saved.extra_headers, "Idempotent-Replayed": "true",
                          "Original-Request": saved.request_id}
                return ApiResponse(saved.status, replay, saved.body)
            if scope in self._in_progress:
                error = StripeError(
                    409,
                    "There is currently another in-progress request using this Stripe-Idempotency-Key. Please "
                    "try again later.",
                    code="idempotency_key_in_use",
                )
                return _error_response(error, request_id, headers)
            self._in_progress.add(scope)
        try:
            outcome = self._execute(method, path, params, api_key, key, request_id)
            if outcome.executed:
                with self._lock:
                    self._saved[scope] = _Saved(method, path, params, outcome.status, outcome.body,
                                                outcome.headers, request_id, self.store.clock.time())
        finally:
            with self._lock:
                self._in_progress.discard(scope)
        return ApiResponse(outcome.status, {**headers, **outcome.headers}, outcome.body)

    def _execute(
        self, method: str, path: str, params: Obj, api_key: str, idempotency_key: str | None, request_id: str
    ) -> _Outcome:
        found = match(method, path)
        if found is None:
            error = StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
                f"at https://support.stripe.com/.",
            )
            return _Outcome(error.status, _dump(error.body(request_id)), {}, executed=False)
        route, path_params = found
        info = RequestInfo(api_key, _is_live(api_key), request_id, idempotency_key)
        call = Call(self.store, info, params, path_params)
        try:
            with self.store.lock:
                result = route.handler(call)
                result = expand(self.store, result, expand_paths(params), info.livemode, INCLUDABLES)
        except StripeError as error:
            return _Outcome(error.status, _dump(error.body(request_id)), error.headers, error.executed)
        except Exception:  # a bug in the fake: still answer in Stripe's shape so the SDK raises APIError
            logger.exception("fake Stripe handler failed: %s %s", method, path)
            failure = StripeError(500, "The fake Stripe server hit an internal error.", error_type="api_error")
            return _Outcome(500, _dump(failure.body(request_id)), {}, executed=False)
        return _Outcome(200, _dump(result), {}, executed=True)

    # -- gates ----------------------------------------------------------------------------------

    def _fault_gate(self, path: str) -> None:
        with self._lock:
            faults = self._faults
            if faults.remaining <= 0 or not path.startswith(faults.path_prefix):
                return
            faults.remaining -= 1
            status = faults.status
        if status == 429:
            raise _rate_limited()
        raise StripeError(
            status, "An unexpected error occurred on Stripe's end (injected by the fake).", error_type="api_error"
        )

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        authorization = headers.get("authorization", "")
        key = ""
        if authorization.lower().startswith("bearer "):
            key = authorization[7:].strip()
        elif authorization.lower().startswith("basic "):
            try:
                key = base64.b64decode(authorization[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not _KEY_FORMAT.match(key) or (self._api_keys is not None and key not in self._api_keys):
            raise StripeError(401, f"Invalid API Key provided: {_redact(key)}", code="api_key_invalid")
        return key

    def _rate_gate(self, api_key: str) -> None:
        with self._lock:
            if self._per_second is None:
                return
            now = time.monotonic()
            window = self._recent.setdefault(api_key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self._per_second:
                limited = True
            else:
                window.append(now)
                limited = False
        if limited:
            raise _rate_limited()

    def _params(self, method: str, request: ApiRequest) -> Obj:
        params = parse_form(request.query) if request.query else {}
        if method == "POST" and request.body:
            content_type = request.headers.get("content-type", "application/x-www-form-urlencoded")
            if "json" in content_type:
                raise StripeError(400, "Stripe's v1 API takes application/x-www-form-urlencoded bodies, not JSON.")
            params.update(parse_form(request.body))
        return params

    def _prune_saved(self) -> None:
        """Drop keys older than 24 hours; the table is in saving order, so stop at the first young one."""
        horizon = self.store.clock.time() - IDEMPOTENCY_TTL_SECONDS
        while self._saved:
            scope, saved = next(iter(self._saved.items()))
            if saved.created > horizon:
                return
            del self._saved[scope]


def _rate_limited() -> StripeError:
    return StripeError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true"},
    )


def _error_response(error: StripeError, request_id: str, headers: dict[str, str]) -> ApiResponse:
    return ApiResponse(error.status, {**headers, **error.headers}, _dump(error.body(request_id)))


def _dump(body: Obj) -> bytes:
    return json.dumps(body, indent=2).encode("utf-8")


def _is_live(api_key: str) -> bool:
    return "_live_" in api_key


def _redact(key: str) -> str:
    return f"{key[:8]}{'*' * 8}{key[-4:]}" if len(key) > 12 else "*" * len(key)
