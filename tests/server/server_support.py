"""Helpers for the server tests: real servers: uvicorn on a free loopback port, in a thread or in a
separate process (for kill -9), and a small SSE reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from roost.server import AgentApp

ADMIN_KEY = "rk_" + "A" * 43
AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}
HERE = Path(__file__).parent


@dataclass
class Served:
    url: str
    app: AgentApp
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, key: str | None = ADMIN_KEY, **kw: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        headers.update(kw.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)


def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def redis_name(redis_url: str) -> Iterator[str]:
    """A fresh name to put in Redis keys; every key containing it is deleted afterwards."""
    import uuid

    import redis

    name = "rq" + uuid.uuid4().hex[:10]
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"*{name}*")
    if keys:
        client.delete(*keys)
    client.close()


def serve(app: AgentApp) -> Served:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return Served(f"http://127.0.0.1:{port}", app, server, thread)


def stop(served: Served) -> None:
    served.server.should_exit = True
    served.thread.join(timeout=20)


@pytest.fixture
def served() -> Iterator[Any]:
    """``served(app)`` starts the app on a real port; every server is stopped at teardown."""
    running: list[Served] = []

    def start(app: AgentApp) -> Served:
        s = serve(app)
        running.append(s)
        return s

    yield start
    for s in running:
        stop(s)


@dataclass
class SSE:
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    @property
    def text(self) -> str:
        return "".join(e["delta"] for e in self.events if e["type"] == "text.delta")


def read_sse(response: httpx.Response, stop_after: str | None = None) -> SSE:
    out = SSE()
    for line in response.iter_lines():
        if line.startswith("id: "):
            out.ids.append(int(line[4:]))
        elif line.startswith("data: "):
            event = json.loads(line[6:])
            out.events.append(event)
            if stop_after and event["type"] == stop_after:
                break
    return out


def new_session(client: httpx.Client, **body: Any) -> str:
    r = client.post("/v1/sessions", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# -- server processes (for kill -9) -----------------------------------------------------
@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str
    output: list[str]

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_process(target: str | None, env: dict[str, str], *extra: str) -> ServerProcess:
    """``roost serve [TARGET] --port 0`` in a new process; waits for its URL and /healthz."""
    full_env = {
        **os.environ,
        **env,
        "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    args = [
        sys.executable,
        "-m",
        "roost.cli.main",
        "serve",
        *([target] if target else []),
        "--port",
        "0",
        *extra,
    ]
    proc = subprocess.Popen(
        args, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE
    )
    output: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while url is None:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("server exited:\n" + "".join(output))
        output.append(line)
        if "Roost is serving" in line:
            url = line.split(" at ")[1].split()[0]
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start:\n" + "".join(output))
    threading.Thread(target=_drain, args=(proc, output), daemon=True).start()
    for _ in range(200):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return ServerProcess(proc, url, output)


def _drain(proc: subprocess.Popen[str], output: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for p in started:
        p.stop()


# -- a fake OpenAI-compatible model server (a real HTTP server on loopback) --------------
FAKE_REPLY = ["The capital ", "of France ", "is Paris."]
FAKE_TRACEPARENTS: list[str] = []
"""The ``traceparent`` header of every request the fake model server received."""


def fake_openai_app() -> Any:
    """Answers every chat completion with FAKE_REPLY, streamed or not, like vLLM would."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def completions(request: Request) -> Response:
        body = await request.json()
        FAKE_TRACEPARENTS.append(request.headers.get("traceparent", ""))
        usage = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        base = {"id": "chatcmpl-fake", "created": 0, "model": body.get("model", "fake")}
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(FAKE_REPLY)},
                        }
                    ],
                }
            )

        async def chunks() -> Any:
            for piece in FAKE_REPLY:
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            done = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(done)}\n\n"
            yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture
def fake_openai() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of a running fake OpenAI-compatible server."""
    config = uvicorn.Config(fake_openai_app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)
