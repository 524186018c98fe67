"""The Redis client shared by the Redis-backed store parts (locks, event bus, limits)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roost.store.errors import InvalidStoreArgument, StoreUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis


def redis_client(url: str | None, client: Redis | None, owner: str) -> tuple[Redis, bool]:
    """``(client, owned)``: the given client, or a new one for ``url`` that the caller
    owns and must close. ``redis`` is imported only here, when Redis is configured."""
    if client is not None:
        return client, False
    if url is None:
        raise InvalidStoreArgument(f"{owner} needs a url or a client")
    from redis.asyncio import Redis

    return Redis.from_url(url), True


def redis_down(exc: BaseException) -> StoreUnavailable:
    """The typed error for a Redis that cannot be reached (HTTP 503, retryable)."""
    return StoreUnavailable(
        f"Redis unavailable: {exc}", hint="check that Redis is running and ROOST_REDIS_URL"
    )
