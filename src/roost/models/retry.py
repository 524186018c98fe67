"""Retries for model calls: exponential backoff with jitter, ``Retry-After`` honoured.

A call is retried only while nothing has been yielded to the caller: once a delta was
streamed, a retry would duplicate output, so a broken stream raises a typed error instead.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from roost.core import (
    ModelError,
    ModelRateLimited,
    ModelRequestRejected,
    ModelUnavailable,
)

logger = logging.getLogger("roost.models")

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts of one model call."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    """Upper bound on a server-requested wait; longer waits are capped, not skipped."""
    jitter: float = 0.5
    """Fraction of the backoff randomised away (0 = none, 1 = full jitter)."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_retry_after)
        backoff: float = min(self.max_delay, self.base_delay * 2.0 ** float(attempt))
        spread: float = 1.0 - self.jitter * random.random()
        return backoff * spread


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (delta-seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(
    status: int, message: str, headers: Mapping[str, str], *, provider: str
) -> ModelError:
    """Map an HTTP error answer of a provider to the typed Roost error."""
    retry_after = parse_retry_after(headers)
    text = (
        f"{provider} answered HTTP {status}: {message}"
        if message
        else f"{provider} answered HTTP {status}"
    )
    err: ModelError
    if status == 429:
        err = ModelRateLimited(
            text, hint="lower the request rate or raise the provider quota", status=status
        )
    elif status >= 500 or status in (408, 409):
        err = ModelUnavailable(text, hint="the provider failed; try again later", status=status)
    elif status in (401, 403):
        err = ModelRequestRejected(text, hint="check the API key for this provider", status=status)
    elif status == 404:
        err = ModelRequestRejected(
            text,
            hint="check the model name and the base URL (it usually ends in /v1)",
            status=status,
        )
    else:
        err = ModelRequestRejected(
            text, hint="the request was invalid for this model", status=status
        )
    if retry_after is not None:
        err.details["retry_after"] = retry_after
    should_retry = headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        err.details["should_retry"] = should_retry == "true"
    return err


def is_retryable(err: BaseException) -> bool:
    """Whether a failed attempt may be repeated (the provider can veto with x-should-retry)."""
    if not isinstance(err, ModelError):
        return False
    veto = err.details.get("should_retry")
    if isinstance(veto, bool):
        return veto
    return bool(err.retryable)


async def stream_with_retries(
    attempt: Callable[[], AsyncIterator[T]],
    policy: RetryPolicy,
    *,
    label: str,
) -> AsyncIterator[T]:
    """Run ``attempt()`` and re-run it on retryable errors raised before its first item."""
    tries = 0
    while True:
        yielded = False
        try:
            async for item in attempt():
                yielded = True
                yield item
            return
        except ModelError as err:
            if yielded or not is_retryable(err) or tries >= policy.max_retries:
                err.details.setdefault("attempts", tries + 1)
                raise
            retry_after = err.details.get("retry_after")
            wait = policy.delay(tries, retry_after if isinstance(retry_after, float) else None)
            tries += 1
            logger.warning(
                "model call %s failed with %s; retry %d/%d in %.2fs",
                label,
                err.code,
                tries,
                policy.max_retries,
                wait,
            )
            await asyncio.sleep(wait)
