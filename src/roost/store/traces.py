"""SQL access for the local trace store: the ``spans`` table, batched inserts, queries.

The table is created by the Alembic revision ``0003_traces``; the OpenTelemetry
exporter in :mod:`roost.observe` writes through :func:`insert_spans` (one
``executemany`` per batch, so the store keeps up with thousands of spans per second).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Integer,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roost.store._engine import WRITE_OPTION, create_engine, normalize_url
from roost.store.schema import spans

spans_table = spans


@dataclass
class SpanRecord:
    """One finished span as stored; ``attributes`` and ``events`` are JSON-able."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    kind: str = "internal"
    status: str = "unset"
    status_message: str | None = None
    operation: str | None = None
    run_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    currency: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    service: str | None = None

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def to_row(self) -> dict[str, Any]:
        row = dict(self.__dict__)
        row["attributes"] = json.dumps(self.attributes, default=str, separators=(",", ":"))
        row["events"] = json.dumps(self.events, default=str, separators=(",", ":"))
        return row

    @classmethod
    def from_row(cls, row: Any) -> SpanRecord:
        data = dict(row._mapping)
        data["attributes"] = json.loads(data.get("attributes") or "{}")
        data["events"] = json.loads(data.get("events") or "[]")
        return cls(**data)


def trace_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine with the store's connection settings (WAL, busy timeout, search_path)."""
    return create_engine(normalize_url(url), schema=schema)


async def create_spans_table(conn: AsyncConnection) -> None:
    """Create the table outside Alembic (throw-away databases in benchmarks)."""
    await conn.run_sync(lambda sync: spans_table.create(sync, checkfirst=True))


_INSERT_SQL: dict[str, tuple[str, list[str]]] = {}


def _insert_sql(engine: AsyncEngine) -> tuple[str, list[str]]:
    """The INSERT in the driver's own paramstyle, compiled once per dialect."""
    name = engine.dialect.name
    cached = _INSERT_SQL.get(name)
    if cached is None:
        compiled = insert(spans_table).compile(dialect=engine.dialect)
        order = list(compiled.positiontup or [c.name for c in spans_table.columns])
        cached = _INSERT_SQL[name] = (str(compiled), order)
    return cached


SQLITE_ROWS_PER_TRANSACTION = 256
"""SQLite has one writer per file: short transactions keep the store's own writes waiting
only briefly behind a batch of spans."""


async def insert_spans(engine: AsyncEngine, spans: list[SpanRecord]) -> int:
    """Insert a batch (one transaction; on SQLite one per 256 rows); returns the row count.

    The statement goes to the driver's ``executemany`` directly (compiled once, rows as
    tuples): SQLAlchemy's per-row parameter processing would cost more than the write.
    """
    if not spans:
        return 0
    sql, order = _insert_sql(engine)
    rows = [tuple(row[c] for c in order) for row in (s.to_row() for s in spans)]
    step = SQLITE_ROWS_PER_TRANSACTION if engine.dialect.name == "sqlite" else len(rows)
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        for i in range(0, len(rows), step):
            async with conn.begin():
                await conn.exec_driver_sql(sql, rows[i : i + step])
    return len(spans)


async def spans_for_trace(engine: AsyncEngine, trace_id: str) -> list[SpanRecord]:
    stmt = (
        select(spans_table)
        .where(spans_table.c.trace_id == trace_id)
        .order_by(spans_table.c.start_ns)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [SpanRecord.from_row(r) for r in rows]


async def spans_for_run(engine: AsyncEngine, run_id: str) -> list[SpanRecord]:
    """All spans of every trace that has a span tagged with ``run_id``.

    Child spans may lack the tag (e.g. spans from libraries), so the run is resolved to
    its trace ids first.
    """
    trace_ids = (
        select(spans_table.c.trace_id).where(spans_table.c.run_id == run_id).distinct()
    ).scalar_subquery()
    stmt = (
        select(spans_table)
        .where(spans_table.c.trace_id.in_(trace_ids))
        .order_by(spans_table.c.start_ns)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [SpanRecord.from_row(r) for r in rows]


@dataclass
class TraceSummary:
    """One run's trace in a listing: when, how long, how many spans, tokens and cost."""

    run_id: str
    trace_id: str
    start_ns: int
    end_ns: int
    span_count: int
    session_id: str | None
    user_id: str | None
    input_tokens: int
    output_tokens: int
    cost: float | None
    root_name: str | None = None
    errors: int = 0


async def list_traces(
    engine: AsyncEngine,
    *,
    limit: int = 20,
    session_id: str | None = None,
    user_id: str | None = None,
) -> list[TraceSummary]:
    """Most recent runs with spans, newest first."""
    s = spans_table.c
    stmt = (
        select(
            s.run_id,
            func.min(s.trace_id),
            func.min(s.start_ns),
            func.max(s.end_ns),
            func.count(),
            func.max(s.session_id),
            func.max(s.user_id),
        )
        .where(s.run_id.is_not(None))
        .group_by(s.run_id)
        .order_by(func.min(s.start_ns).desc())
        .limit(limit)
    )
    if session_id:
        stmt = stmt.where(s.session_id == session_id)
    if user_id:
        stmt = stmt.where(s.user_id == user_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
        out: list[TraceSummary] = []
        for run_id, trace_id, start, end, _n, sess, user in rows:
            agg = (
                await conn.execute(
                    select(
                        func.count(),
                        func.coalesce(func.sum(s.input_tokens), 0),
                        func.coalesce(func.sum(s.output_tokens), 0),
                        func.sum(s.cost),
                        func.min(s.start_ns),
                        func.max(s.end_ns),
                        func.sum(func.cast(s.status == "error", Integer)),
                    ).where(s.trace_id == trace_id)
                )
            ).one()
            root = (
                await conn.execute(
                    select(s.name)
                    .where(s.trace_id == trace_id, s.parent_span_id.is_(None))
                    .limit(1)
                )
            ).scalar()
            out.append(
                TraceSummary(
                    run_id=run_id,
                    trace_id=trace_id,
                    start_ns=min(start, agg[4]),
                    end_ns=max(end, agg[5]),
                    span_count=int(agg[0]),
                    session_id=sess,
                    user_id=user,
                    input_tokens=int(agg[1]),
                    output_tokens=int(agg[2]),
                    cost=float(agg[3]) if agg[3] is not None else None,
                    root_name=root,
                    errors=int(agg[6] or 0),
                )
            )
    return out


async def delete_spans_before(engine: AsyncEngine, before_ns: int) -> int:
    """Retention: drop spans that started before ``before_ns``; returns rows deleted."""
    async with engine.begin() as conn:
        result = await conn.execute(spans_table.delete().where(spans_table.c.start_ns < before_ns))
    return int(result.rowcount or 0)
