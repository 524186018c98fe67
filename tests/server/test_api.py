"""Sessions, runs and the streaming protocol against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
from server_support import ADMIN_KEY, new_session, read_sse, wait_until

from roost.agents import ReActAgent
from roost.core import Msg
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit


def echo_app(**options: Any) -> AgentApp:
    app = AgentApp("echo", admin_key=ADMIN_KEY, **options)

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        for word in ["you ", "said: ", msg.text]:
            yield word

    return app


def react_app(
    replies_per_session: list[Any], **options: Any
) -> tuple[AgentApp, list[ScriptedModel]]:
    app = AgentApp("react", admin_key=ADMIN_KEY, **options)
    models: list[ScriptedModel] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        model = ScriptedModel(list(replies_per_session), chunks=3)
        models.append(model)
        return ReActAgent("react", model, toolkit=Toolkit([add]))

    return app, models


def test_streamed_run_numbers_every_event_and_ends_completed(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            run_id = r.headers["x-run-id"]
            sse = read_sse(r)
    assert sse.ids == list(range(1, len(sse.events) + 1))
    assert all(e["run_id"] == run_id and e["session_id"] == sid for e in sse.events)
    assert sse.types[0] == "run.started"
    assert sse.types[-1] == "run.completed"
    assert sse.text == "you said: hi"
    assert sse.events[-1]["output"]["content"][0]["text"] == "you said: hi"


def test_messages_are_persisted_in_order_and_paginated(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        for text in ("one", "two"):
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": text, "stream": False})
            assert r.status_code == 200 and r.json()["status"] == "succeeded"
        page = c.get(f"/v1/sessions/{sid}/messages", params={"limit": 3}).json()
        assert [m["role"] for m in page["data"]] == ["user", "assistant", "user"]
        assert page["has_more"] is True
        rest = c.get(f"/v1/sessions/{sid}/messages", params={"after": page["next_after"]}).json()
    assert [m["content"][0]["text"] for m in rest["data"]] == ["you said: two"]
    assert rest["has_more"] is False


def test_join_replays_from_last_event_id(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False}).json()
        with c.stream("GET", f"/v1/runs/{run['id']}/events", headers={"last-event-id": "2"}) as r:
            sse = read_sse(r)
    assert sse.ids[0] == 3
    assert sse.types[-1] == "run.completed"


def test_agent_state_is_restored_for_the_next_run(served):
    app, models = react_app(["first answer", "second answer"])
    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        for text in ("remember 42", "what did I say?"):
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": text, "stream": False})
            assert r.status_code == 200, r.text
    # the second run's agent is a new object: it only knows the first turn through the state
    second_call = models[1].calls[0]
    texts = [m.text for m in second_call.messages]
    assert "remember 42" in texts and "first answer" in texts


def test_tool_call_and_result_are_streamed_and_stored(served):
    app, _ = react_app([ScriptedModel.tool_call("add", {"a": 2, "b": 3}), "it is 5"])
    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "2+3?"}) as r:
            sse = read_sse(r)
        msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert "tool.result" in sse.types
    result = next(e for e in sse.events if e["type"] == "tool.result")
    assert result["result"]["is_error"] is False
    assert "5" in json.dumps(result["result"]["content"])
    roles = [m["role"] for m in msgs]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert msgs[1]["content"][-1]["type"] == "tool_use"
    assert msgs[3]["content"][0]["text"] == "it is 5"
    assert not any(m["partial"] for m in msgs)


def test_get_run_reports_status_usage_and_output(served):
    app, _ = react_app(["hello"])
    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False}).json()
        got = c.get(f"/v1/runs/{run['id']}").json()
    assert got["status"] == "succeeded"
    assert got["usage"]["output_tokens"] > 0
    assert got["model"] == "scripted"
    assert got["output"]["content"][0]["text"] == "hello"


def test_model_failure_ends_the_stream_with_run_failed_and_a_code(served):
    from roost.core import ModelUnavailable

    app, _ = react_app([ModelUnavailable("provider down")])
    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            assert r.status_code == 200
            sse = read_sse(r)
        r2 = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
    assert sse.types[-1] == "run.failed"
    assert sse.events[-1]["code"] == "model_unavailable"
    # not streaming: the failure is the HTTP status, never an error inside a 200
    assert r2.status_code in (500, 503)
    assert "code" in r2.json()["error"]
    assert r2.headers["x-run-id"] == r2.json()["error"]["details"]["run_id"]


def test_generator_agent_exception_becomes_run_failed_without_internals(served):
    app = AgentApp("boom", admin_key=ADMIN_KEY)

    @app.agent
    async def boom(msg: Msg, ctx: AgentContext) -> Any:
        yield "partial "
        raise ValueError("secret internal detail")

    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            sse = read_sse(r)
        msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    last = sse.events[-1]
    assert last["type"] == "run.failed" and last["code"] == "agent_error"
    assert "secret" not in json.dumps(sse.events)
    assert msgs[-1]["content"][0]["text"] == "partial "


def test_cancel_interrupts_the_stream_and_keeps_the_partial_reply(served):
    app = AgentApp("slow", admin_key=ADMIN_KEY)

    @app.agent
    async def slow(msg: Msg, ctx: AgentContext) -> Any:
        yield "start "
        await asyncio.sleep(30)
        yield "never"

    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            run_id = r.headers["x-run-id"]
            lines = r.iter_lines()
            for line in lines:
                if '"text.delta"' in line:
                    break
            with s.client() as c2:
                assert c2.post(f"/v1/runs/{run_id}/cancel").status_code == 202
            rest = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
        run = c.get(f"/v1/runs/{run_id}").json()
        msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
        again = c.post(f"/v1/runs/{run_id}/cancel")
    assert rest[-1]["type"] == "run.canceled"
    assert run["status"] == "canceled"
    assert msgs[-1]["role"] == "assistant" and msgs[-1]["content"][0]["text"] == "start "
    assert msgs[-1]["partial"] is True  # the stored reply says it is unfinished
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_not_active"


def test_approval_pauses_the_run_until_approved(served):
    app = AgentApp("guarded", admin_key=ADMIN_KEY)

    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    @app.agent
    def agent(ctx: AgentContext) -> ReActAgent:
        tools = Toolkit()
        tools.register(delete_file, requires_approval=True)
        model = ScriptedModel([ScriptedModel.tool_call("delete_file", {"path": "/tmp/x"}), "done"])
        return ReActAgent("guarded", model, toolkit=tools)

    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "clean up"}) as r:
            run_id = r.headers["x-run-id"]
            lines = r.iter_lines()
            call_id = None
            for line in lines:
                if line.startswith("data: ") and '"approval.required"' in line:
                    call_id = json.loads(line[6:])["call_id"]
                    break
            assert call_id is not None
            with s.client() as c2:
                assert c2.get(f"/v1/runs/{run_id}").json()["status"] == "waiting_approval"
                bad = c2.post(f"/v1/runs/{run_id}/approvals/nope", json={"approve": True})
                assert bad.status_code == 404
                assert bad.json()["error"]["code"] == "approval_not_found"
                ok = c2.post(
                    f"/v1/runs/{run_id}/approvals/{call_id}",
                    json={"approve": True, "reason": "looks safe"},
                )
                assert ok.status_code == 202
            rest = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
    types = [e["type"] for e in rest]
    assert "approval.resolved" in types and "tool.result" in types
    resolved = next(e for e in rest if e["type"] == "approval.resolved")
    assert resolved["approved"] is True and resolved["reason"] == "looks safe"
    result = next(e for e in rest if e["type"] == "tool.result")
    assert result["result"]["content"][0]["text"] == "deleted /tmp/x"
    assert types[-1] == "run.completed"


def test_x_session_id_header_starts_a_run(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        r = c.post(
            "/v1/runs", json={"input": "hey", "stream": False}, headers={"x-session-id": sid}
        )
        missing = c.post("/v1/runs", json={"input": "hey"})
    assert r.status_code == 200 and r.json()["output"]["content"][0]["text"] == "you said: hey"
    assert missing.status_code == 422


def test_delete_session_removes_it(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        assert c.delete(f"/v1/sessions/{sid}").status_code == 204
        r = c.get(f"/v1/sessions/{sid}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"


def test_healthz_readyz_metrics_and_openapi(served):
    s = served(echo_app())
    with s.client(key=None) as anon, s.client() as c:
        assert anon.get("/healthz").json()["status"] == "ok"
        assert anon.get("/readyz").json()["status"] == "ready"
        assert anon.get("/metrics").status_code == 401
        c.get("/healthz")
        metrics = c.get("/metrics").text
        spec = c.get("/openapi.json").json()
    assert 'roost_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    # refused before routing, still counted under its route
    assert 'roost_http_requests_total{method="GET",route="/metrics",status="401"}' in metrics
    assert "roost_http_request_duration_seconds_bucket" in metrics
    assert "/v1/sessions/{session_id}/runs" in spec["paths"]
    assert "RunCreate" in spec["components"]["schemas"]
    # every route the app serves is documented, with its query parameters and errors
    served_routes = {  # a Starlette convertor ({name:path}) is documented as {name}
        (m.lower(), re.sub(r"\{([^}:]+):[^}]+\}", r"{\1}", r.path))
        for r in s.app.router.routes
        for m in (getattr(r, "methods", None) or ())
        if m != "HEAD"
    }
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served_routes <= documented, served_routes - documented
    messages = spec["paths"]["/v1/sessions/{session_id}/messages"]["get"]
    assert {p["name"] for p in messages["parameters"]} == {"session_id", "limit", "after"}
    assert {"401", "404", "422", "429"} <= set(messages["responses"])
    events = spec["paths"]["/v1/runs/{run_id}/events"]["get"]
    assert "Last-Event-ID" in {p["name"] for p in events["parameters"]}
    assert "413" in spec["paths"]["/v1/sessions"]["post"]["responses"]
    assert "401" not in spec["paths"]["/healthz"]["get"]["responses"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_unknown_route_is_a_json_404(served):
    s = served(echo_app())
    with s.client() as c:
        r = c.get("/v1/nope")
        m = c.put("/v1/sessions")
    assert r.status_code == 404 and r.json()["error"]["code"] == "route_not_found"
    assert m.status_code == 405 and m.json()["error"]["code"] == "method_not_allowed"


_ = httpx


def test_replay_from_inside_a_coalesced_range_gives_the_exact_events(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "abc"}) as r:
            live = read_sse(r)
        run_id = live.events[0]["run_id"]
        deltas = [e["seq"] for e in live.events if e["type"] == "text.delta"]
        assert len(deltas) == 3  # stored as one coalesced row
        middle = deltas[0]
        with c.stream(
            "GET", f"/v1/runs/{run_id}/events", headers={"last-event-id": str(middle)}
        ) as r:
            replay = read_sse(r)
        with c.stream("GET", f"/v1/runs/{run_id}/events") as r:
            full = read_sse(r)
    assert replay.events == [e for e in live.events if e["seq"] > middle]
    assert full.events == live.events


def test_coalesce_round_trips():
    from roost.server.engine.codec import coalesce, expand_stored

    events = [(1, "run.started", {"seq": 1, "type": "run.started"})]
    events += [
        (i, "text.delta", {"seq": i, "type": "text.delta", "msg_id": "m", "delta": d})
        for i, d in ((2, "he"), (3, "llo"), (4, "é!"))
    ]
    events += [(5, "text.delta", {"seq": 5, "type": "text.delta", "msg_id": "n", "delta": "x"})]
    rows = coalesce(events)
    assert [r[0] for r in rows] == [1, 4, 5]
    assert expand_stored(rows, 0) == events
    assert expand_stored(rows, 3) == events[3:]


def test_idle_streams_get_keepalive_comments(served):
    app = AgentApp("idle", admin_key=ADMIN_KEY, keepalive_interval=0.25)

    @app.agent
    async def pause(msg: Msg, ctx: AgentContext) -> Any:
        yield "a"
        await asyncio.sleep(1.2)
        yield "b"

    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "x"}) as r:
            raw = "".join(r.iter_text())
    assert raw.count(": keepalive") >= 2
    assert raw.rstrip().endswith('"type":"run.completed"}')


def test_flat_events_are_sent_as_their_json_dump():
    """The direct read of flat events (every text delta) equals pydantic's JSON dump."""
    from roost.core import (
        ApprovalResolved,
        ErrorEvent,
        Interrupted,
        ReplyStarted,
        TextDelta,
        ThinkingDelta,
        ToolCallDelta,
        ToolCallStarted,
        ToolProgress,
    )
    from roost.server.engine.codec import _FLAT_EVENTS, event_data
    from roost.server.engine.codec import dumps as _DUMPS

    events: list[Any] = [
        ReplyStarted(msg_id="r1", agent="a"),
        TextDelta(msg_id="m1", delta='é\n"', agent="a"),
        TextDelta(delta="no msg id, no agent"),
        ThinkingDelta(msg_id="m1", delta="hmm"),
        ToolCallStarted(msg_id="m1", call_id="c1", name="add", agent="a"),
        ToolCallDelta(call_id="c1", delta='{"a": 1'),
        ToolProgress(call_id="c1", name="add", delta="50%", agent="a"),
        ErrorEvent(code="max_iterations", message="m", recoverable=True, agent="a"),
        Interrupted(msg_id="r1", reason="canceled", agent="a"),
        ApprovalResolved(call_id="c1", approved=False, agent="a"),
        ApprovalResolved(call_id="c1", approved=True, reason=None),
    ]
    assert {type(e) for e in events} == _FLAT_EVENTS
    for event in events:
        expected = event.model_dump(mode="json", exclude_none=True)
        assert list(event_data(event).items()) == list(expected.items())
        env = {"seq": 3, "run_id": "run_1", **event_data(event), "type": event.type}
        assert _DUMPS(env) == json.dumps(env, separators=(",", ":"), ensure_ascii=False)


