"""W3C trace context and the GenAI semantic conventions, through a real served app: an
incoming ``traceparent`` is continued, the model call carries it on, ``chat`` spans are
CLIENT spans with ``server.address``, ``gen_ai.response.id`` and content as parts, and
the GenAI client metrics reach ``/metrics``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

import server_support
from server_support import ADMIN_KEY, fake_openai, served

from roost.agents import ReActAgent
from roost.models.openai import OpenAIChatModel
from roost.observe.tracing import service_resource
from roost.server import AgentApp, AgentContext

__all__ = ["fake_openai", "served"]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _app(tmp_path: Path, base_url: str) -> AgentApp:
    app = AgentApp(
        "traced", admin_key=ADMIN_KEY, store_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    )

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("traced", OpenAIChatModel("fake-model", base_url=base_url, api_key="k"))

    return app


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in _walk(child))]


def test_an_incoming_traceparent_is_continued_and_carried_to_the_model(
    served: Any, fake_openai: str, tmp_path: Path
) -> None:
    s = served(_app(tmp_path, fake_openai))
    server_support.FAKE_TRACEPARENTS.clear()
    with s.client() as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
            json={"model": "traced", "messages": [{"role": "user", "content": "Capital?"}]},
        )
        assert r.status_code == 200, r.text
        tree = c.get(f"/v1/runs/{r.headers['x-run-id']}/trace").json()
        metrics = c.get("/metrics").text
    [root] = tree["spans"]
    assert tree["trace_ids"] == [TRACE_ID]
    assert root["parent_span_id"] == PARENT_ID and root["kind"] == "server"
    [chat] = [n for n in _walk(root) if n["name"] == "chat fake-model"]
    assert chat["kind"] == "client"
    attrs = chat["attributes"]
    assert attrs["server.address"] == "127.0.0.1" and isinstance(attrs["server.port"], int)
    assert attrs["gen_ai.response.id"] == "chatcmpl-fake"
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    events = {e["name"]: e["attributes"] for e in chat["events"]}
    inputs = json.loads(events["gen_ai.input.messages"]["gen_ai.input.messages"])
    assert inputs[-1] == {"role": "user", "parts": [{"type": "text", "content": "Capital?"}]}
    [out] = json.loads(events["gen_ai.output.messages"]["gen_ai.output.messages"])
    assert out["finish_reason"] == "stop" and out["parts"][0]["type"] == "text"
    # the model server saw the chat span as its parent, in the caller's trace
    [sent] = server_support.FAKE_TRACEPARENTS
    assert sent.split("-")[1] == TRACE_ID and sent.split("-")[2] == chat["span_id"]
    assert 'gen_ai_client_token_usage_bucket{gen_ai_operation_name="chat"' in metrics
    assert 'gen_ai_token_type="output"' in metrics
    assert "gen_ai_client_operation_duration_seconds_count" in metrics


def test_without_traceparent_the_run_starts_its_own_trace(
    served: Any, fake_openai: str, tmp_path: Path
) -> None:
    s = served(_app(tmp_path, fake_openai))
    with s.client() as c:
        r = c.post(
            "/v1/chat/completions",
            headers={"traceparent": "garbage"},
            json={"model": "traced", "messages": [{"role": "user", "content": "x"}]},
        )
        tree = c.get(f"/v1/runs/{r.headers['x-run-id']}/trace").json()
    assert tree["trace_ids"] != [TRACE_ID] and tree["spans"][0]["parent_span_id"] is None


def test_otel_service_name_wins_over_the_app_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert service_resource("myapp").attributes["service.name"] == "myapp"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-agents")
    assert service_resource("myapp").attributes["service.name"] == "checkout-agents"
