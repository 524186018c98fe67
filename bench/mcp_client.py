"""MCP client cost: connect time and tool-call round trip over stdio, through a Toolkit.

    python -m bench.mcp_client [--calls 300]

Uses the test server tests/tools/mcp_servers/demo_server.py (MCP SDK ``MCPServer``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from roost.tools import Toolkit

SERVER = Path(__file__).parent.parent / "tests" / "tools" / "mcp_servers" / "demo_server.py"


async def run(calls: int) -> None:
    toolkit = Toolkit()
    start = time.perf_counter()
    await toolkit.add_mcp_server(
        "demo", command=sys.executable, args=[str(SERVER), "stdio"], timeout=60
    )
    connect = time.perf_counter() - start
    for _ in range(20):  # warm up
        await toolkit.call("add", a=1, b=2)
    lat: list[float] = []
    cpu0 = time.process_time()
    for i in range(calls):
        t = time.perf_counter()
        result = await toolkit.call("add", a=i, b=1)
        lat.append((time.perf_counter() - t) * 1000)
        assert not result.is_error
    cpu = (time.process_time() - cpu0) * 1000 / calls
    t = time.perf_counter()
    await asyncio.gather(*(toolkit.call("add", a=i, b=1) for i in range(100)))
    burst = (time.perf_counter() - t) * 1000
    close0 = time.perf_counter()
    await toolkit.aclose()
    close = time.perf_counter() - close0
    lat.sort()
    print(f"connect (spawn + handshake + list): {connect * 1000:.0f} ms")
    print(
        f"sequential call p50 {statistics.median(lat):.2f} ms, p90 {lat[int(0.9 * len(lat))]:.2f} ms"
    )
    print(f"client CPU per call: {cpu:.2f} ms")
    print(f"100 concurrent calls: {burst:.0f} ms")
    print(f"close (stop server): {close * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(run(parser.parse_args().calls))


if __name__ == "__main__":
    main()
