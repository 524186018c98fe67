"""One way to retry: a call repeated on the errors that say so, with growing waits.

Only for calls that either complete or change nothing (one transaction, one idempotent
request), so that a retry never duplicates an effect. Model calls have their own policy
on top of this (``roost.models.retry``: jitter, ``Retry-After``, nothing streamed yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from roost.core.errors import RoostError

T = TypeVar("T")


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    when: Callable[[Exception], bool],
    delay: Callable[[int], float],
) -> T:
    """``await call()``; when it raises an error for which ``when`` is true, wait
    ``delay(n)`` seconds (``n`` = 0, 1 …) and call again, ``attempts`` times in all."""
    for n in range(attempts - 1):
        try:
            return await call()
        except Exception as exc:
            if not when(exc):
                raise
            await asyncio.sleep(delay(n))
    return await call()


def transient(exc: Exception) -> bool:
    """A :class:`RoostError` that says trying again may work (SQLite busy, store away)."""
    return isinstance(exc, RoostError) and exc.retryable


async def retry_transient(call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """``call`` retried on transient errors after 0.2 s, 0.4 s …"""
    return await retry(call, attempts=attempts, when=transient, delay=lambda n: 0.2 * (n + 1))
