"""Sandbox benchmarks: cold create (with its phases, and with the first cell), warm
acquire, ``run_python("1+1")`` round trip, and N concurrent base sandboxes all
answering a cell.

Run: ``python -m bench.sandbox [--backend bwrap] [--concurrent 50] [-n 20]
[--only cold_create,cold_phases] [--json]``.
Each benchmark is a plain async function so other sandbox types can add theirs.
"""

# ruff: noqa: ASYNC110, ASYNC220 - benchmarks block on purpose

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import time
from collections.abc import Awaitable, Callable
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


async def bench_cold_first_cell(backend: str = "bwrap", n: int = 20) -> dict[str, float]:
    """Cold create plus the first ``run_python("1+1")``: the kernel finishes the
    interpreter's ``site`` set-up after its ready frame, so the first cell may wait
    for it (decision 0034). This is what a session without a warm pool sees."""
    warm = create_sandbox(SandboxSpec(), backend)
    await warm.start()
    await warm.close()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox = create_sandbox(SandboxSpec(), backend)
        await sandbox.start()
        res = await sandbox.run_python("1+1")
        samples.append((time.perf_counter() - t0) * 1000)
        assert res.result == "2", res
        await sandbox.close()
    return _summary(samples)


async def bench_cold_phases(backend: str = "bwrap", n: int = 20) -> dict[str, float]:
    """Median ms of each phase of a cold start, from ``KernelSandbox.startup_ms``:
    uid lease, cgroup create, workdir tmpfs, seccomp fd, spawn (fork + preexec + exec of
    bwrap), launch -> kernel main (namespaces + interpreter start), kernel init,
    ready frame -> host."""
    warm = create_sandbox(SandboxSpec(), backend)
    await warm.start()
    await warm.close()
    phases: dict[str, list[float]] = {}
    for _ in range(n):
        t0 = time.perf_counter()
        sandbox = create_sandbox(SandboxSpec(), backend)
        await sandbox.start()
        phases.setdefault("total", []).append((time.perf_counter() - t0) * 1000)
        for name, ms in getattr(sandbox, "startup_ms", {}).items():
            phases.setdefault(name, []).append(ms)
        await sandbox.close()
    return {name: round(statistics.median(v), 3) for name, v in phases.items()}


async def bench_start_modes(n: int = 20) -> dict[str, dict[str, float]]:
    """Interpreter start inside one prepared bwrap sandbox, the modes interleaved sample
    by sample (so load swings hit them alike): time from spawn to the kernel's ready
    frame. ``-I -c source`` is how the kernel started before decision 0034."""
    import subprocess

    from roost.sandbox import BwrapSandbox
    from roost.sandbox.backends.bwrap import sandbox_python
    from roost.sandbox.backends.kernel_sandbox import compiled_kernel, kernel_source
    from roost.sandbox.isolation import privdrop, seccomp

    sandbox = BwrapSandbox(SandboxSpec())
    await sandbox._prepare()
    assert sandbox._lease is not None and sandbox._cgroup is not None
    python, binds = sandbox_python()
    pyc = compiled_kernel(python, privdrop.runtime_dir() / "kernel")
    modes = {
        "bwrap + /bin/true (exit)": (["/bin/true"], None),
        "-I -c kernel source": ([python, "-I", "-c", kernel_source()], None),
        "-I -S -c kernel source": ([python, "-I", "-S", "-c", kernel_source()], None),
        "-I -S kernel .pyc (default)": ([], pyc),
    }
    samples: dict[str, list[float]] = {name: [] for name in modes}
    preexec = privdrop.make_preexec(sandbox._lease, sandbox._cgroup.entry_files, {})
    try:
        for _ in range(n):
            for name, (program, compiled) in modes.items():
                passwd_fd = os.memfd_create("passwd")
                os.write(passwd_fd, b"sandbox:x:1000:1000::/workspace:/bin/sh\n")
                os.lseek(passwd_fd, 0, os.SEEK_SET)
                seccomp_fd = seccomp.filter_fd()
                host, kernel = socket.socketpair()
                argv = sandbox._kernel_argv(
                    python, binds, passwd_fd, seccomp_fd, compiled, kernel.fileno()
                )
                if program:
                    argv = sandbox._isolation_argv(binds, passwd_fd, seccomp_fd) + program
                    argv = [*argv, str(kernel.fileno())] if program[0] == python else argv
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    argv, pass_fds=(passwd_fd, seccomp_fd, kernel.fileno()), preexec_fn=preexec
                )
                kernel.close()
                await asyncio.to_thread(host.recv, 8)  # ready frame header (or EOF)
                samples[name].append((time.perf_counter() - t0) * 1000)
                host.close()  # EOF on the channel ends the kernel
                await asyncio.to_thread(proc.wait)
                os.close(passwd_fd)
                os.close(seccomp_fd)
    finally:
        await sandbox._teardown()
    return {name: _summary(v) for name, v in samples.items()}


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
    parser.add_argument("-n", type=int, default=20, help="samples per cold/warm benchmark")
    parser.add_argument(
        "--only", default="", help="comma-separated subset, e.g. cold_create,cold_phases"
    )
    args = parser.parse_args()
    benches: dict[str, Callable[[], Awaitable[Any]]] = {
        "cold_create": lambda: bench_cold_create(args.backend, args.n),
        "cold_first_cell": lambda: bench_cold_first_cell(args.backend, args.n),
        "cold_phases": lambda: bench_cold_phases(args.backend, args.n),
        "start_modes": lambda: bench_start_modes(args.n),
        "warm_acquire": lambda: bench_warm_acquire(args.backend, args.n),
        "pool_pop": lambda: bench_pool_pop(args.backend, args.n),
        "run_python_1+1": lambda: bench_run_python(args.backend),
        "concurrent": lambda: bench_concurrent(args.backend, args.concurrent),
    }
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - set(benches)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(benches)}")
    report: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    for name, run in benches.items():
        if not only or name in only:
            report[name] = await run()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, figures in report.items():
            print(f"{name:16} {figures}")


if __name__ == "__main__":
    asyncio.run(main())
