"""How the gateway is served: uvicorn with the limits an internet-facing endpoint needs (README: *Security*).

``server_config(app, settings)`` is the one place uvicorn is configured for the gateway, so ``ml-connector
gateway``/``dev`` and the tests serve it the same way:

- ``limit_concurrency`` (``MLC_HTTP_MAX_CONNECTIONS``): past it, new requests get 503 at once instead of
  piling up memory and threads;
- ``timeout_keep_alive`` (``MLC_HTTP_KEEPALIVE_SECONDS``): idle keep-alive connections are closed;
- ``h11_max_incomplete_event_size`` (``MLC_HTTP_MAX_HEADER_BYTES``): a request head larger than this is a
  400, never buffered further;
- a **request-head deadline** (``MLC_HTTP_HEADER_TIMEOUT_SECONDS``), which uvicorn lacks: a connection that has
  not finished sending a request head this long after it opened, or after its previous response, is closed
  (:class:`GuardedH11Protocol`). Without it, a client sending a header byte every few seconds (slow-loris)
  holds a connection forever, because every byte re-arms uvicorn's keep-alive timer. The body has its own
  deadline in ``gateway/body.py`` (``MLC_HTTP_BODY_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ml_connector.config import Settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a deadline for each request head (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._head_timeout: float = float(getattr(config, "mlc_header_timeout", 10.0))
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaited_cycle: object = None

    def _arm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._awaited_cycle = self.cycle
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_deadline)

    def _head_deadline(self) -> None:
        self._head_timer = None
        # A new request head arrived since the deadline was armed iff uvicorn started a new cycle for it.
        idle = self.cycle is None or self.cycle.response_complete
        if self.cycle is self._awaited_cycle and idle and not self.transport.is_closing():
            self.logger.debug("closing a connection that sent no request head in %.0f s", self._head_timeout)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)


def server_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of the gateway; ``overrides`` for host/port/logging only."""
    limits = settings.limits
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "http": GuardedH11Protocol,
        "limit_concurrency": limits.http_max_connections,
        "timeout_keep_alive": limits.http_keepalive_seconds,
        "h11_max_incomplete_event_size": limits.http_max_header_bytes,
        # Behind a proxy the client address comes from gateway/access.py (MLC_TRUSTED_PROXIES), not uvicorn.
        "proxy_headers": False,
        "server_header": False,
    }
    options.update(overrides)
    config = uvicorn.Config(app, **options)
    config.mlc_header_timeout = float(limits.http_header_timeout_seconds)  # type: ignore[attr-defined]
    return config
