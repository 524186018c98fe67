"""Apps served by the reliability tests in separate processes (``roost serve apps.agents:…``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from roost.agents import ReActAgent
from roost.core import Msg
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext
from roost.tools import Toolkit

ADMIN_KEY = "rk_" + "A" * 43


def lookup(city: str) -> str:
    """Look up the weather of a city."""
    return f"{city}: sunny, 21 C"


def _slow_model() -> ScriptedModel:
    words = " ".join(f"w{i}" for i in range(400))
    return ScriptedModel(
        [ScriptedModel.tool_call("lookup", {"city": "Paris"}), words], chunks=400, chunk_delay=0.02
    )


slow = AgentApp(
    "slow",
    admin_key=ADMIN_KEY,
    rate_limit=None,
    store_schema=os.environ.get("ROOST_TEST_SCHEMA") or None,
)


@slow.agent
def slow_agent(ctx: AgentContext) -> ReActAgent:
    """A ReAct agent that calls a tool, then streams a long answer slowly."""
    return ReActAgent("slow", _slow_model(), toolkit=Toolkit([lookup]))


@slow.agent(name="ticker")
async def ticker(msg: Msg, ctx: AgentContext) -> Any:
    """Streams one tick per 0.1 s for 3 s (a background run that outlives a kill -9)."""
    for i in range(30):
        await asyncio.sleep(0.1)
        yield f"t{i} "


@slow.task("/v1/jobs/write")
async def write_file(body: dict[str, Any]) -> dict[str, Any]:
    """Sleeps, then writes ``body["path"]``; the test kills the server during the sleep."""
    await asyncio.to_thread(Path(body["path"] + ".started").write_text, str(os.getpid()))
    await asyncio.sleep(float(body.get("seconds", 2)))
    await asyncio.to_thread(Path(body["path"]).write_text, body.get("text", "done"))
    return {"written": body["path"]}
