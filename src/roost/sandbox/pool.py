"""A warm pool of started sandboxes of one kind, so acquiring one costs a list pop
instead of a cold start. Refilled in the background, one sandbox at a time (the
machine that serves the agents is also the machine that starts the sandboxes).

Warm sandboxes are health-checked every ``health_interval`` seconds (and whenever
``check_health()`` is called, e.g. by the manager's reaper): a dead one is closed and
replaced right away, so the next acquire still finds a warm sandbox (decision 0035)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from roost.sandbox.base import Sandbox, SandboxSpec, SandboxStatus
from roost.sandbox.registry import create_sandbox

log = logging.getLogger("roost.sandbox")

_USABLE = (SandboxStatus.READY, SandboxStatus.RESTARTED)
_GONE = (SandboxStatus.DEAD, SandboxStatus.CLOSED)


class SandboxPool:
    def __init__(
        self,
        spec: SandboxSpec,
        *,
        backend: str = "bwrap",
        size: int = 1,
        health_interval: float | None = 30.0,
    ) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        if health_interval is not None and health_interval <= 0:
            raise ValueError("health_interval must be > 0 seconds (or None to disable)")
        self.spec = spec
        self.backend = backend
        self.size = size
        self.health_interval = health_interval
        self._warm: list[Sandbox] = []
        self._refill_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._closed = False
        self.last_error: str | None = None
        self.replaced = 0
        """How many dead warm sandboxes were discarded and replaced so far."""

    @property
    def warm(self) -> int:
        return len(self._warm)

    async def start(self, *, wait: bool = True) -> None:
        """Begin filling the pool (and health-checking it); with ``wait`` return once
        it is full."""
        self._kick()
        if (
            self.health_interval is not None
            and self.size > 0
            and (self._health_task is None or self._health_task.done())
        ):
            self._health_task = asyncio.create_task(self._health_loop(self.health_interval))
        if wait and self._refill_task is not None:
            await asyncio.shield(self._refill_task)

    async def _new(self) -> Sandbox:
        sandbox = create_sandbox(self.spec, self.backend)
        await sandbox.start()
        return sandbox

    async def acquire(self) -> Sandbox:
        """A started sandbox: a warm one when available, else a cold start."""
        while self._warm:
            sandbox = self._warm.pop()
            if sandbox.info().status in _USABLE:
                self._kick()
                return sandbox
            await sandbox.close()
        self._kick()
        return await self._new()

    async def check_health(self) -> int:
        """Ping every warm sandbox; close the dead ones and start their replacements in
        the background. Returns how many were replaced."""
        warm = list(self._warm)
        statuses = await asyncio.gather(*(s.health() for s in warm), return_exceptions=True)
        dead = [
            s
            for s, status in zip(warm, statuses, strict=True)
            if isinstance(status, BaseException) or status in _GONE
        ]
        for sandbox in dead:
            if sandbox in self._warm:
                self._warm.remove(sandbox)
                log.warning(
                    "warm sandbox %s is dead (%s); replacing it",
                    sandbox.id,
                    sandbox.info().detail.get("last_death", "no answer"),
                )
        if dead:
            self.replaced += len(dead)
            self._kick()
            await asyncio.gather(*(s.close() for s in dead), return_exceptions=True)
        return len(dead)

    async def _health_loop(self, interval: float) -> None:
        while not self._closed:
            await asyncio.sleep(interval)
            try:
                await self.check_health()
            except Exception as exc:
                log.warning("sandbox pool health check failed: %s", exc)

    def _kick(self) -> None:
        if self._closed or self.size == 0:
            return
        if self._refill_task is None or self._refill_task.done():
            self._refill_task = asyncio.create_task(self._refill())

    async def _refill(self) -> None:
        failures = 0
        while not self._closed and len(self._warm) < self.size:
            try:
                sandbox = await self._new()
            except Exception as exc:
                self.last_error = str(exc)
                failures += 1
                log.warning("sandbox pool refill failed: %s", exc)
                if failures >= 3:
                    return
                await asyncio.sleep(0.5 * failures)
                continue
            if self._closed:
                await sandbox.close()
                return
            self._warm.append(sandbox)

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._refill_task, self._health_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        warm, self._warm = self._warm, []
        await asyncio.gather(*(s.close() for s in warm), return_exceptions=True)
