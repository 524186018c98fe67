"""A second run on a busy session: reject (409), enqueue, or interrupt the first."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from server_support import ADMIN_KEY, new_session, read_sse

from roost.core import Msg
from roost.server import AgentApp, AgentContext


def slow_app(policy: str) -> AgentApp:
    app = AgentApp("busy", admin_key=ADMIN_KEY, busy_policy=policy)  # type: ignore[arg-type]

    @app.agent
    async def slow(msg: Msg, ctx: AgentContext) -> Any:
        yield f"[{msg.text}:start]"
        await asyncio.sleep(0.6)
        yield f"[{msg.text}:end]"

    return app


def _first_run_in_background(
    s: Any, sid: str
) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    out: dict[str, Any] = {}
    started = threading.Event()

    def run() -> None:
        with (
            s.client() as c,
            c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "A"}) as r,
        ):
            events = []
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["type"] == "text.delta":
                        started.set()
            out["events"] = events

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(10)
    return t, out, started


def test_reject_answers_409_session_busy(served):
    s = served(slow_app("reject"))
    with s.client() as c:
        sid = new_session(c)
        t, first, _ = _first_run_in_background(s, sid)
        r = c.post(f"/v1/sessions/{sid}/runs", json={"input": "B"})
        t.join()
        again = c.post(f"/v1/sessions/{sid}/runs", json={"input": "C", "stream": False})
    assert r.status_code == 409 and r.json()["error"]["code"] == "session_busy"
    assert first["events"][-1]["type"] == "run.completed"
    assert again.status_code == 200  # free again once the first run ended


def test_enqueue_runs_the_second_after_the_first(served):
    s = served(slow_app("enqueue"))
    with s.client() as c:
        sid = new_session(c)
        t, first, _ = _first_run_in_background(s, sid)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "B"}) as r:
            second = read_sse(r)
        t.join()
        msgs = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
    assert second.types[0] == "run.queued"
    assert second.types[-1] == "run.completed"
    assert first["events"][-1]["type"] == "run.completed"
    texts = [m["content"][0]["text"] for m in msgs if m["role"] == "assistant"]
    assert texts == ["[A:start][A:end]", "[B:start][B:end]"]


def test_interrupt_cancels_the_first_and_runs_the_second(served):
    s = served(slow_app("interrupt"))
    with s.client() as c:
        sid = new_session(c)
        t, first, _ = _first_run_in_background(s, sid)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "B"}) as r:
            second = read_sse(r)
        t.join()
    assert first["events"][-1]["type"] == "run.canceled"
    assert first["events"][-1]["reason"] == "superseded"
    assert second.types[-1] == "run.completed"
    assert second.text == "[B:start][B:end]"
