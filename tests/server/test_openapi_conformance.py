"""The served OpenAPI document is the truth: schemathesis, run against a real server with
every check, finds no request the document allows that the server refuses, none it
forbids that the server accepts, no undocumented answer and no 5xx (issue 15).

Bounded and reproducible: a fixed seed, a fixed number of examples per operation, one
worker; the fuzzer learns what an opaque cursor looks like from real ones
(``schemathesis_hooks.py``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from server_support import ADMIN_KEY, new_session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fake_providers import AppServer
from roost.core import Msg
from roost.server import AgentApp, AgentContext

pytest.importorskip("schemathesis")

EXAMPLES = int(os.environ.get("ROOST_TEST_SCHEMATHESIS_EXAMPLES", "12"))
SEED = int(os.environ.get("ROOST_TEST_SCHEMATHESIS_SEED", "20261207"))


def make_app() -> AgentApp:
    # limits off: the fuzzer sends thousands of requests, with and without a key
    app = AgentApp("conformance", admin_key=ADMIN_KEY, rate_limit=None, auth_failure_limit=None)

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"echo: {msg.text}"

    @app.task("/v1/jobs/echo")
    async def echo_job(body: Any) -> Any:
        return body

    @app.endpoint("/v1/hello/{name}", methods=["GET"])
    def hello(name: str, greeting: str = "hi") -> dict[str, str]:
        return {"text": f"{greeting} {name}"}

    @app.endpoint("/v1/count", methods=["POST"])
    async def count(body: Any) -> Any:
        yield {"items": len(body) if isinstance(body, list | dict) else 1}

    return app


async def _embeddings(request: Request) -> JSONResponse:
    """An OpenAI-compatible embeddings endpoint (vectors from a hash: the fuzzer's
    knowledge bases need an endpoint that answers, not a good one)."""
    body = await request.json()
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [b / 255 + 0.01 for b in _digest(t)]}
        for i, t in enumerate(texts)
    ]
    return JSONResponse({"object": "list", "data": data, "model": body.get("model", "")})


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "replace")).digest()[:16]


def test_the_openapi_document_is_what_the_server_does(
    served, tmp_path, roost_home, onnx_dir, request
):
    # the knowledge routes search with the local embedder, installed as `roost kb
    # install-embedder` does
    embedders = roost_home / "models" / "embedders"
    embedders.mkdir(parents=True)
    (embedders / onnx_dir.name).symlink_to(onnx_dir)
    embeddings = AppServer(
        Starlette(routes=[Route("/v1/embeddings", _embeddings, methods=["POST"])])
    )
    request.addfinalizer(embeddings.stop)
    embeddings.start()
    ingest_dir = tmp_path / "docs"
    ingest_dir.mkdir()
    (ingest_dir / "a.md").write_text("# Leave\n\nTwenty-seven days a year.")
    s = served(make_app())
    with s.client() as c:
        for _ in range(3):
            new_session(c)
        first = c.get("/v1/sessions", params={"limit": 1}).json()
        second = c.get("/v1/sessions", params={"limit": 1, "cursor": first["next_cursor"]})
        cursors = [first["next_cursor"], second.json()["next_cursor"]]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{s.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-database",
            "none",
            # the OpenAI content parts and tools are unions the generator filters a lot
            "--suppress-health-check=filter_too_much",
            "--workers",
            "1",
            # the first search loads the local embedder: slow on a busy 2-core machine
            "--request-timeout",
            "60",
            "--max-response-time",
            "60",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
            "ROOST_CURSORS": ",".join(cursors),
            # where the fuzzer's openai: embedders point (a made-up URL is refused)
            "ROOST_EMBEDDINGS_URL": embeddings.base + "/v1",
            "ROOST_INGEST_DIR": str(ingest_dir),
            "PYTHONPATH": str(Path(__file__).parent)
            + os.pathsep
            + os.environ.get("PYTHONPATH", ""),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-20_000:]  # a failure or a 5xx fails the run
    assert "generated" in report and "failure" not in report.splitlines()[-1], report[-5000:]
