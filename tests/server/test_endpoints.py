"""Custom endpoints (sync, async, generators), background tasks and hooks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from server_support import ADMIN_KEY, new_session

from roost.core import InvalidRequest, Msg
from roost.server import AgentApp, AgentContext, Principal, RunInfo


def make_app() -> AgentApp:
    app = AgentApp("custom", admin_key=ADMIN_KEY)
    app.hooks_seen = []  # type: ignore[attr-defined]

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield msg.text

    @app.endpoint("/sum")
    def total(body: dict[str, Any]) -> dict[str, Any]:
        return {"sum": sum(body["values"])}

    @app.endpoint("/whoami", methods=["GET"])
    async def whoami(principal: Principal, shout: str = "no") -> dict[str, Any]:
        return {"role": principal.role, "shout": shout}

    @app.endpoint("/hello", methods=["GET"], public=True)
    async def hello(principal: Principal) -> dict[str, Any]:
        return {"role": principal.role, "admin": principal.is_admin}

    @app.endpoint("/count/{n}", methods=["GET"])
    def count(n: str) -> Iterator[dict[str, int]]:
        for i in range(int(n)):
            yield {"i": i}

    @app.endpoint("/ticks", methods=["GET"])
    async def ticks() -> AsyncIterator[str]:
        for i in range(3):
            await asyncio.sleep(0.01)
            yield f"tick {i}"

    @app.endpoint("/fails-later", methods=["GET"])
    async def fails_later() -> AsyncIterator[str]:
        yield "ok"
        raise InvalidRequest("bad later")

    @app.endpoint("/validate")
    async def validate(body: dict[str, Any]) -> dict[str, Any]:
        if "name" not in body:
            raise InvalidRequest(
                "name is required", fields=[{"field": "name", "message": "required"}]
            )
        return body

    @app.task("/v1/jobs/square")
    async def square(body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"square": body["x"] ** 2}

    @app.task("/v1/jobs/crash")
    def crash(body: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    @app.on_startup
    def started() -> None:
        app.hooks_seen.append("startup")  # type: ignore[attr-defined]

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[str] = []

        async def run_started(self, run: RunInfo) -> None:
            self.calls.append("started")

        async def event(self, run: RunInfo, envelope: dict[str, Any]) -> None:
            self.calls.append(envelope["type"])

        async def run_finished(self, run: RunInfo, status: str, usage: Any) -> None:
            self.calls.append(f"finished:{status}")

    app.recorder = Recorder()  # type: ignore[attr-defined]
    app.observers.append(app.recorder)  # type: ignore[attr-defined]
    return app


def test_sync_and_async_endpoints_get_body_principal_and_params(served):
    app = make_app()
    s = served(app)
    with s.client() as c:
        assert c.post("/sum", json={"values": [1, 2, 3]}).json() == {"sum": 6}
        assert c.get("/whoami", params={"shout": "yes"}).json() == {"role": "admin", "shout": "yes"}
        r = c.post("/validate", json={})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    with s.client(key=None) as anon:
        assert anon.post("/sum", json={"values": [1]}).status_code == 401
        # a public endpoint answers without a key, and its caller is nobody, not an admin
        assert anon.get("/hello").json() == {"role": "public", "admin": False}
    assert app.hooks_seen == ["startup"]  # type: ignore[attr-defined]


def test_generator_endpoints_stream_as_sse(served):
    s = served(make_app())
    with s.client() as c:
        count = [
            json.loads(x[6:]) for x in c.get("/count/3").text.splitlines() if x.startswith("data: ")
        ]
        ticks = [x[6:] for x in c.get("/ticks").text.splitlines() if x.startswith("data: ")]
        failed = c.get("/fails-later").text
    assert count == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert ticks == ["tick 0", "tick 1", "tick 2"]
    assert "event: error" in failed and '"code":"invalid_request"' in failed


def test_tasks_run_in_the_background_and_report_results(served):
    s = served(make_app())
    with s.client() as c:
        queued = c.post("/v1/jobs/square", json={"x": 7})
        assert queued.status_code == 202
        task_id = queued.json()["id"]
        crash_id = c.post("/v1/jobs/crash", json={}).json()["id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = c.get(f"/v1/tasks/{task_id}").json()
            bad = c.get(f"/v1/tasks/{crash_id}").json()
            if got["status"] == "completed" and bad["status"] == "failed":
                break
            time.sleep(0.1)
        missing = c.get("/v1/tasks/task_nope")
    assert got["result"] == {"square": 49}
    assert bad["error"]["code"] == "task_failed" and "boom" not in json.dumps(bad)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "task_not_found"


def test_background_run_returns_202_and_completes(served):
    s = served(make_app())
    with s.client() as c:
        sid = new_session(c)
        r = c.post(f"/v1/sessions/{sid}/runs", json={"input": "later", "background": True})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        run_id = r.json()["id"]
        with c.stream("GET", f"/v1/runs/{run_id}/events") as events:
            types = [
                json.loads(x[6:])["type"] for x in events.iter_lines() if x.startswith("data: ")
            ]
        run = c.get(f"/v1/runs/{run_id}").json()
    assert types[-1] == "run.completed"
    assert run["status"] == "succeeded" and run["output"]["content"][0]["text"] == "later"


def test_observers_see_every_run_event(served):
    app = make_app()
    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False})
    deadline = time.monotonic() + 5
    calls = app.recorder.calls  # type: ignore[attr-defined]
    while "finished:succeeded" not in calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls[0] == "started" and "text.delta" in calls and "run.completed" in calls
    assert calls[-1] == "finished:succeeded" or "finished:succeeded" in calls
