"""Helpers for the security suite: hostile requests built by hand, clients bound to other loopback addresses.

Every test here runs against the live gateway (tests/harness.py) over real sockets on 127.0.0.0/8: a client
bound to 127.0.0.2 is "another machine" as far as the gateway can tell.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

import httpx

from ml_connector.fakestripe import signature_header
from ml_connector.simulator.soap_client import QbwcSoapClient, build_authenticate

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
QBWC_NS = "http://developer.intuit.com/"
SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
WEBHOOK_SECRET = "whsec_security_suite_secret"  # noqa: S105 - test credential
ATTACKER = "127.0.0.2"


def peak_rss_mib() -> float:
    """The peak resident set of this process (the gateway runs in it), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def element_bomb(operation: str, size: int) -> bytes:
    """A SOAP call whose body is ``size`` bytes of empty elements: millions of nodes if built into a tree."""
    head = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<{operation} xmlns="{QBWC_NS}"><ticket>t</ticket><response>'
    ).encode()
    return head + b"<a/>" * ((size - len(head)) // 4)


def authenticate_body(username: str, password: str) -> bytes:
    return build_authenticate(username, password).body


def client_from(address: str, **kwargs: Any) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (any of 127.0.0.0/8 on Linux)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), **kwargs)


def login(url: str, username: str, password: str, *, source: str = "127.0.0.1") -> str:
    """One authenticate call from ``source``; returns its status ("nvu", "none", "" …)."""
    with client_from(source, timeout=60) as http:
        return QbwcSoapClient(url, http).authenticate(username, password)[1]


def signed_webhook(event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": signature_header(body, secret, int(time.time())),
    }


def payment_event(event_id: str, *, livemode: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": livemode,
        "data": {
            "object": {
                "id": f"pi_{event_id[4:]}",
                "object": "payment_intent",
                "customer": "cus_security",
                "status": "succeeded",
                "amount": 1000,
                "currency": "usd",
                "livemode": livemode,
            }
        },
        **extra,
    }
