"""LangChain's ``ChatOpenAI`` pointed at Roost: ``bind_tools`` and ``with_structured_output``."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from server_support import ADMIN_KEY
from test_openai_pass_through import Weather, make_app

lc_openai = pytest.importorskip("langchain_openai")
messages = pytest.importorskip("langchain_core.messages")


class GetWeather(BaseModel):
    """The weather at a city code."""

    code: str


def chat(s: object) -> object:
    return lc_openai.ChatOpenAI(
        model="helper",
        base_url=s.url + "/v1",
        api_key=ADMIN_KEY,
        max_retries=0,  # type: ignore[attr-defined]
    )


def test_bind_tools_round_trip(served):
    s = served(make_app()[0])
    llm = chat(s).bind_tools([GetWeather])
    history = [messages.HumanMessage("Weather in Paris?")]
    ai = llm.invoke(history)
    [call] = ai.tool_calls
    assert call["name"] == "GetWeather" and call["args"] == {"code": "FR-PAR"}
    history += [ai, messages.ToolMessage("sunny", tool_call_id=call["id"])]
    assert llm.invoke(history).content == "It is sunny in Paris."


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output(served, method):
    s = served(make_app()[0])
    llm = chat(s).with_structured_output(Weather, method=method)
    prompt = "Give the Weather as JSON"
    assert llm.invoke(prompt) == Weather(city="Paris", temp_c=21)