def test_get_session_shows_what_runs_changed(served):
    # the runs' session cache must not serve a stale record to GET /v1/sessions/{id}
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        before = c.get(f"/v1/sessions/{sid}").json()
        c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False})
        after = c.get(f"/v1/sessions/{sid}").json()
        listed = next(x for x in c.get("/v1/sessions").json()["data"] if x["id"] == sid)
    assert after["updated_at"] > before["updated_at"]
    assert after["updated_at"] == listed["updated_at"]


def test_streams_close_their_event_follower_when_they_end(served):
    # left unfinished, the follower is closed by asyncio's finalizer hook instead: a
    # self-pipe wake-up and a task of its own for every stream
    s = served(echo_app())
    followers: list[Any] = []
    follow = s.app.services.executor.follow

    def kept(run_id: str, after_seq: int = 0) -> Any:
        gen = follow(run_id, after_seq)
        followers.append(gen)  # held here, so only an explicit close can finish it
        return gen

    s.app.services.executor.follow = kept
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            assert read_sse(r).types[-1] == "run.completed"
        chat = c.post(
            "/v1/chat/completions",
            json={"model": "echo", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
        assert chat.text.endswith("data: [DONE]\n\n")
    assert len(followers) == 2
    # finished, not suspended (closed right after the stream's last write: wait for it)
    wait_until(lambda: all(gen.ag_frame is None for gen in followers), timeout=10)
