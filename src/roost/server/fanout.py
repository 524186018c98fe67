"""What replicas tell each other: a run's events for followers elsewhere, cancel and
approve messages for the process that runs it, and heartbeats. Without Redis nothing
leaves the process (``remote`` is false)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roost.store import EventBus, Store, Subscription

log = logging.getLogger("roost.server")

HEARTBEAT_S = 10.0
ORPHANED_AFTER_S = 45
"""A run whose owner has not heart-beaten for this long is failed by a live replica."""


class Fanout:
    """Publishes from one task, in order, without blocking the run loop."""

    def __init__(self, bus: EventBus, *, remote: bool, instance_id: str) -> None:
        self.bus = bus
        self.remote = remote
        self.instance_id = instance_id
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def publish(self, run_id: str, text: str) -> None:
        """One event (its JSON) of ``run_id`` to the followers on other replicas."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._publish_loop())
        self._queue.put_nowait((f"run:{run_id}", text))

    def subscribe(self, run_id: str) -> Subscription:
        return self.bus.subscribe(f"run:{run_id}")

    async def send_control(self, owner: str | None, message: dict[str, Any]) -> None:
        """Ask the process that owns a run to cancel it or resolve an approval."""
        if not owner or not self.remote:
            return
        await self.bus.publish(f"control:{owner}", json.dumps(message))

    async def control_loop(self, handle: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Hand the control messages sent to this process to ``handle``, forever."""
        async with self.bus.subscribe(f"control:{self.instance_id}") as sub:
            async for data in sub:
                try:
                    await handle(json.loads(data))
                except Exception:
                    log.exception("bad control message %r", data)

    async def heartbeat_loop(self, store: Store) -> None:
        """Keep this instance's runs alive and fail those of replicas that died."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await store.heartbeat(self.instance_id)
                await store.fail_orphaned_runs(older_than_heartbeat_s=ORPHANED_AFTER_S)
            except Exception:
                log.exception("heartbeat failed")

    async def _publish_loop(self) -> None:
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
