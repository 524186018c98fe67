"""The sandbox tools over MCP (streamable HTTP), mounted in the real sandbox service."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from roost.sandbox.service.server import create_app

TOKEN = "mcp-test-token-0123456789"


class _Service:
    def __init__(self) -> None:
        self.app = create_app(token=TOKEN, pool_size=0)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> _Service:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("sandbox service did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


@pytest.fixture(scope="module")
def service() -> Iterator[_Service]:
    with _Service() as svc:
        yield svc


def _client(url: str, token: str, session: str | None = None) -> object:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}
        | ({"X-Roost-Session": session} if session else {}),
        timeout=httpx2.Timeout(60.0, read=300.0),
    )
    return Client(streamable_http_client(url + "/mcp", http_client=http))


def _text(result: object) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")  # type: ignore[attr-defined]


async def test_mcp_client_lists_and_calls_the_sandbox_tools(service: _Service) -> None:
    async with _client(service.url, TOKEN) as client:  # type: ignore[attr-defined]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {
            "execute_python",
            "execute_shell",
            "read_file",
            "write_file",
            "list_files",
            "browser_open",
            "browser_screenshot",
            "gui_screenshot",
            "gui_click",
        } <= set(tools)
        assert tools["execute_python"].input_schema["required"] == ["code"]

        first = await client.call_tool("execute_python", {"code": "total = 40\ntotal + 2"})
        assert not first.is_error and "result: 42" in _text(first)
        kept = await client.call_tool("execute_python", {"code": "total"})
        assert "result: 40" in _text(kept), "one interpreter per MCP session"

        wrote = await client.call_tool("write_file", {"path": "notes.txt", "content": "hi"})
        assert "wrote 2 bytes" in _text(wrote)
        shell = await client.call_tool("execute_shell", {"command": "cat notes.txt"})
        assert "exit code: 0" in _text(shell) and "hi" in _text(shell)

        missing = await client.call_tool("read_file", {"path": "nope.txt"})
        assert missing.is_error and "sandbox_file_not_found" in _text(missing)
        bad_args = await client.call_tool("execute_python", {"code": 5})
        assert bad_args.is_error

        shot = await client.call_tool("gui_screenshot", {})
        assert not shot.is_error
        image = next(c for c in shot.content if c.type == "image")
        assert image.mime_type == "image/png" and len(image.data) > 100


async def test_two_mcp_sessions_get_separate_sandboxes(service: _Service) -> None:
    async with (
        _client(service.url, TOKEN, "alice") as a,  # type: ignore[attr-defined]
        _client(service.url, TOKEN, "bob") as b,  # type: ignore[attr-defined]
    ):
        await a.call_tool("execute_python", {"code": "secret = 'a'"})
        seen = await b.call_tool("execute_python", {"code": "secret"})
        assert "NameError" in _text(seen)


def test_ending_an_mcp_session_releases_its_sandbox(service: _Service) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=service.url, headers=auth, timeout=60) as http:
        init = http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "legacy", "version": "1"},
                },
            },
        )
        assert init.status_code == 200, init.text
        headers = {
            "mcp-session-id": init.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-06-18",
        }
        http.post(
            "/mcp", headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
        )
        call = http.post(
            "/mcp",
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "execute_python", "arguments": {"code": "1"}},
            },
        )
        assert call.status_code == 200 and "result: 1" in call.text, call.text
        session = "mcp:" + headers["mcp-session-id"]

        def sessions() -> set[str]:
            return {s["session_id"] for s in http.get("/v1/sandboxes").json()["sandboxes"]}

        assert session in sessions()
        assert http.delete("/mcp", headers=headers).status_code in (200, 204)
        assert session not in sessions()


def test_mcp_endpoint_requires_the_token(service: _Service) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    response = httpx.post(service.url + "/mcp", json=body, headers=headers)
    assert response.status_code == 401
    wrong = httpx.post(
        service.url + "/mcp", json=body, headers={**headers, "Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401


async def test_mcp_client_with_a_wrong_token_fails(service: _Service) -> None:
    with pytest.raises(BaseException):  # noqa: B017 - the SDK wraps the 401 in a group
        async with _client(service.url, "wrong-token-0123456789") as client:  # type: ignore[attr-defined]
            await client.list_tools()
