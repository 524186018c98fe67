"""Retention on a long-lived store: does the database stop growing once the ages pass?

Writes ``--runs`` persisted runs through the real store, as the server writes them (a
new session, the run with its input, three partial flushes of events, the final flush
with reply, agent state and status; four spans as roost.observe would), from
``--workers`` concurrent writers at a steady ``--rate``, while the :class:`~roost.store.retention.RetentionJob`
prunes with short ages. Every ``--every`` runs it prints the database's size (SQLite:
file + WAL, and free pages; PostgreSQL: the tables' total relation size) and the rows
left; at the end, how much the size still grew after the ages had passed.

    python -m bench.retention                          # SQLite (sqlite3 backend)
    python -m bench.retention --no-retention           # the same without the job
    python -m bench.retention --backend sqlalchemy     # SQLite through SQLAlchemy
    ROOST_TEST_POSTGRES_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        python -m bench.retention --postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from roost.core import Msg, TextBlock, Usage
from roost.store import Store
from roost.store.retention import RetentionJob, RetentionPolicy
from roost.store.traces import SpanRecord

TABLES = ("sessions", "messages", "runs", "run_events", "agent_states", "spans")


async def one_run(store: Store, n: int) -> None:
    """What the server stores for one streamed run of a new conversation."""
    session = await store.create_session(app="bench", user_id=f"u{n % 50}")
    run = await store.create_run(
        session_id=session.id, status="running", inputs=[Msg.user(f"question {n} " * 8)]
    )
    reply = Msg.assistant("")
    text, seq = "", 0
    for _ in range(3):  # partial flushes while the reply streams
        events = []
        for _ in range(8):
            text += "token "
            events.append((seq, "text.delta", {"seq": seq, "delta": "token ", "run_id": run.id}))
            seq += 1
        reply = Msg(id=reply.id, role="assistant", content=[TextBlock(text=text)])
        await store.flush_run(run.id, events, reply, session_id=session.id)
    await store.flush_run(
        run.id,
        [(seq, "run.completed", {"seq": seq, "status": "succeeded"})],
        reply,
        partial=False,
        session_id=session.id,
        status="succeeded",
        usage=Usage(input_tokens=120, output_tokens=24),
        state=("bench", {"memory": [text]}),
    )
    start = time.time_ns()
    trace = secrets.token_hex(16)
    await store.insert_spans(
        [
            SpanRecord(
                trace_id=trace,
                span_id=secrets.token_hex(8),
                name=name,
                start_ns=start,
                end_ns=start + 1_000_000,
                run_id=run.id,
                session_id=session.id,
                attributes={"gen_ai.operation.name": name, "gen_ai.prompt": text[:200]},
            )
            for name in ("invoke_agent", "chat", "execute_tool", "chat")
        ]
    )


def _files(path: Path) -> dict[str, float]:
    wal = path.with_name(path.name + "-wal")
    return {
        "file MB": path.stat().st_size / 1e6,
        "wal MB": wal.stat().st_size / 1e6 if wal.exists() else 0.0,
    }


async def size_of(store: Store, path: Path | None) -> dict[str, Any]:
    """The database's size on disk (MB) and the rows of each table."""
    out: dict[str, Any] = {}
    if path is not None:
        out.update(_files(path))
        free = await store.backend.read(lambda tx: tx.rows("PRAGMA freelist_count"))
        out["free pages"] = next(iter(free[0].values()))
    else:
        sizes = " + ".join(f"pg_total_relation_size('{t}')" for t in TABLES)
        found = await store.backend.read(lambda tx: tx.rows(f"SELECT {sizes} AS bytes"))
        out["tables MB"] = int(found[0]["bytes"]) / 1e6
    counts = " ".join(f"(SELECT count(*) FROM {t}) AS {t}," for t in TABLES).rstrip(",")
    found = await store.backend.read(lambda tx: tx.rows(f"SELECT {counts}"))
    out.update({t: int(v) for t, v in found[0].items()})
    return out


async def bench(args: argparse.Namespace, url: str, path: Path | None, schema: str | None) -> None:
    store = await Store.open(url, schema=schema, backend=args.backend)
    age = timedelta(seconds=args.age)
    policy = RetentionPolicy(
        run_events=age, spans=age, sessions=2 * age, interval=timedelta(seconds=args.interval)
    )
    job = None if args.no_retention else asyncio.create_task(RetentionJob(store, policy).run())
    started = time.monotonic()
    counter = iter(range(args.runs))
    done = 0
    rows: list[dict[str, Any]] = []

    async def worker() -> None:
        nonlocal done
        for n in counter:
            await asyncio.sleep(started + n / args.rate - time.monotonic())  # a steady rate
            await one_run(store, n)
            done += 1

    async def report() -> None:
        while done < args.runs:
            await asyncio.sleep(0.05)
            if done >= (len(rows) + 1) * args.every or done >= args.runs:
                row = {"written": done, "s": time.monotonic() - started}
                row.update(await size_of(store, path))
                rows.append(row)
                print("  ".join(_cell(k, v) for k, v in row.items()), flush=True)

    await asyncio.gather(report(), *(worker() for _ in range(args.workers)))
    if job is not None:
        job.cancel()
    await store.close()
    size = "tables MB" if path is None else "file MB"
    settled = [r for r in rows if r["s"] > 2 * args.age + 2 * args.interval]
    if len(settled) >= 2:
        first, last = settled[0], settled[-1]
        grew = last[size] - first[size]
        print(
            f"\nafter the ages passed ({first['written']} → {last['written']} runs, "
            f"{last['s'] - first['s']:.0f} s): {size} {first[size]:.2f} → {last[size]:.2f} "
            f"({grew / first[size] * 100:+.1f} %); peak {max(r[size] for r in rows):.2f}"
        )


def _cell(key: str, value: Any) -> str:
    return f"{key} {value:,.2f}" if isinstance(value, float) else f"{key} {value:,}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=8, help="concurrent writers")
    parser.add_argument("--rate", type=float, default=200.0, help="runs per second, at most")
    parser.add_argument("--every", type=int, default=1000, help="runs between reports")
    parser.add_argument("--age", type=float, default=5.0, help="seconds events/spans are kept")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    parser.add_argument("--no-retention", action="store_true")
    parser.add_argument("--backend", choices=("auto", "sqlalchemy"), default="auto")
    parser.add_argument("--postgres", action="store_true", help="ROOST_TEST_POSTGRES_URL")
    args = parser.parse_args()
    print(
        f"{args.runs} runs ({args.rate:g}/s), {args.workers} writers,"
        f" ages: events and spans {args.age} s,"
        f" sessions {2 * args.age} s, a pass every {args.interval} s"
        + (" — RETENTION OFF" if args.no_retention else ""),
        flush=True,
    )
    if args.postgres:
        url = os.environ.get("ROOST_TEST_POSTGRES_URL")
        if not url:
            raise SystemExit("set ROOST_TEST_POSTGRES_URL for --postgres")
        asyncio.run(_on_postgres(args, url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "retention.db"
        asyncio.run(bench(args, f"sqlite:///{path}", path, None))


async def _on_postgres(args: argparse.Namespace, url: str) -> None:
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        await bench(args, url, None, schema)
    finally:
        async with await Store.open(url, migrate=False) as admin:
            await admin.backend.write(lambda tx: tx.run(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
