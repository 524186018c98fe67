"""The HTTP providers inside a real ReActAgent loop: tool call → tool result → answer."""

from __future__ import annotations

from typing import Any

from fake_providers import FakeAnthropicServer, FakeOpenAIServer, Reply
from roost.agents import ReActAgent
from roost.core import Msg
from roost.models import AnthropicChatModel, OpenAIChatModel
from roost.tools import Toolkit, tool


@tool
def get_weather(city: str) -> str:
    """Current weather of a city.

    Args:
        city: The city name.
    """
    return f"21°C and sunny in {city}"


def _tool_result_text(body: dict[str, Any]) -> str | None:
    for message in body["messages"]:
        if message.get("role") == "tool":
            return str(message["content"])
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "tool_result":
                    return "".join(p.get("text", "") for p in part.get("content", []))
    return None


def _weather_responder(body: dict[str, Any]) -> Reply:
    result = _tool_result_text(body)
    if result is None:
        return Reply(tool_calls=[("call_w1", "get_weather", '{"city": "Paris"}')])
    return Reply(text=f"The weather: {result}.")


async def test_openai_model_drives_a_tool_round_trip() -> None:
    with FakeOpenAIServer(responder=_weather_responder) as server:
        model = OpenAIChatModel("gpt-4o-mini", base_url=server.url, api_key="k")
        agent = ReActAgent("assistant", model, Toolkit([get_weather]))
        reply = await agent(Msg.user("Weather in Paris?"))
        assert reply.text == "The weather: 21°C and sunny in Paris."
        first, second = (r.body for r in server.requests)
        assert first["tools"][0]["function"]["name"] == "get_weather"
        assert second["messages"][-2]["tool_calls"][0]["id"] == "call_w1"
        assert second["messages"][-1] == {
            "role": "tool",
            "tool_call_id": "call_w1",
            "content": "21°C and sunny in Paris",
        }
        await model.aclose()


async def test_anthropic_model_drives_a_tool_round_trip() -> None:
    with FakeAnthropicServer(responder=_weather_responder) as server:
        model = AnthropicChatModel("claude-sonnet-4-20250514", base_url=server.url, api_key="k")
        agent = ReActAgent("assistant", model, Toolkit([get_weather]))
        reply = await agent(Msg.user("Weather in Paris?"))
        assert reply.text == "The weather: 21°C and sunny in Paris."
        second = server.requests[1].body
        assert second["system"]  # the agent's system prompt travels as top-level system
        roles = [m["role"] for m in second["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert second["messages"][2]["content"][0]["tool_use_id"] == "call_w1"
        assert reply.usage is not None and reply.usage.cost is not None
        await model.aclose()
