"""Who is calling, and may they see the admin pages (status page, ``/reconcile``, ``/metrics``)?

**The client's address** is the TCP peer, unless the peer is one of ``MLC_TRUSTED_PROXIES``: then it is the
right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (what the nearest untrusted hop
said). Nothing else is ever taken from a forwarding header, so a caller cannot choose its own address.

**Admin pages** answer only when all of these hold:

1. The ``Host`` header names this installation: ``MLC_PUBLIC_URL``'s host, this machine's own names
   (``localhost``, ``127.0.0.1``, ``::1``, ``MLC_HOST``) or one of ``MLC_ALLOWED_HOSTS``. A page that a
   browser reaches through a hostile domain re-bound to 127.0.0.1 (DNS rebinding) carries that domain's
   name and gets 421.
2. Either the caller gave ``MLC_STATUS_PASSWORD`` (HTTP Basic, any user name), or the installation is
   local — ``MLC_PUBLIC_URL`` is localhost — and the request came from this machine without a forwarding
   header. An installation with a public URL sits behind something that forwards the internet to it, and a
   same-host proxy that adds no header (nginx's plain ``proxy_pass``) makes every visitor look local: there,
   being local proves nothing, so the password is always required.

Nothing on these pages changes state (they are GET-only), so there is nothing for a cross-site request to
forge; a page that ever does must add a CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse

from ml_connector.config import Settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net) for net in networks)


def client_address(request: Request, trusted_proxies: tuple[str, ...] = ()) -> str:
    """The address the request came from (see the module docstring); "" when unknown."""
    peer = request.client.host if request.client else ""
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted_proxies):
            return hop
    return peer


def allowed_hosts(settings: Settings) -> set[str]:
    hosts = set(_LOCAL_NAMES) | set(settings.limits.allowed_hosts)
    public = urlsplit(settings.public_url).hostname
    if public:
        hosts.add(public.lower())
    if settings.host not in ("", "0.0.0.0", "::"):  # noqa: S104 - a bind address, not a host name
        hosts.add(settings.host.lower())
    return hosts


def host_allowed(request: Request, settings: Settings) -> bool:
    raw = request.headers.get("host", "").strip().lower()
    if raw.startswith("["):
        name = raw[: raw.find("]") + 1] if "]" in raw else raw
        name = name.strip("[]")
    else:
        name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    allowed = allowed_hosts(settings)
    if name in allowed or f"[{name}]" in allowed:
        return True
    return any(h.startswith("*.") and name.endswith(h[1:]) for h in allowed)


def is_local(request: Request, settings: Settings | None = None) -> bool:
    """From this machine, directly: loopback peer, no forwarding header (and, given settings, a local URL)."""
    if settings is not None and not settings.public_url_is_local:
        return False
    host = request.client.host if request.client else ""
    return host in LOOPBACK and not any(h in request.headers for h in FORWARDING_HEADERS)


def password_given(request: Request, password: str) -> bool:
    if not password:
        return False
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        _user, _, given = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(given.encode(), password.encode())


def admin_refusal(request: Request, settings: Settings) -> Response | None:
    """``None`` when the caller may see an admin page, else the answer to send instead."""
    if not host_allowed(request, settings):
        return PlainTextResponse("Misdirected request: unknown Host.\n", status_code=421)
    if password_given(request, settings.status_password) or is_local(request, settings):
        return None
    if not settings.status_password:
        where = (
            "this machine" if settings.public_url_is_local else "nobody while MLC_PUBLIC_URL is not localhost"
        )
        return PlainTextResponse(
            f"This page is only served to {where}. Set MLC_STATUS_PASSWORD to open it "
            "(HTTP Basic, any user name).\n",
            status_code=403,
        )
    return PlainTextResponse(
        "Authentication required.\n",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="ml-connector status", charset="UTF-8"'},
    )


Page = Callable[[Request], Awaitable[Response]]


def admin_page(endpoint: Page) -> Page:
    """An admin page's endpoint, answered only when :func:`admin_refusal` lets the caller in: every admin page
    is guarded by this one wrapper, so a new page cannot forget the check."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        refused = admin_refusal(request, request.app.state.gw.settings)
        if refused is not None:
            return refused
        return await endpoint(request)

    return guarded
