"""Server CPU per streamed run over each protocol, side by side (issue 24 targets: each
protocol <= 1.3x Roost's native route; an adapted LangGraph agent <= 1.5x a native agent).

    python -m bench.protocols [--runs 40] [--rounds 3]

Starts one Roost server process (tracing to its local store, as by default) with a native
``ReActAgent`` and a LangGraph graph (``ChatOpenAI`` in one node), both on the same
OpenAI-compatible fake model server (``bench.apps.fake_openai``, its own process, 20
chunks a reply), so both pay a real model client and neither the model's CPU. The bench
process drives ``--runs`` sequential streamed runs per protocol, in a rotating order over
``--rounds`` rounds, and reads the server's CPU time (``/proc/PID/stat``) around each batch:
native ``POST /v1/sessions/{id}/runs``, OpenAI chat completions and Responses (httpx,
stream), A2A ``SendStreamingMessage`` (``a2a-sdk`` client), MCP ``tools/call`` with
progress (``mcp`` client), and the native route on the LangGraph agent.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

KEY = "rk_bench_protocols_admin_key_0123456789"
PIECES = 20


def serve(port: int, home: str, model_url: str) -> None:
    """The server process: one app, two agents on the same OpenAI-compatible model."""
    import uvicorn
    from langchain_openai import ChatOpenAI
    from langgraph.graph import END, START, MessagesState, StateGraph

    from roost.agents import ReActAgent
    from roost.agents.adapters import LangChainAgent
    from roost.models.openai import OpenAIChatModel
    from roost.server import AgentApp, AgentContext

    app = AgentApp(
        "bench", admin_key=KEY, rate_limit=None, store_url=f"sqlite+aiosqlite:///{home}/b.db"
    )

    @app.agent(name="native")
    def native(ctx: AgentContext) -> ReActAgent:
        return ReActAgent("native", OpenAIChatModel("fake", base_url=model_url, api_key="k"))

    model = ChatOpenAI(model="fake", base_url=model_url, api_key="k", streaming=True)

    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("answer", call)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    compiled = g.compile()  # once, as an application does

    @app.agent(name="graph")
    def graph(ctx: AgentContext) -> LangChainAgent:
        return LangChainAgent("graph", compiled)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Runner = Callable[[str], Awaitable[None]]


def runners(url: str, http: httpx.AsyncClient) -> tuple[dict[str, Runner], Runner]:
    async def native_route(agent: str) -> None:
        sid = (await http.post("/v1/sessions", json={"agent": agent})).json()["id"]
        async with http.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "go"}) as r:
            async for _ in r.aiter_lines():
                pass

    async def chat(_: str) -> None:
        body = {"model": "native", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        async with http.stream("POST", "/v1/chat/completions", json=body) as r:
            async for _ in r.aiter_lines():
                pass

    async def responses(_: str) -> None:
        body = {"model": "native", "stream": True, "input": "go"}
        async with http.stream("POST", "/v1/responses", json=body) as r:
            async for _ in r.aiter_lines():
                pass

    a2a_state: dict[str, Any] = {}

    async def a2a(_: str) -> None:
        from a2a.client import ClientConfig, create_client
        from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

        if "client" not in a2a_state:
            config = ClientConfig(httpx_client=http, streaming=True)
            a2a_state["client"] = await create_client(url + "/a2a/native", client_config=config)
        msg = Message(message_id=os.urandom(6).hex(), role=Role.ROLE_USER, parts=[Part(text="go")])
        async for _ in a2a_state["client"].send_message(SendMessageRequest(message=msg)):
            pass

    mcp_state: dict[str, Any] = {}

    async def mcp_call(_: str) -> None:
        if "client" not in mcp_state:  # one MCP client session, as a client keeps it
            import httpx2
            from mcp import Client
            from mcp.client.streamable_http import streamable_http_client

            http2 = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
            transport = streamable_http_client(url + "/mcp/agents/native", http_client=http2)
            mcp_state["client"] = await Client(transport).__aenter__()

        async def progress(done: float, total: float | None, message: str | None) -> None:
            return None

        await mcp_state["client"].call_tool("native", {"message": "go"}, progress_callback=progress)

    async def close(_: str) -> None:
        if "client" in mcp_state:
            await mcp_state["client"].__aexit__(None, None, None)

    return {
        "native": lambda _: native_route("native"),
        "openai-chat": chat,
        "openai-responses": responses,
        "a2a": a2a,
        "mcp": mcp_call,
        "langgraph-native": lambda _: native_route("graph"),
    }, close


async def drive(url: str, pid: int, runs: int, rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as http:
        table, close = runners(url, http)
        for name, run in table.items():  # warm-up: imports, first-use validators, caches
            for _ in range(3):
                await run(name)
        names = list(table)
        for rnd in range(rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            for name in order:
                before = cpu_seconds(pid)
                for _ in range(runs):
                    await table[name](name)
                ms = (cpu_seconds(pid) - before) * 1000 / runs
                out.setdefault(name, []).append(ms)
                print(f"round {rnd + 1} {name:18s} {ms:6.2f} ms CPU/run", flush=True)
        await close("")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--model-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.home, args.model_url)
        return
    from bench.harness import fake_model_server

    with fake_model_server(PIECES) as model_url:
        run_bench(args, model_url)


def run_bench(args: argparse.Namespace, model_url: str) -> None:
    home = tempfile.mkdtemp(prefix="roost-bench-protocols-")
    port = 18000 + os.getpid() % 2000
    env = {**os.environ, "ROOST_HOME": home}
    command = [sys.executable, "-m", "bench.protocols", "--serve", str(port), "--home", home]
    command += ["--model-url", model_url]
    proc = subprocess.Popen(
        command,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the bench server did not start")
            time.sleep(0.2)
        results = asyncio.run(drive(url, proc.pid, args.runs, args.rounds))
    finally:
        proc.terminate()
        proc.wait(20)
    base = statistics.median(results["native"])
    print(f"\nmedian server CPU per streamed run ({args.runs} runs x {args.rounds} rounds):")
    for name, values in results.items():
        med = statistics.median(values)
        ref = "(reference)" if name == "native" else f"{med / base:.2f}x native"
        print(f"  {name:18s} {med:6.2f} ms  {ref}")


if __name__ == "__main__":
    main()
