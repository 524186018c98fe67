"""The OpenAI Agents SDK pointed at Roost: its function tools run in the client while the
Roost agent's own tools run on the server, over Chat Completions and the Responses API."""

from __future__ import annotations

import pytest
from server_support import ADMIN_KEY
from test_openai_pass_through import make_app

agents = pytest.importorskip("agents")
openai = pytest.importorskip("openai")


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_an_agents_sdk_agent_runs_on_a_roost_agent(served, api):
    s = served(make_app()[0])
    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key=ADMIN_KEY, max_retries=0)
    model = (
        agents.OpenAIChatCompletionsModel(model="helper", openai_client=client)
        if api == "chat"
        else agents.OpenAIResponsesModel(model="helper", openai_client=client)
    )
    calls: list[str] = []

    @agents.function_tool
    def get_weather(code: str) -> str:
        """The weather at a city code."""
        calls.append(code)
        return "sunny, 24 C"

    agent = agents.Agent(name="front", instructions="Help.", model=model, tools=[get_weather])
    result = await agents.Runner.run(agent, "Weather in Paris?")
    assert calls == ["FR-PAR"]  # the code came from the Roost agent's server-side tool
    assert result.final_output == "It is sunny in Paris."
