"""Cost of the per-key rate limit on Redis against the in-process one, side by side.

    python -m bench.ratelimit --redis redis://127.0.0.1:6379/0          # default sizes
    python -m bench.ratelimit --redis redis://127.0.0.1:6379/0 --quick  # smoke run

Two measurements, each in alternating blocks (local, Redis, local, …) in one run:
``check()`` alone (µs per call, in this process), and the latency of a small
authenticated request (``GET /v1/sessions/{id}``, keep-alive, sequential) to two uvicorn
server processes that differ only in the limiter (both have Redis for locks, bus and
queue; SQLite store) — the ratio a client sees on the cheapest call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

ADMIN_KEY = "rk_" + "b" * 43
SELF = [sys.executable, "-m", "bench.ratelimit"]


async def bench_check(redis_url: str, calls: int, blocks: int) -> dict[str, float]:
    from roost.server.ratelimit import LocalRateLimiter, RedisRateLimiter

    spec = "1000000000/second"
    limiters: dict[str, Any] = {
        "local": LocalRateLimiter(spec),
        "redis": RedisRateLimiter(spec, redis_url, namespace="bench" + uuid.uuid4().hex[:8]),
    }
    per_call: dict[str, list[float]] = {name: [] for name in limiters}
    for _ in range(blocks):
        for name, limiter in limiters.items():
            start = time.perf_counter()
            for i in range(calls):
                await limiter.check(f"key{i % 50}")
            per_call[name].append((time.perf_counter() - start) / calls * 1e6)
    await limiters["redis"].aclose()
    return {name: statistics.median(v) for name, v in per_call.items()}


def build_app(limiter: str, redis_url: str) -> Any:
    """The served app: Redis configured either way (same locks, bus and queue); only the
    limiter differs."""
    from roost.server import AgentApp
    from roost.server.ratelimit import LocalRateLimiter

    spec = "1000000000/second"
    app = AgentApp("bench", admin_key=ADMIN_KEY, redis_url=redis_url, rate_limit=spec)

    @app.agent
    async def echo(msg: Any, ctx: Any) -> Any:
        yield "hi"

    if limiter == "local":

        @app.on_startup
        def use_local_limiter() -> None:
            app.rate_limiter = LocalRateLimiter(spec)

    return app


def serve(limiter: str, redis_url: str, port: int) -> None:
    import uvicorn

    app = build_app(limiter, redis_url)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bench_requests(redis_url: str, requests: int, blocks: int) -> dict[str, float]:
    """Sequential ``GET /v1/sessions/{id}`` on keep-alive connections to two server
    processes (uvicorn), alternating blocks: the latency a client sees per request."""
    import httpx

    from bench.harness import REPO, free_port, stop

    procs: dict[str, subprocess.Popen[Any]] = {}
    clients: dict[str, httpx.Client] = {}
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    try:
        for name in ("local", "redis"):
            port = free_port()
            procs[name] = subprocess.Popen(
                [*SELF, "--serve", name, "--port", str(port), "--redis", redis_url],
                env={**os.environ, "ROOST_HOME": tempfile.mkdtemp(prefix="roost-rl-")},
                cwd=REPO,
            )
            clients[name] = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers)
        sids: dict[str, str] = {}
        for name, c in clients.items():
            deadline = time.monotonic() + 60
            while name not in sids:
                try:
                    sids[name] = c.post("/v1/sessions", json={}).json()["id"]
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        per_request: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(blocks):
            for name, c in clients.items():
                path = f"/v1/sessions/{sids[name]}"
                start = time.perf_counter()
                for _ in range(requests):
                    r = c.get(path)
                    assert r.status_code == 200, r.text
                per_request[name].append((time.perf_counter() - start) / requests * 1e6)
        return {name: statistics.median(v) for name, v in per_request.items()}
    finally:
        for c in clients.values():
            c.close()
        for proc in procs.values():
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default=os.environ.get("ROOST_TEST_REDIS_URL"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--serve", choices=["local", "redis"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.redis:
        sys.exit("give --redis URL (or set ROOST_TEST_REDIS_URL)")
    if args.serve:
        serve(args.serve, args.redis, args.port)
        return
    calls, requests, blocks = (500, 100, 3) if args.quick else (5000, 500, 6)
    with tempfile.TemporaryDirectory() as home:
        os.environ["ROOST_HOME"] = home
        check = asyncio.run(bench_check(args.redis, calls, blocks))
        request = bench_requests(args.redis, requests, blocks)
    print(f"{'':24}{'local':>10}{'redis':>10}{'ratio':>8}")
    for label, row in (("check() µs/call", check), ("HTTP request µs", request)):
        print(
            f"{label:24}{row['local']:>10.1f}{row['redis']:>10.1f}"
            f"{row['redis'] / row['local']:>7.2f}x"
        )
    print(f"(medians of {blocks} alternating blocks; {calls} checks, {requests} requests)")


if __name__ == "__main__":
    main()
