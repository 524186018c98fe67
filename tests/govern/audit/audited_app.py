"""The app the kill -9 test serves in a separate process (``roost serve audited_app:app``)."""

from __future__ import annotations

from roost.agents import ReActAgent
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

ADMIN_KEY = "rk_" + "A" * 43


def lookup(city: str) -> str:
    """Look up the weather of a city."""
    return f"{city}: sunny"


app = AgentApp("audited", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)


@app.agent
def weather(ctx: AgentContext) -> ReActAgent:
    model = ScriptedModel([ScriptedModel.tool_call("lookup", {"city": "Oslo"}), "Sunny."])
    return ReActAgent("weather", model, toolkit=Toolkit([lookup]))
