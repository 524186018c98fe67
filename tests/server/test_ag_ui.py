"""AG-UI over a real server: every event validates against the ``ag-ui-protocol`` types,
and a front-end tool round trip works like OpenAI client tools."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_openai_pass_through import make_app

ag_ui = pytest.importorskip("ag_ui.core")
from pydantic import TypeAdapter  # noqa: E402

EVENT = TypeAdapter(ag_ui.Event)
WEATHER = {
    "name": "get_weather",
    "description": "The weather at a city code",
    "parameters": {"type": "object", "properties": {"code": {"type": "string"}}},
}


def run(c: Any, body: dict[str, Any]) -> list[Any]:
    with c.stream("POST", "/ag-ui/helper", json=body) as r:
        assert r.status_code == 200, r.read()
        lines = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    return [EVENT.validate_python(json.loads(x)) for x in lines]


def test_text_streams_as_ag_ui_events(served):
    s = served(make_app()[0])
    with s.client() as c:
        events = run(
            c, {"threadId": "t1", "messages": [{"id": "1", "role": "user", "content": "hi"}]}
        )
    types = [e.type.value for e in events]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    assert types[1] == "TEXT_MESSAGE_START" and "TEXT_MESSAGE_END" in types
    text = "".join(e.delta for e in events if e.type.value == "TEXT_MESSAGE_CONTENT")
    assert text == "Plain answer."


def test_front_end_tool_round_trip_with_server_tool_results(served):
    s = served(make_app()[0])
    history = [{"id": "1", "role": "user", "content": "Weather in Paris?"}]
    with s.client() as c:
        first = run(c, {"threadId": "t2", "messages": history, "tools": [WEATHER]})
        types = [e.type.value for e in first]
        # the server's city_code ran (its result streamed), then the front-end tool call
        results = [e for e in first if e.type.value == "TOOL_CALL_RESULT"]
        assert results and results[0].content == "FR-PAR"
        starts = [e for e in first if e.type.value == "TOOL_CALL_START"]
        call = starts[-1]
        assert call.tool_call_name == "get_weather" and types[-1] == "RUN_FINISHED"
        args = "".join(
            e.delta
            for e in first
            if e.type.value == "TOOL_CALL_ARGS" and e.tool_call_id == call.tool_call_id
        )
        assert json.loads(args) == {"code": "FR-PAR"}
        history += [
            {
                "id": "2",
                "role": "assistant",
                "toolCalls": [
                    {
                        "id": call.tool_call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": args},
                    }
                ],
            },
            {"id": "3", "role": "tool", "toolCallId": call.tool_call_id, "content": "sunny"},
        ]
        second = run(c, {"threadId": "t2", "messages": history, "tools": [WEATHER]})
    text = "".join(e.delta for e in second if e.type.value == "TEXT_MESSAGE_CONTENT")
    assert text == "It is sunny in Paris."


def test_ag_ui_needs_a_key(served):
    s = served(make_app()[0])
    with s.client(key=None) as c:
        r = c.post("/ag-ui/helper", json={"threadId": "t", "messages": []})
    assert r.status_code == 401
