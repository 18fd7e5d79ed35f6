"""A uvicorn server run inside a process that owns its signals, on a free local port.

The demo, the `dev` command and the benchmarks start the gateway (or a fake) as one task among others; their own
SIGINT/SIGTERM handling stops every task, so uvicorn must not install its handlers over theirs.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process decides when it stops (``should_exit``)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
