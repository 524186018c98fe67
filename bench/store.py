"""Store write/read throughput on each backend: SQLite on ``sqlite3`` (the default),
SQLite through SQLAlchemy (aiosqlite), and PostgreSQL.

Measures what the server does per streamed run: ``flush_run`` (a batch of events plus
the partial reply upsert in one transaction), single-message appends, event reads for
SSE resume, and SQLite ``synchronous=NORMAL`` against ``FULL`` in alternating rounds.

    python -m bench.store                       # SQLite only
    ROOST_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python -m bench.store --postgres
    ROOST_TEST_REDIS_URL=redis://127.0.0.1:6379/0 python -m bench.store --redis
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from roost.core import Msg, TextBlock
from roost.store import Store
from roost.store.backends.sqlalchemy import parse_url
from roost.store.backends.sqlite import SqliteBackend

_cpu: list[float] = []


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    """Wall time of ``fn``; its process CPU time (all threads) goes to ``_cpu``."""
    cpu = time.process_time()
    start = time.perf_counter()
    await fn()
    _cpu.append(time.process_time() - cpu)
    return time.perf_counter() - start


async def _scenario(store: Store, *, runs: int, batches: int, batch: int) -> dict[str, float]:
    session = await store.create_session(app="bench")
    out: dict[str, float] = {}

    async def flushes() -> None:
        for _ in range(runs):
            run = await store.create_run(session_id=session.id, status="running")
            reply = Msg.assistant("")
            text = ""
            seq = 0
            for _ in range(batches):
                events = []
                for _ in range(batch):
                    text += "tok "
                    events.append((seq, "text.delta", {"delta": "tok ", "msg_id": reply.id}))
                    seq += 1
                reply = Msg(id=reply.id, role="assistant", content=[TextBlock(text=text)])
                await store.flush_run(run.id, events, reply)
            await store.flush_run(run.id, [], reply, partial=False, status="succeeded")

    elapsed = await _timed(flushes)
    n_flush = runs * batches
    out["flush_run/s"] = n_flush / elapsed
    out["events/s (via flush_run)"] = n_flush * batch / elapsed
    out["CPU µs per flush_run"] = _cpu[-1] / n_flush * 1e6

    n_msgs = runs * batches

    async def appends() -> None:
        for i in range(n_msgs):
            await store.append_messages(session.id, [Msg.user(f"message {i}")])

    out["append_messages(1)/s"] = n_msgs / await _timed(appends)
    out["CPU µs per append"] = _cpu[-1] / n_msgs * 1e6

    page = await store.list_runs(session_id=session.id, limit=runs)
    run_ids = [r.id for r in page.items]

    async def reads() -> None:
        for rid in run_ids:
            await store.list_events(rid, after_seq=batch * batches // 2)

    out["list_events(resume half)/s"] = len(run_ids) / await _timed(reads)

    async def history() -> None:
        for _ in range(runs):
            await store.latest_messages(session.id, limit=50)

    out["latest_messages(50)/s"] = runs / await _timed(history)
    return out


class _FullSync(SqliteBackend):
    """The sqlite3 backend with ``synchronous=FULL`` (an fsync at every commit)."""

    def connect(self) -> sqlite3.Connection:
        conn = super().connect()
        conn.execute("PRAGMA synchronous=FULL")
        return conn


async def _sync_compare(tmp: str, rounds: int, per_round: int) -> dict[str, float]:
    """Alternate NORMAL and FULL rounds of one-message appends, so that the machine's
    load hits both alike; report the median commits/s of each."""
    stores: dict[str, Store] = {}
    sessions: dict[str, str] = {}
    for label, full in (("NORMAL", False), ("FULL", True)):
        path = Path(tmp) / f"sync_{label}.db"
        store = await Store.open(f"sqlite:///{path}")  # creates the schema
        if full:
            await store.close()
            store = Store(_FullSync(path), f"sqlite:///{path}")
        stores[label] = store
        sessions[label] = (await store.create_session(app="bench")).id
    rates: dict[str, list[float]] = {label: [] for label in stores}
    for _ in range(rounds):
        for label, store in stores.items():

            async def appends(store: Store = store, sid: str = sessions[label]) -> None:
                for i in range(per_round):
                    await store.append_messages(sid, [Msg.user(f"m{i}")])

            rates[label].append(per_round / await _timed(appends))
    for store in stores.values():
        await store.close()
    return {label: statistics.median(r) for label, r in rates.items()}


async def _coordination(redis_url: str | None, n: int) -> dict[str, dict[str, float]]:
    """Lock acquire+release and bus publish->receive rates, in-process vs Redis."""
    from roost.store import (
        EventBus,
        LocalEventBus,
        LocalSessionLocks,
        RedisEventBus,
        RedisSessionLocks,
        SessionLocks,
    )

    backends: list[tuple[str, SessionLocks, EventBus]] = [
        ("in-process", LocalSessionLocks(), LocalEventBus(max_pending=n + 1))
    ]
    if redis_url:
        prefix = f"bench-{secrets.token_hex(4)}:"
        backends.append(
            (
                "redis",
                RedisSessionLocks(redis_url, prefix=prefix),
                RedisEventBus(redis_url, prefix=prefix, max_pending=n + 1),
            )
        )
    out: dict[str, dict[str, float]] = {}
    for label, locks, bus in backends:
        row: dict[str, float] = {}

        async def lock_cycle(locks: SessionLocks = locks) -> None:
            for i in range(n):
                lock = await locks.acquire(f"ses_{i % 10}", wait=False)
                await lock.release()

        row["lock acquire+release/s"] = n / await _timed(lock_cycle)

        async def pubsub(bus: EventBus = bus) -> None:
            async with bus.subscribe("run:bench") as sub:
                for i in range(n):
                    await bus.publish("run:bench", f'{{"seq": {i}}}')
                for _ in range(n):
                    await sub.get(timeout=30)

        row["bus publish->receive msgs/s"] = n / await _timed(pubsub)
        out[label] = row
        await locks.aclose()
        await bus.aclose()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also bench PostgreSQL")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20, help="flushes per run")
    parser.add_argument("--batch", type=int, default=25, help="events per flush")
    parser.add_argument("--sync-rounds", type=int, default=7, help="NORMAL/FULL rounds")
    parser.add_argument("--redis", action="store_true", help="also bench Redis locks/bus")
    args = parser.parse_args()
    kw = {"runs": args.runs, "batches": args.batches, "batch": args.batch}
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        for label, choice in (("sqlite3", "sqlite3"), ("sqlalchemy-sqlite", "sqlalchemy")):
            url = f"sqlite:///{Path(tmp) / f'{label}.db'}"
            store = await Store.open(url, backend=choice)  # type: ignore[arg-type]
            results[label] = await _scenario(store, **kw)
            await store.close()
        sync = await _sync_compare(tmp, args.sync_rounds, 100)

    if args.postgres:
        url = os.environ.get("ROOST_TEST_POSTGRES_URL")
        if not url:
            raise SystemExit("set ROOST_TEST_POSTGRES_URL for --postgres")
        schema = f"bench_{secrets.token_hex(4)}"
        store = await Store.open(url, schema=schema)
        try:
            results["postgresql"] = await _scenario(store, **kw)
        finally:
            await store.close()
            engine = create_async_engine(parse_url(url))
            async with engine.begin() as conn:
                await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            await engine.dispose()

    redis_url = os.environ.get("ROOST_TEST_REDIS_URL") if args.redis else None
    if args.redis and not redis_url:
        raise SystemExit("set ROOST_TEST_REDIS_URL for --redis")
    coordination = await _coordination(redis_url, 2000)

    labels = list(results)
    metrics = list(next(iter(results.values())))
    print(f"{'metric':32}" + "".join(f"{label:>20}" for label in labels))
    for metric in metrics:
        print(f"{metric:32}" + "".join(f"{results[lb][metric]:>20,.0f}" for lb in labels))
    print(f"(runs={args.runs} batches={args.batches} batch={args.batch})")
    print(
        "sqlite commits/s (one-message appends, median of alternating rounds): "
        + ", ".join(f"synchronous={k}: {v:,.0f}" for k, v in sync.items())
        + f"; FULL/NORMAL = {sync['FULL'] / sync['NORMAL']:.2f}"
    )
    print()
    clabels = list(coordination)
    print(f"{'coordination':32}" + "".join(f"{label:>20}" for label in clabels))
    for metric in next(iter(coordination.values())):
        print(f"{metric:32}" + "".join(f"{coordination[lb][metric]:>20,.0f}" for lb in clabels))


if __name__ == "__main__":
    asyncio.run(main())
