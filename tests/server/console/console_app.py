"""The app the console tests serve: agents that stream text, call a tool, ask for
approval and run long enough to be stopped or resumed (all scripted, no model)."""

from __future__ import annotations

import asyncio
from typing import Any

from roost.agents import ReActAgent
from roost.core import Msg
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

SLOW_WORDS = 60


def console_app(admin_key: str, store_url: str) -> AgentApp:
    app = AgentApp("console", admin_key=admin_key, store_url=store_url, rate_limit=None)

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"{city}: sunny, 21 C"

    def delete_file(path: str) -> str:
        """Delete a file."""
        return f"deleted {path}"

    @app.agent(name="assistant")
    def assistant(ctx: AgentContext) -> ReActAgent:
        model = ScriptedModel(
            [ScriptedModel.tool_call("get_weather", {"city": "Paris"}), "It is sunny in Paris."],
            chunks=3,
        )
        return ReActAgent("assistant", model, toolkit=Toolkit([get_weather]))

    @app.agent(name="guarded")
    def guarded(ctx: AgentContext) -> ReActAgent:
        tools = Toolkit()
        tools.register(delete_file, requires_approval=True)
        model = ScriptedModel(
            [ScriptedModel.tool_call("delete_file", {"path": "/tmp/x"}), "Deleted."]
        )
        return ReActAgent("guarded", model, toolkit=tools)

    @app.agent(name="slow")
    async def slow(msg: Msg, ctx: AgentContext) -> Any:
        for i in range(SLOW_WORDS):
            yield f"w{i} "
            await asyncio.sleep(0.05)

    return app
