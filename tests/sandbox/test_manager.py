"""SandboxManager and SandboxPool: session binding, warm pool, reaping, health, and
orphan reaping after a real crash of the process that owned the sandboxes."""

# ruff: noqa: ASYNC220, ASYNC240 - host-side checks in tests/benchmarks block on purpose

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from roost.sandbox import (
    SandboxBackendUnknown,
    SandboxManager,
    SandboxPool,
    SandboxPoolExhausted,
    SandboxSpec,
    SandboxStatus,
    create_sandbox,
    release_session,
)
from roost.sandbox.bindings import InMemorySandboxBindingStore
from roost.store import Store


async def test_same_session_gets_the_same_sandbox_with_state() -> None:
    async with SandboxManager(pool_size=1) as manager:
        first = await manager.acquire("s1")
        await first.run_python("counter = 1")
        again = await manager.acquire("s1")
        assert again is first
        assert (await again.run_python("counter + 1")).result == "2"
        other = await manager.acquire("s2")
        assert other is not first
        assert (await other.run_python("'counter' in globals()")).result == "False"
        binding = await manager.bindings.find("s1", "base")
        assert binding is not None and binding.sandbox_id == first.id
        assert binding.detail["workdir"]


async def test_release_session_closes_it_in_every_running_manager() -> None:
    async with SandboxManager(pool_size=0) as one, SandboxManager(pool_size=0) as two:
        gone = [await one.acquire("s1"), await two.acquire("s1")]
        kept = await one.acquire("s2")
        assert await release_session("s1") == 2
        assert all(s.info().status is SandboxStatus.CLOSED for s in gone)
        assert one.get("s1") is None and two.get("s1") is None and one.get("s2") is kept
    assert await release_session("s2") == 0  # closed managers are not asked


async def test_warm_pool_hands_out_started_sandboxes_and_refills() -> None:
    pool = SandboxPool(SandboxSpec(), size=2)
    await pool.start()
    try:
        assert pool.warm == 2
        sandbox = await pool.acquire()
        assert sandbox.info().status is SandboxStatus.READY
        for _ in range(200):
            if pool.warm == 2:
                break
            await asyncio.sleep(0.05)
        assert pool.warm == 2
        await sandbox.close()
    finally:
        await pool.aclose()
    assert pool.warm == 0


async def test_pool_replaces_a_dead_warm_sandbox_without_an_acquire() -> None:
    pool = SandboxPool(SandboxSpec(), size=1, health_interval=0.1)
    await pool.start()
    try:
        victim = pool._warm[0]
        pids = _cgroup_pids(victim.info().detail["cgroups"])
        assert pids
        for pid in pids:
            os.kill(pid, 9)  # the kernel and bwrap die behind the pool's back
        for _ in range(300):
            if pool.replaced == 1 and pool.warm == 1 and pool._warm[0] is not victim:
                break
            await asyncio.sleep(0.05)
        assert pool.replaced == 1
        assert victim.info().status is SandboxStatus.CLOSED
        fresh = pool._warm[0]
        assert fresh is not victim and fresh.info().status is SandboxStatus.READY
        assert (await fresh.run_python("6 * 7")).result == "42"
        assert await pool.check_health() == 0  # a healthy pool is left alone
    finally:
        await pool.aclose()


def test_pool_rejects_a_bad_health_interval() -> None:
    with pytest.raises(ValueError, match="health_interval"):
        SandboxPool(SandboxSpec(), health_interval=0)


async def test_release_closes_the_sandbox_and_forgets_the_binding() -> None:
    async with SandboxManager(pool_size=0) as manager:
        sandbox = await manager.acquire("s1")
        workdir = sandbox.info().detail["workdir"]
        assert await manager.release("s1") == 1
        assert sandbox.info().status is SandboxStatus.CLOSED
        assert not Path(workdir).exists()
        assert await manager.bindings.find("s1", "base") is None
        fresh = await manager.acquire("s1")
        assert fresh.id != sandbox.id


async def test_idle_ttl_and_max_lifetime_reaping() -> None:
    manager = SandboxManager(pool_size=0, idle_ttl=0.3, max_lifetime=60, reap_interval=0.1)
    async with manager:
        idle = await manager.acquire("idle")
        busy = await manager.acquire("busy")
        for _ in range(8):
            await asyncio.sleep(0.1)
            await busy.run_python("1")
            await manager.acquire("busy")
        assert idle.info().status is SandboxStatus.CLOSED
        assert busy.info().status is not SandboxStatus.CLOSED
        assert any(e["event"] == "idle_ttl" and e["sandbox_id"] == idle.id for e in manager.events)
        manager.max_lifetime = 0.0
        assert busy.id in await manager.reap_once()
        assert busy.info().status is SandboxStatus.CLOSED


