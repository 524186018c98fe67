"""Spans of a real ReActAgent run reach the SQLite trace store, nested, priced and redacted."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace

from roost.agents import ReActAgent
from roost.core import Usage
from roost.models import ScriptedModel, ScriptedReply
from roost.observe import (
    TraceNotFound,
    add_redactor,
    content_capture_enabled,
    run_context,
    setup_tracing,
    shutdown_tracing,
    trace_tree,
)
from roost.observe.cost import CostCalculator
from roost.store import Store
from roost.tools import Toolkit, tool


@tool
def lookup_order(order_id: str) -> str:
    """Status of an order."""
    return f"order {order_id} shipped"


def _agent() -> ReActAgent:
    model = ScriptedModel(
        [
            ScriptedModel.tool_call("lookup_order", {"order_id": "A17"}),
            ScriptedReply(
                text="Your order shipped. Contact ops@example.com, key sk-abcdefghijklmnopqrstuvwx",
                usage=Usage(input_tokens=1000, output_tokens=200),
            ),
        ],
        model_name="qwen-plus",
    )
    return ReActAgent("support", model, toolkit=Toolkit([lookup_order]))


async def _run_agent(run_id: str = "run_t1") -> None:
    with run_context(run_id=run_id, session_id="ses_1", user_id="alice", tenant_id="acme"):
        await _agent()("where is my order A17? my token is Bearer abcdefghijkl123456")


async def test_agent_run_spans_nest_with_genai_attributes(store: Store) -> None:
    provider = setup_tracing(store=store, cost_fn=CostCalculator().cost_fn)
    await _run_agent()
    provider.force_flush()

    tree = await trace_tree(store, "run_t1")
    assert tree["span_count"] == 4  # invoke_agent, chat, execute_tool, chat
    [root] = tree["spans"]
    assert root["name"] == "invoke_agent support"
    assert root["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attributes"]["gen_ai.agent.name"] == "support"
    assert root["attributes"]["gen_ai.conversation.id"] == "ses_1"
    names = [c["name"] for c in root["children"]]
    assert names == ["chat qwen-plus", "execute_tool lookup_order", "chat qwen-plus"]
    chat = root["children"][0]
    assert chat["attributes"]["gen_ai.request.model"] == "qwen-plus"
    assert chat["attributes"]["gen_ai.provider.name"] == "scripted"
    tool_span = root["children"][1]
    assert tool_span["attributes"]["gen_ai.tool.name"] == "lookup_order"
    assert tool_span["attributes"]["gen_ai.tool.call.id"]
    # every span carries the run's ids (from baggage), not only the root
    for child in root["children"]:
        assert child["attributes"]["roost.run_id"] == "run_t1"
        assert child["attributes"]["roost.user_id"] == "alice"
        assert child["attributes"]["roost.tenant_id"] == "acme"
    # tokens and cost roll up to the run (qwen-plus is priced in CNY)
    second_chat = root["children"][2]
    assert second_chat["input_tokens"] == 1000 and second_chat["output_tokens"] == 200
    assert second_chat["currency"] == "CNY"
    expected = CostCalculator().cost_fn("qwen-plus", 1000, 200)
    assert expected is not None
    assert second_chat["cost"] == pytest.approx(expected[0])
    assert tree["input_tokens"] == root["total_input_tokens"] >= 1000
    assert tree["cost"] == pytest.approx(root["total_cost"])
    assert tree["currency"] == "CNY"
    assert tree["duration_ms"] >= tool_span["duration_ms"] >= 0


async def test_content_is_captured_for_the_store_and_redacted(store: Store) -> None:
    provider = setup_tracing(store=store)
    assert content_capture_enabled()  # agents record content events
    add_redactor(lambda text: text.replace("A17", "[ORDER]"))
    await _run_agent()
    provider.force_flush()

    spans = await store.spans_for_run("run_t1")
    events = [e for s in spans for e in s.events if e["name"].startswith("gen_ai.")]
    assert events, "content events are recorded in the embedded store by default"
    text = json.dumps(events)
    assert "where is my order" in text
    assert "abcdefghijkl123456" not in text and "Bearer [REDACTED]" in text
    assert "sk-abcdefghijklmnopqrstuvwx" not in text
    assert "ops@example.com" not in text and "[EMAIL]" in text
    assert "A17" not in text and "[ORDER]" in text  # the user's redactor ran too


async def test_content_capture_off_keeps_spans_but_drops_content(store: Store) -> None:
    provider = setup_tracing(store=store, capture_content=False)
    assert not content_capture_enabled()
    await _run_agent()
    provider.force_flush()
    spans = await store.spans_for_run("run_t1")
    assert len(spans) == 4
    assert not [e for s in spans for e in s.events if e["name"].startswith("gen_ai.")]


async def test_manual_content_events_are_dropped_when_capture_is_off(store: Store) -> None:
    provider = setup_tracing(store=store, capture_content=False)
    tracer = trace.get_tracer("test")
    with run_context(run_id="run_m"), tracer.start_as_current_span("chat m") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.input.messages", "secret prompt")
        span.add_event("gen_ai.user.message", {"content": "secret prompt"})
        span.add_event("retry", {"attempt": 1})
    provider.force_flush()
    [record] = await store.spans_for_run("run_m")
    assert "gen_ai.input.messages" not in record.attributes
    assert [e["name"] for e in record.events] == ["retry"]


async def test_list_traces_and_missing_run(store: Store) -> None:
    provider = setup_tracing(store=store)
    await _run_agent("run_a")
    await _run_agent("run_b")
    provider.force_flush()
    rows = await store.list_traces(limit=10)
    assert [r.run_id for r in rows] == ["run_b", "run_a"]
    assert rows[0].span_count == 4 and rows[0].root_name == "invoke_agent support"
    assert rows[0].session_id == "ses_1" and rows[0].input_tokens >= 1000
    with pytest.raises(TraceNotFound) as err:
        await trace_tree(store, "run_missing")
    assert err.value.code == "trace_not_found"


async def test_setup_tracing_can_be_reconfigured(store: Store, tmp_path) -> None:
    other = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    try:
        first = setup_tracing(store=store)
        tracer = trace.get_tracer("test")  # obtained once, keeps working after re-setup
        with run_context(run_id="run_1"), tracer.start_as_current_span("one"):
            pass
        first.force_flush()
        second = setup_tracing(store=other)
        with run_context(run_id="run_2"), tracer.start_as_current_span("two"):
            pass
        second.force_flush()
        assert [s.name for s in await store.spans_for_run("run_1")] == ["one"]
        assert await store.spans_for_run("run_2") == []
        assert [s.name for s in await other.spans_for_run("run_2")] == ["two"]
    finally:
        await other.close()


async def test_postgres_trace_store_in_its_own_schema(postgres_url: str) -> None:
    import uuid

    schema = f"h7_traces_{uuid.uuid4().hex[:8]}"
    store = await Store.open(postgres_url, schema=schema)
    try:
        provider = setup_tracing(store=store)
        await _run_agent("run_pg")
        provider.force_flush()
        tree = await trace_tree(store, "run_pg")
        assert tree["span_count"] == 4 and tree["currency"] == "CNY"
        assert tree["spans"][0]["children"][1]["name"] == "execute_tool lookup_order"
    finally:
        shutdown_tracing()
        from sqlalchemy import text

        async with store.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await store.close()


async def test_exception_events_are_redacted_even_without_content(store: Store) -> None:
    provider = setup_tracing(store=store, capture_content=False)
    tracer = trace.get_tracer("test")
    with (
        pytest.raises(ValueError),
        run_context(run_id="run_x"),
        tracer.start_as_current_span("execute_tool leaky"),
    ):
        raise ValueError("upstream said: invalid api_key=sk-abcdefghijklmnopqrstu")
    provider.force_flush()
    [record] = await store.spans_for_run("run_x")
    [event] = record.events
    assert event["name"] == "exception"
    assert "sk-abcdefghijklmnopqrstu" not in json.dumps(event)
    assert "[REDACTED]" in event["attributes"]["exception.message"]
    assert record.status == "error" and "sk-abc" not in (record.status_message or "")
