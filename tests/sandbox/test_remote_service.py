"""The sandbox service (real uvicorn on 127.0.0.1) and RemoteSandbox against it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from roost.core import ConfigError, InvalidRequest, NotFound, PayloadTooLarge, SandboxError
from roost.sandbox import (
    SandboxLimits,
    SandboxManager,
    SandboxSpec,
    SandboxStatus,
    create_sandbox,
)
from roost.sandbox.backends.remote import (
    RemoteBrowserSandbox,
    RemoteGuiSandbox,
    RemoteSandbox,
    RemoteSandboxManager,
)
from roost.sandbox.errors import SandboxFileNotFound, SandboxPathInvalid, SandboxProtocolError
from roost.sandbox.service.server import create_app

TOKEN = "test-token-0123456789abcdef"


class _Service:
    """The sandbox service on a free loopback port, in a thread with its own loop."""

    def __init__(self, tmp: Path) -> None:
        small_files = SandboxSpec(limits=SandboxLimits(max_file_mb=1))
        manager = SandboxManager(pool_size=0, specs={"base": small_files})
        self.app = create_app(manager, token=TOKEN)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
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
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Service]:
    with _Service(tmp_path_factory.mktemp("svc")) as svc:
        yield svc


def test_service_refuses_to_start_without_a_token() -> None:
    for token in (None, "", "short"):
        with pytest.raises(ConfigError) as err:
            create_app(token=token)
        assert "ROOST_SANDBOX_TOKEN" in (err.value.hint or "")


@pytest.mark.parametrize("path", ["/v1/health", "/v1/sandboxes", "/mcp", "/nope"])
def test_every_route_needs_the_token(service: _Service, path: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": TOKEN},
    ):
        response = httpx.get(service.url + path, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_bad_requests_get_typed_errors(service: _Service) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bad_json = httpx.post(service.url + "/v1/sandboxes", content=b"{", headers=auth)
    assert bad_json.status_code == 422
    assert bad_json.json()["error"]["code"] == "invalid_request"
    bad_type = httpx.post(
        service.url + "/v1/sandboxes", json={"session_id": "s", "type": "vm"}, headers=auth
    )
    assert bad_type.status_code == 422 and "type" in bad_type.json()["error"]["message"]
    missing = httpx.get(service.url + "/v1/sandboxes/sbx_nope", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = httpx.put(service.url + "/v1/health", headers=auth)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_remote_sandbox_has_the_sandbox_api(service: _Service) -> None:
    async with RemoteSandboxManager(service.url, TOKEN) as manager:
        sandbox = await manager.acquire("session-a")
        assert isinstance(sandbox, RemoteSandbox) and sandbox.info().backend == "remote"
        assert sandbox.info().detail["remote_backend"] == "bwrap"
        assert (await sandbox.run_python("counter = 41\ncounter + 1")).result == "42"
        again = await manager.acquire("session-a")
        assert again.id == sandbox.id
        assert (await again.run_python("counter")).result == "41", "state kept per session"
        other = await manager.acquire("session-b")
        assert other.id != sandbox.id
        assert "NameError" in ((await other.run_python("counter")).error or "")

        shell = await sandbox.run_shell("echo out; echo err >&2; exit 3")
        assert (shell.stdout, shell.stderr, shell.exit_code) == ("out\n", "err\n", 3)
        payload = bytes(range(256)) * 1000
        info = await sandbox.write_file("data/blob.bin", payload)
        assert info.size == len(payload)
        assert await sandbox.read_file("data/blob.bin") == payload
        assert [f.path for f in await sandbox.list_files("data")] == ["data/blob.bin"]
        await sandbox.delete_file("data/blob.bin")
        with pytest.raises(SandboxFileNotFound):
            await sandbox.read_file("data/blob.bin")
        with pytest.raises(SandboxPathInvalid):
            await sandbox.read_file("../../etc/shadow")

        assert await sandbox.health() is SandboxStatus.READY
        with pytest.raises(InvalidRequest) as not_a_browser:
            await manager.request(
                "POST", f"/v1/sandboxes/{sandbox.id}/browser/open", json={"url": "a"}
            )
        assert "acquire a sandbox of type 'browser'" in (not_a_browser.value.hint or "")
        with pytest.raises(NotFound):
            await manager.request("POST", f"/v1/sandboxes/{sandbox.id}/browser/rm", json={})
        with pytest.raises(InvalidRequest):
            await manager.request(
                "POST", f"/v1/sandboxes/{sandbox.id}/python", json={"code": "1", "timeout": -1}
            )

        with pytest.raises(PayloadTooLarge):
            await sandbox.write_file("big.bin", b"x" * (2 << 20))
        assert [f.path for f in await sandbox.list_files()] == ["data"]

        ids = {i.id for i in await manager.list_sandboxes()}
        assert {sandbox.id, other.id} <= ids
        assert await manager.release("session-a") == 1
        assert sandbox.id not in {i.id for i in await manager.list_sandboxes()}
        with pytest.raises(NotFound):
            await sandbox.run_python("1")
        assert await sandbox.health() is SandboxStatus.CLOSED
        await other.close()
        assert other.info().status is SandboxStatus.CLOSED


async def test_the_client_refuses_an_answer_over_its_limit(service: _Service) -> None:
    async with RemoteSandboxManager(service.url, TOKEN) as manager:
        sandbox = await manager.acquire("big-answer")
        with pytest.raises(SandboxProtocolError):
            await manager.request(
                "POST",
                f"/v1/sandboxes/{sandbox.id}/python",
                json={"code": "'x' * 5000"},
                limit=4096,
            )
        assert (await sandbox.run_python("1 + 1")).result == "2"
        await manager.release("big-answer")


async def test_remote_backend_from_environment(
    service: _Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROOST_SANDBOX_URL", service.url)
    monkeypatch.setenv("ROOST_SANDBOX_TOKEN", TOKEN)
    sandbox = create_sandbox(SandboxSpec(), backend="remote")
    async with sandbox:
        assert (await sandbox.run_shell("echo $HOME")).stdout.strip() == "/workspace"
    assert sandbox.info().status is SandboxStatus.CLOSED


async def test_unreachable_service_is_a_typed_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RemoteSandboxManager(f"http://127.0.0.1:{port}", TOKEN) as manager:
        with pytest.raises(SandboxError) as err:
            await manager.acquire("x")
    assert err.value.code == "sandbox_unavailable"


async def test_remote_browser_sandbox(service: _Service) -> None:
    async with RemoteSandboxManager(service.url, TOKEN) as manager:
        browser = await manager.acquire("web", "browser")
        assert isinstance(browser, RemoteBrowserSandbox)
        await browser.write_file(
            "index.html",
            "<title>Index</title><h1>Roost</h1><a href='two.html'>next</a><input id=q>",
        )
        await browser.write_file("two.html", "<title>Two</title><p>second page</p>")
        state = await browser.open("index.html")
        assert state["title"] == "Index"
        assert "Roost" in await browser.extract_text("h1")
        assert (await browser.extract_links())[0]["href"].endswith("/two.html")
        await browser.click("a")
        assert "second page" in await browser.extract_text()
        assert (await browser.back())["title"] == "Index"
        shot = await browser.screenshot()
        assert shot.to_bytes().startswith(b"\x89PNG")
        with pytest.raises(InvalidRequest):
            await manager.request(
                "POST", f"/v1/sandboxes/{browser.id}/browser/switch_tab", json={"index": "two"}
            )
        with pytest.raises(InvalidRequest):
            await manager.request(
                "POST", f"/v1/sandboxes/{browser.id}/browser/open", json={"url": "a", "x": 1}
            )
        with pytest.raises(SandboxError) as err:
            await browser.click("#does-not-exist", timeout=0.5)
        assert err.value.code == "sandbox_timeout"
        assert "#does-not-exist" in err.value.message
        await manager.release("web")


async def test_remote_gui_sandbox(service: _Service) -> None:
    async with RemoteSandboxManager(service.url, TOKEN) as manager:
        desk = await manager.acquire("desk", "gui")
        assert isinstance(desk, RemoteGuiSandbox)
        before = await desk.screenshot()
        await desk.launch("xmessage", ["-geometry", "+30+30", "hello from roost"])
        deadline = time.monotonic() + 10
        while not await desk.windows("xmessage"):
            assert time.monotonic() < deadline, "xmessage window never appeared"
            await asyncio.sleep(0.05)
        after = await desk.screenshot()
        assert after.to_bytes().startswith(b"\x89PNG") and after.data != before.data
        await desk.click(40, 40)
        await desk.key("Return")
        await manager.release("desk")
