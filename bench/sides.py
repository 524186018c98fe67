"""The two sides of the comparison: how to start each server and what one run looks like.

Both servers stream the same agent turn (one user message → one model call to the fake
OpenAI server → 20 text deltas) and are judged by the same load generator; only the request
shape, the success check and the command line differ.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import Connection, HttpRequest, HttpResponse, Scenario, Validator

RequestFactory = Callable[[int], HttpRequest]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEER_VENV = BENCH / "peer" / ".venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
ROOST_CORE_VENV = Path.home() / ".cache" / "roost-bench" / "roost-core-venv"
USER_TEXT = "Say something short."
DELTAS = 20


@dataclass
class Side:
    """A server under test: command line, health route, the run request and its check."""

    name: str
    python: str
    argv: list[str]
    health_path: str
    scenario: Scenario
    validate: Validator
    import_module: str
    env: dict[str, str] = field(default_factory=dict)
    home_parent: str | None = None
    """Where the fresh ROOST_HOME of each start is created (None: the default temp dir)."""

    def command(self, port: int, model_url: str) -> list[str]:
        return [self.python, *self.argv, "--port", str(port), "--model-url", model_url]


def _peer_valid(response: HttpResponse) -> bool:
    """Completed response at the end and exactly the 20 content deltas of the fixed reply."""
    data = response.sse_data()
    if (
        not data
        or b'"status":"completed"' not in data[-1]
        or b'"object":"response"' not in data[-1]
    ):
        return False
    return sum(1 for d in data if b'"object":"content"' in d and b'"delta":true' in d) == DELTAS


def session_requests(render: Callable[[str], HttpRequest]) -> Scenario:
    """One request per run, each with its own session id, as distinct conversations would.

    The peer refuses a second concurrent run on one session ("already in RUNNING state"), so
    a shared session would measure rejections instead of serving.
    """
    counter = itertools.count()
    prefix = f"bench-{os.getpid()}-"

    async def run(conn: Connection, _index: int) -> HttpResponse:
        return await conn.send(render(f"{prefix}{next(counter)}"))

    return run


def peer_side() -> Side:
    message = {"role": "user", "type": "message", "content": [{"type": "text", "text": USER_TEXT}]}
    headers = {"content-type": "application/json", "accept": "text/event-stream"}

    def render(session: str) -> HttpRequest:
        body = {"input": [message], "session_id": session, "user_id": "bench-user"}
        return HttpRequest("POST", "/process", json.dumps(body).encode(), headers)

    return Side(
        name="peer",
        python=str(PEER_PYTHON),
        argv=[str(BENCH / "peer" / "peer_app.py")],
        health_path="/health",
        scenario=session_requests(render),
        validate=_peer_valid,
        import_module="agentscope_runtime.engine",
    )


STORES = ("memory", "tmpfs", "disk")
"""Where Roost's SQLite store lives: in memory, a file on tmpfs (/dev/shm), a file on disk."""


def roost_side(*, store: str = "memory", trace: bool = False, protect: bool | None = None) -> Side:
    """Roost's AgentApp (``bench.apps.roost``) with the given store and observability switch.

    ``protect``: None leaves data protection at its default (on, no tenant protected);
    True runs as a tenant encrypted at rest with DLP on transcripts and prompts; False
    runs as the same tenant with data protection off (``ROOST_DATA_PROTECTION=0``)."""
    from bench.apps import roost as roost_app  # the workload lives next to its app

    if store not in STORES:
        raise ValueError(f"store must be one of {STORES}, got {store!r}")
    argv = ["-m", "bench.apps.roost", "--store", "memory" if store == "memory" else "file"]
    if trace:
        argv.append("--trace")
    env = {roost_app.ADMIN_KEY_ENV: roost_app.BENCH_ADMIN_KEY}
    tenant = None
    suffix = ",observe" if trace else ""
    if protect is not None:
        tenant = roost_app.PROTECTED_TENANT
        suffix += ",protect" if protect else ",unprotected"
        if protect:
            argv.append("--protect")
        else:
            env["ROOST_DATA_PROTECTION"] = "0"
    return Side(
        name=f"roost[{store}{suffix}]",
        python=sys.executable,
        argv=argv,
        health_path=roost_app.HEALTH_PATH,
        scenario=roost_app.scenario(USER_TEXT, tenant=tenant),
        validate=roost_app.valid_run,
        import_module="roost.server",
        env=env,
        home_parent="/dev/shm" if store == "tmpfs" else None,
    )
