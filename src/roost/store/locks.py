"""Per-session locks: one run at a time per session, across tasks or server replicas.

``LocalSessionLocks`` (the default) is in-process. ``RedisSessionLocks`` is for several
server processes: ``SET key token NX PX ttl`` to take the lock, a background task that
renews it every ``ttl/3`` while held, and a Lua compare-and-delete to release it, so a
holder never frees a lock that expired and was taken by someone else. If the holder
dies, the key expires after ``ttl`` and another replica can take over.

Usage::

    locks = locks_from_settings()
    async with await locks.acquire(session_id, wait=False):   # SessionBusy if held
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from roost.core.errors import SessionBusy
from roost.core.settings import Settings, get_settings
from roost.store._redis import redis_client, redis_down
from roost.store.errors import InvalidStoreArgument, LockLost

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class SessionLock(ABC):
    """A held lock; release it (or leave the ``async with`` block) when the run ends."""

    def __init__(self, session_id: str, token: str) -> None:
        self.session_id = session_id
        self.token = token
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    @property
    def lost(self) -> bool:
        """True when the lock expired while held (only possible with Redis)."""
        return False

    @abstractmethod
    async def release(self) -> None:
        """Release the lock; idempotent."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


class SessionLocks(ABC):
    """Factory of per-session locks."""

    async def acquire(
        self, session_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> SessionLock:
        """Take the lock of ``session_id``.

        ``wait=False`` fails at once with ``SessionBusy`` when it is held; ``wait=True``
        waits up to ``timeout`` seconds (forever when ``None``), then ``SessionBusy``.
        """
        if timeout is not None and timeout < 0:
            raise InvalidStoreArgument(f"lock timeout must be >= 0, got {timeout}")
        lock = await self._acquire(session_id, wait=wait, timeout=timeout)
        if lock is None:
            raise SessionBusy(
                f"session {session_id!r} already has a run in progress",
                hint="wait for the run to finish or interrupt it",
                session_id=session_id,
            )
        return lock

    async def try_acquire(self, session_id: str) -> SessionLock | None:
        """The lock if it is free right now, else ``None``."""
        return await self._acquire(session_id, wait=False, timeout=None)

    @abstractmethod
    async def _acquire(
        self, session_id: str, *, wait: bool, timeout: float | None
    ) -> SessionLock | None: ...

    @abstractmethod
    async def is_locked(self, session_id: str) -> bool:
        """Whether any holder (in any process, for Redis) holds the session's lock."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to free locally
        """Free the backend's resources (Redis connections)."""


# -- in-process -----------------------------------------------------------------------
class _LocalLock(SessionLock):
    def __init__(self, owner: LocalSessionLocks, session_id: str, token: str) -> None:
        super().__init__(session_id, token)
        self._owner = owner

    async def release(self) -> None:
        if not self._released:
            self._released = True
            self._owner._release(self.session_id, self.token)


class LocalSessionLocks(SessionLocks):
    """Locks for one server process (the embedded default)."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._tokens = itertools.count(1)

    async def _acquire(
        self, session_id: str, *, wait: bool, timeout: float | None
    ) -> SessionLock | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while session_id in self._holders:
            if not wait:
                return None
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._waiters.setdefault(session_id, [])
            waiters.append(fut)
            try:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                return None
            finally:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
                if not waiters:
                    self._waiters.pop(session_id, None)
        # unique within this process is all a local token needs (no getrandom per run)
        token = f"local-{next(self._tokens)}"
        self._holders[session_id] = token
        return _LocalLock(self, session_id, token)

    def _release(self, session_id: str, token: str) -> None:
        if self._holders.get(session_id) != token:
            return
        del self._holders[session_id]
        # Wake every waiter (cheap in-process); the first to run takes the lock and the
        # others wait again. Waking only one could strand the rest if it timed out.
        for fut in self._waiters.get(session_id, []):
            if not fut.done():
                fut.set_result(None)

    async def is_locked(self, session_id: str) -> bool:
        return session_id in self._holders


# -- Redis ----------------------------------------------------------------------------
class _RedisLock(SessionLock):
    def __init__(self, owner: RedisSessionLocks, session_id: str, key: str, token: str) -> None:
        super().__init__(session_id, token)
        self._owner = owner
        self._key = key
        self._lost = False
        self._renewer: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def lost(self) -> bool:
        return self._lost

    def _start_renewal(self) -> None:
        self._renewer = asyncio.create_task(self._renew_loop(), name=f"lock-renew:{self._key}")

    async def _renew_loop(self) -> None:
        interval = self._owner.ttl / 3
        while True:
            # An event, not only cancellation, ends the loop: redis-py can swallow a
            # CancelledError that lands inside a command, and release() must not hang.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            if self._stop.is_set():
                return
            try:
                ok = await self._owner._renew(self._key, self.token)
            except Exception as exc:  # Redis briefly down: try again until the TTL runs out
                log.warning("renewing session lock %s failed: %s", self._key, exc)
                continue
            if not ok:
                self._lost = True
                log.error("session lock %s expired while held", self._key)
                return

    async def renew(self) -> None:
        """Extend the TTL now; raises ``LockLost`` if the lock already expired."""
        if not await self._owner._renew(self._key, self.token):
            self._lost = True
            raise LockLost(f"lock of session {self.session_id!r} expired while held")

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop.set()
        if self._renewer is not None:
            self._renewer.cancel()  # also interrupts a renewal in flight
        # Shielded: a cancelled caller must not leave the session locked until the TTL.
        await asyncio.shield(self._release_after_renewer())

    async def _release_after_renewer(self) -> None:
        if self._renewer is not None:
            await asyncio.wait({self._renewer}, timeout=self._owner.ttl)
        await self._owner._release(self._key, self.token)


class RedisSessionLocks(SessionLocks):
    """Locks shared by every server replica that talks to the same Redis."""

    default_ttl: ClassVar[float] = 30.0
    """How long a dead holder's lock outlives it (a live holder renews it)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        ttl: float | None = None,
        prefix: str = "roost:lock:session:",
        poll_interval: float = 0.05,
    ) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        if ttl <= 0.03:
            raise InvalidStoreArgument(f"lock ttl must be > 0.03 s, got {ttl}")
        self._redis, self._owns_client = redis_client(url, client, "RedisSessionLocks")
        client = self._redis
        self.ttl = ttl
        self.prefix = prefix
        self.poll_interval = poll_interval
        self._release_script: Any = client.register_script(_RELEASE)
        self._renew_script: Any = client.register_script(_RENEW)

    def _key(self, session_id: str) -> str:
        return self.prefix + session_id

    async def _acquire(
        self, session_id: str, *, wait: bool, timeout: float | None
    ) -> SessionLock | None:
        key = self._key(session_id)
        token = secrets.token_hex(16)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = self.poll_interval
        while True:
            attempt = asyncio.ensure_future(
                self._redis.set(key, token, nx=True, px=int(self.ttl * 1000))
            )
            try:
                ok = await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # Cancelled while SET was in flight: if it took the lock, give it back
                # now instead of leaving the session busy until the TTL runs out.
                await asyncio.wait([attempt])
                if not attempt.cancelled() and attempt.exception() is None and attempt.result():
                    await asyncio.shield(self._release(key, token))
                raise
            except Exception as exc:
                raise redis_down(exc) from exc
            if ok:
                lock = _RedisLock(self, session_id, key, token)
                lock._start_renewal()
                return lock
            if not wait:
                return None
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                delay = min(delay, remaining)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)

    async def _renew(self, key: str, token: str) -> bool:
        return bool(await self._renew_script(keys=[key], args=[token, int(self.ttl * 1000)]))

    async def _release(self, key: str, token: str) -> None:
        try:
            await self._release_script(keys=[key], args=[token])
        except Exception as exc:  # the key expires on its own after ttl
            log.warning("releasing session lock %s failed: %s", key, exc)

    async def is_locked(self, session_id: str) -> bool:
        try:
            return bool(await self._redis.exists(self._key(session_id)))
        except Exception as exc:
            raise redis_down(exc) from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._redis.aclose()


def locks_from_settings(settings: Settings | None = None) -> SessionLocks:
    """Redis locks when ``ROOST_REDIS_URL`` is set, else in-process locks."""
    settings = settings or get_settings()
    if settings.redis_url:
        return RedisSessionLocks(settings.redis_url)
    return LocalSessionLocks()
