"""The span tree of a run, as JSON-able dicts (for ``GET /v1/runs/{id}/trace`` and the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from roost.observe.errors import TraceNotFound
from roost.store import Store
from roost.store.traces import SpanRecord


def _node(span: SpanRecord, origin_ns: int) -> dict[str, Any]:
    return {
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "trace_id": span.trace_id,
        "name": span.name,
        "operation": span.operation,
        "kind": span.kind,
        "status": span.status,
        "status_message": span.status_message,
        "start": datetime.fromtimestamp(span.start_ns / 1e9, UTC).isoformat(),
        "offset_ms": round((span.start_ns - origin_ns) / 1e6, 3),
        "duration_ms": round(span.duration_ms, 3),
        "model": span.model,
        "input_tokens": span.input_tokens or 0,
        "output_tokens": span.output_tokens or 0,
        "cost": span.cost,
        "currency": span.currency,
        "attributes": span.attributes,
        "events": span.events,
        "children": [],
    }


def _roll_up(node: dict[str, Any]) -> tuple[int, int, float | None, str | None]:
    """Fill ``total_*`` on every node: its own figures plus its descendants'."""
    inp, out = node["input_tokens"], node["output_tokens"]
    cost, currency = node["cost"], node["currency"]
    for child in node["children"]:
        c_in, c_out, c_cost, c_cur = _roll_up(child)
        inp += c_in
        out += c_out
        if c_cost is not None:
            if currency is not None and c_cur is not None and c_cur != currency:
                currency = "mixed"
            cost = (cost or 0.0) + c_cost
            currency = currency or c_cur
    node["total_input_tokens"], node["total_output_tokens"] = inp, out
    node["total_cost"] = round(cost, 10) if cost is not None else None
    node["total_currency"] = currency
    return inp, out, cost, currency


def build_tree(run_id: str, spans: list[SpanRecord]) -> dict[str, Any]:
    """Nest spans by parent (orphans become roots) and roll tokens and cost up."""
    if not spans:
        raise TraceNotFound(
            f"no spans stored for run {run_id!r}",
            hint="tracing to the local store may be off, or the run is still being exported",
            run_id=run_id,
        )
    origin = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    nodes = {(s.trace_id, s.span_id): _node(s, origin) for s in spans}
    roots: list[dict[str, Any]] = []
    for s in spans:
        node = nodes[(s.trace_id, s.span_id)]
        parent = nodes.get((s.trace_id, s.parent_span_id or ""))
        (parent["children"] if parent is not None else roots).append(node)
    totals = [_roll_up(r) for r in roots]
    costs = [c for _, _, c, _ in totals if c is not None]
    currencies = {cur for _, _, c, cur in totals if c is not None and cur}
    first = min(spans, key=lambda s: s.start_ns)
    return {
        "run_id": run_id,
        "trace_ids": sorted({s.trace_id for s in spans}),
        "session_id": next((s.session_id for s in spans if s.session_id), None),
        "user_id": next((s.user_id for s in spans if s.user_id), None),
        "tenant_id": next((s.tenant_id for s in spans if s.tenant_id), None),
        "start": datetime.fromtimestamp(first.start_ns / 1e9, UTC).isoformat(),
        "duration_ms": round((end - origin) / 1e6, 3),
        "span_count": len(spans),
        "error_count": sum(1 for s in spans if s.status == "error"),
        "input_tokens": sum(t[0] for t in totals),
        "output_tokens": sum(t[1] for t in totals),
        "cost": round(sum(costs), 10) if costs else None,
        "currency": (currencies.pop() if len(currencies) == 1 else "mixed") if currencies else None,
        "spans": roots,
    }


async def trace_tree(store: Store, run_id: str) -> dict[str, Any]:
    """The run's spans nested by parent with duration, tokens and cost (raises TraceNotFound)."""
    return build_tree(run_id, await store.spans_for_run(run_id))
