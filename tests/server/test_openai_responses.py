"""``POST /v1/responses`` with the official SDK: text, streaming, tools, parse, chaining."""

from __future__ import annotations

import json

import pytest
from test_openai_pass_through import Weather, make_app, sdk

openai = pytest.importorskip("openai")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather at a city code",
    "parameters": {
        "type": "object",
        "properties": {"code": {"type": "string"}},
        "required": ["code"],
    },
}


def test_a_plain_response_and_a_continuation_by_previous_response_id(served):
    app, models = make_app()
    client = sdk(served(app))
    first = client.responses.create(model="helper", input="Hello", instructions="Be brief.")
    assert first.output_text == "Plain answer." and first.status == "completed"
    assert first.usage.total_tokens > 0
    second = client.responses.create(
        model="helper", input="Hello again", previous_response_id=first.id
    )
    assert second.output_text == "Plain answer."
    seen = [m.text for m in models[-1].calls[-1].messages]
    assert "Hello" in seen and "Hello again" in seen  # one conversation


def test_function_tools_round_trip(served):
    app, _ = make_app()
    client = sdk(served(app))
    first = client.responses.create(model="helper", input="Weather in Paris?", tools=[WEATHER])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"code": "FR-PAR"}
    second = client.responses.create(
        model="helper",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert second.output_text == "It is sunny in Paris."


def test_streaming_events_in_order(served):
    app, _ = make_app()
    client = sdk(served(app))
    with client.responses.stream(model="helper", input="Hello") as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in types and types[-1] == "response.completed"
    assert final.output_text == "Plain answer."


def test_streamed_function_call(served):
    app, _ = make_app()
    client = sdk(served(app))
    with client.responses.stream(
        model="helper", input="Weather in Paris?", tools=[WEATHER]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    [call] = [item for item in final.output if item.type == "function_call"]
    assert call.name == "get_weather"


def test_parse_with_text_format(served):
    app, _ = make_app()
    client = sdk(served(app))
    done = client.responses.parse(model="helper", input="Weather as JSON", text_format=Weather)
    assert done.output_parsed == Weather(city="Paris", temp_c=21)


def test_an_unknown_previous_response_is_404(served):
    app, _ = make_app()
    client = sdk(served(app))
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="helper", input="x", previous_response_id="resp_nope")
