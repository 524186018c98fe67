"""An app served by several replica processes on one PostgreSQL and one Redis
(``roost serve apps.replicas:app``); each test names its own app (``ROOST_TEST_APP``) so
its queue on the shared Redis is its own."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from roost.core import Msg
from roost.server import AgentApp, AgentContext
from roost.server.tasks import TaskQueue
from roost.store.locks import RedisSessionLocks

ADMIN_KEY = "rk_" + "A" * 43

TaskQueue.lease_ttl = 3.0  # a dead replica's work is taken over within seconds
RedisSessionLocks.default_ttl = 3.0  # and its session locks expire as fast

app = AgentApp(
    os.environ.get("ROOST_TEST_APP", "replicas"),
    admin_key=ADMIN_KEY,
    rate_limit=None,
    store_schema=os.environ.get("ROOST_TEST_SCHEMA") or None,
)


def _append(path: Path, line: str) -> None:
    with path.open("a") as f:
        f.write(line)


def record_tick(run_id: str, i: int) -> None:
    """One line per tick, ``pid run_id i time``: which process ran what, and when."""
    _append(Path(os.environ["ROOST_TEST_TICKS"]), f"{os.getpid()} {run_id} {i} {time.time()}\n")


@app.agent(name="ticker")
async def ticker(msg: Msg, ctx: AgentContext) -> Any:
    """``int(msg.text)`` ticks, one per 0.1 s."""
    for i in range(int(msg.text)):
        await asyncio.sleep(0.1)
        await asyncio.to_thread(record_tick, ctx.run_id or "", i)
        yield f"t{i} "


@app.task("/v1/jobs/write")
async def write_file(body: dict[str, Any]) -> dict[str, Any]:
    """Notes its start, sleeps, then writes ``body["path"]``."""
    await asyncio.to_thread(_append, Path(body["path"] + ".started"), f"{os.getpid()}\n")
    await asyncio.sleep(float(body.get("seconds", 2)))
    await asyncio.to_thread(Path(body["path"]).write_text, str(os.getpid()))
    return {"written": body["path"]}
