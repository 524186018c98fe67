"""Model-provider overhead: CPU per streamed completion through ``OpenAIChatModel`` vs a
bare httpx read of the same SSE stream, against bench.apps.fake_openai in its own process.

    python -m bench.models [--requests 300] [--chunks 20]

CPU time of this process (not wall time) is the figure to compare: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from roost.core import Msg
from roost.models import OpenAIChatModel, RetryPolicy


def start_server(chunks: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.apps.fake_openai",
            "--port",
            "0",
            "--chunks",
            str(chunks),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.strip().split()[-1]


async def raw_httpx(base: str, n: int) -> float:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient() as client:
        start = time.process_time()
        for _ in range(n):
            async with client.stream("POST", f"{base}/v1/chat/completions", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
        return (time.process_time() - start) * 1000 / n


async def roost_model(base: str, n: int) -> float:
    model = OpenAIChatModel("m", base_url=f"{base}/v1", retry=RetryPolicy(max_retries=0))
    msgs = [Msg.user("hi")]
    await model.complete(msgs)  # warm the connection pool
    start = time.process_time()
    for _ in range(n):
        await model.complete(msgs)
    cpu = (time.process_time() - start) * 1000 / n
    await model.aclose()
    return cpu


def import_ms(module: str, runs: int = 5) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        * 1000
        for _ in range(runs)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=20)
    args = parser.parse_args()
    proc, base = start_server(args.chunks)
    try:
        raw, roost = [], []
        for _ in range(3):  # interleave rounds so load drifts hit both sides alike
            raw.append(asyncio.run(raw_httpx(base, args.requests)))
            roost.append(asyncio.run(roost_model(base, args.requests)))
        r, m = statistics.median(raw), statistics.median(roost)
        print(f"chunks per reply: {args.chunks}, requests per round: {args.requests}, 3 rounds")
        print(f"raw httpx SSE read + json.loads: {r:.2f} CPU ms/request")
        print(f"OpenAIChatModel.complete:        {m:.2f} CPU ms/request  (x{m / r:.2f})")
        print(f"per chunk overhead vs raw:       {(m - r) / args.chunks * 1000:.0f} CPU µs")
        print(f"import roost.models.openai:      {import_ms('roost.models.openai'):.0f} ms")
        print(f"import roost.models:             {import_ms('roost.models'):.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
