"""The local trace store on every backend: spans in, a run's traces out, retention."""

from __future__ import annotations

import pytest

from roost.store import Store, traces
from roost.store.traces import SpanRecord


def _span(trace: str, span: str, start: int, **extra: object) -> SpanRecord:
    return SpanRecord(
        trace_id=trace * 32,
        span_id=span * 16,
        name=f"op-{span}",
        start_ns=start,
        end_ns=start + 10,
        **extra,  # type: ignore[arg-type]
    )


async def test_spans_of_a_run_include_untagged_children_of_its_traces(store: Store) -> None:
    assert await store.insert_spans([]) == 0
    spans = [
        _span("a", "1", 100, run_id="run_1", input_tokens=5, cost=0.5, attributes={"k": "ü"}),
        _span("a", "2", 110, parent_span_id="1" * 16, status="error"),  # no run tag
        _span("b", "3", 200, run_id="run_2", session_id="ses_2", user_id="u2"),
    ]
    assert await store.insert_spans(spans) == 3
    found = await store.spans_for_run("run_1")
    assert [s.span_id for s in found] == ["1" * 16, "2" * 16]
    assert found[0].attributes == {"k": "ü"} and found[0].cost == 0.5
    assert await store.spans_for_run("run_missing") == []

    newest, oldest = await store.list_traces(limit=10)
    assert (newest.run_id, newest.session_id, newest.user_id) == ("run_2", "ses_2", "u2")
    assert (oldest.run_id, oldest.span_count, oldest.errors) == ("run_1", 2, 1)
    assert (oldest.input_tokens, oldest.cost, oldest.root_name) == (5, 0.5, "op-1")
    assert [t.run_id for t in await store.list_traces(user_id="u2")] == ["run_2"]


async def test_old_spans_are_deleted_in_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traces, "DELETE_BATCH", 7)
    await store.insert_spans([_span("c", f"{i:x}", i, run_id="run_c") for i in range(16)])
    assert await store.delete_spans_before(12) == 12
    assert [s.start_ns for s in await store.spans_for_run("run_c")] == [12, 13, 14, 15]
    assert await store.delete_spans_before(12) == 0
    assert await store.delete_spans_before(100) == 4
