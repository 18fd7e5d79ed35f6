"""Running blocking work on a chosen thread pool, with the caller's context variables (like asyncio.to_thread).

The gateway keeps separate pools for SOAP and for webhooks (``GatewayState``), so a flood on one endpoint
queues behind its own threads and never delays the other's answers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


async def run_on(pool: Executor | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on ``pool`` (``None``: asyncio's default pool), in a copy of the current context."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(pool, context.run, fn, *args)
