"""Runs of one session execute in the order they were submitted (background or queued
behind a busy session, after a restart too), and the stored transcript shows each
run's input right before its reply."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
from server_support import ADMIN_KEY, new_session, read_sse, wait_until

from roost.core import Msg
from roost.server import AgentApp, AgentContext
from roost.store import Store

FINAL = ("succeeded", "failed", "canceled")


def recording_app(seen: dict[str, list[str]], pause: float = 0.02, **options: Any) -> AgentApp:
    """An agent that notes, per session, the inputs in the order it got to answer them."""
    options.setdefault("rate_limit", None)
    app = AgentApp(options.pop("name", "order"), admin_key=ADMIN_KEY, **options)

    @app.agent
    async def recorder(msg: Msg, ctx: AgentContext) -> Any:
        seen.setdefault(ctx.session_id, []).append(msg.text)
        yield "re:"
        await asyncio.sleep(pause)
        yield msg.text

    return app


def transcript(c: httpx.Client, sid: str) -> list[str]:
    msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    return [f"{m['role']}:{m['content'][0]['text']}" for m in msgs]


def conversation(*inputs: str) -> list[str]:
    return [line for text in inputs for line in (f"user:{text}", f"assistant:re:{text}")]


def wait_final(c: httpx.Client, run_ids: list[str], timeout: float = 60) -> list[str]:
    def statuses() -> list[str] | None:
        got = [c.get(f"/v1/runs/{rid}").json()["status"] for rid in run_ids]
        return got if all(s in FINAL for s in got) else None

    return wait_until(statuses, timeout)  # type: ignore[no-any-return]


def submit_background(c: httpx.Client, sid: str, *inputs: str) -> list[str]:
    ids = []
    for text in inputs:
        r = c.post(f"/v1/sessions/{sid}/runs", json={"input": text, "background": True})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


def test_background_runs_of_a_session_run_in_submission_order(served):
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen))
    with s.client() as c:
        sessions = [new_session(c) for _ in range(12)]
        runs = {sid: submit_background(c, sid, "a", "b", "c") for sid in sessions}
        for ids in runs.values():
            assert wait_final(c, ids) == ["succeeded"] * 3
        transcripts = {sid: transcript(c, sid) for sid in sessions}
    assert {sid: seen[sid] for sid in sessions} == {sid: ["a", "b", "c"] for sid in sessions}
    assert transcripts == {sid: conversation("a", "b", "c") for sid in sessions}


def _stream_until(
    s: Any, sid: str, text: str, first: str, out: dict[str, Any]
) -> tuple[threading.Thread, threading.Event]:
    """Stream a run of ``text`` in a thread; the event is set at its first ``first`` event."""
    reached = threading.Event()

    def run() -> None:
        with (
            s.client() as c,
            c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": text}) as r,
        ):
            events = []
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == first:
                        reached.set()
            out[text] = events

    t = threading.Thread(target=run)
    t.start()
    return t, reached


def test_enqueued_streamed_runs_are_stored_as_a_conversation(served):
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen, pause=0.4, busy_policy="enqueue"))
    out: dict[str, Any] = {}
    threads = []
    with s.client() as c:
        sid = new_session(c)
        for text, first in (("first", "text.delta"), ("second", "run.queued")):
            t, reached = _stream_until(s, sid, text, first, out)
            threads.append(t)
            assert reached.wait(10)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "third"}) as r:
            third = read_sse(r)
        for t in threads:
            t.join(30)
        stored = transcript(c, sid)
    assert third.types[0] == "run.queued" and third.types[-1] == "run.completed"
    assert [out[t][-1]["type"] for t in ("first", "second")] == ["run.completed"] * 2
    assert seen[sid] == ["first", "second", "third"]
    assert stored == conversation("first", "second", "third")


def test_many_enqueued_runs_start_in_submission_order(served):
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen, pause=0.2, busy_policy="enqueue"))
    out: dict[str, Any] = {}
    texts = [f"m{i}" for i in range(6)]
    threads = []
    with s.client() as c:
        sid = new_session(c)
        for i, text in enumerate(texts):
            t, reached = _stream_until(s, sid, text, "text.delta" if i == 0 else "run.queued", out)
            threads.append(t)
            assert reached.wait(10)
        for t in threads:
            t.join(30)
        stored = transcript(c, sid)
    assert seen[sid] == texts
    assert stored == conversation(*texts)


def test_a_streamed_run_waits_for_a_background_run_submitted_before_it(served):
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen, busy_policy="enqueue"))
    with s.client() as c:
        sessions = [new_session(c) for _ in range(5)]
        for sid in sessions:
            [bg] = submit_background(c, sid, "later")
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": "now", "stream": False})
            assert r.status_code == 200, r.text
            assert wait_final(c, [bg]) == ["succeeded"]
        transcripts = {sid: transcript(c, sid) for sid in sessions}
    assert {sid: seen[sid] for sid in sessions} == {sid: ["later", "now"] for sid in sessions}
    assert transcripts == {sid: conversation("later", "now") for sid in sessions}


def test_reject_policy_refuses_a_run_while_a_background_run_waits(served):
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen, pause=0.3))
    with s.client() as c:
        sid = new_session(c)
        [bg] = submit_background(c, sid, "later")
        busy = c.post(f"/v1/sessions/{sid}/runs", json={"input": "now", "stream": False})
        assert wait_final(c, [bg]) == ["succeeded"]
        again = c.post(f"/v1/sessions/{sid}/runs", json={"input": "now", "stream": False})
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "session_busy"
    assert again.status_code == 200
    assert seen[sid] == ["later", "now"]


def test_workers_waiting_behind_a_queued_run_hand_their_messages_back(served, monkeypatch):
    """Newer runs' messages taken first by every worker: they must not hold the workers
    for good while the oldest run's message waits behind them in the queue."""
    import roost.server.engine.executor

    monkeypatch.setattr(roost.server.engine.executor, "_TURN_PATIENCE", 0.3)
    seen: dict[str, list[str]] = {}
    app = recording_app(seen)
    loops: list[asyncio.AbstractEventLoop] = []

    @app.on_startup
    async def keep_loop() -> None:
        loops.append(asyncio.get_running_loop())

    s = served(app)
    texts = list("abcdef")  # more runs than the queue has workers

    async def submit_newest_first(sid: str) -> list[str]:
        ids = []
        for text in texts:
            msg = Msg(role="user", content=text)
            run = await app.store.create_run(
                session_id=sid,
                inputs=[msg],
                metadata={"background": True, "input": [msg.model_dump(mode="json")]},
            )
            ids.append(run.id)
        for run_id in reversed(ids):
            await app.services.queue.enqueue_run(run_id)
        return ids

    with s.client() as c:
        sid = new_session(c)
        ids = asyncio.run_coroutine_threadsafe(submit_newest_first(sid), loops[0]).result(20)
        assert wait_final(c, ids, timeout=60) == ["succeeded"] * len(texts)
        stored = transcript(c, sid)
    assert seen[sid] == texts
    assert stored == conversation(*texts)


