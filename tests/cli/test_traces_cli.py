"""``roost traces list|show`` against a real SQLite store filled by a traced agent run."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from roost.agents import ReActAgent
from roost.cli.traces import app
from roost.core import Usage
from roost.models import ScriptedModel, ScriptedReply
from roost.observe import run_context, setup_tracing, shutdown_tracing
from roost.store import Store
from roost.tools import Toolkit, tool

runner = CliRunner()


@tool
def weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


async def _record_run(run_id: str) -> None:
    store = await Store.open()  # the default store under ROOST_HOME
    try:
        provider = setup_tracing(store=store)
        model = ScriptedModel(
            [
                ScriptedModel.tool_call("weather", {"city": "Hangzhou"}),
                ScriptedReply(text="Sunny.", usage=Usage(input_tokens=3000, output_tokens=400)),
            ],
            model_name="qwen-max",
        )
        agent = ReActAgent("weather-bot", model, toolkit=Toolkit([weather]))
        with run_context(run_id=run_id, session_id="ses_cli", user_id="erin"):
            await agent("weather in Hangzhou?")
        provider.force_flush()
    finally:
        shutdown_tracing()
        await store.close()


def test_show_prints_the_span_tree_with_tokens_and_cost() -> None:
    asyncio.run(_record_run("run_cli1"))
    result = runner.invoke(app, ["show", "run_cli1"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "run run_cli1" in out and "session ses_cli" in out
    assert "invoke_agent weather-bot" in out
    assert "chat qwen-max" in out and "execute_tool weather" in out
    assert "CNY" in out and "tokens" in out and "ms" in out
    # the tree nests: tool and chat spans are drawn under the agent span
    lines = out.splitlines()
    agent_line = next(i for i, line in enumerate(lines) if "invoke_agent" in line)
    tool_line = next(i for i, line in enumerate(lines) if "execute_tool weather" in line)
    assert tool_line > agent_line
    assert lines[tool_line].index("execute_tool") > lines[agent_line].index("invoke_agent")


def test_show_json_and_list() -> None:
    asyncio.run(_record_run("run_cli2"))
    result = runner.invoke(app, ["show", "run_cli2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["run_id"] == "run_cli2" and data["currency"] == "CNY" and data["cost"] > 0
    result = runner.invoke(app, ["list", "--json"])
    rows = json.loads(result.output)
    assert [r["run_id"] for r in rows] == ["run_cli2"]
    result = runner.invoke(app, ["list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "run_cli2" in result.output and "invoke_agent" in result.output


def test_list_on_an_empty_store_says_so() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "no traced runs yet" in result.output


def test_show_unknown_run_fails_with_the_error_code() -> None:
    asyncio.run(_record_run("run_cli3"))
    result = runner.invoke(app, ["show", "run_unknown"])
    assert result.exit_code == 1
    assert "trace_not_found" in result.output
