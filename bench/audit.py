"""The audit trail's targets (issue 20):

    python -m bench.audit append [--n 100000] [--postgres URL]
    python -m bench.audit verify [--n 1000000]          # also times the export of one user
    python -m bench.audit server [--pairs 3]            # CPU per streamed run, audit on/off

``append``: records through ``AuditLog.record`` from 500 concurrent producers (each
awaits its own commit: group commit within the durability guarantee) on a SQLite file,
and on PostgreSQL with ``--postgres``. ``verify``: fills a SQLite file with ``--n``
records (100 users), then times ``verify`` and the export of one user. ``server``:
bench.apps.roost on a file store with ``ROOST_AUDIT=1`` and ``=0`` in alternating pairs
(compare.py's quick plan), server CPU per run from /proc (decision 0083).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from roost.govern.audit import AuditEntry, AuditLog, ChainPolicy, Signer, verify
from roost.govern.audit.query import AuditQuery, export
from roost.store import Store


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _entry(i: int) -> AuditEntry:
    return AuditEntry(
        "model.call",
        tenant_id="t1",
        user_id=f"user{i % 100}",
        key_id="key_bench",
        client="127.0.0.1",
        resource_type="model",
        resource_id="openai:gpt-4o-mini",
        run_id=f"run_{i // 5}",
        session_id=f"ses_{i // 50}",
        detail={
            "model": "openai:gpt-4o-mini",
            "prompt_digest": "sha256:" + "ab" * 32,
            "completion_digest": "sha256:" + "cd" * 32,
            "usage": {"input_tokens": 812, "output_tokens": 64},
        },
    )


async def _append(url: str, n: int, schema: str | None) -> None:
    store = await Store.open(url, schema=schema)
    log = AuditLog(store, ChainPolicy(signer=Signer.generate()))
    producers = 500
    per = n // producers

    async def producer(p: int) -> None:
        for i in range(per):
            await log.record(_entry(p * per + i))

    await log.record(_entry(0))  # the chain's head exists
    t0, c0 = time.perf_counter(), _cpu()
    await asyncio.gather(*(producer(p) for p in range(producers)))
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    done = per * producers
    print(
        f"{store.dialect}: {done} records in {wall:.2f} s = {done / wall:,.0f} records/s "
        f"({done / cpu:,.0f} per CPU-second of this process)"
    )
    report = await verify(store)
    assert report.ok and report.records == done + 1, report.problem
    await store.close()


async def _verify(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="roost-bench-audit-") as tmp:
        store = await Store.open(f"sqlite:///{Path(tmp) / 'audit.db'}")
        signer = Signer.generate()
        log = AuditLog(store, ChainPolicy(signer=signer))
        t0 = time.perf_counter()
        batch = 10_000
        for start in range(0, n, batch):
            await log.record_many([_entry(i) for i in range(start, min(n, start + batch))])
        fill = time.perf_counter() - t0
        print(f"filled {n:,} records in {fill:.1f} s ({n / fill:,.0f}/s in batches of {batch:,})")
        size = (Path(tmp) / "audit.db").stat().st_size / 1e6
        t0, c0 = time.perf_counter(), _cpu()
        report = await verify(store, verifier=signer.verifier)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        assert report.ok and report.records == n, report.problem
        print(
            f"verify {n:,} records: {wall:.2f} s wall, {cpu:.2f} s CPU "
            f"({report.checkpoints} checkpoints checked; database {size:.0f} MB)"
        )
        t0 = time.perf_counter()
        rows = [r async for r in export(store, AuditQuery(user_id="user42"))]
        wall = time.perf_counter() - t0
        print(f"export one user ({len(rows):,} of {n:,} records): {wall:.3f} s")
        t0 = time.perf_counter()
        since = rows[len(rows) // 2].at_us
        half = [r async for r in export(store, AuditQuery(user_id="user42", since_us=since))]
        print(
            f"export one user since a time ({len(half):,} records): {time.perf_counter() - t0:.3f} s"
        )
        await store.close()


def _server(pairs: int) -> None:
    from bench.compare import Plan, measure_server
    from bench.harness import fake_model_server
    from bench.sides import roost_side

    base = roost_side(store="disk")
    sides = [
        dataclasses.replace(
            base, name="roost[disk,audit off]", env={**base.env, "ROOST_AUDIT": "0"}
        ),
        dataclasses.replace(
            base, name="roost[disk,audit on]", env={**base.env, "ROOST_AUDIT": "1"}
        ),
    ]
    plan = Plan(quick=True, soak=None)
    logs = Path(tempfile.mkdtemp(prefix="roost-bench-audit-"))
    cpu: dict[str, list[float]] = {s.name: [] for s in sides}
    c20: dict[str, list[float]] = {s.name: [] for s in sides}
    with fake_model_server() as model_url:
        for i in range(pairs):
            for side in sides:
                r = measure_server(
                    side, model_url, plan, soak=False, log=logs / f"{i}-{side.name}.log"
                )
                cpu[side.name].append(r["cpu_ms_per_run"])
                c20[side.name].append(r["cpu_ms_per_run_c20"])
                print(
                    f"pair {i + 1} {side.name:22s} CPU {r['cpu_ms_per_run']:.2f} ms/run sequential, "
                    f"{r['cpu_ms_per_run_c20']:.2f} ms/run at c20, tracebacks {r['server_tracebacks']}",
                    flush=True,
                )
    off, on = (s.name for s in sides)
    for label, data in (("sequential", cpu), ("c20", c20)):
        ratios = [b / a for a, b in zip(data[off], data[on], strict=True)]
        print(
            f"{label}: median {statistics.median(data[off]):.2f} → {statistics.median(data[on]):.2f} "
            f"ms/run; audit on/off per pair {', '.join(f'{r:.3f}' for r in ratios)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("append")
    a.add_argument("--n", type=int, default=100_000)
    a.add_argument("--postgres", default=None, help="an asyncpg URL (a scratch schema is used)")
    v = sub.add_parser("verify")
    v.add_argument("--n", type=int, default=1_000_000)
    s = sub.add_parser("server")
    s.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    if args.what == "append":
        with tempfile.TemporaryDirectory(prefix="roost-bench-audit-") as tmp:
            asyncio.run(_append(f"sqlite:///{Path(tmp) / 'audit.db'}", args.n, None))
        if args.postgres:
            asyncio.run(_append(args.postgres, args.n, f"bench_audit_{secrets.token_hex(4)}"))
    elif args.what == "verify":
        asyncio.run(_verify(args.n))
    else:
        _server(args.pairs)


if __name__ == "__main__":
    main()
