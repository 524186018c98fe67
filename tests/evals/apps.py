"""Apps the eval tests serve: two versions of one agent, a ReAct agent with a tool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from roost.agents import ReActAgent
from roost.core import Msg
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit, tool


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def adder_model() -> ScriptedModel:
    """Asks the tool for the two numbers in the question, then answers with the sum."""

    def step(messages: list[Msg]) -> Any:
        last = messages[-1]
        if last.role == "tool":
            result = last.content[0]
            return ScriptedModel.text(f"The answer is {result.text}.")  # type: ignore[union-attr]
        nums = [int(w) for w in last.text.replace("?", " ").split() if w.isdigit()]
        if len(nums) < 2:
            return ScriptedModel.text("I need two numbers.")
        return ScriptedModel.tool_call(
            "add", {"a": nums[0], "b": nums[1]}, id=f"call_{nums[0]}_{nums[1]}"
        )

    return ScriptedModel([step], loop=True)


def make_app(**options: Any) -> AgentApp:
    options.setdefault("auth", False)
    options.setdefault("rate_limit", None)
    app = AgentApp("evals-test", **options)

    @app.agent(name="calc@v1")
    def calc_v1(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("calc", adder_model(), toolkit=Toolkit([add]))

    @app.agent(name="calc@v2")
    async def calc_v2(msg: Msg, ctx: AgentContext) -> AsyncIterator[str]:
        """A worse version: answers without the tool, and crashes on 'boom'."""
        if "boom" in msg.text:
            raise RuntimeError("boom")
        yield "I think it is 4."

    return app
