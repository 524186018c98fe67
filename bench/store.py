"""Store write/read throughput on SQLite and PostgreSQL.

Measures what the server does per streamed run: ``flush_run`` (a batch of events plus
the partial reply upsert in one transaction), single-message appends, event reads for
SSE resume, and SQLite ``synchronous=NORMAL`` against ``FULL`` side by side.

    python bench/store.py                       # SQLite only
    ROOST_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python bench/store.py --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from roost.core import Msg, TextBlock
from roost.store import Store
from roost.store._engine import normalize_url


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
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

    n_msgs = runs * batches

    async def appends() -> None:
        for i in range(n_msgs):
            await store.append_messages(session.id, [Msg.user(f"message {i}")])

    out["append_messages(1)/s"] = n_msgs / await _timed(appends)

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


def _force_full_sync(store: Store) -> None:
    @event.listens_for(store.engine.sync_engine, "connect")
    def _full(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", action="store_true", help="also bench PostgreSQL")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20, help="flushes per run")
    parser.add_argument("--batch", type=int, default=25, help="events per flush")
    args = parser.parse_args()
    kw = {"runs": args.runs, "batches": args.batches, "batch": args.batch}
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        for label, full in (("sqlite NORMAL", False), ("sqlite FULL", True)):
            path = Path(tmp) / f"{label.replace(' ', '_')}.db"
            store = await Store.open(f"sqlite+aiosqlite:///{path}")
            if full:
                await store.engine.dispose()
                _force_full_sync(store)
            results[label] = await _scenario(store, **kw)
            await store.close()

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
            engine = create_async_engine(normalize_url(url))
            async with engine.begin() as conn:
                await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            await engine.dispose()

    labels = list(results)
    metrics = list(next(iter(results.values())))
    print(f"{'metric':32}" + "".join(f"{label:>16}" for label in labels))
    for metric in metrics:
        print(f"{metric:32}" + "".join(f"{results[lb][metric]:>16,.0f}" for lb in labels))
    print(f"(runs={args.runs} batches={args.batches} batch={args.batch})")


if __name__ == "__main__":
    asyncio.run(main())
