"""A LangGraph graph served by ``AgentApp`` through ``LangChainAgent``: streaming from a
real ``ChatOpenAI`` against an OpenAI-compatible loopback server, history kept in the
session, failures and cancels ending the run like a native agent's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "server"))

from server_support import ADMIN_KEY, FAKE_REPLY, fake_openai, new_session, read_sse, served

from roost.agents.adapters import LangChainAgent
from roost.server import AgentApp, AgentContext

__all__ = ["fake_openai", "served"]

pytest.importorskip("langgraph")
lc_openai = pytest.importorskip("langchain_openai")
from langchain_core.messages import AIMessage  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402


def graph_of(node: Any) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("answer", node)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    return g.compile()


def app_with(graph: Any) -> AgentApp:
    app = AgentApp("lg", admin_key=ADMIN_KEY)

    @app.agent(name="graph")
    def agent(ctx: AgentContext) -> LangChainAgent:
        return LangChainAgent("graph", graph)

    return app


def _run(c: Any, sid: str, text: str) -> Any:
    with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": text}) as r:
        assert r.status_code == 200, r.read()
        return read_sse(r)


def test_a_langgraph_chat_model_streams_through_the_run(served, fake_openai):
    llm = lc_openai.ChatOpenAI(model="fake", base_url=fake_openai, api_key="k", streaming=True)

    async def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await llm.ainvoke(state["messages"])]}

    s = served(app_with(graph_of(call_model)))
    with s.client() as c:
        sse = _run(c, new_session(c), "Capital of France?")
        deltas = [e["delta"] for e in sse.events if e["type"] == "text.delta"]
        assert "".join(deltas) == "".join(FAKE_REPLY) and len(deltas) >= 1
        assert sse.types[-1] == "run.completed"
        r = c.post(
            "/v1/chat/completions",
            json={"model": "graph", "messages": [{"role": "user", "content": "again"}]},
        )
        assert r.json()["choices"][0]["message"]["content"] == "".join(FAKE_REPLY)


def test_history_is_kept_in_the_session(served):
    def count(state: MessagesState) -> dict[str, Any]:
        said = [m.content for m in state["messages"] if m.type == "human"]
        return {"messages": [AIMessage(f"you said: {' / '.join(said)}")]}

    s = served(app_with(graph_of(count)))
    with s.client() as c:
        sid = new_session(c)
        _run(c, sid, "one")
        assert _run(c, sid, "two").text == "you said: one / two"


def test_a_framework_error_mid_stream_fails_the_run_with_a_code(served):
    def broken(state: MessagesState) -> dict[str, Any]:
        raise ValueError("graph exploded")

    s = served(app_with(graph_of(broken)))
    with s.client() as c:
        sse = _run(c, new_session(c), "x")
    assert sse.types[-1] == "run.failed"
    assert sse.events[-1]["code"] == "adapter_error"


def test_cancel_interrupts_a_slow_graph(served):
    async def slow(state: MessagesState) -> dict[str, Any]:
        await asyncio.sleep(30)
        return {"messages": [AIMessage("late")]}

    s = served(app_with(graph_of(slow)))
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "x"}) as r:
            run_id = r.headers["x-run-id"]
            c.post(f"/v1/runs/{run_id}/cancel")
            sse = read_sse(r)
    assert sse.types[-1] == "run.canceled"


def test_an_approval_for_an_adapted_agent_is_a_typed_not_found():
    from roost.core import ApprovalNotFound

    async def node(state: Any) -> Any:
        return {"messages": [AIMessage(content="done")]}

    agent = LangChainAgent("graph", graph_of(node))
    for act in (agent.approve, agent.reject):
        with pytest.raises(ApprovalNotFound) as info:
            act("call_1")
        assert info.value.code == "approval_not_found" and "call_1" in info.value.message
