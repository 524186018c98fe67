"""Roost agents over A2A, driven by the official ``a2a-sdk`` client on loopback."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY

from roost.agents import ReActAgent
from roost.models import ScriptedModel
from roost.server import AgentApp, AgentContext

a2a_client = pytest.importorskip("a2a.client")
from a2a.types.a2a_pb2 import (  # noqa: E402
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)


def make_app() -> AgentApp:
    app = AgentApp("a2a-app", admin_key=ADMIN_KEY)

    @app.agent(name="helper")
    def helper(ctx: AgentContext) -> ReActAgent:
        """Answers questions about France."""

        def answer(msgs: list[Any]) -> str:
            said = [m.text for m in msgs if m.role == "user"]
            return f"Paris. (turn {len(said)})"

        return ReActAgent("helper", ScriptedModel([answer], loop=True, chunks=3))

    return app


async def _client(base: str, key: str | None = ADMIN_KEY, streaming: bool = True) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx.AsyncClient(headers=headers, timeout=30)
    config = a2a_client.ClientConfig(httpx_client=http, streaming=streaming)
    return await a2a_client.create_client(base + "/a2a/helper", client_config=config), http


def _msg(text: str, context_id: str = "") -> Message:
    return Message(
        message_id="m-" + text, role=Role.ROLE_USER, parts=[Part(text=text)], context_id=context_id
    )


async def test_the_card_is_public_and_names_skills_and_security(served):
    s = served(make_app())
    async with httpx.AsyncClient() as http:
        card = (await http.get(s.url + "/.well-known/agent-card.json")).json()
        same = (await http.get(s.url + "/a2a/helper/.well-known/agent-card.json")).json()
    assert card == same
    assert card["name"] == "helper" and card["skills"][0]["description"].startswith("Answers")
    assert card["supportedInterfaces"][0]["url"] == s.url + "/a2a/helper"
    assert card["securitySchemes"]["roostKey"]["httpAuthSecurityScheme"]["scheme"] == "bearer"
    assert card["capabilities"]["streaming"] is True


async def test_streamed_message_then_a_second_turn_in_the_same_context(served):
    s = served(make_app())
    client, http = await _client(s.url)
    async with contextlib.aclosing(http):
        events = [
            e async for e in client.send_message(SendMessageRequest(message=_msg("capital?")))
        ]
        kinds = [e.WhichOneof("payload") for e in events]
        assert "artifact_update" in kinds
        last = events[-1]
        task = last.task if last.HasField("task") else None
        status = last.status_update.status if last.HasField("status_update") else task.status
        assert status.state == TaskState.TASK_STATE_COMPLETED
        chunks = "".join(
            p.text
            for e in events
            if e.HasField("artifact_update")
            for p in e.artifact_update.artifact.parts
        )
        assert chunks == "Paris. (turn 1)"
        context_id = (
            events[0].task.context_id
            if events[0].HasField("task")
            else last.status_update.context_id
        )
        task_id = events[0].task.id if events[0].HasField("task") else last.status_update.task_id

        got = await client.get_task(GetTaskRequest(id=task_id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        assert got.status.message.parts[0].text == "Paris. (turn 1)"

        again = [
            e
            async for e in client.send_message(SendMessageRequest(message=_msg("and?", context_id)))
        ]
        fin = again[-1]
        text = (
            fin.status_update.status.message.parts[0].text
            if fin.HasField("status_update")
            else fin.task.status.message.parts[0].text
        )
        assert text == "Paris. (turn 2)"  # one Roost session per A2A context


async def test_non_streaming_send_returns_the_finished_task(served):
    s = served(make_app())
    client, http = await _client(s.url, streaming=False)
    async with contextlib.aclosing(http):
        [event] = [e async for e in client.send_message(SendMessageRequest(message=_msg("hi")))]
    assert event.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert "".join(p.text for p in event.task.artifacts[0].parts) == "Paris. (turn 1)"


async def test_without_a_key_a2a_is_refused_and_tasks_are_per_principal(served):
    s = served(make_app())
    async with httpx.AsyncClient() as http:
        r = await http.post(
            s.url + "/a2a/helper",
            json={"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}},
        )
    assert r.status_code == 401
    client, http = await _client(s.url, streaming=False)
    async with contextlib.aclosing(http):
        [event] = [e async for e in client.send_message(SendMessageRequest(message=_msg("hi")))]
        admin_task = event.task.id
    async with httpx.AsyncClient(
        base_url=s.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        key = (await admin.post("/v1/keys", json={"name": "u", "user_id": "u1"})).json()["key"]
    other, http = await _client(s.url, key=key, streaming=False)
    async with contextlib.aclosing(http):
        with pytest.raises(Exception, match=r"(?i)not found"):
            await other.get_task(GetTaskRequest(id=admin_task))
        with pytest.raises(Exception, match=r"(?i)not found"):
            await other.cancel_task(CancelTaskRequest(id=admin_task))


async def test_a_roost_agent_calls_another_roost_agent_over_a2a(served):
    from roost.models import ScriptedModel as Scripted
    from roost.tools import Toolkit
    from roost.tools.a2a import a2a_agent_tool

    remote = served(make_app())
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    boss_app = AgentApp("boss-app", admin_key=ADMIN_KEY)

    @boss_app.agent(name="boss")
    async def boss(ctx: AgentContext) -> ReActAgent:
        tool = await a2a_agent_tool(remote.url + "/a2a/helper", headers=auth)
        model = Scripted(
            [
                Scripted.tool_calls((tool.name, {"message": "capital?"})),
                lambda msgs: "Remote says: " + msgs[-1].tool_results[0].text,
            ]
        )
        return ReActAgent("boss", model, Toolkit([tool]))

    boss_server = served(boss_app)
    http = httpx.AsyncClient(headers=auth, timeout=30)
    client = await a2a_client.create_client(
        boss_server.url + "/a2a/boss",
        client_config=a2a_client.ClientConfig(httpx_client=http, streaming=False),
    )
    async with contextlib.aclosing(http):
        [event] = [e async for e in client.send_message(SendMessageRequest(message=_msg("ask")))]
    assert event.task.status.message.parts[0].text == "Remote says: Paris. (turn 1)"
