"""Opens the store, session locks, event bus and rate limiter an app runs on, and
publishes in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from roost.core.settings import Settings

if TYPE_CHECKING:
    from roost.server.app import AgentApp
    from roost.server.ratelimit import RateLimiter

log = logging.getLogger("roost.server")


async def open_backends(app: AgentApp, settings: Settings) -> tuple[Any, Any, Any]:
    """``(store, locks, bus)``: SQLite + in-process by default, Redis when configured."""
    from roost.store import Store
    from roost.store.bus import LocalEventBus, RedisEventBus
    from roost.store.locks import LocalSessionLocks, RedisSessionLocks

    store = await Store.open(app.store_url, schema=app.store_schema)
    redis_url = app.redis_url or settings.redis_url
    if redis_url:
        return store, RedisSessionLocks(redis_url), RedisEventBus(redis_url)
    return store, LocalSessionLocks(), LocalEventBus()


def open_rate_limiter(app: AgentApp, settings: Settings) -> RateLimiter | None:
    """Per key and shared by all replicas through Redis when configured, else per process."""
    if not app.rate_limit_spec:
        return None
    from roost.server.ratelimit import LocalRateLimiter, RedisRateLimiter

    redis_url = app.redis_url or settings.redis_url
    if redis_url:
        return RedisRateLimiter(app.rate_limit_spec, redis_url, namespace=app.name)
    return LocalRateLimiter(app.rate_limit_spec)


async def close_backends(app: AgentApp) -> None:
    closers = [app.bus.aclose, app.locks.aclose, app.store.close]
    if app.rate_limiter is not None:
        closers.insert(0, app.rate_limiter.aclose)
    for closer in closers:
        try:
            await closer()
        except Exception:
            log.exception("closing %r failed", closer)


class Publisher:
    """Publishes bus messages from one task, in order, without blocking the run loop."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def put(self, channel: str, text: str) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._queue.put_nowait((channel, text))

    async def _run(self) -> None:
        while True:
            channel, text = await self._queue.get()
            try:
                await self.bus.publish(channel, text)
            except Exception:
                log.warning("bus publish to %s failed; followers resync from the store", channel)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
