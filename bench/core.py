"""Agent-core speed: import cost and ReAct loop overhead.

    python -m bench.core [--iterations 2000]

- `import roost` (and `import roost.agents`): wall time and peak RSS in a fresh
  interpreter, median of 7 runs.
- CPU per ReAct iteration with one tool call, driven by ScriptedModel (no I/O), measured
  with process CPU time so machine load does not inflate it much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time


def measure_import(module: str, runs: int = 7) -> dict[str, float]:
    code = (
        f"import time, resource; t=time.perf_counter(); import {module}; "
        "d=time.perf_counter()-t; "
        "print(d, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        t, r = out.stdout.split()
        times.append(float(t) * 1000)
        rss.append(int(r) / 1024)
    total = []
    for _ in range(runs):  # whole process, as `python -c "import roost"` is felt
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        total.append((time.perf_counter() - t0) * 1000)
    return {
        "import_ms_p50": statistics.median(times),
        "process_ms_p50": statistics.median(total),
        "max_rss_mb_p50": statistics.median(rss),
    }


async def agent_loop(iterations: int, *, sync_tool: bool = False) -> dict[str, float]:
    from roost.agents import ReActAgent
    from roost.models import ScriptedModel
    from roost.tools import Toolkit, tool

    @tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        return f"value of {key}"

    @tool(name="lookup")
    def lookup_sync(key: str) -> str:
        """Look a key up (a sync tool runs in a worker thread)."""
        return f"value of {key}"

    # each reply = 2 model calls (tool call, then answer) = 2 iterations, 1 tool call
    replies = [ScriptedModel.tool_call("lookup", {"key": "k"}), "done"]
    model = ScriptedModel(replies, loop=True, chunks=4)
    agent = ReActAgent("bench", model, Toolkit([lookup_sync if sync_tool else lookup]))
    for _ in range(50):  # warm up
        await agent("go")
        agent.memory.clear()
    replies_n = iterations // 2
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(replies_n):
        await agent("go")
        agent.memory.clear()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "iterations": replies_n * 2,
        "cpu_ms_per_iteration": cpu * 1000 / (replies_n * 2),
        "cpu_ms_per_reply_with_one_tool_call": cpu * 1000 / replies_n,
        "wall_ms_per_reply": wall * 1000 / replies_n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    result = {
        "import roost": measure_import("roost"),
        "import roost.agents": measure_import("roost.agents"),
        "react_loop (async tool)": asyncio.run(agent_loop(args.iterations)),
        "react_loop (sync tool, worker thread)": asyncio.run(
            agent_loop(args.iterations, sync_tool=True)
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
