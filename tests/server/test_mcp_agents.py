"""Roost agents as MCP servers (streamable HTTP), driven by the official ``mcp`` client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY
from test_a2a import make_app

mcp = pytest.importorskip("mcp")


def _client(url: str, key: str | None = ADMIN_KEY) -> Any:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
    return mcp.Client(streamable_http_client(url + "/mcp/agents/helper", http_client=http))


async def test_the_agent_is_a_tool_with_progress_and_its_sessions_are_resources(served):
    s = served(make_app())
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async with _client(s.url) as client:
        [tool] = (await client.list_tools()).tools
        assert tool.name == "helper" and tool.input_schema["required"] == ["message"]
        first = await client.call_tool(
            "helper", {"message": "capital?"}, progress_callback=on_progress
        )
        assert not first.is_error and first.content[0].text == "Paris. (turn 1)"
        sid = first.structured_content["session_id"]
        again = await client.call_tool("helper", {"message": "and?", "session_id": sid})
        assert again.content[0].text == "Paris. (turn 2)"
        resources = (await client.list_resources()).resources
        assert f"roost://sessions/{sid}" in [str(r.uri) for r in resources]
        read = await client.read_resource(f"roost://sessions/{sid}")
        texts = [m["content"][0]["text"] for m in json.loads(read.contents[0].text)]
        assert texts == ["capital?", "Paris. (turn 1)", "and?", "Paris. (turn 2)"]
    assert "".join(m or "" for _, m in progress) == "Paris. (turn 1)"
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


async def test_without_a_key_mcp_clients_are_told_where_to_authenticate(served):
    s = served(make_app())
    async with httpx.AsyncClient(base_url=s.url) as http:
        r = await http.post(
            "/mcp/agents/helper",
            headers={"Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert r.status_code == 401
        challenge = r.headers["www-authenticate"]
        meta_url = challenge.split('resource_metadata="')[1].rstrip('"')
        meta = (await http.get(meta_url)).json()
    assert meta["resource"] == s.url + "/mcp/agents/helper"
    assert meta["bearer_methods_supported"] == ["header"]


async def test_another_users_session_is_not_reachable_over_mcp(served):
    s = served(make_app())
    async with _client(s.url) as client:
        first = await client.call_tool("helper", {"message": "mine"})
        sid = first.structured_content["session_id"]
    async with httpx.AsyncClient(
        base_url=s.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        key = (await admin.post("/v1/keys", json={"name": "u", "user_id": "u1"})).json()["key"]
    async with _client(s.url, key) as other:
        stolen = await other.call_tool("helper", {"message": "x", "session_id": sid})
        assert stolen.is_error and "not_found" in stolen.content[0].text
        assert (await other.list_resources()).resources == []
