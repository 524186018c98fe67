"""``SandboxManager``: one sandbox per (session, type), warm pools, idle/lifetime
reaping, health checks, and bindings persisted so orphans of a crashed manager are
reaped at the next start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from roost.sandbox.base import Sandbox, SandboxInfo, SandboxSpec, SandboxStatus
from roost.sandbox.bindings import (
    InMemorySandboxBindingStore,
    SandboxBinding,
    SandboxBindingStore,
    new_owner_id,
    owner_is_dead,
)
from roost.sandbox.errors import SandboxPoolExhausted
from roost.sandbox.pool import SandboxPool
from roost.sandbox.registry import DEFAULT_BACKEND, registry

log = logging.getLogger("roost.sandbox")
_RUNNING: weakref.WeakSet[SandboxManager] = weakref.WeakSet()
"""The started managers of this process, for :func:`release_session`."""


async def release_session(session_id: str) -> int:
    """Close the sandboxes of ``session_id`` in every running manager of this process
    (the server calls it when a session is deleted); returns how many. Never raises."""
    closed = 0
    for manager in list(_RUNNING):
        try:
            closed += await manager.release(session_id)
        except Exception as exc:
            log.warning("could not release the sandboxes of session %s: %s", session_id, exc)
    return closed


class SandboxManager:
    """Hands out sandboxes bound to sessions.

    ``pool_size`` is the number of warm sandboxes kept per type (an int applies to
    ``base``; a mapping sets it per type). ``idle_ttl`` and ``max_lifetime`` are in
    seconds; ``reap_foreign`` also reaps bindings of other live-looking owners (use it
    when this is the only manager of the store, e.g. after a host reboot reused pids).
    """

    def __init__(
        self,
        *,
        backend: str = DEFAULT_BACKEND,
        pool_size: int | Mapping[str, int] = 1,
        specs: Mapping[str, SandboxSpec] | None = None,
        backends: Mapping[str, str] | None = None,
        bindings: SandboxBindingStore | None = None,
        idle_ttl: float = 900.0,
        max_lifetime: float = 4 * 3600.0,
        max_sandboxes: int = 64,
        reap_interval: float = 5.0,
        health_interval: float = 30.0,
        reap_foreign: bool = False,
    ) -> None:
        self.backend = backend
        self.backends = dict(backends or {})
        self.specs = dict(specs or {})
        sizes = {"base": pool_size} if isinstance(pool_size, int) else dict(pool_size)
        self.pool_sizes: dict[str, int] = sizes
        self.bindings: SandboxBindingStore = bindings or InMemorySandboxBindingStore()
        self.idle_ttl = idle_ttl
        self.max_lifetime = max_lifetime
        self.max_sandboxes = max_sandboxes
        self.reap_interval = reap_interval
        self.health_interval = health_interval
        self.reap_foreign = reap_foreign
        self.owner = new_owner_id()
        self.events: list[dict[str, Any]] = []
        """Recent lifecycle events (reaped, replaced, orphan_reaped), newest last."""
        self._pools: dict[str, SandboxPool] = {}
        self._live: dict[str, Sandbox] = {}
        self._by_session: dict[tuple[str, str], str] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._last_health = 0.0
        self._started = False
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------
    def spec_for(self, type: str) -> SandboxSpec:
        spec = self.specs.get(type)
        return spec if spec is not None else SandboxSpec(type=type)  # type: ignore[arg-type]

    def backend_for(self, type: str) -> str:
        return self.backends.get(type, self.backend)

    def _pool(self, type: str) -> SandboxPool:
        pool = self._pools.get(type)
        if pool is None:
            pool = SandboxPool(
                self.spec_for(type),
                backend=self.backend_for(type),
                size=self.pool_sizes.get(type, 0),
                health_interval=self.health_interval,
            )
            self._pools[type] = pool
        return pool

    async def start(self, *, wait_warm: bool = True) -> list[str]:
        """Reap orphans of dead managers, fill the warm pools, start the reaper task.
        Returns the ids of reaped orphan sandboxes."""
        if self._started:
            return []
        self._started = True
        _RUNNING.add(self)
        reaped = await self.reap_orphans()
        for type, size in self.pool_sizes.items():
            if size > 0:
                await self._pool(type).start(wait=wait_warm)
        self._reaper = asyncio.create_task(self._reap_loop())
        return reaped

    async def aclose(self) -> None:
        """Close every sandbox and pool; bindings of closed sandboxes are removed."""
        if self._closed:
            return
        self._closed = True
        _RUNNING.discard(self)
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(BaseException):
                await self._reaper
        await asyncio.gather(*(p.aclose() for p in self._pools.values()), return_exceptions=True)
        await asyncio.gather(
            *(self._drop(sid, "manager closed") for sid in list(self._live)),
            return_exceptions=True,
        )

    async def __aenter__(self) -> SandboxManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- sessions ----------------------------------------------------------------------
    async def acquire(self, session_id: str, type: str = "base") -> Sandbox:
        """The session's sandbox of ``type``; the same one (state kept) on every call."""
        if not self._started:
            await self.start()
        key = (session_id, type)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            sid = self._by_session.get(key)
            if sid is not None:
                sandbox = self._live.get(sid)
                if sandbox is not None and sandbox.info().status is not SandboxStatus.CLOSED:
                    now = time.time()
                    self._touch(sandbox, now)
                    await self.bindings.touch(sandbox.id, now)
                    return sandbox
                await self._drop(sid, "closed")
            if len(self._live) >= self.max_sandboxes:
                raise SandboxPoolExhausted(
                    f"{len(self._live)} sandboxes are live (max_sandboxes={self.max_sandboxes})",
                    hint="release idle sessions or raise max_sandboxes",
                )
            sandbox = await self._pool(type).acquire()
            if hasattr(sandbox, "session_id"):
                sandbox.session_id = session_id
            self._touch(sandbox, time.time())
            self._live[sandbox.id] = sandbox
            self._by_session[key] = sandbox.id
            info = sandbox.info()
            try:
                await self.bindings.put(
                    SandboxBinding(
                        sandbox_id=sandbox.id,
                        session_id=session_id,
                        type=type,
                        backend=sandbox.backend,
                        owner=self.owner,
                        created_at=info.created_at,
                        detail=info.detail,
                    )
                )
            except BaseException:
                await self._drop(sandbox.id, "binding failed")
                raise
            return sandbox

    def _touch(self, sandbox: Sandbox, now: float) -> None:
        if hasattr(sandbox, "last_used_at"):
            sandbox.last_used_at = now

    def get(self, session_id: str, type: str = "base") -> Sandbox | None:
        sid = self._by_session.get((session_id, type))
        return self._live.get(sid) if sid else None

    async def release(self, session_id: str, type: str | None = None) -> int:
        """Close the session's sandboxes (of one type, or all); returns how many."""
        keys = [
            k for k in self._by_session if k[0] == session_id and (type is None or k[1] == type)
        ]
        for key in keys:
            sid = self._by_session.get(key)
            if sid:
                await self._drop(sid, "released")
        return len(keys)

    async def _drop(self, sandbox_id: str, reason: str) -> None:
        sandbox = self._live.pop(sandbox_id, None)
        for key, sid in list(self._by_session.items()):
            if sid == sandbox_id:
                del self._by_session[key]
        try:
            if sandbox is not None:
                await sandbox.close()
        finally:
            await self.bindings.remove(sandbox_id)
        if reason not in ("released", "manager closed"):
            self._event(reason, sandbox_id)

    def _event(self, kind: str, sandbox_id: str, **extra: Any) -> None:
        self.events.append({"event": kind, "sandbox_id": sandbox_id, "at": time.time(), **extra})
        del self.events[:-200]

    # -- observation -------------------------------------------------------------------
    def list_sandboxes(self) -> list[SandboxInfo]:
        return [s.info() for s in self._live.values()]

    def status(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for info in self.list_sandboxes():
            by_status[info.status.value] = by_status.get(info.status.value, 0) + 1
        return {
            "owner": self.owner,
            "live": len(self._live),
            "by_status": by_status,
            "warm": {t: p.warm for t, p in self._pools.items()},
            "pool_errors": {t: p.last_error for t, p in self._pools.items() if p.last_error},
            "events": self.events[-20:],
        }

    # -- reaping -----------------------------------------------------------------------
    async def reap_orphans(self) -> list[str]:
        """Clean up sandboxes recorded by managers whose process is gone."""
        reaped = []
        for binding in await self.bindings.list_bindings():
            if binding.owner == self.owner:
                continue
            if not (self.reap_foreign or owner_is_dead(binding.owner)):
                continue
            reaper = registry.reaper(binding.backend)
            try:
                if reaper is not None:
                    await reaper(binding.detail)
            except Exception as exc:
                log.warning("could not reap orphan sandbox %s: %s", binding.sandbox_id, exc)
                continue
            await self.bindings.remove(binding.sandbox_id)
            self._event("orphan_reaped", binding.sandbox_id, owner=binding.owner)
            reaped.append(binding.sandbox_id)
        return reaped

    async def reap_once(self, *, check_health: bool = True) -> list[str]:
        """Close expired sandboxes and replace dead ones; returns affected ids."""
        now = time.time()
        affected = []
        for sid, sandbox in list(self._live.items()):
            info = sandbox.info()
            if now - info.created_at > self.max_lifetime:
                await self._drop(sid, "max_lifetime")
            elif now - info.last_used_at > self.idle_ttl:
                await self._drop(sid, "idle_ttl")
            else:
                status = await sandbox.health() if check_health else info.status
                if status is SandboxStatus.DEAD or status is SandboxStatus.CLOSED:
                    await self._drop(sid, "dead")
                else:
                    continue
            affected.append(sid)
        if check_health:
            for pool in list(self._pools.values()):
                await pool.check_health()
        return affected

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval)
            now = time.monotonic()
            check = now - self._last_health >= self.health_interval
            if check:
                self._last_health = now
            try:
                await self.reap_once(check_health=check)
            except Exception as exc:
                log.warning("sandbox reaper failed: %s", exc)
