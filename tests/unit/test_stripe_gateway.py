"""The gateway against a scripted Stripe-like HTTP server on 127.0.0.1, driven through the real stripe SDK.

Each test scripts the server's next answers (429s, 5xx, idempotency errors...) and checks what actually went
over the wire: how many requests, with which idempotency key, and how long the gateway chose to back off
(recorded, never really slept).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe

from ml_connector.stripe import idempotency
from ml_connector.stripe.client import StripeGateway, StripeSettings, make_client
from ml_connector.stripe.ratelimit import RateLimiter
from ml_connector.stripe.retry import RetryPolicy

API_KEY = "sk_test_51GatewayTestKeyDoNotLeak"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


def customer(cid: str = "cus_Gw1") -> dict[str, Any]:
    return {"id": cid, "object": "customer", "email": "ap@acme.example", "name": "Acme Ltd", "metadata": {}}


def error(status: int, type_: str, code: str | None = None, **headers: str) -> Reply:
    body: dict[str, Any] = {"error": {"type": type_, "message": f"scripted {status}"}}
    if code:
        body["error"]["code"] = code
    return Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


class ScriptedStripe:
    """Answers the scripted replies in order, then 200 with a customer; records every request."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                with server.lock:
                    server.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            parse_qs(raw),
                        )
                    )
                    reply = server.script.pop(0) if server.script else Reply(200, customer())
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_scripted{len(server.seen)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _answer
            do_POST = _answer
            do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, *replies: Reply) -> None:
        with self.lock:
            self.script = list(replies)
            self.seen = []

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedStripe]:
    s = ScriptedStripe()
    yield s
    s.close()


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def naps() -> Recorder:
    return Recorder()


def gateway(server: ScriptedStripe, naps: Recorder, max_attempts: int = 4) -> StripeGateway:
    settings = StripeSettings(api_key=API_KEY, api_base=server.base, max_attempts=max_attempts)
    retry = RetryPolicy(
        max_attempts, sleep=naps.sleep, async_sleep=naps.async_sleep, rng=random.Random(42), max_delay=8.0
    )
    limiter = RateLimiter(1000, 1000, sleep=naps.sleep, async_sleep=naps.async_sleep)
    return StripeGateway.from_settings(settings, limiter=limiter, retry=retry)


def create_customer(gw: StripeGateway, list_id: str = "80000001-1") -> stripe.Customer:
    key = idempotency.key("customer.create", "acme", list_id)
    return gw.call(
        lambda c: c.v1.customers.create(
            {"name": "Acme Ltd", "metadata": {"qb_list_id": list_id}}, options={"idempotency_key": key}
        )
    )


def test_a_call_reaches_the_configured_server_with_our_idempotency_key(
    server: ScriptedStripe, naps: Recorder
) -> None:
    server.reset()
    created = create_customer(gw := gateway(server, naps))
    assert created.id == "cus_Gw1"
    [req] = server.seen
    assert (req.method, req.path) == ("POST", "/v1/customers")
    assert req.headers["idempotency-key"] == "mlc:customer.create:acme:80000001-1"
    assert req.form["metadata[qb_list_id]"] == ["80000001-1"]
    assert naps.sleeps == []
    assert gw.stats().limiter.acquired == 1


