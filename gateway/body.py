"""Reading request bodies under a hard cap and a deadline, so a 60 MB upload or a body sent one byte a minute
is refused before it is held in memory or holds a connection.

SOAP bodies are read through :func:`read_soap_body`: the bytes are scanned as they arrive
(:class:`~ml_connector.qbwc.soap.SoapScanner`, which builds no tree), so a body that is clearly not a Web
Connector call is refused at its first bad bytes, and the cap depends on the operation: every call but
``receiveResponseXML`` (QuickBooks' answers) gets the small ``MLC_SOAP_MAX_BYTES``, and a receiveResponseXML may
only grow past it behind the ticket of a live session. Only a few large bodies are read at once
(``MLC_SOAP_LARGE_BODIES``); the caller holds that turn until its call is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import Request

from ml_connector.qbwc.soap_scanner import SoapScanner

LARGE_OPERATION = "receiveResponseXML"
# Bytes per second a large (authenticated) body is allowed to trickle at, on top of the body deadline.
LARGE_BODY_MIN_RATE = 32 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


class UnknownTicket(Exception):
    """A receiveResponseXML body grew past the small cap without a live session's ticket in front of it."""

    def __init__(self, ticket: str) -> None:
        super().__init__("a large receiveResponseXML body needs a live session ticket")
        self.ticket = ticket


class BodyTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body not received within {seconds:g} s")
        self.seconds = seconds


def _refuse_declared(request: Request, limit: int) -> None:
    """A Content-Length over the cap is refused before a byte of the body is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)


# Sees each chunk as it arrives, with the size so far and the body's deadline; raises to refuse the body.
ChunkCheck = Callable[[bytes, int, asyncio.Timeout], Awaitable[None]]


async def _stream(request: Request, time_limit: float | None, check: ChunkCheck) -> bytes:
    """The one loop that reads a body: chunk by chunk under the deadline, each chunk checked before it is kept."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(time_limit) as deadline:
            async for chunk in request.stream():
                size += len(chunk)
                await check(chunk, size, deadline)
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(time_limit or 0) from None
    return b"".join(chunks)


async def read_body(request: Request, limit: int, *, time_limit: float | None = None) -> bytes:
    _refuse_declared(request, limit)

    async def capped(chunk: bytes, size: int, deadline: asyncio.Timeout) -> None:
        if size > limit:
            raise BodyTooLarge(limit)

    return await _stream(request, time_limit, capped)


async def read_soap_body(
    request: Request,
    *,
    small_limit: int,
    large_limit: int,
    large_turns: asyncio.Semaphore,
    held: contextlib.AsyncExitStack,
    ticket_ok: Callable[[str], Awaitable[bool]],
    time_limit: float | None = None,
) -> bytes:
    """The body of a SOAP call, scanned while it streams in.

    Raises :class:`BodyTooLarge` (over the operation's cap), :class:`BodyTimeout`, or
    :class:`~ml_connector.qbwc.soap.SoapFault` (not a Web Connector call: DTD, malformed, too many or too deep
    elements) or :class:`UnknownTicket`. A body may only grow past ``small_limit`` if it is a
    receiveResponseXML whose ticket (it comes first) ``ticket_ok`` accepts — so a large body is something only a
    logged-in Web Connector can send; it then takes one of ``large_turns`` (waiting for it) and keeps it on
    ``held`` until the caller closes the stack after answering.
    """
    _refuse_declared(request, large_limit)
    scanner = SoapScanner()
    large = False

    async def scanned(chunk: bytes, size: int, deadline: asyncio.Timeout) -> None:
        nonlocal large
        scanner.feed(chunk)
        if size > small_limit and not large:
            if scanner.operation != LARGE_OPERATION:
                raise BodyTooLarge(small_limit)
            if scanner.ticket is None or not await ticket_ok(scanner.ticket):
                raise UnknownTicket(scanner.ticket or "")
            await held.enter_async_context(large_turns)
            large = True
            when = deadline.when()
            if when is not None:
                # A logged-in Web Connector on a slow office line: time for the rest at a modest rate.
                deadline.reschedule(when + large_limit / LARGE_BODY_MIN_RATE)
        if size > large_limit:
            raise BodyTooLarge(large_limit)

    return await _stream(request, time_limit, scanned)