def _left_by_a_dead_server(
    url: str, app_name: str, sessions: int
) -> dict[str, tuple[str, list[str]]]:
    """What a killed server leaves: per session an interactive run stuck ``queued``, a
    background run it was executing (``running``) and two queued after it."""

    async def fill() -> dict[str, tuple[str, list[str]]]:
        store = await Store.open(url)
        out: dict[str, tuple[str, list[str]]] = {}
        try:
            for _ in range(sessions):
                sid = (await store.create_session(app=app_name)).id
                stuck = Msg(role="user", content="stuck")
                interactive = await store.create_run(
                    session_id=sid, status="queued", owner="inst_dead", inputs=[stuck]
                )
                ids = []
                for text, status in (("a", "running"), ("b", "queued"), ("c", "queued")):
                    msg = Msg(role="user", content=text)
                    run = await store.create_run(
                        session_id=sid,
                        status=status,  # type: ignore[arg-type]
                        owner="inst_dead",
                        inputs=[msg],
                        metadata={"background": True, "input": [msg.model_dump(mode="json")]},
                    )
                    ids.append(run.id)
                out[sid] = (interactive.id, ids)
        finally:
            await store.close()
        return out

    return asyncio.run(fill())


def test_background_runs_keep_their_order_after_a_restart(served, tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'roost.db'}"
    runs = _left_by_a_dead_server(url, "order", sessions=6)
    seen: dict[str, list[str]] = {}
    s = served(recording_app(seen, store_url=url))
    with s.client() as c:
        for _, ids in runs.values():
            assert wait_final(c, ids) == ["succeeded"] * 3
        stuck = [c.get(f"/v1/runs/{rid}").json() for rid, _ in runs.values()]
        rid = next(iter(runs.values()))[0]
        with c.stream("GET", f"/v1/runs/{rid}/events") as r:
            replay = [x for x in r.iter_lines() if x.startswith("event: ")]
    assert {sid: seen[sid] for sid in runs} == {sid: ["a", "b", "c"] for sid in runs}
    # the interactive run's client is gone with the dead server: it cannot block the rest
    assert {(r["status"], r["error"]["code"]) for r in stuck} == {("failed", "server_restart")}
    assert replay[-1:] == ["event: run.failed"]  # its stream ends, for a client resuming


def test_background_runs_keep_their_order_across_replicas(
    served, postgres_url, redis_url, redis_name
):
    import uuid

    seen: dict[str, list[str]] = {}
    schema = "ord_" + uuid.uuid4().hex[:10]
    options = {
        "name": redis_name,
        "store_url": postgres_url,
        "store_schema": schema,
        "redis_url": redis_url,
    }
    replicas = [served(recording_app(seen, **options)) for _ in range(2)]
    try:
        clients = [r.client() for r in replicas]
        sessions = [new_session(clients[0]) for _ in range(6)]
        runs = {}
        for sid in sessions:
            ids = []
            for i, text in enumerate(("a", "b", "c")):  # alternate the replicas
                ids += submit_background(clients[i % 2], sid, text)
            runs[sid] = ids
        for ids in runs.values():
            assert wait_final(clients[1], ids) == ["succeeded"] * 3
        transcripts = {sid: transcript(clients[0], sid) for sid in sessions}
        for c in clients:
            c.close()
    finally:
        asyncio.run(_drop_schema(postgres_url, schema))
    assert {sid: seen[sid] for sid in sessions} == {sid: ["a", "b", "c"] for sid in sessions}
    assert transcripts == {sid: conversation("a", "b", "c") for sid in sessions}


async def _drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from roost.store.backends.sqlalchemy import parse_url

    engine = create_async_engine(parse_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
