"""A started, idle AgentApp does not hold what only some requests need (decision 0097).

Guards the idle-memory work: the modules below cost megabytes and load on first use
(``/metrics``, the first reply, observability) — a plain import at start would undo it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import asyncio, sys
from roost.agents import ReActAgent
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext

app = AgentApp("idle", admin_key="rk_" + "b" * 43, rate_limit=None, observe=False)

@app.agent
def agent(ctx: AgentContext) -> ReActAgent:
    return ReActAgent("idle", ScriptedModel(["hi"]))

async def main() -> None:
    await app.startup()
    try:
        heavy = ["prometheus_client", "opentelemetry", "pydantic_settings", "rich", "typer",
                 "httpx", "yaml", "roost.observe", "roost.cli", "roost.sandbox"]
        print("loaded:", *[m for m in heavy if m in sys.modules])
        from roost.core import Msg
        from roost.server.schemas import RunOut
        print("built:", *[m.__name__ for m in (Msg, RunOut) if m.__pydantic_complete__])
    finally:
        await app.shutdown()

asyncio.run(main())
"""


def _started_app_prints(script: str, home: Path) -> list[str]:
    """Run ``script`` in a fresh interpreter on an embedded store under ``home``."""
    env = {**os.environ, "ROOST_HOME": str(home)}
    env.pop("ROOST_DATABASE_URL", None)
    env.pop("ROOST_REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()


def test_a_started_app_has_not_loaded_metrics_tracing_or_cli_modules(tmp_path: Path) -> None:
    out = _started_app_prints(_SCRIPT, tmp_path)
    assert "loaded:" in out  # none of them
    assert "built:" in out  # pydantic validators are built on first use


_OPENAI_SCRIPT = """
import asyncio, sys
from roost.agents import ReActAgent
from roost.models import OpenAIChatModel
from roost.server import AgentApp, AgentContext

app = AgentApp("idle", admin_key="rk_" + "b" * 43, rate_limit=None, observe=False)
model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key="k")

@app.agent
def agent(ctx: AgentContext) -> ReActAgent:
    return ReActAgent("idle", model)

async def main() -> None:
    await app.startup()
    try:
        heavy = ["httpx", "aiohttp", "rich", "pygments"]
        print("loaded:", *[m for m in heavy if sys.modules.get(m) is not None])
    finally:
        await app.shutdown()

asyncio.run(main())
"""


def test_an_app_with_a_provider_model_loads_no_http_client_at_start(
    tmp_path: Path,
) -> None:
    """The model clients (aiohttp, or httpx) load with the first model request (decision
    0103)."""
    out = _started_app_prints(_OPENAI_SCRIPT, tmp_path)
    assert "loaded:" in out
