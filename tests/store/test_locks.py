from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import AsyncIterator

import pytest

from roost.core import SessionBusy
from roost.store import (
    LocalSessionLocks,
    LockLost,
    RedisSessionLocks,
    SessionLocks,
    locks_from_settings,
)


@pytest.fixture(params=["local", "redis"])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[SessionLocks]:
    if request.param == "local":
        impl: SessionLocks = LocalSessionLocks()
    else:
        url = request.getfixturevalue("redis_url")
        impl = RedisSessionLocks(url, ttl=2.0, prefix=f"roost-test:{secrets.token_hex(4)}:")
    yield impl
    await impl.aclose()


async def test_second_acquire_is_busy_until_release(locks: SessionLocks) -> None:
    held = await locks.acquire("ses_1", wait=False)
    assert await locks.is_locked("ses_1")
    with pytest.raises(SessionBusy) as info:
        await locks.acquire("ses_1", wait=False)
    assert info.value.code == "session_busy"
    assert await locks.try_acquire("ses_1") is None
    other = await locks.try_acquire("ses_2")  # other sessions are independent
    assert other is not None
    await held.release()
    await held.release()  # idempotent
    again = await locks.try_acquire("ses_1")
    assert again is not None
    await again.release()
    await other.release()
    assert not await locks.is_locked("ses_1")


async def test_waiter_gets_lock_when_holder_releases(locks: SessionLocks) -> None:
    order: list[str] = []
    held = await locks.acquire("ses_w", wait=False)

    async def waiter() -> None:
        async with await locks.acquire("ses_w", wait=True, timeout=5):
            order.append("waiter")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.2)
    order.append("holder-done")
    await held.release()
    await asyncio.wait_for(task, 5)
    assert order == ["holder-done", "waiter"]


async def test_wait_times_out_with_session_busy(locks: SessionLocks) -> None:
    async with await locks.acquire("ses_t"):
        with pytest.raises(SessionBusy):
            await locks.acquire("ses_t", wait=True, timeout=0.2)


async def test_redis_locks_contend_across_clients_and_renew(redis_url: str) -> None:
    prefix = f"roost-test:{secrets.token_hex(4)}:"
    a = RedisSessionLocks(redis_url, ttl=0.3, prefix=prefix)
    b = RedisSessionLocks(redis_url, ttl=0.3, prefix=prefix)
    try:
        held = await a.acquire("ses_r", wait=False)
        # Held for several TTLs: renewal keeps it, so the other client stays out.
        for _ in range(6):
            await asyncio.sleep(0.2)
            assert await b.try_acquire("ses_r") is None
        assert not held.lost
        await held.release()
        taken = await b.acquire("ses_r", wait=True, timeout=2)
        assert taken.token != held.token
        # A stale holder releasing must not free the new holder's lock.
        await a._release(a.prefix + "ses_r", held.token)
        assert await a.is_locked("ses_r")
        await taken.release()
        assert not await a.is_locked("ses_r")
    finally:
        await a.aclose()
        await b.aclose()


_HOLDER = """
import asyncio, sys
from roost.store import RedisSessionLocks
async def main():
    locks = RedisSessionLocks(sys.argv[1], ttl=float(sys.argv[3]), prefix=sys.argv[2])
    await locks.acquire("ses_k", wait=False)
    print("held", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


async def test_redis_lock_of_a_killed_holder_expires_after_ttl(redis_url: str) -> None:
    prefix = f"roost-test:{secrets.token_hex(4)}:"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, redis_url, prefix, "1.0", stdout=asyncio.subprocess.PIPE
    )
    locks = RedisSessionLocks(redis_url, ttl=1.0, prefix=prefix)
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
        assert await locks.try_acquire("ses_k") is None  # alive: renewed
        await asyncio.sleep(1.2)
        assert await locks.try_acquire("ses_k") is None  # still renewed past one TTL
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        lock = await locks.acquire("ses_k", wait=True, timeout=3)  # expires within the TTL
        await lock.release()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await locks.aclose()


async def test_redis_lock_renew_reports_a_lost_lock(redis_url: str) -> None:
    prefix = f"roost-test:{secrets.token_hex(4)}:"
    locks = RedisSessionLocks(redis_url, ttl=5.0, prefix=prefix)
    try:
        held = await locks.acquire("ses_l", wait=False)
        from redis.asyncio import Redis

        admin = Redis.from_url(redis_url)
        await admin.delete(prefix + "ses_l")  # e.g. an operator flushed Redis
        await admin.aclose()
        with pytest.raises(LockLost):
            await held.renew()  # type: ignore[attr-defined]
        assert held.lost
        await held.release()
    finally:
        await locks.aclose()


async def test_factory_picks_backend_from_settings(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roost.core import get_settings

    assert isinstance(locks_from_settings(), LocalSessionLocks)
    monkeypatch.setenv("ROOST_REDIS_URL", redis_url)
    get_settings.cache_clear()
    redis_locks = locks_from_settings()
    assert isinstance(redis_locks, RedisSessionLocks)
    await redis_locks.aclose()


async def test_cancelled_acquire_and_release_never_leave_a_session_locked(
    locks: SessionLocks,
) -> None:
    for i in range(10):
        task = asyncio.create_task(locks.acquire("ses_c", wait=False))
        await asyncio.sleep(0.001 * i)
        task.cancel()
        done = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(done[0], BaseException):
            release = asyncio.create_task(done[0].release())
            await asyncio.sleep(0)
            release.cancel()
            await asyncio.gather(release, return_exceptions=True)
        assert not await locks.is_locked("ses_c")
