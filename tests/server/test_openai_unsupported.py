"""``/v1/chat/completions`` refuses the options an agent cannot honour (400
``unsupported_parameter``) and keeps accepting the sampling options it may ignore."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY
from test_openai_compat import make_app

USER = [{"role": "user", "content": "Capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "function": {"name": "y"}},
            },
            "tool_choice",
        ),
        ({"tool_choice": {"type": "function", "function": {"name": "x"}}}, "tool_choice"),
        ({"function_call": {"name": "get_weather"}}, "function_call"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
    ],
)
def test_options_the_agent_cannot_honour_are_400_unsupported_parameter(served, extra, param):
    s = served(make_app()[0])
    with s.client() as c:
        for stream in (False, True):
            r = c.post(
                "/v1/chat/completions",
                json={"model": "helper", "messages": USER, "stream": stream} | extra,
            )
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "unsupported_parameter"
            assert error["param"] == param
            assert error["type"] == "invalid_request_error"
            assert param in error["message"] or param in error["hint"]
        # nothing ran: no session was created for the refused request
        assert c.get("/v1/sessions").json()["data"] == []


def test_forcing_a_tool_the_client_did_not_send_is_refused(served):
    s = served(make_app()[0])
    with s.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "helper", "messages": USER, "tool_choice": "required"},
        )
    assert "the client's own tools" in r.json()["error"]["message"]


def test_sampling_options_are_accepted_and_ignored(served):
    s = served(make_app()[0])
    ignored: dict[str, Any] = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "max_completion_tokens": 50,
        "stop": ["\n\n"],
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logit_bias": {"50256": -100},
        "metadata": {"team": "a"},
        "store": False,
        "service_tier": "auto",
        "reasoning_effort": "low",
        "parallel_tool_calls": False,
        "n": 1,
        "tools": [],
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "logprobs": False,
        "modalities": ["text"],
        "some_future_option": True,
    }
    with s.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "helper", "messages": USER, **ignored})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Paris is the capital."


def test_the_openai_sdk_raises_bad_request_with_code_and_param(served):
    openai = pytest.importorskip("openai")
    s = served(make_app()[0])
    client = openai.OpenAI(base_url=s.url + "/v1", api_key=ADMIN_KEY, http_client=httpx.Client())
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="helper", messages=USER, logprobs=True)
    err = raised.value
    assert err.status_code == 400
    assert err.code == "unsupported_parameter" and err.param == "logprobs"
    assert err.type == "invalid_request_error"
    assert "log probabilities" in err.message
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="helper", messages=USER, n=3, stream=True)
    assert raised.value.param == "n"
    done = client.chat.completions.create(
        model="helper", messages=USER, temperature=0, max_tokens=20, seed=1, tool_choice="auto"
    )
    assert done.choices[0].message.content == "Paris is the capital."
