"""Transient errors (the store's ``StoreUnavailable`` is one) are retried; permanent ones
are not."""

from __future__ import annotations

import pytest

from roost.core import InvalidRequest, RoostError
from roost.core.retry import retry_transient


class StoreUnavailable(RoostError):
    """As ``roost.store.StoreUnavailable``: the database is away for now."""

    code = "store_unavailable"
    status = 503
    retryable = True


async def test_retryable_errors_are_retried_until_success():
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StoreUnavailable("database is locked")
        return "ok"

    assert await retry_transient(flaky) == "ok"
    assert len(calls) == 3


async def test_permanent_errors_and_exhausted_retries_raise():
    async def bad() -> None:
        raise InvalidRequest("no")

    with pytest.raises(InvalidRequest):
        await retry_transient(bad)
    attempts = []

    async def down() -> None:
        attempts.append(1)
        raise StoreUnavailable("down")

    with pytest.raises(StoreUnavailable):
        await retry_transient(down, attempts=2)
    assert len(attempts) == 2
