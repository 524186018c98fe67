"""Retry store calls that failed transiently (``retryable`` errors such as SQLite busy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from roost.core import RoostError

T = TypeVar("T")


async def retry_transient(call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """Run ``call``; on a retryable :class:`RoostError` wait 0.2 s, 0.4 s … and try again.

    Only for calls that either commit or change nothing (one transaction each), so a retry
    never duplicates a write.
    """
    for attempt in range(attempts - 1):
        try:
            return await call()
        except RoostError as exc:
            if not exc.retryable:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    return await call()
