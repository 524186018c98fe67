"""Roost's side of the workload: an ``AgentApp`` serving a ``ReActAgent`` whose model is the
fake OpenAI-compatible server (``OpenAIChatModel``, not ``ScriptedModel``, so that Roost pays
the same model-client cost as the peer).

    python -m bench.apps.roost --port 8090 --model-url http://127.0.0.1:PORT/v1 \
        [--store memory|file] [--trace]

Default: the store is in-memory SQLite and observability is off (``observe=False``) — the
peer persists nothing and exports no traces either. ``--store file`` uses the SQLite file
under ``ROOST_HOME`` (sessions, messages, runs, events survive a restart); ``--trace`` turns
``roost.observe`` on as ``AgentApp`` does by default (OTel spans into the local trace store,
Prometheus run metrics, cost, alert evaluation). ``--store file --trace`` is Roost's default
configuration. Auth stays on (the bench client sends the admin key); the rate limit
is off because the load generator is one client sending thousands of runs.

The module also describes one run for the load generator (:func:`scenario`, :func:`valid_run`):
create a session, then stream one run in it — the peer's ``/process`` does both in one call.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from bench.load import Connection, HttpRequest, HttpResponse, Scenario

if TYPE_CHECKING:
    from roost.server.app import AgentApp

HEALTH_PATH = "/healthz"
ADMIN_KEY_ENV = "ROOST_ADMIN_KEY"
BENCH_ADMIN_KEY = "rk_bench_admin_0123456789abcdef0123456789"
SYS_PROMPT = "You are a helpful assistant."
DELTAS = 20


def _headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


def scenario(text: str, key: str = BENCH_ADMIN_KEY, *, tenant: str | None = None) -> Scenario:
    """One run: ``POST /v1/sessions`` then ``POST /v1/sessions/{id}/runs`` (streamed);
    ``tenant``: the admin acts for a user of that tenant (``X-Roost-Tenant``)."""
    base = _headers(key)
    if tenant is not None:
        base.update({"x-roost-user": "bench-user", "x-roost-tenant": tenant})
    create = HttpRequest("POST", "/v1/sessions", b"{}", base)
    run_body = json.dumps({"input": text}).encode()
    headers = {**base, "accept": "text/event-stream"}

    async def run(conn: Connection, _index: int) -> HttpResponse:
        created = await conn.send(create)
        if created.status != 201:
            return created
        session = json.loads(created.body)["id"]
        return await conn.send(
            HttpRequest("POST", f"/v1/sessions/{session}/runs", run_body, headers)
        )

    return run


def valid_run(response: HttpResponse) -> bool:
    """The run completed and streamed exactly the 20 text deltas of the fixed reply."""
    names = response.sse_event_names()
    return bool(names) and names[-1] == b"run.completed" and names.count(b"text.delta") == DELTAS


PROTECTED_TENANT = "bench-tenant"


async def protect_tenant_async() -> None:
    """Before the server starts: the bench tenant's content encrypted at rest, its
    stored transcripts masked (DLP), in the SQLite file under ``ROOST_HOME``."""
    from roost.govern.protection import DataProtection
    from roost.store import Store

    async with await Store.open() as store:
        await DataProtection(store).set_policy(
            PROTECTED_TENANT,
            encrypt=True,
            policy={"actions": {"transcripts": "mask", "prompts": "route"}},
        )


def protect_tenant() -> None:
    import asyncio

    asyncio.run(protect_tenant_async())


def build_app(model_url: str, *, store: str, trace: bool, protect: bool = False) -> AgentApp:
    """The AgentApp: one ReActAgent per run, one shared model client per process."""
    from roost.agents import ReActAgent
    from roost.models.openai import OpenAIChatModel
    from roost.server.app import AgentApp
    from roost.server.context import AgentContext

    app = AgentApp(
        "bench",
        store_url=None if store == "file" else "sqlite+aiosqlite:///:memory:",
        rate_limit=None,
        admin_key=os.environ.get(ADMIN_KEY_ENV, BENCH_ADMIN_KEY),
        observe=trace,
    )
    model: Any = OpenAIChatModel(
        "fake-model", base_url=model_url, api_key="bench-key", max_retries=0
    )
    if protect:  # every prompt is scanned by the DLP detectors on its way out
        from roost.govern.routing import PrivacyRouter

        model.private = False  # the fake provider stands for a public API
        model = PrivacyRouter(model)

    @app.agent
    def assistant(ctx: AgentContext) -> ReActAgent:
        return ReActAgent(name="assistant", model=model, sys_prompt=SYS_PROMPT)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Roost benchmark app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-url", required=True, help="fake server base URL ending in /v1")
    parser.add_argument(
        "--store",
        choices=("memory", "file"),
        default="memory",
        help="in-memory SQLite (default) or the SQLite file under ROOST_HOME",
    )
    parser.add_argument(
        "--trace", action="store_true", help="roost.observe on: tracing to the local store, metrics"
    )
    parser.add_argument(
        "--protect",
        action="store_true",
        help="the bench tenant encrypted at rest, DLP on transcripts and prompts",
    )
    args = parser.parse_args()
    if args.protect:
        protect_tenant()
    import uvicorn

    uvicorn.run(
        build_app(args.model_url, store=args.store, trace=args.trace, protect=args.protect),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
