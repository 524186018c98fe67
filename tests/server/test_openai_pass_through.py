"""Client tools, structured output and images on /v1/chat/completions, with the real SDK."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel
from server_support import ADMIN_KEY

from roost.agents import ReActAgent
from roost.core import ImageBlock, Msg
from roost.models import ScriptedModel
from roost.models.scripted import ScriptedReply, ScriptedToolCall
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

openai = pytest.importorskip("openai")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather at a city code",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string"}},
            "required": ["code"],
        },
    },
}


class Weather(BaseModel):
    city: str
    temp_c: int


def brain(model: ScriptedModel, msgs: list[Msg]) -> Any:
    """City code on the server, weather from the client, then the answer; a forced tool
    is called with the structured answer, as a real model does."""
    sent = model.calls[-1]
    client_tools = [t.name for t in sent.tools if t.name != "city_code"]
    last = msgs[-1]
    texts = [r.text for r in last.tool_results]
    if sent.tool_choice not in (None, "auto", "none", "required"):
        return ScriptedReply(
            tool_calls=[ScriptedToolCall(sent.tool_choice, {"city": "Paris", "temp_c": 21})]
        )
    if any(r.code == "client_tool_unanswered" for m in msgs for r in m.tool_results):
        return "The weather service did not answer."
    if any("sunny" in t for t in texts):
        return "It is sunny in Paris."
    if "FR-PAR" in texts:
        name = client_tools[0] if client_tools else "get_weather"
        return ScriptedReply(tool_calls=[ScriptedToolCall(name, {"code": "FR-PAR"}, id="call_w1")])
    if "JSON" in last.text:
        return '{"city": "Paris", "temp_c": 21}'
    if last.role == "user" and "Weather" not in last.text and "weather" not in last.text:
        return "Plain answer."
    return ScriptedReply(tool_calls=[ScriptedToolCall("city_code", {"name": "Paris"})])


def make_app(**kw: Any) -> tuple[AgentApp, list[ScriptedModel]]:
    app = AgentApp("helper", admin_key=ADMIN_KEY, **kw)
    models: list[ScriptedModel] = []

    @app.agent
    def helper(ctx: AgentContext) -> ReActAgent:
        toolkit = Toolkit()

        @toolkit.tool
        def city_code(name: str) -> str:
            """The code of a city."""
            return "FR-PAR"

        model = ScriptedModel([lambda msgs: brain(model, msgs)], loop=True)
        models.append(model)
        return ReActAgent("helper", model, toolkit)

    return app, models


def sdk(s: Any) -> Any:
    return openai.OpenAI(base_url=s.url + "/v1", api_key=ADMIN_KEY, max_retries=0)


def test_client_tool_calls_go_back_to_the_client_and_server_tools_still_run(served):
    app, models = make_app()
    s = served(app)
    client = sdk(s)
    history: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="helper", messages=history, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {
        "code": "FR-PAR"  # the server-side city_code tool ran first
    }
    assert [t.name for t in models[0].calls[0].tools] == ["city_code", "get_weather"]
    history += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"},
    ]
    second = client.chat.completions.create(model="helper", messages=history, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].finish_reason == "stop"


def test_streamed_tool_calls_arrive_as_deltas_with_finish_reason_tool_calls(served):
    app, _ = make_app()
    client = sdk(served(app))
    stream = client.chat.completions.create(
        model="helper",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for d in choice.delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += d.id or ""
                entry["name"] += d.function.name or ""
                entry["arguments"] += d.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert (
        calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"])["code"] == "FR-PAR"
    )


def test_parse_returns_the_agents_structured_output(served):
    app, _ = make_app()
    client = sdk(served(app))
    done = client.chat.completions.parse(
        model="helper",
        messages=[{"role": "user", "content": "Give the Weather as JSON"}],
        response_format=Weather,
    )
    assert done.choices[0].message.parsed == Weather(city="Paris", temp_c=21)


def test_json_object_response_format_streams_the_json_once(served):
    app, _ = make_app()
    client = sdk(served(app))
    stream = client.chat.completions.create(
        model="helper",
        messages=[{"role": "user", "content": "answer in JSON"}],
        response_format={"type": "json_object"},
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert json.loads(text) == {"city": "Paris", "temp_c": 21}


def test_image_parts_reach_the_model(served):
    app, models = make_app()
    client = sdk(served(app))
    client.chat.completions.create(
        model="helper",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                ],
            }
        ],
    )
    [image] = [b for b in models[0].calls[0].messages[-1].content if isinstance(b, ImageBlock)]
    assert image.media_type == "image/png" and image.data == "iVBORw0K"


def test_unknown_content_parts_and_tool_types_are_refused_not_dropped(served):
    app, _ = make_app()
    client = sdk(served(app))
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(
            model="helper",
            messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}],
        )
    assert err.value.code == "invalid_request" and "messages" in str(err.value.body)
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.chat.completions.create(
            model="helper",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "web_search"}],
        )
    assert "tools" in str(err.value.body)


def test_client_tool_named_like_a_server_tool_is_400(served):
    app, _ = make_app()
    client = sdk(served(app))
    clash = {"type": "function", "function": {"name": "city_code", "parameters": {}}}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="helper", messages=[{"role": "user", "content": "Weather?"}], tools=[clash]
        )
    assert err.value.code == "tool_name_conflict"


def test_a_call_the_client_never_answers_is_closed_with_a_typed_error(served):
    app, _ = make_app()
    s = served(app)
    with s.client() as c:
        first = c.post(
            "/v1/chat/completions",
            json={
                "model": "helper",
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "tools": [WEATHER_TOOL],
            },
        )
        sid = first.headers["x-session-id"]
        second = c.post(
            "/v1/chat/completions",
            headers={"x-session-id": sid},
            json={
                "model": "helper",
                "messages": [{"role": "user", "content": "never mind, the weather?"}],
                "tools": [WEATHER_TOOL],
            },
        )
    assert first.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        second.json()["choices"][0]["message"]["content"] == "The weather service did not answer."
    )


def test_user_only_labels_the_run_unless_the_app_opts_in(served):
    plain, _ = make_app()
    sticky, _ = make_app(openai_user_sessions=True)
    ids = {}
    for name, app in (("plain", plain), ("sticky", sticky)):
        with served(app).client() as c:
            ids[name] = [
                c.post(
                    "/v1/chat/completions",
                    json={
                        "model": "helper",
                        "user": "u1",
                        "messages": [{"role": "user", "content": t}],
                    },
                ).headers["x-session-id"]
                for t in ("a", "b")
            ]
    assert ids["plain"][0] != ids["plain"][1]
    assert ids["sticky"][0] == ids["sticky"][1]
