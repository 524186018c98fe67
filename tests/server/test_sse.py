"""The SSE response (``roost.server.sse.EventStreamResponse``) on a real server: a client
that leaves mid-stream frees its follower at once, and the run goes on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server_support import ADMIN_KEY, new_session, wait_until

from roost.core import Msg
from roost.server import AgentApp, AgentContext


def test_a_client_that_leaves_mid_stream_frees_its_follower_and_the_run_goes_on(served):
    app = AgentApp("leaving", admin_key=ADMIN_KEY)
    release = asyncio.Event()

    @app.agent
    async def slow(msg: Msg, ctx: AgentContext) -> Any:
        yield "start "
        await release.wait()
        yield "end"

    s = served(app)
    with s.client() as c:
        sid = new_session(c)
        with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": "hi"}) as r:
            run_id = r.headers["x-run-id"]
            lines = r.iter_lines()  # kept: a dropped iterator closes the connection
            for line in lines:
                if '"text.delta"' in line:
                    break
            handle = app.services.executor.active[run_id]
            wait_until(lambda: handle.followers_waiting == 1, timeout=10)
        # the connection is closed: the server notices without any event to send
        wait_until(lambda: handle.followers_waiting == 0, timeout=10)
        assert app.services.executor.active[run_id] is handle  # the run itself goes on

        with c.stream("GET", f"/v1/runs/{run_id}/events") as joined:
            lines = joined.iter_lines()
            for line in lines:
                if '"text.delta"' in line:
                    break
            loop = app.services.executor._flusher.get_loop()  # type: ignore[union-attr]
            loop.call_soon_threadsafe(release.set)
            events = [json.loads(x[6:]) for x in lines if x.startswith("data: ")]
        run = c.get(f"/v1/runs/{run_id}").json()
    assert events[-1]["type"] == "run.completed"
    assert events[-1]["output"]["content"][0]["text"] == "start end"
    assert run["status"] == "succeeded"
