"""The OpenAI-compatible endpoint, driven by the official ``openai`` SDK when installed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY

from roost.agents import ReActAgent
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext


def make_app(**kw: Any) -> tuple[AgentApp, list[ScriptedModel]]:
    app = AgentApp("helper", admin_key=ADMIN_KEY, **kw)
    models: list[ScriptedModel] = []

    @app.agent
    def helper(ctx: AgentContext) -> ReActAgent:
        def answer(msgs: list[Any]) -> str:
            asks_size = "How many" in msgs[-1].text
            return "It has 2.1 million people." if asks_size else "Paris is the capital."

        model = ScriptedModel([answer], chunks=4, loop=True)
        models.append(model)
        return ReActAgent("helper", model)

    return app, models


def test_non_streaming_completion_has_openai_shape(served):
    app, _ = make_app()
    s = served(app)
    with s.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "helper",
                "messages": [{"role": "user", "content": "Capital of France?"}],
            },
        )
    body = r.json()
    assert r.status_code == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Paris is the capital.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert (
        body["usage"]["total_tokens"]
        == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
        > 0
    )


def test_streaming_chunks_end_with_done(served):
    app, _ = make_app()
    s = served(app)
    with (
        s.client() as c,
        c.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "helper",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
                "stream_options": {"include_usage": True},
            },
        ) as r,
    ):
        lines = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    import json

    assert lines[-1] == "[DONE]"
    chunks = [json.loads(x) for x in lines[:-1]]
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks if ch["choices"])
    assert text == "Paris is the capital."
    assert any(ch["choices"] and ch["choices"][0]["finish_reason"] == "stop" for ch in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_session_header_continues_a_conversation_with_only_the_last_message(served):
    app, models = make_app()
    s = served(app)
    with s.client() as c:
        first = c.post(
            "/v1/chat/completions",
            json={
                "model": "helper",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                ],
            },
        )
        sid = first.headers["x-session-id"]
        history = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris is the capital."},
            {"role": "user", "content": "How many people?"},
        ]
        second = c.post(
            "/v1/chat/completions",
            headers={"x-session-id": sid},
            json={"model": "helper", "messages": history},
        )
        msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert second.json()["choices"][0]["message"]["content"] == "It has 2.1 million people."
    user_texts = [m["content"][0]["text"] for m in msgs if m["role"] == "user"]
    assert user_texts == ["Capital of France?", "How many people?"]  # no duplicated history
    seen = [m.text for m in models[1].calls[0].messages]
    assert seen.count("Capital of France?") == 1


def test_user_field_maps_to_a_stable_session_when_the_app_opts_in(served):
    app, _ = make_app(openai_user_sessions=True)
    s = served(app)
    with s.client() as c:
        a = c.post(
            "/v1/chat/completions",
            json={"model": "helper", "user": "u1", "messages": [{"role": "user", "content": "x"}]},
        )
        b = c.post(
            "/v1/chat/completions",
            json={"model": "helper", "user": "u1", "messages": [{"role": "user", "content": "y"}]},
        )
        other = c.post(
            "/v1/chat/completions",
            json={"model": "helper", "user": "u2", "messages": [{"role": "user", "content": "z"}]},
        )
    assert a.headers["x-session-id"] == b.headers["x-session-id"] != other.headers["x-session-id"]


def test_unknown_model_and_bad_body_are_typed_errors(served):
    app, _ = make_app()
    s = served(app)
    with s.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "agent_not_found"
        r = c.post("/v1/chat/completions", json={"model": "helper", "messages": []})
        assert r.status_code == 422
        models = c.get("/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["helper"]


def test_the_official_openai_sdk_talks_to_an_agent(served):
    openai = pytest.importorskip("openai")
    app, _ = make_app()
    s = served(app)
    client = openai.OpenAI(base_url=s.url + "/v1", api_key=ADMIN_KEY, http_client=httpx.Client())
    done = client.chat.completions.create(
        model="helper", messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content == "Paris is the capital."
    stream = client.chat.completions.create(
        model="helper", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join((ch.choices[0].delta.content or "") for ch in stream if ch.choices)
    assert text == "Paris is the capital."
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.url + "/v1", api_key="nope").models.list()


_: Any = None


def test_a_session_header_nobody_owns_names_a_conversation_of_this_key_only(served):
    app, _ = make_app()

    @app.agent
    def other(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("other", ScriptedModel(["hi"]))

    s = served(app)
    ask = {"model": "helper", "messages": [{"role": "user", "content": "Capital of France?"}]}
    with s.client() as admin:
        made = admin.post("/v1/keys", json={"name": "bob", "user_id": "bob"}).json()
        mine = admin.post("/v1/chat/completions", headers={"x-session-id": "chat-1"}, json=ask)
        again = admin.post("/v1/chat/completions", headers={"x-session-id": "chat-1"}, json=ask)
        native = admin.post("/v1/sessions", json={"agent": "helper"}).json()["id"]
        wrong_agent = admin.post(
            "/v1/chat/completions",
            headers={"x-session-id": native},
            json={**ask, "model": "other"},
        )
    with s.client(made["key"]) as bob:
        bobs = bob.post("/v1/chat/completions", headers={"x-session-id": "chat-1"}, json=ask)
        # someone else's session: neither joined nor revealed (no 409 session_exists)
        probe = bob.post("/v1/chat/completions", headers={"x-session-id": native}, json=ask)
    assert mine.status_code == again.status_code == bobs.status_code == probe.status_code == 200
    sid = mine.headers["x-session-id"]
    assert again.headers["x-session-id"] == sid != bobs.headers["x-session-id"]
    assert sid != "chat-1" and probe.headers["x-session-id"] != native
    assert wrong_agent.status_code == 409
    assert wrong_agent.json()["error"]["code"] == "session_agent_mismatch"
