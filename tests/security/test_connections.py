"""Issue 13, row 7: half-sent requests no longer hold connections, and connections are limited.

uvicorn re-arms its keep-alive timer on every byte and has no deadline for a request head, so a client sending
a header byte every few seconds (slow-loris) held its connection for ever; a body was read without deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import httpx

from tests.harness import live_system

WAIT_LIMIT = 20.0  # how long a test waits for the gateway before it calls the connection "held"


def _dribble_head(port: int) -> bytes:
    """Send a request head one byte at a time, never finishing; return what the server said (b"" = closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_LIMIT) as sock:
        sock.sendall(b"POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        deadline = time.monotonic() + WAIT_LIMIT
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"X")
            except OSError:
                return b""
            sock.settimeout(0.3)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return b""
            return data
        return b"still open"


def _stall_body(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_LIMIT) as sock:
        sock.sendall(
            b"POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n"
            b'<?xml version="1.0"?>'
        )
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b"still open"


async def test_a_request_head_sent_byte_by_byte_is_cut_off(temporal_client, tmp_path):
    async with live_system(
        f"sqlite:///{tmp_path / 'loris.db'}", temporal_client, MLC_HTTP_HEADER_TIMEOUT_SECONDS="1"
    ) as system:
        answer = await asyncio.to_thread(_dribble_head, system.settings.port)
    assert answer != b"still open"


async def test_a_stalled_body_gets_408(temporal_client, tmp_path):
    async with live_system(
        f"sqlite:///{tmp_path / 'body.db'}", temporal_client, MLC_HTTP_BODY_TIMEOUT_SECONDS="1"
    ) as system:
        answer = await asyncio.to_thread(_stall_body, system.settings.port)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


async def test_connections_beyond_the_limit_are_turned_away_at_once(temporal_client, tmp_path):
    async with live_system(
        f"sqlite:///{tmp_path / 'conn.db'}",
        temporal_client,
        MLC_HTTP_MAX_CONNECTIONS="8",
        MLC_HTTP_HEADER_TIMEOUT_SECONDS="60",
    ) as system:
        port = system.settings.port
        idle: list[socket.socket] = []
        try:
            for _ in range(8):
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(timeout=10) as http:
                over = await http.get(f"http://127.0.0.1:{port}/healthz")
        finally:
            for sock in idle:
                with contextlib.suppress(OSError):
                    sock.close()
        async with httpx.AsyncClient(timeout=10) as http:
            after = await http.get(f"http://127.0.0.1:{port}/healthz")
    assert over.status_code == 503
    assert after.status_code == 200