async def test_dead_sandbox_is_detected_and_replaced() -> None:
    async with SandboxManager(pool_size=0, reap_interval=3600) as manager:
        sandbox = await manager.acquire("s1")
        await sandbox.close()  # killed behind the manager's back
        await manager.reap_once()
        assert any(e["event"] == "dead" for e in manager.events)
        replacement = await manager.acquire("s1")
        assert replacement.id != sandbox.id
        assert (await replacement.run_python("2 + 2")).result == "4"
        # A kernel killed from outside is reported DEAD by the health check.
        pids = _cgroup_pids(replacement.info().detail["cgroups"])
        assert pids
        for pid in pids:
            # killing the namespace's first process takes the rest with it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        assert await replacement.health() is SandboxStatus.DEAD
        assert replacement.info().detail.get("last_death")


async def test_max_sandboxes_is_enforced() -> None:
    async with SandboxManager(pool_size=0, max_sandboxes=1) as manager:
        await manager.acquire("a")
        with pytest.raises(SandboxPoolExhausted):
            await manager.acquire("b")


def test_unknown_backend_is_a_typed_error() -> None:
    with pytest.raises(SandboxBackendUnknown) as err:
        create_sandbox(backend="nope")
    assert "bwrap" in (err.value.hint or "")


_CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    from roost.sandbox import SandboxManager
    from roost.store import Store
    async def main():
        store = await Store.open(sys.argv[1])
        manager = SandboxManager(pool_size=0, bindings=store.sandbox_bindings)
        await manager.start()
        sb = await manager.acquire("crash-session")
        await sb.run_shell("setsid sleep 600 >/dev/null 2>&1 &")
        print(sb.id, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
    """
)


async def test_orphans_of_a_crashed_manager_are_reaped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roost.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        sandbox_id = (await asyncio.to_thread(proc.stdout.readline)).strip()
        assert sandbox_id.startswith("sbx_")
    finally:
        proc.kill()  # a crash: no cleanup code runs
        proc.wait()
    store = await Store.open(url)
    try:
        bindings = store.sandbox_bindings
        orphan = await bindings.get(sandbox_id)
        assert orphan is not None
        workdir = Path(orphan.detail["workdir"])
        cgroups = orphan.detail["cgroups"]
        assert workdir.exists() and all(Path(c).exists() for c in cgroups)
        manager = SandboxManager(pool_size=0, bindings=bindings)
        reaped = await manager.start()
        try:
            assert reaped == [sandbox_id]
            assert not workdir.exists()
            assert not any(Path(c).exists() for c in cgroups)
            assert await bindings.get(sandbox_id) is None
        finally:
            await manager.aclose()
    finally:
        await store.close()


async def test_sql_binding_store_round_trip(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    try:
        await _exercise_binding_store(store.sandbox_bindings)
    finally:
        await store.close()


async def test_sql_binding_store_on_postgres(postgres_url: str) -> None:
    schema = f"sbx_{os.getpid()}_{int(time.time())}"
    store = await Store.open(postgres_url, schema=schema)
    try:
        await _exercise_binding_store(store.sandbox_bindings)
    finally:
        async with store.engine.begin() as conn:
            from sqlalchemy import text

            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await store.close()


async def test_memory_binding_store_round_trip() -> None:
    await _exercise_binding_store(InMemorySandboxBindingStore())


async def _exercise_binding_store(store: object) -> None:
    from roost.sandbox import SandboxBinding, SandboxBindingStore

    assert isinstance(store, SandboxBindingStore)
    a = SandboxBinding(
        sandbox_id="sbx_a", session_id="s", backend="bwrap", owner="h:1:x", detail={"workdir": "/w"}
    )
    b = SandboxBinding(
        sandbox_id="sbx_b", session_id="t", type="browser", backend="bwrap", owner="h:2:y"
    )
    await store.put(a)
    await store.put(b)
    found = await store.find("s", "base")
    assert found is not None and found.detail == {"workdir": "/w"}
    assert await store.find("s", "browser") is None
    assert [x.sandbox_id for x in await store.list_bindings(owner="h:2:y")] == ["sbx_b"]
    await store.touch("sbx_a", 123.0)
    got = await store.get("sbx_a")
    assert got is not None and got.last_used_at == 123.0
    await store.put(a.model_copy(update={"session_id": "s2"}))
    assert (await store.find("s2", "base")) is not None and await store.find("s", "base") is None
    await store.remove("sbx_a")
    assert await store.get("sbx_a") is None
    assert len(await store.list_bindings()) == 1


def _cgroup_pids(paths: list[str]) -> set[int]:
    pids: set[int] = set()
    for path in paths:
        pids.update(int(p) for p in Path(path, "cgroup.procs").read_text().split())
    return pids
