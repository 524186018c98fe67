"""The observability pieces wired into a real AgentApp served on loopback: run spans in
the store, ``GET /v1/runs/{id}/trace``, the metric set on ``/metrics``, ``GET /v1/usage``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))

from server_support import ADMIN_KEY, new_session, read_sse, served

from roost.agents import ReActAgent
from roost.core import Usage
from roost.models import ScriptedModel, ScriptedReply
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

from ._webhook_receiver import WebhookReceiver

__all__ = ["served"]


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def fail_tool(x: int) -> int:
    """Always fails."""
    raise RuntimeError("boom")


def _app(tmp_path: Path) -> AgentApp:
    app = AgentApp(
        "calc", admin_key=ADMIN_KEY, store_url=f"sqlite+aiosqlite:///{tmp_path / 'srv.db'}"
    )

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        model = ScriptedModel(
            [
                ScriptedModel.tool_calls(("multiply", {"a": 6, "b": 7}), ("fail_tool", {"x": 1})),
                ScriptedReply(text="42", usage=Usage(input_tokens=2000, output_tokens=500)),
            ],
            model_name="deepseek-chat",
        )
        return ReActAgent("calc", model, toolkit=Toolkit([multiply, fail_tool]))

    return app


def _run(c: httpx.Client, sid: str, text: str) -> str:
    with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": text}) as r:
        assert r.status_code == 200
        run_id = r.headers["x-run-id"]
        sse = read_sse(r)
    assert sse.types[-1] == "run.completed"
    return run_id


def test_run_trace_metrics_and_usage_over_http(served: Any, tmp_path: Path) -> None:
    s = served(_app(tmp_path))
    with s.client() as admin:
        r = admin.post("/v1/keys", json={"name": "carol", "user_id": "carol", "tenant_id": "acme"})
        assert r.status_code == 201, r.text
        user_key = r.json()["key"]
    with s.client(user_key) as c:
        sid = new_session(c)
        run_id = _run(c, sid, "6 times 7?")

        r = c.get(f"/v1/runs/{run_id}/trace")
        assert r.status_code == 200, r.text
        tree = r.json()
        assert tree["run_id"] == run_id and tree["session_id"] == sid
        [root] = tree["spans"]
        assert root["name"] == "run calc"
        assert root["attributes"]["roost.run.status"] == "succeeded"
        assert root["status"] == "ok"
        [agent_span] = root["children"]
        assert agent_span["name"] == "invoke_agent calc"
        assert agent_span["attributes"]["roost.run_id"] == run_id
        names = sorted(ch["name"] for ch in agent_span["children"])
        assert names == [
            "chat deepseek-chat",
            "chat deepseek-chat",
            "execute_tool fail_tool",
            "execute_tool multiply",
        ]
        assert tree["currency"] == "CNY" and tree["cost"] > 0
        assert tree["input_tokens"] >= 2000

        assert c.get("/v1/runs/run_nope/trace").status_code == 404

        # a user key sees only its own usage
        mine = c.get("/v1/usage", params={"group_by": "tenant"}).json()
        assert mine["group_by"] == "user" and [r["user"] for r in mine["data"]] == ["carol"]
    with s.client() as c:
        body = c.get("/metrics").text
        assert 'roost_runs_started_total{agent="calc"} 1.0' in body
        assert 'roost_runs_finished_total{agent="calc",status="succeeded"} 1.0' in body
        assert 'roost_tool_calls_total{status="success",tool="multiply"} 1.0' in body
        assert 'roost_tool_errors_total{code="tool_failed",tool="fail_tool"}' in body or (
            "roost_tool_errors_total{code=" in body and 'tool="fail_tool"' in body
        )
        assert (
            'roost_model_tokens_total{direction="output",model="deepseek-chat",tenant="acme"}'
            in body
        )
        assert 'roost_model_cost_total{currency="CNY",model="deepseek-chat",tenant="acme"}' in body
        assert "roost_run_duration_seconds_bucket" in body
        assert "roost_time_to_first_token_seconds_count" in body
        assert "roost_http_requests_total" in body  # the server's own metrics, same endpoint
        assert "roost_store_up 1.0" in body
        assert 'roost_trace_spans_exported_total{exporter="store",result="ok"}' in body

        u = c.get("/v1/usage", params={"group_by": "user"})
        assert u.status_code == 200, u.text
        [row] = u.json()["data"]
        assert row["user"] == "carol" and row["runs"] == 1 and row["input_tokens"] >= 2000
        bad = c.get("/v1/usage", params={"group_by": "planet"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        bad = c.get("/v1/usage", params={"since": "yesterday"})
        assert bad.status_code == 422


@pytest.mark.parametrize("observe", [False])
def test_observe_false_leaves_the_app_uninstrumented(observe: bool, tmp_path: Path) -> None:
    app = AgentApp("plain", admin_key=ADMIN_KEY, observe=observe)
    assert app.observability is None and app.observers == []


def test_app_alerts_reach_a_webhook_from_the_environment(
    served: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local model that is not serving fires LocalModelDown through the app's evaluator."""
    from roost.models.local import LocalModel

    receiver = WebhookReceiver()
    rules = tmp_path / "rules.yaml"  # replaces the built-in (for: 1m) so the test is quick
    rules.write_text(
        "rules:\n  - name: LocalModelDown\n    level: infrastructure\n"
        "    expr: {fn: value, metric: roost_local_model_up, agg: max}\n"
        "    op: '<'\n    threshold: 1\n    severity: critical\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ROOST_ALERT_RULES", str(rules))
    monkeypatch.setenv("ROOST_ALERT_WEBHOOKS", receiver.url)
    monkeypatch.setenv("ROOST_ALERT_INTERVAL", "0.1")
    try:
        app = _app(tmp_path)

        @app.on_startup
        def watch() -> None:
            app.observability.watch_local_model(LocalModel(), name="qwen-local")

        s = served(app)
        import time

        deadline = time.monotonic() + 20
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
        [alert] = receiver.bodies[0]["alerts"]
        assert alert["labels"]["alertname"] == "LocalModelDown"
        assert alert["labels"]["severity"] == "critical"
        with s.client() as c:
            body = c.get("/metrics").text
        assert 'roost_local_model_up{model="qwen-local"} 0.0' in body
        assert 'roost_alerts_firing{alertname="LocalModelDown",severity="critical"} 1.0' in body
        assert 'roost_alerts_firing{alertname="StoreUnreachable",severity="critical"} 0.0' in body
    finally:
        receiver.close()


def test_an_agents_exception_in_a_trace_shows_its_text_to_admin_keys_only(
    served: Any, tmp_path: Path
) -> None:
    app = AgentApp(
        "boom", admin_key=ADMIN_KEY, store_url=f"sqlite+aiosqlite:///{tmp_path / 'srv.db'}"
    )

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("boom", ScriptedModel([RuntimeError("cannot open /srv/secret.key")]))

    s = served(app)
    with s.client() as admin:
        user_key = admin.post("/v1/keys", json={"name": "dan", "user_id": "dan"}).json()["key"]
    with s.client(user_key) as c:
        sid = new_session(c)
        run_id = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
        run_id = run_id.headers.get("x-run-id") or run_id.json()["error"]["details"]["run_id"]
        user_view = c.get(f"/v1/runs/{run_id}/trace").text
    with s.client() as admin:
        full = admin.get(f"/v1/runs/{run_id}/trace").text
    assert "secret.key" in full and "Traceback" in full  # the operator sees it all
    assert "RuntimeError" in user_view and "(shown to admin keys only)" in user_view
    assert "secret.key" not in user_view and "Traceback" not in user_view
