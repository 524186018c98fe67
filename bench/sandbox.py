"""Sandbox benchmarks: cold create, warm acquire, ``run_python("1+1")`` round trip,
and N concurrent base sandboxes all answering a cell.

Run: ``python bench/sandbox.py [--backend bwrap] [--concurrent 50] [--json]``.
Each benchmark is a plain async function so other sandbox types can add theirs.
"""

# ruff: noqa: ASYNC110 - host-side checks in tests/benchmarks block on purpose

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from roost.sandbox import SandboxManager, SandboxPool, SandboxSpec, create_sandbox


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 3),
        "min_ms": round(ordered[0], 3),
    }


async def bench_cold_create(backend: str = "bwrap", n: int = 20) -> dict[str, float]:
    """Time from ``create_sandbox`` to a started sandbox that answered its ready frame."""
    warm = create_sandbox(SandboxSpec(), backend)  # first start copies bwrap, compiles seccomp
    await warm.start()
    await warm.close()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox = create_sandbox(SandboxSpec(), backend)
        await sandbox.start()
        samples.append((time.perf_counter() - t0) * 1000)
        await sandbox.close()
    return _summary(samples)


async def bench_warm_acquire(backend: str = "bwrap", n: int = 20) -> dict[str, float]:
    """``SandboxManager.acquire`` for a new session while the warm pool has a sandbox."""
    samples = []
    async with SandboxManager(backend=backend, pool_size=1, reap_interval=3600) as manager:
        pool = manager._pool("base")
        for i in range(n):
            while pool.warm < 1:
                await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            await manager.acquire(f"bench-{i}")
            samples.append((time.perf_counter() - t0) * 1000)
            await manager.release(f"bench-{i}")
    return _summary(samples)


async def bench_pool_pop(backend: str = "bwrap", n: int = 20) -> dict[str, float]:
    """``SandboxPool.acquire`` alone (no session bookkeeping)."""
    samples = []
    pool = SandboxPool(SandboxSpec(), backend=backend, size=1)
    await pool.start()
    try:
        for _ in range(n):
            while pool.warm < 1:
                await asyncio.sleep(0.01)
            t0 = time.perf_counter()
            sandbox = await pool.acquire()
            samples.append((time.perf_counter() - t0) * 1000)
            await sandbox.close()
    finally:
        await pool.aclose()
    return _summary(samples)


async def bench_run_python(backend: str = "bwrap", n: int = 2000) -> dict[str, float]:
    """Round trip of ``run_python("1+1")`` on a started sandbox."""
    sandbox = create_sandbox(SandboxSpec(), backend)
    await sandbox.start()
    try:
        for _ in range(50):
            await sandbox.run_python("1+1")
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            res = await sandbox.run_python("1+1")
            samples.append((time.perf_counter() - t0) * 1000)
            assert res.result == "2"
    finally:
        await sandbox.close()
    return _summary(samples)


async def bench_concurrent(backend: str = "bwrap", count: int = 50) -> dict[str, Any]:
    """Start ``count`` sandboxes at once, run one cell in each, all must answer."""
    t0 = time.perf_counter()
    sandboxes = [create_sandbox(SandboxSpec(), backend) for _ in range(count)]
    started = await asyncio.gather(*(s.start() for s in sandboxes), return_exceptions=True)
    t_started = time.perf_counter()
    ok = [s for s, r in zip(sandboxes, started, strict=True) if r is None]
    results = await asyncio.gather(
        *(s.run_python(f"sum(range({i}))") for i, s in enumerate(sandboxes) if s in ok),
        return_exceptions=True,
    )
    t_done = time.perf_counter()
    answered = sum(
        1
        for i, r in enumerate(results)
        if not isinstance(r, BaseException) and r.result == str(sum(range(i)))
    )
    await asyncio.gather(*(s.close() for s in sandboxes), return_exceptions=True)
    return {
        "sandboxes": count,
        "started": len(ok),
        "answered": answered,
        "start_all_s": round(t_started - t0, 3),
        "cells_all_s": round(t_done - t_started, 3),
        "errors": [str(r) for r in started if r is not None][:3],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {
        "cold_create": await bench_cold_create(args.backend),
        "warm_acquire": await bench_warm_acquire(args.backend),
        "pool_pop": await bench_pool_pop(args.backend),
        "run_python_1+1": await bench_run_python(args.backend),
        "concurrent": await bench_concurrent(args.backend, args.concurrent),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, figures in report.items():
            print(f"{name:16} {figures}")


if __name__ == "__main__":
    asyncio.run(main())
