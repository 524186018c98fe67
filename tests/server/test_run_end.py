"""The end of a run is committed before any client sees its terminal event."""

from __future__ import annotations

from typing import Any

from server_support import ADMIN_KEY, new_session, read_sse

from roost.core import Msg
from roost.server import AgentApp, AgentContext


def counting_app() -> AgentApp:
    app = AgentApp("ends", admin_key=ADMIN_KEY)

    @app.agent
    async def count(msg: Msg, ctx: AgentContext) -> Any:
        for i in range(5):
            yield f"{msg.text}{i} "

    return app


def test_terminal_event_means_stored_and_session_free(served):
    s = served(counting_app())
    with s.client() as c:
        sid = new_session(c)
        for round_ in range(5):
            # react to run.completed at once, as a client would
            with c.stream("POST", f"/v1/sessions/{sid}/runs", json={"input": f"r{round_}-"}) as r:
                sse = read_sse(r, stop_after="run.completed")
            assert sse.events[-1]["type"] == "run.completed"
            run_id = sse.events[-1]["run_id"]
            record = c.get(f"/v1/runs/{run_id}").json()
            assert record["status"] == "succeeded"
            messages = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
            assert messages[-1]["role"] == "assistant" and messages[-1]["partial"] is False
            assert messages[-1]["content"][0]["text"] == "".join(
                f"r{round_}-{i} " for i in range(5)
            )
        # the next run is accepted immediately (no session_busy)
        nxt = c.post(f"/v1/sessions/{sid}/runs", json={"input": "last", "stream": False})
        assert nxt.status_code == 200, nxt.text