def test_429s_are_retried_with_backoff_and_the_same_key(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(
        error(429, "invalid_request_error", "rate_limit"), error(429, "invalid_request_error", "rate_limit")
    )
    gw = gateway(server, naps)
    assert create_customer(gw).id == "cus_Gw1"
    assert len(server.seen) == 3
    assert {r.headers["idempotency-key"] for r in server.seen} == {"mlc:customer.create:acme:80000001-1"}
    assert len(naps.sleeps) == 2
    assert 0 <= naps.sleeps[0] <= 0.5 and 0 <= naps.sleeps[1] <= 1.0  # full jitter under 0.5 * 2**n
    stats = gw.stats()
    assert (stats.retry.retries, stats.retry.rate_limited, stats.retry.gave_up) == (2, 2, 0)
    assert stats.limiter.acquired == 3  # every attempt is paced, retries included


def test_a_429_that_stripe_says_not_to_retry_is_not_retried(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(429, "invalid_request_error", "rate_limit", Stripe_Should_Retry="false"))
    gw = gateway(server, naps)
    with pytest.raises(stripe.RateLimitError):
        create_customer(gw)
    assert len(server.seen) == 1 and naps.sleeps == []
    assert gw.stats().retry.rate_limited == 1


def test_a_retry_after_header_sets_the_minimum_wait(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(429, "invalid_request_error", "rate_limit", Retry_After="3"))
    assert create_customer(gateway(server, naps)).id == "cus_Gw1"
    assert len(naps.sleeps) == 1 and naps.sleeps[0] >= 3.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_success(server: ScriptedStripe, naps: Recorder, status: int) -> None:
    server.reset(error(status, "api_error"), error(status, "api_error"))
    assert create_customer(gateway(server, naps)).id == "cus_Gw1"
    assert len(server.seen) == 3 and len(naps.sleeps) == 2


def test_the_gateway_gives_up_after_max_attempts(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(*[error(500, "api_error")] * 10)
    gw = gateway(server, naps, max_attempts=3)
    with pytest.raises(stripe.APIError) as caught:
        create_customer(gw)
    assert caught.value.http_status == 500
    assert len(server.seen) == 3 and len(naps.sleeps) == 2
    assert gw.stats().retry.gave_up == 1


def test_an_idempotency_error_is_never_retried(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(400, "idempotency_error", Stripe_Should_Retry="true"))
    with pytest.raises(stripe.IdempotencyError):
        create_customer(gateway(server, naps))
    assert len(server.seen) == 1 and naps.sleeps == []


@pytest.mark.parametrize(
    ("reply", "exc"),
    [
        (error(402, "card_error", "card_declined"), stripe.CardError),
        (error(400, "invalid_request_error", "parameter_invalid_empty"), stripe.InvalidRequestError),
        (error(404, "invalid_request_error", "resource_missing"), stripe.InvalidRequestError),
        (error(401, "invalid_request_error"), stripe.AuthenticationError),
        (error(409, "invalid_request_error", "resource_already_exists"), stripe.APIError),
    ],
)
def test_client_errors_are_answers_and_not_retried(
    server: ScriptedStripe, naps: Recorder, reply: Reply, exc: type[Exception]
) -> None:
    server.reset(reply)
    with pytest.raises(exc):
        create_customer(gateway(server, naps))
    assert len(server.seen) == 1 and naps.sleeps == []


def test_a_lock_timeout_that_stripe_says_to_retry_is_retried(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(409, "invalid_request_error", "lock_timeout", Stripe_Should_Retry="true"))
    assert create_customer(gateway(server, naps)).id == "cus_Gw1"
    assert len(server.seen) == 2


def test_reads_go_through_the_gateway_too(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(503, "api_error"), Reply(200, customer("cus_Read")))
    found = gateway(server, naps).call(lambda c: c.v1.customers.retrieve("cus_Read"))
    assert found.id == "cus_Read"
    assert [(r.method, r.path) for r in server.seen] == [("GET", "/v1/customers/cus_Read")] * 2


def test_connection_failures_are_retried_then_reported(naps: Recorder) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = StripeSettings(api_key=API_KEY, api_base=f"http://127.0.0.1:{port}", max_attempts=3)
    gw = StripeGateway.from_settings(settings, retry=RetryPolicy(3, sleep=naps.sleep))
    with pytest.raises(stripe.APIConnectionError) as caught:
        create_customer(gw)
    assert len(naps.sleeps) == 2
    assert API_KEY not in str(caught.value)


def test_async_calls_are_paced_and_retried_the_same_way(server: ScriptedStripe, naps: Recorder) -> None:
    server.reset(error(503, "api_error"), error(429, "invalid_request_error", "rate_limit"))
    gw = gateway(server, naps)
    key = idempotency.key("customer.create", "acme", "80000002-1")

    async def run() -> stripe.Customer:
        return await gw.call_async(
            lambda c: c.v1.customers.create_async({"name": "Acme"}, options={"idempotency_key": key})
        )

    assert asyncio.run(run()).id == "cus_Gw1"
    assert len(server.seen) == 3
    assert {r.headers["idempotency-key"] for r in server.seen} == {key}
    assert len(naps.sleeps) == 2
    assert gw.stats().limiter.acquired == 3


def test_the_sdk_itself_never_retries(server: ScriptedStripe) -> None:
    server.reset(error(500, "api_error"), error(500, "api_error"))
    client = make_client(StripeSettings(api_key=API_KEY, api_base=server.base))
    with pytest.raises(stripe.APIError):
        client.v1.customers.create({"name": "x"})
    assert len(server.seen) == 1


def test_settings_hide_the_api_key_and_know_the_mode(server: ScriptedStripe, naps: Recorder) -> None:
    settings = StripeSettings(api_key=API_KEY, api_base=server.base)
    gw = gateway(server, naps)
    assert API_KEY not in repr(settings) and API_KEY not in repr(gw)
    assert settings.mode == gw.mode == "test"
    assert StripeSettings(api_key="rk_live_51Abc").mode == "live"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": "pk_test_51Abc"},
        {"api_key": "sk_live_51Abc", "api_base": "http://127.0.0.1:12111"},
        {"api_key": API_KEY, "api_base": "http://stripe.example.com"},
        {"api_key": API_KEY, "api_base": "ftp://127.0.0.1"},
        {"api_key": API_KEY, "max_attempts": 0},
        {"api_key": API_KEY, "rate_per_s": 0},
    ],
)
def test_unsafe_or_nonsensical_settings_are_refused_without_echoing_the_key(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as caught:
        StripeSettings(**kwargs)
    assert kwargs["api_key"] not in str(caught.value)


def test_a_rate_override_and_the_live_default_reach_the_limiter() -> None:
    assert StripeGateway.from_settings(StripeSettings(api_key=API_KEY, rate_per_s=3)).limiter.rate_per_s == 3
    assert StripeGateway.from_settings(StripeSettings(api_key="sk_live_51Abc")).limiter.rate_per_s == 100
