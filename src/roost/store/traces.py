"""The local trace store: the ``spans`` table, written by roost.observe's span exporter.

The exporter runs in its own thread with its own engine (decision 0070) and writes
through :func:`insert_spans`; reading, listing and retention are ``Store`` methods
(:class:`Spans`). Both run the same statements.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roost.store import sealing
from roost.store import statements as sql
from roost.store.backend import Part, Row, Tx, one

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

SQLITE_ROWS_PER_TRANSACTION = 256
"""SQLite has one writer per file: short transactions keep the store's own writes waiting
only briefly behind a batch of spans."""
DELETE_BATCH = 5000


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
    def from_row(cls, row: Row) -> SpanRecord:
        data = dict(row)
        data["attributes"] = json.loads(data.get("attributes") or "{}")
        data["events"] = json.loads(data.get("events") or "[]")
        return cls(**data)


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


def _insert(
    tx: Tx, rows: list[dict[str, Any]], sealer: sealing.ContentSealer | None = None
) -> None:
    if sealer is not None:
        for row in rows:  # the content of a span: its attributes and events
            owner = {"tenant_id": row["tenant_id"], "run_id": row["run_id"]}
            row["attributes"] = sealing.seal_text(sealer, tx, "spans", row["attributes"], **owner)
            row["events"] = sealing.seal_text(sealer, tx, "spans", row["events"], **owner)
    tx.many(sql.INSERT_SPAN, rows)


def _open_spans(tx: Tx, found: list[Row], sealer: sealing.ContentSealer | None) -> list[Row]:
    found = sealing.open_rows(sealer, tx, "spans", found, "attributes")
    return sealing.open_rows(sealer, tx, "spans", found, "events")


def _summaries(tx: Tx, stmt: str, params: dict[str, Any]) -> list[TraceSummary]:
    out: list[TraceSummary] = []
    for row in tx.rows(stmt, params):
        key = {"trace_id": row["trace_id"]}
        totals = one(tx, sql.TRACE_TOTALS, key)
        assert totals is not None
        root = one(tx, sql.TRACE_ROOT, key)
        out.append(
            TraceSummary(
                run_id=row["run_id"],
                trace_id=row["trace_id"],
                start_ns=min(int(row["start_ns"]), int(totals["start_ns"])),
                end_ns=max(int(row["end_ns"]), int(totals["end_ns"])),
                span_count=int(totals["spans"]),
                session_id=row["session_id"],
                user_id=row["user_id"],
                input_tokens=int(totals["input_tokens"]),
                output_tokens=int(totals["output_tokens"]),
                cost=float(totals["cost"]) if totals["cost"] is not None else None,
                root_name=root["name"] if root else None,
                errors=int(totals["errors"] or 0),
            )
        )
    return out


class Spans(Part):
    async def insert_spans(self, spans: list[SpanRecord]) -> int:
        """Store a batch of finished spans; returns how many."""
        if spans:
            rows = [s.to_row() for s in spans]
            sealer = self._sealer
            await self._backend.write(lambda tx: _insert(tx, rows, sealer))
        return len(spans)

    async def spans_for_run(self, run_id: str) -> list[SpanRecord]:
        """All spans of every trace that has a span tagged with ``run_id``."""
        sealer = self._sealer
        found = await self._backend.read(
            lambda tx: _open_spans(tx, tx.rows(sql.SPANS_OF_RUN, {"run_id": run_id}), sealer)
        )
        return [SpanRecord.from_row(r) for r in found]

    async def list_traces(
        self, *, limit: int = 20, session_id: str | None = None, user_id: str | None = None
    ) -> list[TraceSummary]:
        """Most recent runs with spans, newest first."""
        params: dict[str, Any] = {"limit": limit}
        where = ["run_id IS NOT NULL"]
        for column, value in (("session_id", session_id), ("user_id", user_id)):
            if value:
                where.append(f"{column} = :{column}")
                params[column] = value
        stmt = (
            "SELECT run_id, min(trace_id) AS trace_id, min(start_ns) AS start_ns,"
            " max(end_ns) AS end_ns, max(session_id) AS session_id, max(user_id) AS user_id"
            f" FROM spans WHERE {' AND '.join(where)}"
            " GROUP BY run_id ORDER BY min(start_ns) DESC LIMIT :limit"
        )
        return await self._backend.read(lambda tx: _summaries(tx, stmt, params))

    async def delete_spans_before(self, before_ns: int) -> int:
        """Retention: drop spans that started before ``before_ns`` (epoch nanoseconds),
        :data:`DELETE_BATCH` per transaction; returns how many."""
        total = 0
        params = {"before": before_ns, "limit": DELETE_BATCH}
        while True:
            deleted = await self._backend.write(lambda tx: tx.run(sql.DELETE_OLD_SPANS, params))
            total += deleted
            if deleted < DELETE_BATCH:
                return total


def trace_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine with the store's connection settings (WAL, busy timeout, search_path)."""
    from roost.store.backends.sqlalchemy import create_engine, parse_url

    return create_engine(parse_url(url), schema=schema)


async def insert_spans(
    engine: AsyncEngine, spans: list[SpanRecord], sealer: sealing.ContentSealer | None = None
) -> int:
    """Insert a batch through an engine of the exporter's own (one transaction; on
    SQLite one per :data:`SQLITE_ROWS_PER_TRANSACTION` rows); returns the row count."""
    from roost.store.backends.sqlalchemy import WRITE_OPTION, SqlAlchemyTx

    rows = [s.to_row() for s in spans]
    step = SQLITE_ROWS_PER_TRANSACTION if engine.dialect.name == "sqlite" else len(rows) or 1
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        for i in range(0, len(rows), step):

            def body(sync: Connection, chunk: list[dict[str, Any]] = rows[i : i + step]) -> None:
                _insert(SqlAlchemyTx(sync), chunk, sealer)

            async with conn.begin():
                await conn.run_sync(body)
    return len(spans)
