"""``FakeStripeServer``: the fake on a free 127.0.0.1 port in a background thread, for tests and demos.

    with FakeStripeServer() as server:
        client = stripe.StripeClient("sk_test_123", base_addresses={"api": server.url})

It binds the socket itself (port 0, so parallel test runs never collide) before uvicorn starts, and
returns only once uvicorn is accepting connections. Signal handlers are left alone: uvicorn may only
install them on the main thread, and a test runner's Ctrl+C must stay the runner's.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

import uvicorn

from ml_connector.fakestripe.api import FakeStripe
from ml_connector.fakestripe.app import create_app

STARTUP_TIMEOUT_SECONDS = 10.0


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # uvicorn >= 0.29
        yield


class FakeStripeServer:
    def __init__(self, fake: FakeStripe | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 api_keys: set[str] | None = None) -> None:
        self.fake = fake or FakeStripe(api_keys=api_keys)
        self._host = host
        self._port = port
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def start(self) -> FakeStripeServer:
        if self._thread is not None:
            return self
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
        # and without it every response waits ~40 ms for a delayed ACK (h11 writes head and body apart).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            create_app(self.fake), log_level="warning", lifespan="off", access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = _ThreadServer(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fakestripe-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the fake Stripe server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake Stripe server did not start in time")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self.fake.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeStripeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
