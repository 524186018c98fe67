"""Trace store write throughput: spans/s into SQLite (and PostgreSQL when configured).

    python -m bench.observe [--spans 20000] [--batch 512] [--postgres URL]

Two measurements per database, each on a fresh, migrated store:
- ``exporter``: ``LocalStoreSpanExporter.export`` fed pre-built SDK spans in batches —
  the SQL path alone (conversion + one executemany per batch);
- ``pipeline``: spans created through the OTel API with ``setup_tracing(store=...)``
  (RunContextSpanProcessor, content filter, BatchSpanProcessor, exporter) until the last
  one is in the table — what an app pays end to end.
Target (issue 6): the store writes >= 5,000 spans/s.

Each line reports the wall-clock rate and the rate per CPU-second of this process
(``time.process_time``, all threads): on a shared, loaded machine the second is the
better estimate of what one idle core sustains (for SQLite all the work is in-process;
for PostgreSQL the server's own CPU is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from roost.observe import LocalStoreSpanExporter, run_context, setup_tracing, shutdown_tracing
from roost.store import Store


class _Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list = []

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _make_spans(n: int) -> list:
    """Realistic spans: a run root, chat spans with GenAI attributes, tool spans."""
    collect = _Collect()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(collect))
    tracer = provider.get_tracer("bench")
    made = 0
    while made < n:
        with tracer.start_as_current_span(
            "invoke_agent bench",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "bench",
                "roost.run_id": f"run_{made}",
                "roost.session_id": "ses_bench",
                "roost.user_id": "u1",
            },
        ):
            for i in range(4):
                op = "chat" if i % 2 == 0 else "execute_tool"
                with tracer.start_as_current_span(
                    f"{op} x",
                    attributes={
                        "gen_ai.operation.name": op,
                        "gen_ai.request.model": "qwen-plus",
                        "gen_ai.usage.input_tokens": 1200,
                        "gen_ai.usage.output_tokens": 150,
                        "gen_ai.tool.name": "search",
                        "roost.run_id": f"run_{made}",
                    },
                ):
                    pass
        made += 5
    return collect.spans[:n]


async def _count(store: Store) -> int:
    from sqlalchemy import text

    async with store.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM spans"))).scalar() or 0)


async def bench_exporter(store: Store, spans: list, batch: int) -> tuple[float, float]:
    exporter = LocalStoreSpanExporter(store)
    try:
        exporter.export(spans[:batch])  # warm the engine
        exporter.force_flush()
        start, cpu = time.perf_counter(), time.process_time()

        def run() -> None:
            for i in range(batch, len(spans), batch):
                exporter.export(spans[i : i + batch])
            exporter.force_flush()

        await asyncio.to_thread(run)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        exporter.shutdown()
    assert await _count(store) == len(spans)
    n = len(spans) - batch
    return n / elapsed, n / cpu


async def bench_pipeline(store: Store, n: int, batch: int) -> tuple[float, float]:
    provider = setup_tracing(store=store, max_export_batch_size=batch, schedule_delay_millis=100)
    tracer = trace.get_tracer("bench")
    start, cpu = time.perf_counter(), time.process_time()

    def run() -> None:
        made = 0
        while made < n:
            with (
                run_context(run_id=f"run_{made}", session_id="ses"),
                tracer.start_as_current_span(
                    "invoke_agent bench", attributes={"gen_ai.operation.name": "invoke_agent"}
                ),
            ):
                for _ in range(4):
                    with tracer.start_as_current_span(
                        "chat qwen-plus",
                        attributes={
                            "gen_ai.operation.name": "chat",
                            "gen_ai.request.model": "qwen-plus",
                            "gen_ai.usage.input_tokens": 1200,
                            "gen_ai.usage.output_tokens": 150,
                        },
                    ):
                        pass
            made += 5
        provider.force_flush(120_000)

    await asyncio.to_thread(run)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    shutdown_tracing()
    count = await _count(store)
    dropped = n - count
    if dropped:
        print(f"  (pipeline dropped {dropped} spans: queue full)")
    return count / elapsed, count / cpu


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--postgres", default=os.environ.get("ROOST_TEST_POSTGRES_URL"))
    args = ap.parse_args()
    spans = _make_spans(args.spans)
    targets: list[tuple[str, str, str | None]] = []
    tmp = Path(tempfile.mkdtemp(prefix="roost-bench-observe-"))
    targets.append(("sqlite", f"sqlite+aiosqlite:///{tmp / 'a.db'}", None))
    targets.append(("sqlite", f"sqlite+aiosqlite:///{tmp / 'b.db'}", None))
    if args.postgres:
        targets.append(("postgresql", args.postgres, f"bench_{uuid.uuid4().hex[:8]}"))
        targets.append(("postgresql", args.postgres, f"bench_{uuid.uuid4().hex[:8]}"))
    print(f"spans={args.spans} batch={args.batch}")
    for i, (name, url, schema) in enumerate(targets):
        store = await Store.open(url, schema=schema)
        try:
            if i % 2 == 0:
                wall, per_cpu = await bench_exporter(store, spans, args.batch)
                kind = "exporter"
            else:
                wall, per_cpu = await bench_pipeline(store, args.spans, args.batch)
                kind = "pipeline"
            print(f"{name:10s} {kind}  {wall:8,.0f} spans/s wall  {per_cpu:8,.0f} spans/CPU-s")
        finally:
            if schema:
                from sqlalchemy import text

                async with store.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
