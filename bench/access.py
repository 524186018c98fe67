"""What tenants, roles and quotas cost a request (issue 21), in this process.

    python -m bench.access            # default sizes
    python -m bench.access --quick    # smoke run

- the permission check of every route: ``Principal.acting`` + ``can_access`` (µs);
- quota admission of a run, limits cached: a tenant without quotas, and one with
  ``runs_per_minute`` and ``tokens_per_day`` whose usage total is cached (µs);
- the same with the usage total read from SQLite every time (the cache missed; µs);
- key verification without the authenticator's cache: the keyed hash (HMAC-SHA256) and a
  legacy bare SHA-256, hash alone and the whole ``verify_api_key`` on SQLite (µs).

Each figure is the median of alternating blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def _per_call(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


async def _per_call_async(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - start) / calls * 1e6


async def run(calls: int, blocks: int) -> dict[str, float]:
    from roost.govern import Principal, QuotaGate
    from roost.store import Store
    from roost.store.api_keys import key_hasher

    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(f"sqlite:///{Path(tmp) / 'b.db'}")
        await store.create_tenant("free")
        await store.create_tenant("paid")
        await store.set_quota("paid", {"runs_per_minute": 10**9, "tokens_per_day": 10**12})
        free = Principal("k", "user", user_id="u", tenant_id="free")
        paid = Principal("k", "user", user_id="u", tenant_id="paid")
        cached = QuotaGate(store)
        uncached = QuotaGate(store)
        await cached.admit(paid, "run")
        plaintext, _ = await store.create_api_key("b", role="user", tenant_id="free")
        hasher = key_hasher()

        def check() -> None:
            p = free.acting("sessions.read")
            p.can_access("u", "free")

        async def uncached_admit() -> None:
            uncached._usage.clear()
            await uncached.admit(paid, "run")

        figures: dict[str, list[float]] = {}
        for _ in range(blocks):
            for name, value in (
                ("permission check", _per_call(check, calls)),
                (
                    "admit, no quotas",
                    await _per_call_async(lambda: cached.admit(free, "run"), calls),
                ),
                (
                    "admit, quotas cached",
                    await _per_call_async(lambda: cached.admit(paid, "run"), calls),
                ),
                ("admit, usage read", await _per_call_async(uncached_admit, calls // 10)),
                ("HMAC-SHA256 of a key", _per_call(lambda: hasher.digest(plaintext), calls)),
                (
                    "SHA-256 of a key",
                    _per_call(lambda: hashlib.sha256(plaintext.encode()).hexdigest(), calls),
                ),
                (
                    "verify_api_key (SQLite)",
                    await _per_call_async(lambda: store.verify_api_key(plaintext), calls // 10),
                ),
            ):
                figures.setdefault(name, []).append(value)
        await store.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, blocks = (2_000, 3) if args.quick else (20_000, 5)
    for name, us in asyncio.run(run(calls, blocks)).items():
        print(f"{name:28s} {us:9.2f} µs")


if __name__ == "__main__":
    main()
