"""A warm pool of started sandboxes of one kind, so acquiring one costs a list pop
instead of a cold start. Refilled in the background, one sandbox at a time (the
machine that serves the agents is also the machine that starts the sandboxes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from roost.sandbox.backends import create_sandbox
from roost.sandbox.base import Sandbox, SandboxSpec, SandboxStatus

log = logging.getLogger("roost.sandbox")


class SandboxPool:
    def __init__(self, spec: SandboxSpec, *, backend: str = "bwrap", size: int = 1) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.spec = spec
        self.backend = backend
        self.size = size
        self._warm: list[Sandbox] = []
        self._refill_task: asyncio.Task[None] | None = None
        self._closed = False
        self.last_error: str | None = None

    @property
    def warm(self) -> int:
        return len(self._warm)

    async def start(self, *, wait: bool = True) -> None:
        """Begin filling the pool; with ``wait`` return once it is full."""
        self._kick()
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
            if sandbox.info().status in (SandboxStatus.READY, SandboxStatus.RESTARTED):
                self._kick()
                return sandbox
            await sandbox.close()
        self._kick()
        return await self._new()

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
        if self._refill_task is not None:
            self._refill_task.cancel()
            with contextlib.suppress(BaseException):
                await self._refill_task
        warm, self._warm = self._warm, []
        await asyncio.gather(*(s.close() for s in warm), return_exceptions=True)
