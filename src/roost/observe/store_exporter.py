"""``LocalStoreSpanExporter``: the embedded trace store, an OTel exporter writing to SQL.

The SDK's ``BatchSpanProcessor`` calls ``export`` from its worker thread. SQLAlchemy's
async engines are bound to one event loop, so the exporter owns a private loop on a
private thread with its own engine for the store's URL; every batch is one
``executemany`` in one transaction, which keeps the writer above 5,000 spans/s on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from roost.core.retry import retry
from roost.store.errors import StoreUnavailable
from roost.store.traces import SpanRecord, insert_spans, trace_engine

log = logging.getLogger("roost.observe")

CostFn = Callable[[str, int, int], tuple[float, str] | None]
"""``(model, input_tokens, output_tokens) -> (cost, currency)`` or None if unpriced."""

_MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "create_embeddings"}
)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _plain(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as JSON-able values (sequences arrive as tuples)."""
    return {k: _jsonable(v) if isinstance(v, tuple | bytes) else v for k, v in attrs.items()}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def span_to_record(span: ReadableSpan, cost_fn: CostFn | None = None) -> SpanRecord:
    """Flatten an SDK span into a row; run/session/user/tenant, tokens and cost get columns."""
    ctx = span.context
    assert ctx is not None
    attrs = _plain(span.attributes or {})  # one copy; lookups below hit a plain dict
    operation = _str_or_none(attrs.get("gen_ai.operation.name"))
    model = _str_or_none(attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"))
    input_tokens = output_tokens = None
    cost: float | None = None
    currency: str | None = None
    if operation in _MODEL_OPERATIONS:
        input_tokens = _int_or_none(attrs.get("gen_ai.usage.input_tokens"))
        output_tokens = _int_or_none(attrs.get("gen_ai.usage.output_tokens"))
        if attrs.get("roost.cost") is not None:
            cost = float(attrs["roost.cost"])  # type: ignore[arg-type]
            currency = _str_or_none(attrs.get("roost.cost.currency"))
        elif cost_fn is not None and model and (input_tokens or output_tokens):
            priced = cost_fn(model, input_tokens or 0, output_tokens or 0)
            if priced is not None:
                cost, currency = priced
    start = span.start_time or 0
    resource_attrs = span.resource.attributes if span.resource is not None else {}
    return SpanRecord(
        trace_id=_hex(ctx.trace_id, 32),
        span_id=_hex(ctx.span_id, 16),
        parent_span_id=_hex(span.parent.span_id, 16) if span.parent is not None else None,
        name=span.name[:255],
        kind=span.kind.name.lower(),
        start_ns=start,
        end_ns=span.end_time or start,
        status=span.status.status_code.name.lower(),
        status_message=span.status.description,
        operation=operation,
        run_id=_str_or_none(attrs.get("roost.run_id")),
        session_id=_str_or_none(
            attrs.get("roost.session_id") or attrs.get("gen_ai.conversation.id")
        ),
        user_id=_str_or_none(attrs.get("roost.user_id")),
        tenant_id=_str_or_none(attrs.get("roost.tenant_id")),
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        currency=currency,
        attributes=attrs,
        events=[
            {
                "name": e.name,
                "time_ns": e.timestamp,
                "attributes": _plain(e.attributes or {}),
            }
            for e in span.events
        ],
        service=_str_or_none(resource_attrs.get("service.name")),
    )


def database_url_of(store: Any) -> str:
    """The SQLAlchemy URL of a URL string, an ``AsyncEngine`` or a Store with ``.engine``/``.url``."""
    if isinstance(store, str):
        return store
    engine = store if isinstance(store, AsyncEngine) else getattr(store, "engine", None)
    if isinstance(engine, AsyncEngine):
        return engine.url.render_as_string(hide_password=False)
    url = getattr(store, "url", None) or getattr(store, "database_url", None)
    if url is not None:
        return url if isinstance(url, str) else url.render_as_string(hide_password=False)
    raise TypeError(
        f"cannot find a database URL on {type(store).__name__}; pass a URL string, an "
        "AsyncEngine or a Store"
    )


class LocalStoreSpanExporter(SpanExporter):
    """Writes finished spans into the ``spans`` table of the Roost store (SQLite/PostgreSQL)."""

    def __init__(
        self,
        store: Any,
        *,
        cost_fn: CostFn | None = None,
        export_timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        self.database_url = database_url_of(store)
        # PostgreSQL schema of the store (public ``schema`` if the Store grows one)
        schema = getattr(store, "schema", None) or getattr(store, "_schema", None)
        self.schema = schema if isinstance(schema, str) else None
        self.cost_fn = cost_fn
        # the store's sealer (roost.govern's encryption at rest), when it has one
        self.sealer = getattr(store, "sealer", None)
        self.export_timeout = export_timeout
        self.retries = retries
        self.exported = 0
        self.failed = 0
        self._loop = asyncio.new_event_loop()
        self._engine: AsyncEngine | None = None
        self._shutdown = False
        self._inflight: Future[int] | None = None
        self._inflight_size = 0
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="roost-trace-store", daemon=True
        )
        self._thread.start()

    async def _write(self, records: list[SpanRecord]) -> int:
        if self._engine is None:
            self._engine = trace_engine(self.database_url, schema=self.schema)
        engine = self._engine

        def busy(exc: Exception) -> bool:
            # SQLite busy beyond its timeout, a PostgreSQL restart: wait and retry, the
            # batch is only lost when the database stays away
            if isinstance(exc, (OperationalError, StoreUnavailable)):
                log.info("trace store busy (%s), retrying", exc.__class__.__name__)
                return True
            return False

        return await retry(
            lambda: insert_spans(engine, records, self.sealer),
            attempts=self.retries + 1,
            when=busy,
            delay=lambda n: 0.5 * 2**n,
        )

    def _settle(self, timeout: float) -> bool:
        """Wait for the batch in flight; False (and counted) if it failed."""
        fut, self._inflight = self._inflight, None
        if fut is None:
            return True
        try:
            self.exported += fut.result(timeout=timeout)
            return True
        except Exception as exc:
            self.failed += self._inflight_size
            log.warning("trace store export failed: %s", exc.__class__.__name__, exc_info=exc)
            return False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Convert this batch while the previous one is written, then hand it over.

        One batch is in flight at a time, so conversion (Python) overlaps the SQL write
        (driver, GIL released); a failure surfaces on the next call or on flush.
        """
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            records = [span_to_record(s, self.cost_fn) for s in spans]
        except Exception as exc:  # an exporter must not raise into the SDK
            self.failed += len(spans)
            log.warning("trace store export failed: %s", exc.__class__.__name__, exc_info=exc)
            return SpanExportResult.FAILURE
        ok = self._settle(self.export_timeout)
        self._inflight = asyncio.run_coroutine_threadsafe(self._write(records), self._loop)
        self._inflight_size = len(records)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._settle(timeout_millis / 1000)

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._settle(self.export_timeout)

        async def _dispose() -> None:
            if self._engine is not None:
                await self._engine.dispose()

        try:
            asyncio.run_coroutine_threadsafe(_dispose(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._loop.is_running():
                self._loop.close()
